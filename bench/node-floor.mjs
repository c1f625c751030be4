#!/usr/bin/env node
// The Node floor of the transfer scenarios (bench/scenarios.ts): the least a Node program costs
// that moves an image the way gantry does — node:http(s) with kept-alive connections, as many
// blobs in flight as gantry's default (DEFAULT_COPY_JOBS, 6), the sha256 and size of every
// blob checked on the way (a pull's before its rename), a pull's blobs fsynced and renamed
// into place and the directory fsynced once. Nothing else: no
// configuration, auth, retries, redirects but the registry's blob redirect, resumption, progress
// or cleanup of a failed run. Beside gantry it says how much of a gantry/skopeo ratio is Node
// itself (start-up, node:http, streams) and how much is gantry.
//
//   node bench/node-floor.mjs [--ca CA_FILE] pull SRC_URL REPO TAG OUT_DIR
//   node bench/node-floor.mjs [--ca CA_FILE] push LAYOUT_DIR LAYOUT_TAG DEST_URL REPO TAG
//   node bench/node-floor.mjs [--ca CA_FILE] copy SRC_URL DEST_URL REPO TAG
//
// URLs are http://HOST:PORT or https://HOST:PORT; https trusts CA_FILE.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';

const JOBS = 6;
const argv = process.argv.slice(2);
const ca = argv[0] === '--ca' ? readFileSync(argv.splice(0, 2)[1]) : undefined;
const agents = { 'http:': new http.Agent({ keepAlive: true, maxSockets: JOBS }), 'https:': new https.Agent({ keepAlive: true, maxSockets: JOBS, ca }) };

/** One request to `url`; resolves with the response (its body unread). `body` is a stream or bytes. */
function send(method, url, headers = {}, body) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, headers, agent: agents[u.protocol] }, resolve);
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else body.on('error', reject).pipe(req);
  });
}

async function bytes(res) {
  const chunks = [];
  for await (const c of res) chunks.push(c);
  return Buffer.concat(chunks);
}

async function expect(res, status, what) {
  if (res.statusCode !== status) throw new Error(`${what}: HTTP ${res.statusCode} ${(await bytes(res)).toString('utf8').slice(0, 200)}`);
  return res;
}

/** GET a blob, following the registry's redirect once. */
async function getBlob(base, repo, digest) {
  let res = await send('GET', `${base}/v2/${repo}/blobs/${digest}`);
  if (res.statusCode >= 300 && res.statusCode < 400) {
    res.resume();
    res = await send('GET', new URL(res.headers.location, base).toString());
  }
  return expect(res, 200, `GET blob ${digest}`);
}

/**
 * Hashes and counts what `source` emits; the promise fails on a wrong size or digest at its end.
 * Attached in the same tick as the stream's consumer, so no chunk passes unseen.
 */
function checked(source, desc) {
  const hash = createHash('sha256');
  let size = 0;
  source.on('data', (c) => {
    hash.update(c);
    size += c.length;
  });
  const done = new Promise((resolve, reject) => {
    source.on('end', () => (size === desc.size && `sha256:${hash.digest('hex')}` === desc.digest ? resolve() : reject(new Error(`${desc.digest}: size or digest mismatch`))));
    source.on('error', reject);
  });
  return done;
}

/** Runs `work` on every item, JOBS at a time. */
async function each(items, work) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(JOBS, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

async function getManifest(base, repo, tag) {
  const res = await expect(await send('GET', `${base}/v2/${repo}/manifests/${tag}`, { accept: ACCEPT }), 200, 'GET manifest');
  const body = await bytes(res);
  return { body, mediaType: res.headers['content-type'], manifest: JSON.parse(body.toString('utf8')) };
}

/**
 * POST an upload session and PUT the whole blob to it (monolithic) from the stream `source()`
 * opens once the session is there, checked on the way: a mismatch fails the run.
 */
async function putBlob(base, repo, desc, source) {
  const post = await expect(await send('POST', `${base}/v2/${repo}/blobs/uploads/`, { 'content-length': 0 }), 202, 'POST upload');
  post.resume();
  const loc = new URL(post.headers.location, base);
  loc.searchParams.set('digest', desc.digest);
  const stream = await source();
  const ok = checked(stream, desc);
  const res = await send('PUT', loc.toString(), { 'content-type': 'application/octet-stream', 'content-length': desc.size }, stream);
  (await expect(res, 201, `PUT blob ${desc.digest}`)).resume();
  await ok;
}

async function putManifest(base, repo, tag, mediaType, body) {
  (await expect(await send('PUT', `${base}/v2/${repo}/manifests/${tag}`, { 'content-type': mediaType, 'content-length': body.length }, body), 201, 'PUT manifest')).resume();
}

async function pull(src, repo, tag, out) {
  const blobsDir = join(out, 'blobs', 'sha256');
  await mkdir(blobsDir, { recursive: true });
  const { body, mediaType, manifest } = await getManifest(src, repo, tag);
  await each([manifest.config, ...manifest.layers], async (desc) => {
    const res = await getBlob(src, repo, desc.digest);
    const tmp = join(blobsDir, `.tmp-${desc.digest.slice(7)}`);
    const ok = checked(res, desc);
    await new Promise((resolve, reject) => res.pipe(createWriteStream(tmp)).on('close', resolve).on('error', reject));
    await ok;
    const fh = await open(tmp, 'r+');
    await fh.sync();
    await fh.close();
    await rename(tmp, join(blobsDir, desc.digest.slice(7)));
  });
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  await writeFile(join(blobsDir, digest.slice(7)), body);
  await writeFile(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const dir = await open(blobsDir, 'r');
  await dir.sync();
  await dir.close();
  await writeFile(join(out, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType, digest, size: body.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
}

async function push(layout, layoutTag, dest, repo, tag) {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === layoutTag) ?? index.manifests[0];
  const blob = (d) => join(layout, 'blobs', 'sha256', d.digest.slice(7));
  const body = await readFile(blob(desc));
  const manifest = JSON.parse(body.toString('utf8'));
  await each([...manifest.layers, manifest.config], (d) => putBlob(dest, repo, d, () => createReadStream(blob(d), { highWaterMark: 1 << 20 })));
  await putManifest(dest, repo, tag, desc.mediaType, body);
}

async function copy(src, dest, repo, tag) {
  const { body, mediaType, manifest } = await getManifest(src, repo, tag);
  await each([...manifest.layers, manifest.config], (d) => putBlob(dest, repo, d, () => getBlob(src, repo, d.digest)));
  await putManifest(dest, repo, tag, mediaType, body);
}

const [mode, ...args] = argv;
if (mode === 'pull' && args.length === 4) await pull(...args);
else if (mode === 'push' && args.length === 5) await push(...args);
else if (mode === 'copy' && args.length === 4) await copy(...args);
else throw new Error('usage: node-floor.mjs pull SRC_URL REPO TAG OUT_DIR | push LAYOUT_DIR LAYOUT_TAG DEST_URL REPO TAG | copy SRC_URL DEST_URL REPO TAG');
for (const a of Object.values(agents)) a.destroy();

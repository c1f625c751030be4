#!/usr/bin/env node
// gantry's main job on the embedded registry, end to end, on a fresh machine:
//   1. start `gantry serve` in-process on a free loopback port, with TLS (a CA and a server
//      certificate generated on the fly) and token auth (the project's token issuer);
//   2. build a small two-platform sample image (linux/amd64 and linux/arm64) as an OCI layout;
//   3. push it, with progress; 4. copy it to a second repository (blobs mounted, not moved);
//   5. pull it into another OCI layout; 6. inspect it; 7. print a summary and exit 0.
// Everything lives in a temporary directory that is removed at the end.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import bcrypt from 'bcryptjs';
import { pack } from 'tar-stream';
import { copy, inspect } from '../dist/index.js';
import { createTestPki } from '../dist/testing/index.js';
import { createRegistryServer, TokenIssuer } from '../dist/server/index.js';
import { plainRenderer, ttyRenderer, formatBytes } from '../dist/cli/progress.js';

const work = mkdtempSync(join(tmpdir(), 'gantry-demo-'));
const say = (line) => process.stdout.write(`${line}\n`);
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(files) {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mtime: new Date(0), mode: 0o644 }, content);
  p.finalize();
  const chunks = [];
  for await (const c of p) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** A two-platform OCI layout: a base layer shared by both images, one layer of its own each. */
async function buildSample(dir) {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (bytes) => {
    const digest = sha256(bytes);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return digest;
  };
  const baseTar = await tarOf({ 'etc/motd': 'Built by the gantry demo.\n', 'data/random.bin': randomBytes(512 * 1024).toString('base64') });
  const base = gzipSync(baseTar);
  const manifests = [];
  for (const [architecture, variant] of [['amd64'], ['arm64', 'v8']]) {
    const ownTar = await tarOf({ 'hello.txt': `hello from gantry on linux/${architecture}${variant ? `/${variant}` : ''}\n` });
    const own = gzipSync(ownTar);
    const config = Buffer.from(JSON.stringify({
      architecture, os: 'linux', ...(variant ? { variant } : {}),
      created: '2026-11-22T00:00:00Z',
      config: { Cmd: ['cat', '/hello.txt'], Labels: { 'org.opencontainers.image.title': 'gantry demo' } },
      rootfs: { type: 'layers', diff_ids: [sha256(baseTar), sha256(ownTar)] },
    }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
      layers: [base, own].map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(l), size: l.length })),
    }));
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: put(manifest), size: manifest.length, platform: { architecture, os: 'linux', ...(variant ? { variant } : {}) } });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  const indexDigest = put(index);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.length, annotations: { 'org.opencontainers.image.ref.name': '1.0' } }],
  }));
  return indexDigest;
}

async function main() {
  // 1. The registry: TLS with a generated CA, token auth with a generated signing key.
  const { ca, server: issue } = createTestPki(join(work, 'pki'));
  const cert = issue(['127.0.0.1', 'localhost']);
  const password = randomBytes(12).toString('base64url');
  const issuer = TokenIssuer.withGeneratedKey({
    issuer: 'gantry-demo',
    service: 'gantry-demo',
    users: { demo: { password: bcrypt.hashSync(password, 8), access: [{ repository: 'demo/*', actions: ['pull', 'push'] }] } },
    anonymous: [{ repository: 'demo/*', actions: ['pull'] }],
  });
  const server = await createRegistryServer({
    listen: { host: '127.0.0.1', port: 0 },
    storage: join(work, 'registry'),
    tls: { cert: cert.certPem, key: cert.keyPem },
    auth: { type: 'token', issuer, service: 'gantry-demo' },
  });
  const host = new URL(server.url).host;
  // gantry trusts the CA the way Docker does: <certs.d>/<host:port>/ca.crt.
  const certsDir = join(work, 'certs.d');
  mkdirSync(join(certsDir, host), { recursive: true });
  writeFileSync(join(certsDir, host, 'ca.crt'), ca.certPem);
  say(`1. Embedded registry at ${server.url} (TLS with a generated CA, token auth at ${server.url}/token)`);

  const access = { certsDir, tlsVerify: true, credentials: { username: 'demo', password } };
  const progress = () => {
    const r = process.stderr.isTTY ? ttyRenderer(process.stderr) : plainRenderer(process.stderr);
    return { onProgress: (e) => r.onEvent(e), done: () => r.finish() };
  };

  try {
    // 2. A two-platform sample image.
    const sample = join(work, 'sample');
    const built = await buildSample(sample);
    say(`2. Built a two-platform sample image in oci:${sample}:1.0 (${built})`);

    // 3. Push it.
    let p = progress();
    const pushed = await copy(`oci:${sample}:1.0`, `${host}/demo/hello:1.0`, { destination: access, onProgress: p.onProgress });
    p.done();
    say(`3. Pushed ${host}/demo/hello:1.0 → ${pushed.digest}: ${pushed.manifests} manifests, ${pushed.blobs.copied} blobs, ${formatBytes(pushed.bytes)}`);

    // 4. Copy it to a second repository: the registry mounts the blobs, no byte moves.
    p = progress();
    const copied = await copy(`${host}/demo/hello:1.0`, `${host}/demo/hello-copy:1.0`, { source: access, destination: access, onProgress: p.onProgress });
    p.done();
    say(`4. Copied to ${host}/demo/hello-copy:1.0 → ${copied.digest}: ${copied.blobs.mounted} of ${copied.blobs.total} blobs mounted, ${formatBytes(copied.bytes)} moved`);

    // 5. Pull it into an OCI layout.
    const pulledDir = join(work, 'pulled');
    p = progress();
    const pulled = await copy(`${host}/demo/hello-copy:1.0`, `oci:${pulledDir}:1.0`, { source: access, onProgress: p.onProgress });
    p.done();
    const index = JSON.parse(readFileSync(join(pulledDir, 'index.json'), 'utf8'));
    say(`5. Pulled into oci:${pulledDir}:1.0 → ${index.manifests[0].digest}`);

    // 6. Inspect it.
    const info = await inspect(`${host}/demo/hello-copy:1.0`, { access, platform: 'linux/arm64' });
    say(`6. Inspected ${info.name}: ${info.mediaType}`);
    for (const pl of info.platforms ?? []) say(`     ${pl.platform.padEnd(16)} ${pl.digest}`);
    if (info.image) say(`     linux/arm64: ${info.image.layers.length} layers, ${formatBytes(info.image.size)}, created ${info.image.config.created}, labels ${JSON.stringify(info.image.config.labels)}`);

    // 7. Summary.
    const same = [pushed.digest, copied.digest, pulled.digest, info.digest].every((d) => d === built);
    if (!same) throw new Error(`digests differ: built ${built}, pushed ${pushed.digest}, copied ${copied.digest}, pulled ${pulled.digest}, inspected ${info.digest}`);
    if (copied.blobs.mounted !== copied.blobs.total) throw new Error('the copy between repositories should have mounted every blob');
    say(`7. Done: one digest end to end (${built}); ${pushed.blobs.total} distinct blobs for 2 platforms (the base layer is shared); the copy moved 0 bytes.`);
  } finally {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err?.stack ?? err}\n`);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});

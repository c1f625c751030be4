/**
 * Directory storage under stress: a registry process SIGKILLed in the middle of uploads and
 * restarted on the same directory serves every completed blob and no half blob, an
 * interrupted upload resumes after the restart, and concurrent uploads of one blob are safe.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRegistryServer } from '../../src/server/index.js';
import { call, OCI_MANIFEST, pushImage, sha256 } from '../conformance/client.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/serve-registry.ts', import.meta.url));
const START_TIMEOUT_MS = 20_000;

interface Child {
  url: string;
  process: ChildProcess;
}

function startChild(storage: string): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, storage], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`registry process did not start in ${START_TIMEOUT_MS} ms: ${err}`));
    }, START_TIMEOUT_MS);
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve({ url: (JSON.parse(line) as { url: string }).url, process: child });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`registry process exited with ${code}: ${err}`));
    });
  });
}

function kill(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
  child.process.kill('SIGKILL');
  return gone;
}

/** Starts a request and sends part of its body, never finishing it. */
function unfinishedUpload(base: string, method: string, path: string, part: Buffer, headers: Record<string, string> = {}): http.ClientRequest {
  const url = new URL(path, base);
  const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: { 'content-type': 'application/octet-stream', ...headers }, agent: false });
  req.on('error', () => undefined); // the server is about to be killed
  req.write(part);
  return req;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until some upload session on disk has at least `bytes` bytes. */
async function waitForUploadBytes(storage: string, bytes: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const sizes = readdirSync(join(storage, 'uploads')).map((id) => {
      try {
        return statSync(join(storage, 'uploads', id, 'data')).size;
      } catch {
        return 0;
      }
    });
    if (sizes.some((s) => s >= bytes)) return;
    if (Date.now() > deadline) throw new Error(`no upload reached ${bytes} bytes: ${sizes.join(',')}`);
    await sleep(20);
  }
}

describe('embedded registry: crash safety and restart', () => {
  let dir: string;
  const children: Child[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-crash-'));
  });
  after(async () => {
    for (const c of children) await kill(c);
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGKILL mid-upload: completed blobs survive, half blobs never appear, the session resumes', async () => {
    const storage = join(dir, 'storage');
    const first = await startChild(storage);
    children.push(first);
    const image = await pushImage(first.url, 'crash/app', 'v1');

    // A chunked upload: one chunk completed, the second cut off by the kill.
    const blob = randomBytes(3 * 1024 * 1024);
    const post = await call(first.url, 'POST', '/v2/crash/app/blobs/uploads/');
    const location = new URL(post.header('location') as string, first.url);
    const chunk = await call(first.url, 'PATCH', location.toString(), { headers: { 'content-range': `0-${1024 * 1024 - 1}`, 'content-type': 'application/octet-stream' }, body: blob.subarray(0, 1024 * 1024) });
    assert.equal(chunk.status, 202);
    const cut = unfinishedUpload(first.url, 'PATCH', location.pathname, blob.subarray(1024 * 1024, 2 * 1024 * 1024));
    // A monolithic upload cut off too.
    const other = randomBytes(2 * 1024 * 1024);
    const cutMonolithic = unfinishedUpload(first.url, 'POST', `/v2/crash/app/blobs/uploads/?digest=${sha256(other)}`, other.subarray(0, 1024 * 1024), { 'content-length': String(other.length) });
    await waitForUploadBytes(storage, 1024 * 1024 + 1);
    await kill(first);
    cut.destroy();
    cutMonolithic.destroy();

    const second = await startChild(storage);
    children.push(second);
    // Everything completed before the kill is there, byte for byte.
    const manifest = await call(second.url, 'GET', '/v2/crash/app/manifests/v1', { headers: { accept: OCI_MANIFEST } });
    assert.equal(manifest.status, 200);
    assert.deepEqual(manifest.body, image.manifest);
    assert.deepEqual((await call(second.url, 'GET', `/v2/crash/app/blobs/${sha256(image.layer)}`)).body, image.layer);
    // Nothing half-uploaded is served.
    assert.equal((await call(second.url, 'HEAD', `/v2/crash/app/blobs/${sha256(blob)}`)).status, 404);
    assert.equal((await call(second.url, 'HEAD', `/v2/crash/app/blobs/${sha256(other)}`)).status, 404);
    const blobFiles = readdirSync(join(storage, 'blobs', 'sha256'), { recursive: true }).filter((f) => String(f).length > 3).map((f) => String(f).split('/')[1]);
    assert.deepEqual(blobFiles.sort(), [image.config, image.layer, image.manifest].map((b) => sha256(b).slice(7)).sort());

    // The interrupted session resumes where the disk says it ends, and commits after a re-hash.
    const status = await call(second.url, 'GET', location.pathname);
    assert.equal(status.status, 204);
    const received = Number((status.header('range') as string).split('-')[1]) + 1;
    assert.ok(received >= 1024 * 1024 && received <= 2 * 1024 * 1024, `resumes at ${received}`);
    const rest = await call(second.url, 'PATCH', location.pathname, { headers: { 'content-range': `${received}-${blob.length - 1}`, 'content-type': 'application/octet-stream' }, body: blob.subarray(received) });
    assert.equal(rest.status, 202, rest.text);
    const put = await call(second.url, 'PUT', `${location.pathname}?digest=${sha256(blob)}`);
    assert.equal(put.status, 201, put.text);
    assert.equal(sha256((await call(second.url, 'GET', `/v2/crash/app/blobs/${sha256(blob)}`)).body), sha256(blob));
    await kill(second);

    // A clean restart keeps all of it, tags and catalog included.
    const third = await startChild(storage);
    children.push(third);
    assert.deepEqual(JSON.parse((await call(third.url, 'GET', '/v2/crash/app/tags/list')).text), { name: 'crash/app', tags: ['v1'] });
    assert.deepEqual(JSON.parse((await call(third.url, 'GET', '/v2/_catalog')).text), { repositories: ['crash/app'] });
    assert.equal((await call(third.url, 'HEAD', `/v2/crash/app/blobs/${sha256(blob)}`)).status, 200);
  });
});

describe('embedded registry: concurrent uploads of one blob', () => {
  for (const storageKind of ['disk', 'memory'] as const) {
    test(`eight parallel chunked uploads of the same blob all succeed (${storageKind})`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'gantry-concurrent-'));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: storageKind === 'disk' ? dir : 'memory' });
      t.after(() => server.close());
      const blob = randomBytes(2 * 1024 * 1024);
      const upload = async (i: number): Promise<number> => {
        const repo = `same/blob${i % 2}`;
        const post = await call(server.url, 'POST', `/v2/${repo}/blobs/uploads/`);
        let location = new URL(post.header('location') as string, server.url);
        const half = blob.length / 2;
        for (const [start, end] of [[0, half], [half, blob.length]] as const) {
          const r = await call(server.url, 'PATCH', location.toString(), { headers: { 'content-range': `${start}-${end - 1}`, 'content-type': 'application/octet-stream' }, body: blob.subarray(start, end) });
          assert.equal(r.status, 202, r.text);
          location = new URL(r.header('location') as string, server.url);
        }
        location.searchParams.set('digest', sha256(blob));
        return (await call(server.url, 'PUT', location.toString())).status;
      };
      const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(i)));
      assert.deepEqual(statuses, Array(8).fill(201));
      for (const repo of ['same/blob0', 'same/blob1']) {
        assert.equal(sha256((await call(server.url, 'GET', `/v2/${repo}/blobs/${sha256(blob)}`)).body), sha256(blob));
      }
      if (storageKind === 'disk') assert.deepEqual(readdirSync(join(dir, 'uploads')), [], 'no session left behind');
    });
  }
});

describe('embedded registry: abandoned upload sessions', () => {
  test('opening the storage removes week-old and unreadable sessions and keeps live ones (and one being created this instant)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-purge-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const first = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: dir });
    const post = await call(first.url, 'POST', '/v2/purge/me/blobs/uploads/');
    const live = post.header('docker-upload-uuid') as string;
    await first.close();
    const old = '00000000-0000-4000-8000-000000000001';
    const broken = '00000000-0000-4000-8000-000000000002';
    mkdirSync(join(dir, 'uploads', old));
    writeFileSync(join(dir, 'uploads', old, 'info.json'), JSON.stringify({ repository: 'purge/me', started: new Date(Date.now() - 8 * 86_400_000).toISOString() }));
    writeFileSync(join(dir, 'uploads', old, 'data'), 'stale');
    mkdirSync(join(dir, 'uploads', broken));
    writeFileSync(join(dir, 'uploads', broken, 'info.json'), '{"repository": "pur');
    const minutesAgo = new Date(Date.now() - 5 * 60_000);
    utimesSync(join(dir, 'uploads', broken), minutesAgo, minutesAgo);
    // Another server on the directory between its session's mkdir and its info file.
    const creating = '00000000-0000-4000-8000-000000000003';
    mkdirSync(join(dir, 'uploads', creating));
    const second = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: dir });
    t.after(() => second.close());
    assert.deepEqual(readdirSync(join(dir, 'uploads')).sort(), [creating, live].sort());
    assert.equal((await call(second.url, 'GET', `/v2/purge/me/blobs/uploads/${live}`)).status, 204);
    assert.equal((await call(second.url, 'GET', `/v2/purge/me/blobs/uploads/${old}`)).status, 404);
  });
});

/**
 * `gantry serve` as a pull-through cache (issue 16) of a real CNCF registry (docker-registry
 * 2.8), read with gantry's own client:
 * - a pull through the cache has the upstream's digests, and a second pull is served from the
 *   cache with the upstream stopped;
 * - `gantry serve --proxy-remote` from the CLI, used by `gantry copy --registry-mirror` for a
 *   docker.io name;
 * - ten concurrent GETs of one uncached 64 MiB blob: one upstream GET, and every client has its
 *   first byte before the upstream transfer ends;
 * - tags revalidated after their TTL (a moved tag is followed); with the upstream down, the
 *   cached manifest is served with `Warning: 110`;
 * - pushes, uploads and deletes refused with UNSUPPORTED (405);
 * - a blob corrupted on its way from the upstream is not stored, its clients get a cut
 *   response, and the next request fetches it again;
 * - an htpasswd upstream with the cache's credentials (and without them: DENIED).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { copy } from '../../src/image/transports.js';
import { GANTRY_BIN, runGantry } from '../helpers/cli.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { request, seedBlob, seedImage, startCache, startRecordingProxy, timedGet, type RunningCache, type SeededImage } from './serve-proxy-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-serve-proxy-'));
const MIB = 1024 * 1024;
/** Hooks only start what is there; each test then fails under CI, or skips, through requirePeer. */
const present = peerPath('docker-registry') !== undefined;

/** Stops a docker-registry's process but keeps its port and storage, for `restart()`. */
async function halt(registry: RunningRegistry): Promise<void> {
  const child = registry.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = once(child, 'exit');
  child.kill('SIGTERM');
  await gone;
}

/** The manifest digest an OCI layout's index.json names for its one image. */
function layoutDigest(dir: string): string {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return index.manifests[0]!.digest;
}

let n = 0;
const out = (): string => join(root, `out-${++n}`);

after(() => rmSync(root, { recursive: true, force: true }));

describe('gantry serve --proxy-remote: a pull-through cache of docker-registry', () => {
  let upstream: RunningRegistry;
  let cache: RunningCache;
  let image: SeededImage;

  before(async () => {
    if (!present) return;
    upstream = await startDockerRegistry();
    image = await seedImage(upstream.host, 'library/app', '1', { index: true });
    cache = await startCache(upstream.url, { storage: join(root, 'cache-1') });
  });
  after(async () => {
    await cache?.close();
    await upstream?.stop();
  });

  test('a pull through the cache has the upstream digests; the second is served with the upstream stopped', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const first = await copy(`docker://${cache.host}/library/app:1`, `oci:${out()}:1`);
    assert.equal(first.digest.toString(), image.digest);
    for (const part of image.parts) assert.ok((await cache.server.storage.blobSize('library/app', part)) !== undefined || (await cache.server.storage.getManifest('library/app', part)), `${part} cached (directory storage must store a pull-through manifest before its blobs: ManifestWrite.pullThrough; ${cache.log.filter((l) => l.includes('not cached')).slice(0, 1).join('')})`);

    await halt(upstream);
    try {
      const dir = out();
      const second = await copy(`docker://${cache.host}/library/app:1`, `oci:${dir}:1`);
      assert.equal(second.digest.toString(), image.digest);
      assert.equal(layoutDigest(dir), image.digest);
      // A tag the cache never saw needs the upstream: unavailable, not unknown.
      const missing = await request('GET', `${cache.url}/v2/library/app/manifests/2`, { accept: image.mediaType });
      assert.equal(missing.status, 503, missing.body);
      assert.match(missing.body, /UNAVAILABLE/);
    } finally {
      await upstream.restart();
    }
  });

  test('pushes, uploads and deletes are refused with UNSUPPORTED (405), as the CNCF proxy does', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const attempts: [string, string][] = [
      ['POST', '/v2/library/app/blobs/uploads/'],
      ['PATCH', '/v2/library/app/blobs/uploads/0b4e5c9e-1111-4222-8333-944445555666'],
      ['PUT', '/v2/library/app/blobs/uploads/0b4e5c9e-1111-4222-8333-944445555666?digest=sha256:' + '0'.repeat(64)],
      ['PUT', '/v2/library/app/manifests/1'],
      ['DELETE', `/v2/library/app/manifests/${image.digest}`],
      ['DELETE', `/v2/library/app/blobs/${image.parts[1]}`],
    ];
    for (const [method, path] of attempts) {
      const r = await request(method, `${cache.url}${path}`, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, method === 'GET' ? undefined : '{}');
      assert.equal(r.status, 405, `${method} ${path}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { errors: { code: string }[] }).errors[0]?.code, 'UNSUPPORTED', `${method} ${path}`);
    }
    // gantry's own push: refused at its first upload, with the registry's code in the message.
    const layout = out();
    await copy(`docker://${upstream.host}/library/app:1`, `oci:${layout}:1`);
    const push = await runGantry(['copy', `oci:${layout}:1`, `docker://${cache.host}/library/copy:1`]);
    assert.equal(push.code, 1);
    assert.match(push.stderr, /UNSUPPORTED/);
  });
});

describe('gantry serve --proxy-remote from the CLI, as a Docker Hub mirror for gantry copy --registry-mirror', () => {
  let upstream: RunningRegistry;
  let child: ChildProcess | undefined;
  let cacheUrl = '';
  let image: SeededImage;
  const stderr: string[] = [];

  before(async () => {
    if (!present) return;
    upstream = await startDockerRegistry();
    image = await seedImage(upstream.host, 'library/hub', 'v1', { seed: 'hub' });
    child = spawn(process.execPath, [GANTRY_BIN, 'serve', '--listen', '127.0.0.1:0', '--storage', 'memory', '--proxy-remote', upstream.url, '--proxy-ttl', '1m'], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    assert.match(line, /pull-through cache of http:\/\/127\.0\.0\.1:\d+/);
    cacheUrl = /listening on (\S+)/.exec(line)![1]!;
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await upstream?.stop();
  });

  test('a docker.io name is pulled through the mirror, which asks its upstream for library/<name>', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const dir = out();
    const r = await runGantry(['copy', '--json', '--registry-mirror', cacheUrl, 'docker.io/library/hub:v1', `oci:${dir}:v1`], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { digest: string }).digest, image.digest);
    assert.ok(stderr.some((l) => l.startsWith('GET /v2/library/hub/manifests/v1 200')), stderr.join('\n'));
    // The short form `hub` is Docker Hub's `library/hub` too.
    const short = await runGantry(['copy', '--json', '--registry-mirror', cacheUrl, 'hub:v1', `oci:${out()}:v1`], { timeoutMs: 120_000 });
    assert.equal(short.code, 0, short.stderr);
    assert.equal((JSON.parse(short.stdout) as { digest: string }).digest, image.digest);
  });

  test('flags that need --proxy-remote, or each other, are usage errors', async () => {
    const stray = await runGantry(['serve', '--proxy-username', 'alice', '--listen', '127.0.0.1:0']);
    assert.notEqual(stray.code, 0);
    assert.match(stray.stderr, /--proxy-username needs --proxy-remote/);
    const half = await runGantry(['serve', '--proxy-remote', 'http://127.0.0.1:1', '--proxy-username', 'alice', '--listen', '127.0.0.1:0']);
    assert.notEqual(half.code, 0);
    assert.match(half.stderr, /--proxy-username and --proxy-password-file go together/);
    const path = await runGantry(['serve', '--proxy-remote', 'https://registry.example/v2/', '--listen', '127.0.0.1:0', '--storage', 'memory']);
    assert.notEqual(path.code, 0);
    assert.match(path.stderr, /proxy\.remoteUrl/);
  });
});

describe('single flight: ten clients, one uncached 64 MiB blob', () => {
  let upstream: RunningRegistry;
  let cache: RunningCache;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let digest: string;

  before(async () => {
    if (!present) return;
    upstream = await startDockerRegistry();
    digest = await seedBlob(upstream.host, 'library/big', 64 * MIB, 16);
    proxy = await startRecordingProxy(upstream.url);
    cache = await startCache(proxy.url, { storage: join(root, 'cache-flight'), metrics: true });
  });
  after(async () => {
    await cache?.close();
    await proxy?.close();
    await upstream?.stop();
  });

  test('one upstream GET, and every client starts receiving before it ends', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const blobPath = new RegExp(`/v2/library/big/blobs/${digest}$`);
    // 64 MiB at 32 MiB/s: the upstream transfer takes about two seconds.
    proxy.throttle(blobPath, 32 * MIB);
    const url = `${cache.url}/v2/library/big/blobs/${digest}`;
    const first = timedGet(url);
    // The others join while the first is in flight, some at once, some later (late joiners read what is spooled, then follow).
    await new Promise((r) => setTimeout(r, 300));
    const rest = Array.from({ length: 9 }, (_, i) => new Promise<Awaited<typeof first>>((r) => setTimeout(() => void timedGet(url).then(r), i < 5 ? 0 : 400)));
    const results = await Promise.all([first, ...rest]);
    assert.equal(proxy.count(blobPath), 1, proxy.requests.map((r) => `${r.method} ${r.path}`).join('\n'));
    const upstreamGet = proxy.requests.find((r) => r.method === 'GET' && blobPath.test(r.path))!;
    assert.ok(upstreamGet.ended, 'the upstream transfer ended');
    for (const [i, r] of results.entries()) {
      assert.equal(r.error, undefined, `client ${i}`);
      assert.equal(r.status, 200, `client ${i}`);
      assert.equal(r.bytes, 64 * MIB, `client ${i}`);
      assert.equal(r.digest, digest, `client ${i}`);
      assert.ok(r.firstByte! < upstreamGet.ended!, `client ${i}: first byte ${r.firstByte! - upstreamGet.started} ms after the upstream GET started, which ended after ${upstreamGet.ended! - upstreamGet.started} ms`);
    }
    // The metrics count every client as a miss: each was answered through the upstream fetch, joined or not.
    const blobCounts = async (): Promise<Record<string, number>> => {
      const text = (await request('GET', `${cache.url}/metrics`)).body;
      const count = (result: string): number => Number(new RegExp(`^gantry_proxy_cache_requests_total\\{kind="blob",result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
      return { miss: count('miss'), hit: count('hit') };
    };
    assert.deepEqual(await blobCounts(), { miss: 10, hit: 0 });
    // Stored now: an eleventh client is served without the upstream, a hit.
    const later = await timedGet(url);
    assert.equal(later.digest, digest);
    assert.equal(proxy.count(blobPath), 1);
    assert.deepEqual(await blobCounts(), { miss: 10, hit: 1 });
    // A range of a stored blob, and a HEAD, as from any registry.
    const range = await request('GET', url, { range: 'bytes=10-19' });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], `bytes 10-19/${64 * MIB}`);
  });

  test('a HEAD of an uncached blob asks the upstream for the size and fetches nothing', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const other = await seedBlob(upstream.host, 'library/big', 3 * MIB, 17);
    const head = await request('HEAD', `${cache.url}/v2/library/big/blobs/${other}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(3 * MIB));
    assert.equal(proxy.count(new RegExp(`/blobs/${other}$`)), 0);
    assert.equal(await cache.server.storage.blobSize('library/big', other), undefined);
    // A range of an uncached blob: fetched whole, the range served from the spool.
    const range = await request('GET', `${cache.url}/v2/library/big/blobs/${other}`, { range: 'bytes=0-3' });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], `bytes 0-3/${3 * MIB}`);
    assert.equal(Buffer.byteLength(range.body, 'latin1'), 4);
    const unknown = await request('GET', `${cache.url}/v2/library/big/blobs/sha256:${'1'.repeat(64)}`);
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /BLOB_UNKNOWN/);
  });

  test('a byte flipped on the way from the upstream: nothing stored, the client cut short, the next request fetches again', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const size = 5 * MIB;
    const bad = await seedBlob(upstream.host, 'library/big', size, 18);
    const path = new RegExp(`/blobs/${bad}$`);
    proxy.corrupt(path, 3 * MIB);
    const url = `${cache.url}/v2/library/big/blobs/${bad}`;
    const [a, b] = await Promise.all([timedGet(url), timedGet(url)]);
    for (const r of [a, b]) {
      assert.ok(r.error !== undefined || r.bytes < size, `a corrupted blob was delivered whole (${r.bytes} bytes, ${r.digest})`);
      assert.ok(r.bytes < size);
    }
    assert.equal(proxy.count(path), 1);
    assert.equal(await cache.server.storage.blobSize('library/big', bad), undefined);
    const again = await timedGet(url);
    assert.equal(again.error, undefined);
    assert.equal(again.digest, bad);
    assert.equal(proxy.count(path), 2);
    assert.equal(await cache.server.storage.blobSize('library/big', bad), size);
  });
});

describe('tags: revalidated after the TTL, stale with a Warning when the upstream is down', () => {
  let upstream: RunningRegistry;
  let cache: RunningCache;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  const TTL = 800;

  before(async () => {
    if (!present) return;
    upstream = await startDockerRegistry();
    proxy = await startRecordingProxy(upstream.url);
    cache = await startCache(proxy.url, { proxy: { tagTtlMs: TTL } });
  });
  after(async () => {
    await cache?.close();
    await proxy?.close();
    await upstream?.stop();
  });

  test('a moved tag is followed after the TTL; a down upstream gets the cached manifest, marked stale', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const url = `${cache.url}/v2/team/app/manifests/latest`;
    const a = await seedImage(upstream.host, 'team/app', 'latest', { seed: 'a' });
    const first = await request('GET', url, accept);
    assert.equal(first.headers['docker-content-digest'], a.digest);
    const b = await seedImage(upstream.host, 'team/app', 'latest', { seed: 'b' });
    // Within the TTL: the cache answers alone.
    const before = proxy.requests.length;
    assert.equal((await request('GET', url, accept)).headers['docker-content-digest'], a.digest);
    assert.equal(proxy.requests.length, before);
    await new Promise((r) => setTimeout(r, TTL + 100));
    const moved = await request('GET', url, accept);
    assert.equal(moved.headers['docker-content-digest'], b.digest);
    assert.equal(moved.headers.warning, undefined);
    assert.equal(proxy.count(/\/manifests\/latest$/, 'HEAD'), 1, 'revalidated with a HEAD');
    // After the TTL with the tag unchanged: one more HEAD, no GET.
    await new Promise((r) => setTimeout(r, TTL + 100));
    const gets = proxy.count(/\/manifests\//);
    assert.equal((await request('GET', url, accept)).headers['docker-content-digest'], b.digest);
    assert.equal(proxy.count(/\/manifests\/latest$/, 'HEAD'), 2);
    assert.equal(proxy.count(/\/manifests\//), gets);

    await halt(upstream);
    try {
      await new Promise((r) => setTimeout(r, TTL + 100));
      const stale = await request('GET', url, accept);
      assert.equal(stale.status, 200, stale.body);
      assert.equal(stale.headers['docker-content-digest'], b.digest);
      assert.equal(stale.headers.warning, '110 - "Response is Stale"');
      // By digest: immutable, never stale.
      const byDigest = await request('GET', `${cache.url}/v2/team/app/manifests/${b.digest}`, accept);
      assert.equal(byDigest.status, 200);
      assert.equal(byDigest.headers.warning, undefined);
      assert.ok(cache.log.some((l) => /serving team\/app:latest stale/.test(l)), cache.log.join('\n'));
      // Asked again at once: stale without another try upstream (no wait for its retries).
      const logged = cache.log.length;
      const again = await request('GET', url, accept);
      assert.equal(again.headers.warning, '110 - "Response is Stale"');
      assert.ok(!cache.log.slice(logged).some((l) => /stale/.test(l)), 'not asked upstream again');
    } finally {
      await upstream.restart();
    }
    // Back up (and past the stale window, which is at most the TTL): confirmed again, no warning.
    await new Promise((r) => setTimeout(r, TTL + 100));
    const fresh = await request('GET', url, accept);
    assert.equal(fresh.headers.warning, undefined);
    assert.equal(fresh.headers['docker-content-digest'], b.digest);
  });

  test('a tag deleted upstream is gone from the cache after the TTL', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
    const img = await seedImage(upstream.host, 'team/gone', 'x', { seed: 'gone' });
    assert.equal((await request('GET', `${cache.url}/v2/team/gone/manifests/x`, accept)).status, 200);
    // docker-registry deletes a tag's manifest by digest (the tag goes with it).
    const del = await request('DELETE', `${upstream.url}/v2/team/gone/manifests/${img.digest}`);
    assert.equal(del.status, 202, del.body);
    await new Promise((r) => setTimeout(r, TTL + 100));
    const gone = await request('GET', `${cache.url}/v2/team/gone/manifests/x`, accept);
    assert.equal(gone.status, 404, gone.body);
    assert.equal(await cache.server.storage.resolveTag('team/gone', 'x'), undefined);
  });
});

describe('an upstream behind htpasswd', () => {
  let upstream: RunningRegistry;
  const users = { alice: 'upstream-secret' };

  before(async () => {
    if (!present) return;
    upstream = await startDockerRegistry({ htpasswd: { users } });
  });
  after(async () => {
    await upstream?.stop();
  });

  test('the cache signs in with its credentials (a password file); without them it is DENIED', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const image = await seedImage(upstream.host, 'team/private', '1', { seed: 'private', credentials: { username: 'alice', password: users.alice } });
    const passwordFile = join(root, 'upstream-password');
    writeFileSync(passwordFile, `${users.alice}\n`, { mode: 0o600 });
    const cache = await startCache(upstream.url, { proxy: { username: 'alice', passwordFile } });
    try {
      const pulled = await copy(`docker://${cache.host}/team/private:1`, `oci:${out()}:1`);
      assert.equal(pulled.digest.toString(), image.digest);
      assert.ok(!cache.log.some((l) => l.includes(users.alice)), 'no password in the log');
    } finally {
      await cache.close();
    }
    const anonymous = await startCache(upstream.url);
    try {
      const r = await request('GET', `${anonymous.url}/v2/team/private/manifests/1`, { accept: image.mediaType });
      assert.equal(r.status, 403, r.body);
      assert.match(r.body, /DENIED/);
    } finally {
      await anonymous.close();
    }
  });
});

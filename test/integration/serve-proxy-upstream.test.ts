/**
 * The pull-through cache against an upstream of the test's own (the server's `Upstream`
 * interface, in process), for what a real registry cannot be made to do on cue: the options'
 * validation, a client that leaves mid-blob (the fetch goes on and stores it), a server closed
 * with a fetch in flight (nothing left behind), the upstream's refusals by kind, and concurrent
 * manifest requests sharing one upstream request.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions, type Upstream, type UpstreamManifest } from '../../src/server/index.js';
import { request, timedGet } from './serve-proxy-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-serve-proxy-upstream-'));
after(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An upstream in memory whose blobs trickle out in `chunk`-byte pieces every `intervalMs`. */
class FakeUpstream implements Upstream {
  readonly manifests = new Map<string, UpstreamManifest>();
  readonly blobs = new Map<string, Buffer>();
  readonly calls: string[] = [];
  failWith: unknown;
  chunk = 64 * 1024;
  intervalMs = 0;
  closed = false;

  async getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    this.calls.push(`getManifest ${repository} ${reference}`);
    await sleep(20);
    if (this.failWith) throw this.failWith;
    return this.manifests.get(`${repository}:${reference}`);
  }
  async headManifest(repository: string, reference: string): Promise<{ digest?: string } | undefined> {
    this.calls.push(`headManifest ${repository} ${reference}`);
    if (this.failWith) throw this.failWith;
    const m = this.manifests.get(`${repository}:${reference}`);
    return m ? { digest: m.digest } : undefined;
  }
  async headBlob(repository: string, digest: string): Promise<{ size: number } | undefined> {
    this.calls.push(`headBlob ${repository} ${digest}`);
    if (this.failWith) throw this.failWith;
    const b = this.blobs.get(digest);
    return b ? { size: b.length } : undefined;
  }
  async getBlob(repository: string, digest: string): Promise<{ size: number; stream: Readable } | undefined> {
    this.calls.push(`getBlob ${repository} ${digest}`);
    if (this.failWith) throw this.failWith;
    const bytes = this.blobs.get(digest);
    if (!bytes) return undefined;
    const { chunk, intervalMs } = this;
    let at = 0;
    const stream = new Readable({
      read() {
        if (at >= bytes.length) return void this.push(null);
        const piece = bytes.subarray(at, at + chunk);
        at += piece.length;
        if (intervalMs > 0) setTimeout(() => this.push(piece), intervalMs);
        else this.push(piece);
      },
    });
    return { size: bytes.length, stream };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function addManifest(up: FakeUpstream, repository: string, tag: string, seed: string): UpstreamManifest {
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(Buffer.from(seed)), size: seed.length }, layers: [] }));
  const m = { digest: sha256(bytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes };
  up.manifests.set(`${repository}:${tag}`, m);
  up.manifests.set(`${repository}:${m.digest}`, m);
  return m;
}

async function start(up: FakeUpstream, extra: Partial<RegistryServerOptions> = {}): Promise<RegistryServer> {
  return createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', proxy: { remoteUrl: 'https://upstream.invalid', connect: () => up }, ...extra });
}

describe('proxy options', () => {
  const connect = (): Upstream => new FakeUpstream();
  const bad: [string, RegistryServerOptions['proxy'], RegExp][] = [
    ['a path', { remoteUrl: 'https://registry.example/v2', connect }, /proxy\.remoteUrl/],
    ['a query', { remoteUrl: 'https://registry.example/?x=1', connect }, /proxy\.remoteUrl/],
    ['credentials in the URL', { remoteUrl: 'https://u:p@registry.example', connect }, /proxy\.remoteUrl/],
    ['another scheme', { remoteUrl: 'ftp://registry.example', connect }, /proxy\.remoteUrl/],
    ['no connect', { remoteUrl: 'https://registry.example' } as never, /proxy\.connect/],
    ['a user without a password', { remoteUrl: 'https://registry.example', username: 'u', connect }, /proxy\.password/],
    ['a password without a user', { remoteUrl: 'https://registry.example', password: 'p', connect }, /proxy\.username/],
    ['both password forms', { remoteUrl: 'https://registry.example', username: 'u', password: 'p', passwordFile: '/x', connect }, /proxy\.passwordFile/],
    ['a negative TTL', { remoteUrl: 'https://registry.example', tagTtlMs: -1, connect }, /proxy\.tagTtlMs/],
  ];
  for (const [what, proxy, message] of bad) {
    test(`refused: ${what}`, async () => {
      await assert.rejects(createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', proxy }), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INVALID_OPTION');
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test('an unreadable password file is a ConfigError naming the option', async () => {
    await assert.rejects(
      createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', proxy: { remoteUrl: 'https://registry.example', username: 'u', passwordFile: join(root, 'none'), connect } }),
      (err: Error & { code?: string }) => err.code === 'INVALID_CONFIG' && /proxy\.passwordFile/.test(err.message),
    );
  });

  test('the connector gets the remote origin and the credentials', async () => {
    let seen: unknown;
    const up = new FakeUpstream();
    const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', proxy: { remoteUrl: 'https://registry.example:8443/', username: 'u', password: 'p', connect: (remote) => ((seen = remote), up) } });
    await server.close();
    assert.deepEqual(seen, { url: 'https://registry.example:8443', username: 'u', password: 'p' });
    assert.equal(up.closed, true, 'closed with the server');
  });
});

describe('blobs in flight', () => {
  test('a client that leaves mid-blob does not stop the fetch: the blob is stored, the spool removed', async () => {
    const up = new FakeUpstream();
    const bytes = Buffer.alloc(4 * 1024 * 1024, 7);
    const digest = sha256(bytes);
    up.blobs.set(digest, bytes);
    up.intervalMs = 5;
    const spoolDir = join(root, 'spool-leave');
    const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: join(root, 'storage-leave'), proxy: { remoteUrl: 'https://upstream.invalid', connect: () => up, spoolDir } });
    try {
      await new Promise<void>((resolve) => {
        const req = http.get(`${server.url}/v2/team/app/blobs/${digest}`, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => undefined);
      });
      for (let i = 0; i < 200 && (await server.storage.blobSize('team/app', digest)) === undefined; i++) await sleep(20);
      assert.equal(await server.storage.blobSize('team/app', digest), bytes.length);
      assert.equal(up.calls.filter((c) => c.startsWith('getBlob')).length, 1);
      for (let i = 0; i < 50 && readdirSync(spoolDir).flatMap((d) => readdirSync(join(spoolDir, d))).length > 0; i++) await sleep(20);
      assert.deepEqual(readdirSync(spoolDir).flatMap((d) => readdirSync(join(spoolDir, d))), [], 'no spool file left');
      const again = await timedGet(`${server.url}/v2/team/app/blobs/${digest}`);
      assert.equal(again.digest, digest);
      assert.equal(up.calls.filter((c) => c.startsWith('getBlob')).length, 1);
    } finally {
      await server.close();
    }
    assert.deepEqual(readdirSync(spoolDir), [], 'the spool directory goes with the server');
  });

  test('closing the server with a fetch in flight cuts its clients and leaves nothing behind', async () => {
    const up = new FakeUpstream();
    const bytes = Buffer.alloc(2 * 1024 * 1024, 3);
    const digest = sha256(bytes);
    up.blobs.set(digest, bytes);
    up.chunk = 16 * 1024;
    up.intervalMs = 20;
    const spoolDir = join(root, 'spool-close');
    const server = await start(up, { proxy: { remoteUrl: 'https://upstream.invalid', connect: () => up, spoolDir } });
    const pending = timedGet(`${server.url}/v2/team/app/blobs/${digest}`);
    await sleep(200);
    await server.close();
    const r = await pending;
    assert.ok(r.error !== undefined || r.bytes < bytes.length, 'the client was cut short');
    assert.deepEqual(readdirSync(spoolDir), []);
  });

  test('an empty blob, and a range of an uncached one', async () => {
    const up = new FakeUpstream();
    const empty = Buffer.alloc(0);
    up.blobs.set(sha256(empty), empty);
    const bytes = Buffer.from('0123456789abcdef'.repeat(4096));
    up.blobs.set(sha256(bytes), bytes);
    up.chunk = 1000;
    const server = await start(up);
    try {
      const e = await timedGet(`${server.url}/v2/team/app/blobs/${sha256(empty)}`);
      assert.equal(e.status, 200);
      assert.equal(e.bytes, 0);
      const r = await request('GET', `${server.url}/v2/team/app/blobs/${sha256(bytes)}`, { range: 'bytes=16-31' });
      assert.equal(r.status, 206);
      assert.equal(r.body, '0123456789abcdef');
      const bad = await request('GET', `${server.url}/v2/team/app/blobs/${sha256(Buffer.from('x'))}`, { range: 'bytes=5-' });
      assert.equal(bad.status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('the upstream refuses', () => {
  const cases: [string, unknown, number, string][] = [
    ['401', Object.assign(new Error('UNAUTHORIZED: authentication required'), { status: 401 }), 403, 'DENIED'],
    ['403', Object.assign(new Error('DENIED: requested access to the resource is denied'), { status: 403 }), 403, 'DENIED'],
    ['429', Object.assign(new Error('TOOMANYREQUESTS: slow down'), { status: 429, retryAfter: 30 }), 429, 'TOOMANYREQUESTS'],
    ['a connection error', new Error('connect ECONNREFUSED'), 503, 'UNAVAILABLE'],
  ];
  for (const [what, err, status, code] of cases) {
    test(`${what}: ${status} ${code}, with the upstream's message`, async () => {
      const up = new FakeUpstream();
      up.failWith = err;
      const server = await start(up);
      try {
        for (const path of ['/v2/team/app/manifests/1', `/v2/team/app/blobs/sha256:${'a'.repeat(64)}`]) {
          const r = await request('GET', `${server.url}${path}`);
          assert.equal(r.status, status, `${path}: ${r.body}`);
          const entry = (JSON.parse(r.body) as { errors: { code: string; detail: { upstream: string } }[] }).errors[0]!;
          assert.equal(entry.code, code);
          assert.equal(entry.detail.upstream, (err as Error).message);
          if (status === 429) assert.equal(r.headers['retry-after'], '30');
          assert.equal(r.headers['www-authenticate'], undefined);
        }
      } finally {
        await server.close();
      }
    });
  }
});

describe('manifests', () => {
  test('concurrent requests for one tag share one upstream GET; by digest it is stored, never asked again', async () => {
    const up = new FakeUpstream();
    const m = addManifest(up, 'team/app', '1', 'one');
    const server = await start(up);
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => request('GET', `${server.url}/v2/team/app/manifests/1`)));
      for (const a of answers) assert.equal(a.headers['docker-content-digest'], m.digest);
      assert.deepEqual(up.calls, ['getManifest team/app 1']);
      const head = await request('HEAD', `${server.url}/v2/team/app/manifests/${m.digest}`);
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(m.bytes.length));
      assert.deepEqual(up.calls, ['getManifest team/app 1']);
      // What the cache holds is listed as by any registry.
      const tags = await request('GET', `${server.url}/v2/team/app/tags/list`);
      assert.deepEqual(JSON.parse(tags.body), { name: 'team/app', tags: ['1'] });
      const unknown = await request('GET', `${server.url}/v2/team/app/manifests/2`);
      assert.equal(unknown.status, 404);
      assert.match(unknown.body, /MANIFEST_UNKNOWN/);
    } finally {
      await server.close();
    }
  });

  test('a TTL of 0 asks the upstream (HEAD) on every request', async () => {
    const up = new FakeUpstream();
    addManifest(up, 'team/app', '1', 'one');
    const server = await start(up, { proxy: { remoteUrl: 'https://upstream.invalid', connect: () => up, tagTtlMs: 0 } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request('GET', `${server.url}/v2/team/app/manifests/1`)).status, 200);
      assert.deepEqual(up.calls, ['getManifest team/app 1', 'headManifest team/app 1', 'headManifest team/app 1']);
    } finally {
      await server.close();
    }
  });
});

/**
 * Review findings on `gantry serve`'s pull-through cache and garbage collection, each pinned by
 * a test that failed before its fix. The upstream is the test's own (the server's `Upstream`
 * interface, in process), so it can misbehave on cue.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Digest } from '../../src/ref/digest.js';
import { openFilesystemStorage } from '../../src/server/storage/filesystem.js';
import { createRegistryServer, type RegistryServer, type RegistryServerOptions, type Upstream, type UpstreamManifest } from '../../src/server/index.js';
import { tempOwnerTag } from '../../src/fs/stale-temp.js';
import { request, timedGet } from './serve-proxy-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-serve-review-'));
after(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** An upstream in memory; what it answers can be made wrong on purpose. */
class FakeUpstream implements Upstream {
  readonly manifests = new Map<string, UpstreamManifest>();
  readonly blobs = new Map<string, Buffer>();
  readonly calls: string[] = [];

  async getManifest(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    this.calls.push(`getManifest ${repository} ${reference}`);
    return this.manifests.get(`${repository}:${reference}`);
  }
  async headManifest(repository: string, reference: string): Promise<{ digest?: string } | undefined> {
    this.calls.push(`headManifest ${repository} ${reference}`);
    const m = this.manifests.get(`${repository}:${reference}`);
    return m ? { digest: m.digest } : undefined;
  }
  async headBlob(repository: string, digest: string): Promise<{ size: number } | undefined> {
    this.calls.push(`headBlob ${repository} ${digest}`);
    const b = this.blobs.get(digest);
    return b ? { size: b.length } : undefined;
  }
  async getBlob(repository: string, digest: string): Promise<{ size: number; stream: Readable } | undefined> {
    this.calls.push(`getBlob ${repository} ${digest}`);
    const bytes = this.blobs.get(digest);
    return bytes ? { size: bytes.length, stream: Readable.from([bytes]) } : undefined;
  }
  async close(): Promise<void> {}
}

function imageManifest(seed: string): Buffer {
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(Buffer.from(seed)), size: seed.length }, layers: [] }));
}

async function startCache(up: FakeUpstream, extra: Partial<RegistryServerOptions> = {}): Promise<RegistryServer> {
  return createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', proxy: { remoteUrl: 'https://upstream.invalid', connect: () => up }, ...extra });
}

/** A manifest of the fake upstream's. */
const upstreamManifest = (bytes: Buffer): UpstreamManifest => ({ digest: sha256(bytes), mediaType: OCI_MANIFEST, bytes });

/** A cache (tag TTL 0: every GET revalidates) that has served `team/app:1` once, as the manifest `first`. */
async function cachedTag(): Promise<{ up: FakeUpstream; server: RegistryServer }> {
  const up = new FakeUpstream();
  up.manifests.set('team/app:1', upstreamManifest(imageManifest('first')));
  const server = await startCache(up, { proxy: { remoteUrl: 'https://upstream.invalid', connect: () => up, tagTtlMs: 0 } });
  assert.equal((await request('GET', `${server.url}/v2/team/app/manifests/1`)).status, 200);
  return { up, server };
}

describe('pull-through cache: spools', () => {
  test('a second cache opening the same storage does not break the first one\'s blob fetches', async () => {
    const storage = join(root, 'shared-storage');
    const up = new FakeUpstream();
    const bytes = Buffer.from('a blob fetched after another cache started on the storage '.repeat(1000));
    const digest = sha256(bytes);
    up.blobs.set(digest, bytes);
    const first = await startCache(up, { storage });
    let second: RegistryServer | undefined;
    try {
      // A crash's leftover: a spool of a pid of this host that no longer runs (pid 2^22 + 1 is past Linux's pid_max).
      const spools = join(storage, 'proxy-spool');
      const dead = join(spools, `gantry-spool-${tempOwnerTag().replace(/^\d+/, String(2 ** 22 + 1))}`);
      mkdirSync(dead);
      writeFileSync(join(dead, 'half-fetched'), 'a blob cut short by the crash');
      const live = readdirSync(spools).filter((n) => join(spools, n) !== dead);
      assert.equal(live.length, 1, 'the first server\'s own spool');
      // The second server removes the crash's leftover, and only it.
      second = await startCache(new FakeUpstream(), { storage });
      assert.ok(!existsSync(dead), 'the dead process\'s spool is removed');
      assert.ok(existsSync(join(spools, live[0]!)), 'the first server\'s spool stays');
      const r = await timedGet(`${first.url}/v2/team/app/blobs/${digest}`);
      assert.equal(r.error, undefined);
      assert.equal(r.status, 200);
      assert.equal(r.digest, digest);
      assert.equal(await first.storage.blobSize('team/app', digest), bytes.length);
    } finally {
      await second?.close();
      await first.close();
    }
  });
});

describe('directory storage: a second registry opening it', () => {
  test('keeps the temporaries of the writes in flight of the one serving it, and removes stale ones', async () => {
    const dir = join(root, 'open-tmp');
    const first = await openFilesystemStorage(dir);
    try {
      const inFlight = join(dir, 'tmp', 'in-flight.tmp');
      const leftover = join(dir, 'tmp', 'crash-leftover.tmp');
      writeFileSync(inFlight, 'a write between its temporary and its rename');
      writeFileSync(leftover, 'written by a process killed two days ago');
      const old = new Date(Date.now() - 2 * 24 * 3600_000);
      utimesSync(leftover, old, old);
      const second = await openFilesystemStorage(dir);
      await second.close();
      assert.ok(existsSync(inFlight), 'a young temporary belongs to a live writer');
      assert.ok(!existsSync(leftover), 'a stale one is a crash\'s');
    } finally {
      await first.close();
    }
  });

  test('commits on the first registry do not fail while others open the storage, nor do the opens', async () => {
    const dir = join(root, 'open-race');
    mkdirSync(dir, { recursive: true });
    const first = await openFilesystemStorage(dir);
    const failures: string[] = [];
    let stop = false;
    let commits = 0;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const bytes = Buffer.from(`blob ${w} ${i} ${Math.random()}`);
        try {
          const session = await first.startUpload('team/app');
          await first.appendUpload('team/app', session.id, Readable.from([bytes]));
          await first.commitUpload('team/app', session.id, Digest.fromBytes(bytes).toString());
          commits++;
        } catch (err) {
          failures.push(`commit: ${(err as Error).message}`);
        }
      }
    };
    const writers = Array.from({ length: 6 }, (_, w) => writer(w));
    try {
      for (let k = 0; k < 25; k++) {
        try {
          await (await openFilesystemStorage(dir)).close();
        } catch (err) {
          failures.push(`open: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      stop = true;
      await Promise.all(writers);
      await first.close();
    }
    assert.ok(commits > 0);
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures`);
  });
});

describe('pull-through cache: manifests', () => {
  /** An upstream that sends `bytes` for a manifest but names it by the digest of other bytes. */
  function lying(): { up: FakeUpstream; claimed: string } {
    const up = new FakeUpstream();
    const good = imageManifest('good');
    const claimed = sha256(good);
    const wrong = { digest: claimed, mediaType: OCI_MANIFEST, bytes: imageManifest('evil') };
    up.manifests.set('team/app:1', wrong);
    up.manifests.set(`team/app:${claimed}`, wrong);
    return { up, claimed };
  }

  for (const by of ['tag', 'digest'] as const) {
    test(`by ${by}: bytes that do not hash to the digest the upstream names are neither stored nor served`, async () => {
      const { up, claimed } = lying();
      const server = await startCache(up);
      try {
        const r = await request('GET', `${server.url}/v2/team/app/manifests/${by === 'tag' ? '1' : claimed}`);
        assert.equal(r.status, 503, r.body);
        assert.equal((JSON.parse(r.body) as { errors: { code: string }[] }).errors[0]?.code, 'UNAVAILABLE');
        assert.equal(await server.storage.getManifest('team/app', claimed), undefined, 'nothing stored under the digest');
        assert.equal(await server.storage.resolveTag('team/app', '1'), undefined, 'no tag moved');
      } finally {
        await server.close();
      }
    });
  }

  test('a tag that moves again between the HEAD and the GET by its digest is followed, not forgotten', async () => {
    const { up, server } = await cachedTag();
    try {
      // The HEAD names m2, but m2 is gone by the GET (the tag moved on to m3, m2 deleted).
      const m2 = upstreamManifest(imageManifest('second'));
      const m3 = upstreamManifest(imageManifest('third'));
      up.headManifest = async () => ({ digest: m2.digest });
      up.manifests.set('team/app:1', m3);
      const r = await request('GET', `${server.url}/v2/team/app/manifests/1`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.headers['docker-content-digest'], m3.digest);
      assert.equal(await server.storage.resolveTag('team/app', '1'), m3.digest);
    } finally {
      await server.close();
    }
  });

  test('a moved tag whose new manifest, fetched by the HEAD\'s digest, comes back as another one: the cached one is served stale', async () => {
    const { up, server } = await cachedTag();
    try {
      // The tag moves to m2 upstream, but a GET of m2 by digest answers m3 (well formed, self-consistent).
      const m1 = upstreamManifest(imageManifest('first'));
      const m2 = upstreamManifest(imageManifest('second'));
      const m3 = upstreamManifest(imageManifest('third'));
      up.manifests.set('team/app:1', m2);
      up.manifests.set(`team/app:${m2.digest}`, m3);
      const r = await request('GET', `${server.url}/v2/team/app/manifests/1`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['docker-content-digest'], m1.digest, 'not the manifest nobody asked for');
      assert.ok(r.headers.warning, 'stale: the upstream did not confirm the tag');
      assert.equal(await server.storage.getManifest('team/app', m3.digest), undefined);
      assert.equal(await server.storage.resolveTag('team/app', '1'), m1.digest);
    } finally {
      await server.close();
    }
  });
});

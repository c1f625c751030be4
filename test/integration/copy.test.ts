/**
 * The copy engine end to end on the embedded registry: a two-platform index pushed from an
 * OCI layout keeps its digest; a copy to a second repository mounts every blob; a pull to a
 * layout and a single-platform copy; a no-op copy moves nothing and makes one manifest
 * request; a docker archive round trip.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { copyImage, type CopyEvent } from '../../src/image/copy.js';
import { copy } from '../../src/image/transports.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { makeIndex, MemorySource } from '../helpers/image-fixture.js';

describe('copy', () => {
  let server: RegistryServer;
  let reg: string;
  let dir: string;
  let indexDigest: string;
  let armDigest: string;
  let amdBlobs: number;
  const requests: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-copy-'));
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', log: (l) => requests.push(l) });
    reg = new URL(server.url).host;
    const fixture = await makeIndex();
    indexDigest = fixture.index.digest.toString();
    armDigest = fixture.children[1]!.manifest.digest.toString();
    amdBlobs = fixture.children[0]!.tars.length + 1;
    await copyImage(new MemorySource(fixture.index, fixture.blobs), new OciLayoutDestination(join(dir, 'src')), { tag: 'v1' });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('push an index from a layout: same digest, every platform', async () => {
    const events: CopyEvent[] = [];
    const r = await copy(`oci:${join(dir, 'src')}:v1`, `${reg}/demo/app:v1`, { onProgress: (e) => events.push(e) });
    assert.equal(r.digest, indexDigest);
    assert.equal(r.manifests, 3);
    assert.equal(r.blobs.copied, r.blobs.total);
    assert.ok(r.blobs.total >= 4);
    const start = events.find((e) => e.kind === 'image' && e.phase === 'start');
    assert.deepEqual(start && 'platforms' in start ? start.platforms : [], ['linux/amd64', 'linux/arm64/v8']);
    assert.ok(events.some((e) => e.kind === 'blob' && e.phase === 'copying' && e.bytes > 0));
  });

  test('copy to another repository of the same registry mounts every blob', async () => {
    const r = await copy(`${reg}/demo/app:v1`, `${reg}/demo/copy:v1`);
    assert.equal(r.digest, indexDigest);
    assert.equal(r.blobs.mounted, r.blobs.total);
    assert.equal(r.bytes, 0);
  });

  test('a no-op copy moves no blob and makes one manifest request', async () => {
    const before = requests.length;
    const r = await copy(`oci:${join(dir, 'src')}:v1`, `${reg}/demo/app:v1`);
    assert.equal(r.upToDate, true);
    assert.equal(r.bytes, 0);
    const made = requests.slice(before).filter((l) => /\/v2\/demo\/app\//.test(l));
    assert.equal(made.length, 1, made.join('\n'));
    assert.match(made[0]!, /^HEAD \/v2\/demo\/app\/manifests\/v1 200/);
  });

  test('pull to a layout, whole and one platform', async () => {
    const whole = await copy(`${reg}/demo/copy:v1`, `oci:${join(dir, 'pulled')}:v1`);
    assert.equal(whole.digest, indexDigest);
    const arm = await copy(`${reg}/demo/copy:v1`, `oci:${join(dir, 'pulled')}:arm`, { platform: 'linux/arm64' });
    assert.equal(arm.digest, armDigest);
    const index = JSON.parse(readFileSync(join(dir, 'pulled', 'index.json'), 'utf8'));
    const byTag = Object.fromEntries(index.manifests.map((m: { digest: string; annotations: Record<string, string> }) => [m.annotations['org.opencontainers.image.ref.name'], m.digest]));
    assert.deepEqual(byTag, { v1: indexDigest, arm: armDigest });
  });

  test('docker archive: write one platform, read it back into a registry', async () => {
    const file = join(dir, 'image.tar');
    await copy(`${reg}/demo/app:v1`, `docker-archive:${file}:demo/app:amd`, { platform: 'linux/amd64' });
    const r = await copy(`docker-archive:${file}`, `${reg}/demo/from-archive:amd`);
    assert.equal(r.blobs.total, amdBlobs, 'config and layers of the amd64 image');
    await assert.rejects(copy(`${reg}/demo/app:v1`, `docker-archive:${join(dir, 'x.tar')}`), /platform/);
  });

  test('a missing image is a clear error', async () => {
    await assert.rejects(copy(`${reg}/demo/nothing:v1`, `oci:${join(dir, 'none')}`), (err: Error) => /MANIFEST_UNKNOWN|NAME_UNKNOWN|not found/.test(err.message));
  });
});

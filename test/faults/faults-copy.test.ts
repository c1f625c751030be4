/**
 * Copy (docker-registry → docker-registry) with a fault proxy on each side: the source
 * side cuts, truncates, drips and rate-limits downloads while the destination side breaks
 * uploads and answers 503. The copy lands with the source's manifest digest, or fails
 * clearly with the destination tag untouched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copy } from '../../src/image/transports.js';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { assertFired, blobPath, blobRequests, fastRetry, NO_CERTS, proxySeed, registryImage, startFaultWorld, type FaultWorld, isBigBlobUnavailable } from './fault-fixture.js';

const REPO = 'faults/base';

describe('registry to registry copy through faulty networks on both sides', () => {
  let world: FaultWorld;
  /** The destination side: a second proxy in front of the same registry (a different host, so no mounts). */
  let destination: FaultProxy;
  before(async () => {
    // Without the peer each test skips (or, under CI, fails) in requirePeer.
    if (!peerPath('docker-registry')) return;
    world = await startFaultWorld(23);
    destination = await startFaultProxy({ upstream: world.registry.url, seed: proxySeed(24) });
  });
  after(async () => {
    await destination?.close();
    await world?.close();
  });

  let n = 0;
  const nextRepo = (): string => `faults/copy${n + 1}`;
  const copyImage = async (waits: number[] = []) => {
    const repo = `faults/copy${++n}`;
    world.proxy.requests.length = 0;
    destination.requests.length = 0;
    const result = await copy(`docker://${world.proxy.host}/${REPO}:v1`, `docker://${destination.host}/${repo}:v1`, {
      source: { certsDir: NO_CERTS, retry: fastRetry(waits) },
      destination: { certsDir: NO_CERTS, retry: fastRetry(waits) },
      jobs: 3,
    });
    assert.equal(result.digest, world.image.manifestDigest.toString());
    assert.equal((await registryImage(world.registry, `${repo}:v1`))?.toString(), world.image.manifestDigest.toString(), 'the destination manifest digest is the source\'s');
    return repo;
  };

  test('a download reset and an upload reset in the same copy both heal', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const { big } = world.image;
    // The download breaks first (well before the upload's cut, which trails it), then the upload.
    const download = world.proxy.add({ method: 'GET', path: blobPath(REPO, big.digest), fault: { kind: 'reset-response', afterBytes: 777_777 } });
    const upload = destination.add({ method: 'PATCH', path: new RegExp(`^/v2/${nextRepo()}/blobs/uploads/`), fault: { kind: 'reset-request', afterBytes: 3_000_000 } });
    await copyImage();
    assertFired(download, 1);
    assertFired(upload, 1);
    // The upload restart read the blob again from the source: the first read was resumed at the cut.
    // The resume asks for what the copy had consumed: here the upload paces the download, so
    // part of what the proxy sent before the cut may still have been in buffers, and lost.
    const gets = blobRequests(world.proxy, big.digest);
    assert.equal(gets.length, 3);
    assert.deepEqual([gets[0]?.range, gets[0]?.cutAfter], [undefined, 777_777]);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 777_777, `resumed at ${gets[1]?.range}`);
    assert.equal(gets[1]?.status, 206);
    assert.equal(gets[2]?.range, undefined, 'the restarted upload reads the blob again from its start');
    const patches = destination.requests.filter((r) => r.method === 'PATCH');
    assert.deepEqual(patches.map((p) => p.cutAfter), [3_000_000, undefined]);
  });

  test('truncation and a drip on the source, 503 bursts on the destination', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const truncated = world.proxy.add({ method: 'GET', path: blobPath(REPO, world.image.big.digest), fault: { kind: 'truncate' } });
    const drip = world.proxy.add({ method: 'GET', path: blobPath(REPO, world.image.small.digest), fault: { kind: 'drip', chunkBytes: 8 * 1024, intervalMs: 50, forMs: 400 } });
    const starts = destination.add({ method: 'POST', path: new RegExp(`^/v2/${nextRepo()}/blobs/uploads/`), times: 2, fault: { kind: 'status', status: 503 } });
    const heads = destination.add({ method: 'HEAD', path: new RegExp(`^/v2/${nextRepo()}/blobs/`), times: 2, fault: { kind: 'status', status: 503 } });
    await copyImage();
    for (const f of [truncated, drip]) assertFired(f, 1);
    assertFired(starts, 2);
    assertFired(heads, 2);
    const gets = blobRequests(world.proxy, world.image.big.digest);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= (gets[0]?.cutAfter ?? 0), `cut after ${gets[0]?.cutAfter}, resumed with ${gets[1]?.range}`);
  });

  test('429 with Retry-After on both sides is waited for', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const source = world.proxy.add({ method: 'GET', path: new RegExp(`^/v2/${REPO}/manifests/v1$`), fault: { kind: 'status', status: 429, retryAfter: '1' } });
    const dest = destination.add({ method: 'PUT', path: new RegExp(`^/v2/${nextRepo()}/manifests/v1$`), fault: { kind: 'status', status: 429, retryAfter: '1' } });
    const waits: number[] = [];
    await copyImage(waits);
    assertFired(source, 1);
    assertFired(dest, 1);
    assert.deepEqual(waits, [1000, 1000]);
  });

  test('a source that stays down fails the copy clearly and the destination tag is never written', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const repo = nextRepo();
    const down = world.proxy.add({ method: 'GET', path: blobPath(REPO, world.image.big.digest), times: Infinity, fault: { kind: 'status', status: 503 } });
    try {
      await assert.rejects(copyImage(), isBigBlobUnavailable(world, REPO));
    } finally {
      world.proxy.clearFaults();
    }
    assert.equal(blobRequests(world.proxy, world.image.big.digest).length, 4, 'the source retry budget, not multiplied');
    assertFired(down, 4);
    assert.equal(await registryImage(world.registry, `${repo}:v1`), undefined);
    assert.equal(destination.requests.some((r) => r.method === 'PUT' && r.url.includes('/manifests/')), false);
  });
});

/**
 * `gantry pull` (the built CLI) killed with SIGKILL while a layer drips in through the fault
 * proxy, then run again: the first run leaves no index.json naming a half-pulled image, and
 * the second completes without fetching again the blobs the first one finished.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { assertFired, assertLayoutSound, blobPath, blobRequests, NO_CERTS, startFaultWorld, type FaultWorld } from './fault-fixture.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'gantry.js');
const REPO = 'faults/base';
const WAIT_MS = 20_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a pull killed with SIGKILL and run again', () => {
  let world: FaultWorld;
  before(async () => {
    // Without the peer each test skips (or, under CI, fails) in requirePeer.
    if (!peerPath('docker-registry')) return;
    world = await startFaultWorld(31);
  });
  after(async () => {
    await world?.close();
  });

  const args = (dir: string): string[] => [BIN, 'pull', `${world.proxy.host}/${REPO}:v1`, dir, '--certs-dir', NO_CERTS, '--config-dir', join(dir, '..', 'docker-config'), '--json'];

  test('completes, reusing the blobs the killed run finished', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const { config, small, big } = world.image;
    const dir = join(world.tempDir(), 'layout');
    const blobs = join(dir, 'blobs', 'sha256');
    // The big layer drips (16 KiB every 50 ms: about 10 s for it), so the run is caught mid-layer.
    const drip = world.proxy.add({ method: 'GET', path: blobPath(REPO, big.digest), fault: { kind: 'drip', chunkBytes: 16 * 1024, intervalMs: 50, forMs: 60_000 } });

    const child = spawn(process.execPath, args(dir), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((r) => child.once('exit', (code, signal) => r(signal ?? code)));
    t.after(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));

    // Wait until the small blobs are in place and the big one is part-written in a temp file.
    const deadline = Date.now() + WAIT_MS;
    const midway = (): boolean => {
      if (!existsSync(join(blobs, config.digest.encoded)) || !existsSync(join(blobs, small.digest.encoded))) return false;
      return readdirSync(blobs).some((f) => f.startsWith('.tmp-') && statSync(join(blobs, f)).size >= 64 * 1024);
    };
    while (!midway()) {
      assert.equal(child.exitCode, null, `the pull ended before it could be killed: ${stderr}`);
      assert.ok(Date.now() < deadline, `the pull did not reach the big layer within ${WAIT_MS} ms: ${stderr}`);
      await sleep(50);
    }
    assertFired(drip, 1);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.equal(existsSync(join(dir, 'index.json')), false, 'a killed pull names no image');
    assert.equal(existsSync(join(blobs, big.digest.encoded)), false);

    world.proxy.clearFaults();
    world.proxy.requests.length = 0;
    const second = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, args(dir), { timeout: WAIT_MS }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
    });
    assert.equal(second.code, 0, second.stderr);
    const result = JSON.parse(second.stdout) as { digest: string; blobs: { copied: number; existed: number } };
    assert.equal(result.digest, world.image.manifestDigest.toString());
    assert.deepEqual(result.blobs, { ...result.blobs, copied: 1, existed: 2 });
    assert.equal(blobRequests(world.proxy, config.digest).length, 0, 'the finished config is not fetched again');
    assert.equal(blobRequests(world.proxy, small.digest).length, 0, 'the finished layer is not fetched again');
    assert.equal(blobRequests(world.proxy, big.digest).length, 1);
    // The killed run's temp file is gone (its writer is dead), and the layout is whole.
    assert.deepEqual(assertLayoutSound(dir), [world.image.manifestDigest.toString()]);
  });
});

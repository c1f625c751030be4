/**
 * A pull killed with SIGKILL midway (issue "gantry's main job"): the layout must not show a
 * partial blob or a broken `index.json`, and a second `gantry pull` must finish, skipping
 * the blobs the first one completed. The registry is the embedded one behind a throttling
 * TCP proxy, so the pull is slow enough to be killed between its first finished layer and
 * its last; the child is the built CLI (`node bin/gantry.js`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyImage } from '../../src/image/copy.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { makeImage, MemorySource } from '../helpers/image-fixture.js';
import { startGantry, startSlowRegistry, type SlowRegistry } from '../helpers/kill-fixture.js';

const MiB = 1024 * 1024;
/** Layer sizes: a small one that finishes early, then larger ones still streaming at the kill. */
const LAYERS = [6 * MiB, 24 * MiB, 32 * MiB];
/** Bytes a second per proxied connection: the whole pull takes a few seconds, not milliseconds. */
const PROXY_BYTES_PER_SEC = 12 * MiB;
const KILL_WAIT_MS = 60_000;
const RUN_TIMEOUT_MS = 120_000;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const isTemp = (name: string): boolean => name.startsWith('.tmp-');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every content-addressed file under blobs/sha256 (temp files excluded) hashes to its name. */
async function visibleBlobsVerify(layout: string): Promise<string[]> {
  const dir = join(layout, 'blobs', 'sha256');
  const names = existsSync(dir) ? readdirSync(dir).filter((n) => !isTemp(n)) : [];
  for (const name of names) assert.equal(await sha256File(join(dir, name)), name, `blobs/sha256/${name} is complete`);
  return names;
}

/** Every blob the layout's index.json reaches (manifests, configs, layers) exists and verifies. */
async function referencedBlobsVerify(layout: string): Promise<string[]> {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number }[] };
  const seen: string[] = [];
  const check = async (d: { digest: string; size: number }): Promise<string> => {
    const file = join(layout, 'blobs', 'sha256', d.digest.replace(/^sha256:/, ''));
    assert.ok(existsSync(file), `${d.digest} referenced but missing`);
    assert.equal(`sha256:${await sha256File(file)}`, d.digest);
    seen.push(d.digest);
    return file;
  };
  for (const m of index.manifests) {
    const manifest = JSON.parse(readFileSync(await check(m), 'utf8')) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
    for (const d of [manifest.config, ...manifest.layers]) await check(d);
  }
  return seen;
}

describe('a pull killed with SIGKILL', () => {
  let fx: SlowRegistry;
  before(async () => {
    fx = await startSlowRegistry('gantry-pull-kill-', LAYERS, 1000, PROXY_BYTES_PER_SEC);
  });
  after(() => fx?.close());

  test('leaves no partial blob and no broken index.json; a second run completes and skips what was there', async (t) => {
    const { dir, env, flags, image } = fx;
    const layout = join(dir, 'layout');
    // The layout already holds an image: a killed pull must leave index.json naming it, intact.
    const old = await makeImage({ seed: 'old' });
    await copyImage(new MemorySource(old.manifest, old.blobs), new OciLayoutDestination(layout, { tag: 'old' }));
    const oldBlobs = new Set([old.manifest.digest.toString(), ...old.blobs.keys()].map((d) => d.replace(/^sha256:/, '')));
    const first = startGantry(['pull', `${fx.host}/big/app:v1`, layout, ...flags], env, RUN_TIMEOUT_MS);
    t.after(() => void first.child.kill('SIGKILL'));

    // Kill once one layer is complete and another is still being written.
    const manifest = JSON.parse(image.manifest.bytes.toString('utf8')) as { layers: { digest: string }[] };
    const layerNames = new Set(manifest.layers.map((l) => l.digest.replace(/^sha256:/, '')));
    const blobsDir = join(layout, 'blobs', 'sha256');
    const deadline = Date.now() + KILL_WAIT_MS;
    let midway = false;
    while (!midway && Date.now() < deadline && first.child.exitCode === null) {
      const names = existsSync(blobsDir) ? readdirSync(blobsDir) : [];
      midway = names.some((n) => layerNames.has(n)) && names.some(isTemp);
      if (!midway) await sleep(20);
    }
    assert.ok(midway, `the pull never reached midway (exit ${first.child.exitCode}); stderr: ${await Promise.race([first.done.then((r) => r.stderr), sleep(10).then(() => '')])}`);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');

    const visible = (await visibleBlobsVerify(layout)).filter((n) => !oldBlobs.has(n));
    assert.ok(visible.length > 0 && visible.length < manifest.layers.length + 2, `some, not all, blobs were visible: ${visible.length}`);
    // index.json is valid and names only complete images: the old one, not the unfinished pull.
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.deepEqual(index.manifests.map((m) => m.digest), [old.manifest.digest.toString()]);
    await referencedBlobsVerify(layout);

    const second = startGantry(['pull', `${fx.host}/big/app:v1`, layout, '--json', ...flags], env, RUN_TIMEOUT_MS);
    t.after(() => void second.child.kill('SIGKILL'));
    const r = await second.done;
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { digest: string; blobs: { total: number; copied: number; existed: number } };
    assert.equal(result.digest, image.manifest.digest.toString());
    assert.equal(result.blobs.total, manifest.layers.length + 1);
    assert.equal(result.blobs.existed, visible.length, 'every blob the killed run finished is skipped');
    assert.ok(result.blobs.existed > 0);
    assert.equal(result.blobs.copied, result.blobs.total - result.blobs.existed);

    const reached = await referencedBlobsVerify(layout);
    assert.equal(reached.length, old.layers.length + 2 + manifest.layers.length + 2, 'both images: manifest, config and every layer');
    const tags = (JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] }).manifests;
    assert.deepEqual(tags.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]).sort(), [['old', old.manifest.digest.toString()], ['v1', image.manifest.digest.toString()]]);
    assert.deepEqual(readdirSync(blobsDir).filter(isTemp), [], 'the killed run\'s temp files are cleaned up');
  });
});

/**
 * The on-disk formats against skopeo 1.9 (containers/image): skopeo reads what gantry writes
 * and gantry reads what skopeo writes, with the same manifest digests where the format keeps
 * them (OCI layouts) and layers matching the config's diff_ids where it cannot (docker archives).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerArchiveDestination, DockerArchiveSource } from '../../src/image/docker-archive.js';
import { OciLayoutDestination, OciLayoutSource } from '../../src/image/oci-layout.js';
import { parseImageConfig } from '../../src/oci/config.js';
import { parseManifest } from '../../src/oci/manifest.js';
import type { ImageManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Digest } from '../../src/ref/digest.js';
import { MemorySource, copyImage, makeImage, makeIndex, readAll } from '../helpers/image-fixture.js';
import { requirePeer, runSkopeo } from '../helpers/peers.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-skopeo-formats-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function skopeo(...args: string[]): Promise<string> {
  const r = await runSkopeo(['--insecure-policy', ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `skopeo ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

function asImage(bytes: Buffer, mediaType?: string): ImageManifest {
  const m = parseManifest(bytes, mediaType === undefined ? {} : { mediaType });
  assert.equal(m.kind, 'image');
  return m as ImageManifest;
}

/** Reads every layer of an image from `src` and checks it hashes to the config's diff_id. */
async function checkLayersMatchDiffIds(src: DockerArchiveSource, m: ImageManifest): Promise<void> {
  const config = parseImageConfig(await readAll(await src.getBlob(m.config)));
  assert.equal(config.diffIds.length, m.layers.length);
  for (const [i, layer] of m.layers.entries()) {
    const bytes = await readAll(await src.getBlob(layer));
    assert.equal(bytes.length, layer.size);
    assert.equal(Digest.fromBytes(bytes).toString(), layer.digest.toString());
    assert.equal(layer.mediaType, MediaType.DOCKER_LAYER);
    assert.equal(layer.digest.toString(), config.diffIds[i]?.toString(), `layer ${i} is its diff_id`);
  }
}

describe('OCI layouts with skopeo', () => {
  test('skopeo copies our layout to its own; we read its copy with the same digests', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const ours = join(root, 'ours');
    const theirs = join(root, 'theirs');
    const img = await makeImage();
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(ours, { tag: 'v1' }));

    const inspected = JSON.parse(await skopeo('inspect', `oci:${ours}:v1`)) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, img.manifest.digest.toString());
    assert.deepEqual(inspected.Layers, img.layers.map((l) => l.digest.toString()));

    await skopeo('copy', `oci:${ours}:v1`, `oci:${theirs}:v1`);
    const src = new OciLayoutSource(theirs, { tag: 'v1' });
    const m = await src.getManifest();
    assert.equal(m.digest.toString(), img.manifest.digest.toString());
    const parsed = asImage(m.bytes, m.mediaType);
    for (const d of [parsed.config, ...parsed.layers]) {
      assert.ok((await readAll(await src.getBlob(d))).equals(img.blobs.get(d.digest.toString()) as Buffer));
    }
  });

  test('a multi-platform index survives ours → skopeo --all → ours; our tags sit beside skopeo’s', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const ours = join(root, 'multi-ours');
    const theirs = join(root, 'multi-theirs');
    const { index, blobs, children } = await makeIndex();
    await copyImage(new MemorySource(index, blobs), new OciLayoutDestination(ours, { tag: 'multi' }));
    await skopeo('copy', '--all', `oci:${ours}:multi`, `oci:${theirs}:multi`);
    const src = new OciLayoutSource(theirs, { tag: 'multi' });
    const top = await src.getManifest();
    assert.equal(top.digest.toString(), index.digest.toString());
    for (const child of children) assert.ok((await src.getManifest(child.manifest.digest)).bytes.equals(child.manifest.bytes));

    // we add a tag to skopeo's layout; skopeo still reads both
    const extra = await makeImage({ seed: 'extra' });
    await copyImage(new MemorySource(extra.manifest, extra.blobs), new OciLayoutDestination(theirs, { tag: 'extra' }));
    assert.equal(JSON.parse(await skopeo('inspect', '--raw', `oci:${theirs}:multi`)).manifests.length, 2);
    assert.equal((JSON.parse(await skopeo('inspect', `oci:${theirs}:extra`)) as { Digest: string }).Digest, extra.manifest.digest.toString());
  });
});

describe('docker archives with skopeo', () => {
  test('we read the docker archive skopeo writes: layers are the config’s diff_ids', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const layout = join(root, 'for-archive');
    const file = join(root, 'skopeo-written.tar');
    const img = await makeImage({ seed: 'from-skopeo' });
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(layout, { tag: 'v1' }));
    await skopeo('copy', `oci:${layout}:v1`, `docker-archive:${file}:x/y:tag`);

    const src = new DockerArchiveSource(file, { ref: 'x/y:tag' });
    const top = await src.getManifest();
    assert.equal(top.mediaType, MediaType.DOCKER_MANIFEST);
    const m = asImage(top.bytes, top.mediaType);
    await checkLayersMatchDiffIds(src, m);
    assert.deepEqual(m.layers.map((l) => l.digest.toString()), img.tars.map((tar) => Digest.fromBytes(tar).toString()));
    assert.ok((await readAll(await src.getBlob(m.config))).equals(img.config), 'the config is carried unchanged');
  });

  test('skopeo reads the docker archive we write, and copies it to a layout', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const file = join(root, 'gantry-written.tar');
    const out = join(root, 'from-our-archive');
    const img = await makeImage({ seed: 'from-gantry' });
    await copyImage(new MemorySource(img.manifest, img.blobs), new DockerArchiveDestination(file, { ref: 'example.com/a/b:c' }));

    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${file}`)) as { Layers: string[]; Labels: Record<string, string> };
    const diffIds = img.tars.map((tar) => Digest.fromBytes(tar).toString());
    assert.deepEqual(inspected.Layers, diffIds);
    assert.deepEqual(inspected.Labels, { seed: 'from-gantry' });

    await skopeo('copy', `docker-archive:${file}:example.com/a/b:c`, `oci:${out}:t`);
    const copied = new OciLayoutSource(out, { tag: 't' });
    const m = asImage((await copied.getManifest()).bytes);
    const config = await readAll(await copied.getBlob(m.config));
    assert.deepEqual(parseImageConfig(config).diffIds.map(String), diffIds);
    assert.equal(JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests[0].annotations['org.opencontainers.image.ref.name'], 't');
  });
});

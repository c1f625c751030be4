/**
 * The archive transports of issue 14 against the real skopeo (containers/image):
 * `oci-archive:` both ways with the same manifest digests, and `docker-archive:FILE:@N`
 * selecting the same image in gantry and in skopeo. Under CI a missing skopeo fails these
 * tests rather than skipping them (helpers/peers.ts).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination } from '../../src/image/docker-archive.js';
import { OciArchiveDestination } from '../../src/image/oci-archive.js';
import { OciLayoutDestination, OciLayoutSource } from '../../src/image/oci-layout.js';
import { copy } from '../../src/image/transports.js';
import { parseManifest, type ImageManifest } from '../../src/oci/manifest.js';
import { MemorySource, makeImage, makeIndex, readAll } from '../helpers/image-fixture.js';
import { requirePeer, runSkopeo } from '../helpers/peers.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-skopeo-archives-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function skopeo(...args: string[]): Promise<string> {
  const r = await runSkopeo(['--insecure-policy', ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `skopeo ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('oci-archive: with skopeo', () => {
  test('skopeo writes an oci-archive from our layout; gantry reads it with the same digests', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const layout = join(root, 'layout');
    const archive = join(root, 'skopeo-written.tar');
    const img = await makeImage({ seed: 'skopeo-writes' });
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(layout, { tag: 'v1' }));
    await skopeo('copy', `oci:${layout}:v1`, `oci-archive:${archive}:v1`);

    const out = join(root, 'read-back');
    const r = await copy(`oci-archive:${archive}:v1`, `oci:${out}:v1`);
    assert.equal(r.digest, img.manifest.digest.toString());
    const src = new OciLayoutSource(out, { tag: 'v1' });
    const m = await src.getManifest();
    assert.equal(m.digest.toString(), img.manifest.digest.toString());
    const parsed = parseManifest(m.bytes, { mediaType: m.mediaType }) as ImageManifest;
    for (const d of [parsed.config, ...parsed.layers]) assert.ok((await readAll(await src.getBlob(d))).equals(img.blobs.get(d.digest.toString())!));
  });

  test('skopeo --all writes a multi-platform oci-archive; gantry reads the index and its children', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const layout = join(root, 'multi-layout');
    const archive = join(root, 'skopeo-multi.tar');
    const { index, blobs } = await makeIndex();
    await copyImage(new MemorySource(index, blobs), new OciLayoutDestination(layout, { tag: 'multi' }));
    await skopeo('copy', '--all', `oci:${layout}:multi`, `oci-archive:${archive}:multi`);
    const r = await copy(`oci-archive:${archive}:multi`, `oci:${join(root, 'multi-back')}:multi`);
    assert.equal(r.digest, index.digest.toString());
    assert.equal(r.manifests, 3);
  });

  test('gantry writes an oci-archive; skopeo inspects and copies it with the same digest', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const archive = join(root, 'gantry-written.tar');
    const img = await makeImage({ seed: 'gantry-writes' });
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciArchiveDestination(archive, { tag: 'v2' }));

    const inspected = JSON.parse(await skopeo('inspect', `oci-archive:${archive}:v2`)) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, img.manifest.digest.toString());
    assert.deepEqual(inspected.Layers, img.layers.map((l) => l.digest.toString()));
    assert.equal(sha256(await skopeo('inspect', '--raw', `oci-archive:${archive}:v2`)), img.manifest.digest.toString());

    // skopeo copy reads every blob and checks it: the archive is whole.
    const theirs = join(root, 'skopeo-copied');
    await skopeo('copy', `oci-archive:${archive}:v2`, `oci:${theirs}:v2`);
    assert.equal((await new OciLayoutSource(theirs, { tag: 'v2' }).getManifest()).digest.toString(), img.manifest.digest.toString());
  });

  test('gantry writes a multi-platform oci-archive; skopeo reads the index raw and copies --all', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const archive = join(root, 'gantry-multi.tar');
    const { index, blobs } = await makeIndex();
    await copyImage(new MemorySource(index, blobs), new OciArchiveDestination(archive, { tag: 'multi' }));
    assert.equal(sha256(await skopeo('inspect', '--raw', `oci-archive:${archive}:multi`)), index.digest.toString());
    const theirs = join(root, 'skopeo-multi-copied');
    await skopeo('copy', '--all', `oci-archive:${archive}:multi`, `oci:${theirs}:multi`);
    assert.equal((await new OciLayoutSource(theirs, { tag: 'multi' }).getManifest()).digest.toString(), index.digest.toString());
  });
});

describe('docker-archive:FILE:@N with skopeo', () => {
  test('@1 of a two-image archive is the same image for gantry and for skopeo', async (t) => {
    if (!requirePeer(t, 'skopeo')) return;
    const file = join(root, 'two.tar');
    const images = [await makeImage({ seed: 'one', docker: true }), await makeImage({ seed: 'two', docker: true, arch: 'arm64' })];
    const dest = new DockerArchiveDestination(file);
    for (const img of images) {
      const m = parseManifest(img.manifest.bytes) as ImageManifest;
      for (const d of [m.config, ...m.layers]) if (!(await dest.hasBlob(d))) await dest.putBlob(d, Readable.from([img.blobs.get(d.digest.toString())!]));
      await dest.putManifest(img.manifest, { isTop: true });
    }
    await dest.commit();
    const second = (parseManifest(images[1]!.manifest.bytes) as ImageManifest).config.digest.toString();

    const ours = join(root, 'at-1-ours');
    await copy(`docker-archive:${file}:@1`, `oci:${ours}:x`);
    const m = await new OciLayoutSource(ours, { tag: 'x' }).getManifest();
    assert.equal((parseManifest(m.bytes, { mediaType: m.mediaType }) as ImageManifest).config.digest.toString(), second);

    const theirs = JSON.parse(await skopeo('inspect', '--raw', `docker-archive:${file}:@1`)) as { config: { digest: string } };
    assert.equal(theirs.config.digest, second);
    // skopeo refuses @N for a destination too.
    const r = await runSkopeo(['--insecure-policy', 'copy', `oci:${ours}:x`, `docker-archive:${join(root, 'never.tar')}:@0`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /must not contain a manifest index @0/);
  });
});

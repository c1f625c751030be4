/**
 * `docker-archive:FILE:@N` (issue 14): the N-th image (from 0) of a `docker save` archive's
 * `manifest.json`, as skopeo reads it. The archive holds two images, written by gantry's own
 * docker-archive writer; `@1` copies the second, `@2` is NOT_FOUND naming how many there
 * are, and `@N` as a destination is USAGE before anything is read or written.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { DockerArchiveDestination } from '../../src/image/docker-archive.js';
import { OciLayoutSource } from '../../src/image/oci-layout.js';
import { copy, openDestination, parseImageLocation } from '../../src/image/transports.js';
import { parseManifest, type ImageManifest } from '../../src/oci/manifest.js';
import { makeImage, type FixtureImage } from '../helpers/image-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-archive-index-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A docker archive of `images`, in that order, through gantry's writer. */
async function writeTwoImageArchive(file: string, images: FixtureImage[]): Promise<void> {
  const dest = new DockerArchiveDestination(file);
  for (const img of images) {
    const m = parseManifest(img.manifest.bytes) as ImageManifest;
    for (const d of [m.config, ...m.layers]) {
      if (!(await dest.hasBlob(d))) await dest.putBlob(d, Readable.from([img.blobs.get(d.digest.toString()) as Buffer]));
    }
    await dest.putManifest(img.manifest, { isTop: true });
  }
  await dest.commit();
}

async function configDigestOf(dir: string, tag: string): Promise<string> {
  const m = await new OciLayoutSource(dir, { tag }).getManifest();
  return (parseManifest(m.bytes, { mediaType: m.mediaType }) as ImageManifest).config.digest.toString();
}

const isCode = (code: string, message: RegExp) => (err: unknown) => isGantryError(err) && err.code === code && message.test(err.message);

describe('docker-archive:FILE:@N', async () => {
  const file = join(root, 'two.tar');
  const first = await makeImage({ seed: 'first', docker: true });
  const second = await makeImage({ seed: 'second', docker: true, arch: 'arm64' });
  await writeTwoImageArchive(file, [first, second]);
  const configOf = (img: FixtureImage): string => (parseManifest(img.manifest.bytes) as ImageManifest).config.digest.toString();

  test('@1 selects the second image, @0 the first', async () => {
    const out = join(root, 'out');
    await copy(`docker-archive:${file}:@1`, `oci:${out}:second`);
    await copy(`docker-archive:${file}:@0`, `oci:${out}:first`);
    assert.equal(await configDigestOf(out, 'second'), configOf(second));
    assert.equal(await configDigestOf(out, 'first'), configOf(first));
  });

  test('without a selector, the error names both ways to pick one', async () => {
    await assert.rejects(copy(`docker-archive:${file}`, `oci:${join(root, 'none')}`), isCode(ErrorCode.USAGE, /holds 2 images; .*:REF\) or by position from 0 \(docker-archive:.*:@N\)/));
  });

  test('@2 is out of range: NOT_FOUND saying how many images there are', async () => {
    const out = join(root, 'out-of-range');
    await assert.rejects(copy(`docker-archive:${file}:@2`, `oci:${out}`), isCode(ErrorCode.NOT_FOUND, /holds 2 image\(s\); there is no index 2/));
    assert.equal(existsSync(out), false, 'nothing was written');
  });

  test('@N as a destination is USAGE, before the source is opened or anything written', async () => {
    const dest = join(root, 'dest.tar');
    // The source does not exist: the destination's problem must be reported first.
    await assert.rejects(copy(`oci:${join(root, 'no-such-layout')}`, `docker-archive:${dest}:@0`), isCode(ErrorCode.USAGE, /@0 selects an image to read.*a destination cannot have one/));
    await assert.rejects(openDestination(parseImageLocation(`docker-archive:${dest}:@3`)), isCode(ErrorCode.USAGE, /docker-archive:.*dest\.tar:@3: @3 selects an image to read/));
    assert.deepEqual(readdirSync(root).filter((n) => n.startsWith('dest.tar')), []);
  });
});

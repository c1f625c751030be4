/**
 * `oci-archive:FILE[:TAG]` (issue 14): gantry writes a tarball of an OCI layout and reads it
 * back with the same digests; TAG selects by `org.opencontainers.image.ref.name`. Writing is
 * crash-safe: a blob that fails part-way leaves neither FILE nor a temporary (an existing
 * FILE stays as it was), a failed entry is cut off so the tar stays whole, an abort removes
 * the temporary, a dead writer's temporary is removed by the next one, and an existing FILE
 * is replaced whole, as skopeo does.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination, DockerArchiveSource } from '../../src/image/docker-archive.js';
import { OciArchiveDestination, OciArchiveSource } from '../../src/image/oci-archive.js';
import { OciLayoutSource } from '../../src/image/oci-layout.js';
import { copy } from '../../src/image/transports.js';
import type { ImageSource } from '../../src/image/types.js';
import { ANNOTATION_REF_NAME, type Descriptor } from '../../src/oci/descriptor.js';
import { parseManifest, type ImageManifest } from '../../src/oci/manifest.js';
import { Digest } from '../../src/ref/digest.js';
import { tempOwnerTag } from '../../src/fs/stale-temp.js';
import { MemorySource, makeImage, makeIndex, readAll } from '../helpers/image-fixture.js';
import { prngImage } from '../helpers/kill-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-oci-archive-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh, empty folder: what is left in it after a write is what the test looks at. */
const freshDir = (): string => {
  const dir = join(root, `case-${++n}`);
  mkdirSync(dir);
  return dir;
};

/** The tar's entries in order, with their contents. */
async function entries(file: string): Promise<{ name: string; type: string; data: Buffer }[]> {
  const out: { name: string; type: string; data: Buffer }[] = [];
  const ex = extract();
  Readable.from([readFileSync(file)]).pipe(ex as unknown as NodeJS.WritableStream);
  for await (const e of ex) out.push({ name: e.header.name, type: e.header.type ?? 'file', data: await readAll(e as unknown as Readable) });
  return out;
}

/** A source whose blob `broken` sends `after` bytes and then fails. */
function failingSource(inner: ImageSource, broken: string, after: number): ImageSource {
  return {
    name: 'failing:',
    getManifest: (d) => inner.getManifest(d),
    getBlob: async (desc: Descriptor) => {
      const stream = await inner.getBlob(desc);
      if (desc.digest.toString() !== broken) return stream;
      const bytes = await readAll(stream);
      return Readable.from(
        (async function* () {
          yield bytes.subarray(0, after);
          await new Promise((r) => setTimeout(r, 5));
          throw new Error('the source broke midway');
        })(),
      );
    },
    close: async () => undefined,
  };
}

const isCode = (code: string, message: RegExp) => (err: unknown) => isGantryError(err) && err.code === code && message.test(err.message);

describe('oci-archive: writing and reading', () => {
  test('an image round-trips with its digests; the tar is a layout with index.json last', async () => {
    const dir = freshDir();
    const file = join(dir, 'img.tar');
    const img = await makeImage();
    const r = await copyImage(new MemorySource(img.manifest, img.blobs), new OciArchiveDestination(file, { tag: 'v1' }));
    assert.equal(r.digest, img.manifest.digest.toString());
    assert.deepEqual(readdirSync(dir), ['img.tar'], 'no temporary is left');

    const list = await entries(file);
    assert.equal(list[0]?.name, 'oci-layout');
    assert.deepEqual(JSON.parse(list[0]!.data.toString()), { imageLayoutVersion: '1.0.0' });
    assert.equal(list.at(-1)?.name, 'index.json');
    assert.ok(list.some((e) => e.name === 'blobs/sha256/' && e.type === 'directory'));
    const index = JSON.parse(list.at(-1)!.data.toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => [m.digest, m.annotations[ANNOTATION_REF_NAME]]), [[img.manifest.digest.toString(), 'v1']]);
    for (const [digest, bytes] of img.blobs) {
      const entry = list.find((e) => e.name === `blobs/sha256/${digest.slice('sha256:'.length)}`);
      assert.ok(entry?.data.equals(bytes), `blob ${digest} is stored as sent`);
    }

    const src = new OciArchiveSource(file, { tag: 'v1' });
    const m = await src.getManifest();
    assert.equal(m.digest.toString(), img.manifest.digest.toString());
    assert.ok(m.bytes.equals(img.manifest.bytes));
    for (const d of img.layers) assert.ok((await readAll(await src.getBlob(d))).equals(img.blobs.get(d.digest.toString()) as Buffer));
    // The only image is found without a tag, too.
    assert.equal((await new OciArchiveSource(file).getManifest()).digest.toString(), img.manifest.digest.toString());
  });

  test('a multi-platform index: oci-archive → oci: by location strings keeps every digest', async () => {
    const dir = freshDir();
    const file = join(dir, 'multi.tar');
    const { index, blobs } = await makeIndex();
    await copyImage(new MemorySource(index, blobs), new OciArchiveDestination(file), { tag: 'multi' });
    const out = join(dir, 'layout');
    const r = await copy(`oci-archive:${file}:multi`, `oci:${out}:multi`);
    assert.equal(r.digest, index.digest.toString());
    assert.equal(r.manifests, 3);
    const top = await new OciLayoutSource(out, { tag: 'multi' }).getManifest();
    assert.ok(top.bytes.equals(index.bytes));
    // One platform out of the archive.
    const arm = await copy(`oci-archive:${file}:multi`, `oci:${out}:arm`, { platform: 'linux/arm64/v8' });
    assert.notEqual(arm.digest, index.digest.toString());
  });

  test('a tag that is not there is NOT_FOUND listing the tags; a docker archive is pointed at docker-archive:', async () => {
    const dir = freshDir();
    const file = join(dir, 'img.tar');
    const img = await makeImage();
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciArchiveDestination(file, { tag: 'v1' }));
    await assert.rejects(new OciArchiveSource(file, { tag: 'v2' }).getManifest(), isCode(ErrorCode.NOT_FOUND, /no image tagged "v2"; tags present: v1/));

    const docker = join(dir, 'docker.tar');
    await copyImage(new MemorySource(img.manifest, img.blobs), new DockerArchiveDestination(docker));
    await assert.rejects(new OciArchiveSource(docker).getManifest(), isCode(ErrorCode.USAGE, /a `docker save` archive .* read it as docker-archive:/));
    // docker-archive: reads an OCI-layout tarball through the same reader.
    const viaDocker = await new DockerArchiveSource(file, { ref: 'v1' }).getManifest();
    assert.equal(viaDocker.digest.toString(), img.manifest.digest.toString());
    await assert.rejects(new OciArchiveSource(join(dir, 'missing.tar')).getManifest(), isCode(ErrorCode.NOT_FOUND, /no such file/));
  });

  test('writing into an existing archive replaces it (as skopeo does)', async () => {
    const dir = freshDir();
    const file = join(dir, 'img.tar');
    const a = await makeImage({ seed: 'a' });
    const b = await makeImage({ seed: 'b' });
    await copyImage(new MemorySource(a.manifest, a.blobs), new OciArchiveDestination(file, { tag: 'a' }));
    await copyImage(new MemorySource(b.manifest, b.blobs), new OciArchiveDestination(file, { tag: 'b' }));
    assert.equal((await new OciArchiveSource(file, { tag: 'b' }).getManifest()).digest.toString(), b.manifest.digest.toString());
    await assert.rejects(new OciArchiveSource(file, { tag: 'a' }).getManifest(), isCode(ErrorCode.NOT_FOUND, /tags present: b$/));
    assert.deepEqual(readdirSync(dir), ['img.tar']);
  });

  test('large blobs stream through (many chunks, backpressure) and verify', async () => {
    const dir = freshDir();
    const file = join(dir, 'big.tar');
    const image = await prngImage([12 * 1024 * 1024, 3 * 1024 * 1024 + 17], 4242);
    await copyImage(image, new OciArchiveDestination(file, { tag: 'big' }));
    const src = new OciArchiveSource(file, { tag: 'big' });
    const m = parseManifest((await src.getManifest()).bytes) as ImageManifest;
    for (const layer of m.layers) assert.equal(Digest.fromBytes(await readAll(await src.getBlob(layer))).toString(), layer.digest.toString());
  });
});

describe('oci-archive: nothing half-written', () => {
  test('a source blob that fails midway: no FILE, no temporary; an older FILE stays as it was', async () => {
    const img = await makeImage();
    const broken = img.layers[1]!.digest.toString();
    for (const existing of [false, true]) {
      const dir = freshDir();
      const file = join(dir, 'img.tar');
      if (existing) writeFileSync(file, 'the old archive');
      const source = failingSource(new MemorySource(img.manifest, img.blobs), broken, 100);
      await assert.rejects(copyImage(source, new OciArchiveDestination(file, { tag: 'v1' })), /the source broke midway/);
      assert.deepEqual(readdirSync(dir), existing ? ['img.tar'] : [], 'no temporary is left');
      if (existing) assert.equal(readFileSync(file, 'utf8'), 'the old archive');
    }
  });

  test('a blob with the wrong bytes is cut off again: the next blobs follow it and the tar is whole', async () => {
    const dir = freshDir();
    const file = join(dir, 'img.tar');
    const img = await makeImage();
    const dest = new OciArchiveDestination(file, { tag: 'v1' });
    const layer = img.layers[1]!;
    const wrong = Buffer.from(img.blobs.get(layer.digest.toString())!);
    wrong[wrong.length - 1]! ^= 0xff;
    await assert.rejects(dest.putBlob(layer, Readable.from([wrong])), isCode(ErrorCode.DIGEST_MISMATCH, /blob sha256:/));
    assert.equal(await dest.hasBlob(layer), false);
    // The copy goes on (as a retry would): same destination, right bytes.
    const r = await copyImage(new MemorySource(img.manifest, img.blobs), dest);
    assert.equal(r.digest, img.manifest.digest.toString());
    const list = await entries(file);
    assert.equal(list.filter((e) => e.name.startsWith('blobs/sha256/') && e.type === 'file').length, img.blobs.size + 1);
    const src = new OciArchiveSource(file, { tag: 'v1' });
    assert.ok((await readAll(await src.getBlob(layer))).equals(img.blobs.get(layer.digest.toString())!));
  });

  test('commit refuses an index whose blobs are not all in; abort mid-blob removes the temporary', async () => {
    const dir = freshDir();
    const file = join(dir, 'img.tar');
    const img = await makeImage();
    const dest = new OciArchiveDestination(file);
    const config = parseManifest(img.manifest.bytes) as ImageManifest;
    await dest.putBlob(config.config, Readable.from([img.config]));
    await dest.putManifest(img.manifest, { isTop: true });
    await assert.rejects(dest.commit(), isCode(ErrorCode.NOT_FOUND, /not committed: blob sha256:.* \(layers\[0\]/));
    assert.deepEqual(readdirSync(dir), []);

    const stalled = new OciArchiveDestination(file);
    const never = new Readable({ read() {} });
    never.push(Buffer.alloc(10));
    const writing = stalled.putBlob(img.layers[0]!, never);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(readdirSync(dir).length, 1, 'the temporary exists while the blob streams');
    await stalled.abort();
    await assert.rejects(writing, isCode(ErrorCode.ABORTED, /aborted/));
    assert.deepEqual(readdirSync(dir), []);
  });

  test("a dead writer's temporary is removed by the next write; a live one's stays", async () => {
    const dir = freshDir();
    const file = join(dir, 'img.tar');
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const host = tempOwnerTag().split('-')[1]!;
    const dead = `img.tar.tmp-${Number(r.stdout)}-${host}-0123456789ab`;
    const live = `img.tar.tmp-${tempOwnerTag()}`;
    writeFileSync(join(dir, dead), 'half an archive');
    writeFileSync(join(dir, live), 'in progress');
    const img = await makeImage();
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciArchiveDestination(file));
    assert.deepEqual(readdirSync(dir).sort(), ['img.tar', live].sort());
  });
});

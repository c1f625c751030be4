import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { DockerArchiveDestination, DockerArchiveSource } from '../../src/image/docker-archive.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { parseImageConfig } from '../../src/oci/config.js';
import { parseManifest } from '../../src/oci/manifest.js';
import type { ImageManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Digest } from '../../src/ref/digest.js';
import { MemorySource, copyImage, makeImage, makeIndex, makeTar, readAll } from '../helpers/image-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-archive-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshFile = (): string => join(root, `archive-${++n}.tar`);

interface TarFile {
  name: string;
  content?: Buffer | string;
  symlink?: string;
}

async function packTar(entries: TarFile[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    if (e.symlink !== undefined) p.entry({ name: e.name, type: 'symlink', linkname: e.symlink });
    else p.entry({ name: e.name, mtime: new Date(0) }, e.content ?? '');
  }
  p.finalize();
  return readAll(p as unknown as Readable);
}

async function listTar(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  Readable.from([readFileSync(file)]).pipe(ex as unknown as NodeJS.WritableStream);
  for await (const entry of ex) out.set(entry.header.name, await readAll(entry as unknown as Readable));
  return out;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function siblings(file: string): string[] {
  const base = relative(root, file);
  return readdirSync(root).filter((f) => f.startsWith(`${base}.tmp-`));
}

async function imageOf(src: DockerArchiveSource): Promise<ImageManifest> {
  const m = await src.getManifest();
  const parsed = parseManifest(m.bytes, { mediaType: m.mediaType, expectedDigest: m.digest });
  assert.equal(parsed.kind, 'image');
  return parsed as ImageManifest;
}

describe('docker archive round trip', () => {
  test('gzip OCI layers are stored decompressed as <diff_id>.tar and read back as a schema 2 image', async () => {
    const file = freshFile();
    const img = await makeImage();
    const dest = new DockerArchiveDestination(file, { ref: 'example.com/x/y:tag' });
    assert.equal(dest.parallelBlobs, false);
    await copyImage(new MemorySource(img.manifest, img.blobs), dest);
    assert.deepEqual(siblings(file), [], 'no temp files or spool left');

    const entries = await listTar(file);
    const diffIds = img.tars.map((t) => Digest.fromBytes(t));
    const configName = `${Digest.fromBytes(img.config).encoded}.json`;
    assert.deepEqual([...entries.keys()].sort(), [configName, ...diffIds.map((d) => `${d.encoded}.tar`), 'manifest.json'].sort());
    assert.deepEqual(JSON.parse((entries.get('manifest.json') as Buffer).toString()), [
      { Config: configName, RepoTags: ['example.com/x/y:tag'], Layers: diffIds.map((d) => `${d.encoded}.tar`) },
    ]);
    diffIds.forEach((d, i) => assert.ok(entries.get(`${d.encoded}.tar`)?.equals(img.tars[i] as Buffer)));

    const src = new DockerArchiveSource(file);
    const m = await imageOf(src);
    assert.equal(m.mediaType, MediaType.DOCKER_MANIFEST);
    assert.equal(m.config.mediaType, MediaType.DOCKER_CONFIG);
    assert.equal(m.config.digest.toString(), Digest.fromBytes(img.config).toString());
    assert.deepEqual(m.layers.map((l) => [l.mediaType, l.digest.toString(), l.size]), img.tars.map((t) => [MediaType.DOCKER_LAYER, sha256(t), t.length]));
    assert.ok((await readAll(await src.getBlob(m.config))).equals(img.config));
    const layers = await Promise.all(m.layers.map(async (l) => readAll(await src.getBlob(l))));
    layers.forEach((b, i) => assert.ok(b.equals(img.tars[i] as Buffer)));
    assert.deepEqual(parseImageConfig(img.config).diffIds.map(String), m.layers.map((l) => l.digest.toString()));
    // selection by a normalised ref and by index
    assert.equal((await new DockerArchiveSource(file, { ref: 'example.com/x/y:tag' }).getManifest()).digest.toString(), m.digest.toString());
    assert.equal((await new DockerArchiveSource(file, { index: 0 }).getManifest()).digest.toString(), m.digest.toString());
  });

  test('plain Docker layers and a familiar ref', async () => {
    const file = freshFile();
    const img = await makeImage({ docker: true, plain: true });
    await copyImage(new MemorySource(img.manifest, img.blobs), new DockerArchiveDestination(file, { ref: 'busybox' }));
    const entries = await listTar(file);
    assert.deepEqual(JSON.parse((entries.get('manifest.json') as Buffer).toString())[0].RepoTags, ['docker.io/library/busybox:latest']);
    const m = await imageOf(new DockerArchiveSource(file, { ref: 'busybox:latest' }));
    // uncompressed in, uncompressed out: the blobs keep their digests
    assert.deepEqual(m.layers.map((l) => l.digest.toString()), img.layers.map((l) => l.digest.toString()));
  });
});

describe('docker archive writer refuses', () => {
  test('an index (a platform must be selected first), leaving nothing behind', async () => {
    const file = freshFile();
    const { index, blobs } = await makeIndex();
    await assert.rejects(copyImage(new MemorySource(index, blobs), new DockerArchiveDestination(file)), (e: unknown) => isGantryError(e, ErrorCode.USAGE) && e.message.includes('--platform OS/ARCH'));
    assert.ok(!existsSync(file));
    assert.deepEqual(siblings(file), []);
  });

  test('a blob whose digest does not match', async () => {
    const file = freshFile();
    const dest = new DockerArchiveDestination(file);
    const claimed = Digest.fromBytes('real');
    await assert.rejects(dest.putBlob({ mediaType: MediaType.OCI_LAYER, digest: claimed, size: 4 }, Readable.from([Buffer.from('fake')])), (e: unknown) => isGantryError(e, ErrorCode.DIGEST_MISMATCH));
    assert.equal(await dest.hasBlob({ mediaType: MediaType.OCI_LAYER, digest: claimed, size: 4 }), false);
    await dest.abort();
    assert.ok(!existsSync(file));
    assert.deepEqual(siblings(file), []);
  });

  test('abort during a blob write stops it and leaves nothing', async () => {
    const file = freshFile();
    const img = await makeImage();
    const dest = new DockerArchiveDestination(file);
    const config = { mediaType: MediaType.OCI_CONFIG, digest: Digest.fromBytes(img.config), size: img.config.length };
    await dest.putBlob(config, Readable.from([img.config]));
    const layer = img.layers[0];
    assert.ok(layer);
    const bytes = img.blobs.get(layer.digest.toString()) as Buffer;
    let sent = false;
    const stalled = new Readable({
      read() {
        if (!sent) this.push(bytes.subarray(0, 10));
        sent = true;
      },
    });
    const writing = dest.putBlob(layer, stalled);
    writing.catch(() => {});
    const end = Date.now() + 5000;
    while (!sent && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await dest.abort();
    await assert.rejects(writing, (e: unknown) => isGantryError(e, ErrorCode.ABORTED));
    assert.ok(!existsSync(file));
    assert.deepEqual(siblings(file), []);
  });

  test('a config whose diff_ids do not match the layers', async () => {
    const file = freshFile();
    const img = await makeImage();
    const config = Buffer.from(img.config.toString().replace(/"diff_ids":\["sha256:[0-9a-f]{64}"/, `"diff_ids":["${Digest.fromBytes('x').toString()}"`));
    const configDesc = { mediaType: MediaType.OCI_CONFIG, digest: Digest.fromBytes(config), size: config.length };
    const body = JSON.parse(img.manifest.bytes.toString());
    body.config = { mediaType: configDesc.mediaType, digest: configDesc.digest.toString(), size: configDesc.size };
    const bytes = Buffer.from(JSON.stringify(body));
    const blobs = new Map(img.blobs);
    blobs.set(configDesc.digest.toString(), config);
    await assert.rejects(
      copyImage(new MemorySource({ bytes, mediaType: MediaType.OCI_MANIFEST, digest: Digest.fromBytes(bytes) }, blobs), new DockerArchiveDestination(file)),
      (e: unknown) => isGantryError(e, ErrorCode.DIGEST_MISMATCH) && e.message.includes('diff_ids'),
    );
    assert.ok(!existsSync(file));
    assert.deepEqual(siblings(file), []);
  });
});

describe('docker archive reader', () => {
  test('legacy layout: <id>/layer.tar symlinks, a gzip layer, long names, several images', async () => {
    const tarA = await makeTar({ a: 'a' });
    const tarB = await makeTar({ b: 'b' });
    const gz = gzipSync(tarB);
    const longDir = 'd'.repeat(200); // longer than ustar's 155-byte prefix: a pax header precedes it
    const config = (seed: string): Buffer => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { seed } }, rootfs: { type: 'layers', diff_ids: [sha256(tarA), sha256(tarB)] } }));
    const manifest = [
      { Config: 'one.json', RepoTags: ['one:latest'], Layers: ['aaa/layer.tar', `${longDir}/layer.tar`] },
      { Config: 'two.json', RepoTags: ['quay.io/two:v2'], Layers: ['aaa/layer.tar'] },
    ];
    const file = freshFile();
    writeFileSync(
      file,
      await packTar([
        { name: 'aaa/layer.tar', content: tarA },
        { name: `${longDir}/layer.tar`, content: gz },
        { name: 'one.json', content: config('one') },
        { name: 'two.json', content: config('two') },
        { name: 'zzz/layer.tar', symlink: '../aaa/layer.tar' },
        { name: 'manifest.json', content: JSON.stringify(manifest) },
        { name: 'repositories', content: '{}' },
      ]),
    );
    await assert.rejects(new DockerArchiveSource(file).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.USAGE) && e.message.includes('docker.io/library/one:latest') === false && e.message.includes('one:latest, quay.io/two:v2'));
    await assert.rejects(new DockerArchiveSource(file, { ref: 'three' }).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.NOT_FOUND) && e.message.includes('tags present'));
    await assert.rejects(new DockerArchiveSource(file, { index: 2 }).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.NOT_FOUND));

    const src = new DockerArchiveSource(file, { ref: 'docker.io/library/one' });
    const m = await imageOf(src);
    assert.deepEqual(m.layers.map((l) => [l.mediaType, l.digest.toString(), l.size]), [
      [MediaType.DOCKER_LAYER, sha256(tarA), tarA.length],
      [MediaType.DOCKER_LAYER_GZIP, sha256(gz), gz.length],
    ]);
    assert.ok((await readAll(await src.getBlob(m.layers[1] as ImageManifest['layers'][number]))).equals(gz));
    assert.ok((await readAll(await src.getBlob(m.config))).equals(config('one')));

    const two = await imageOf(new DockerArchiveSource(file, { ref: 'quay.io/two:v2' }));
    assert.equal(two.layers.length, 1);
    const other = Digest.fromBytes('not here');
    await assert.rejects(src.getBlob({ mediaType: 'x', digest: other, size: 1 }), (e: unknown) => isGantryError(e, ErrorCode.NOT_FOUND));
  });

  test('an OCI-layout tarball keeps its manifest digests', async () => {
    const dir = join(root, 'layout-for-tar');
    const img = await makeImage();
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));
    const files: TarFile[] = [
      { name: 'oci-layout', content: readFileSync(join(dir, 'oci-layout')) },
      { name: 'index.json', content: readFileSync(join(dir, 'index.json')) },
    ];
    for (const f of readdirSync(join(dir, 'blobs/sha256'))) files.push({ name: `blobs/sha256/${f}`, content: readFileSync(join(dir, 'blobs/sha256', f)) });
    const file = freshFile();
    writeFileSync(file, await packTar(files));
    const src = new DockerArchiveSource(file, { ref: 'v1' });
    const m = await src.getManifest();
    assert.ok(m.bytes.equals(img.manifest.bytes));
    const layer = img.layers[0];
    assert.ok(layer);
    assert.ok((await readAll(await src.getBlob(layer))).equals(img.blobs.get(layer.digest.toString()) as Buffer));
    assert.ok((await new DockerArchiveSource(file).getManifest()).digest.equals(img.manifest.digest));
  });

  test('a compressed archive, a missing file and a non-archive are clear errors', async () => {
    const gzFile = freshFile();
    writeFileSync(gzFile, gzipSync(await packTar([{ name: 'manifest.json', content: '[]' }])));
    await assert.rejects(new DockerArchiveSource(gzFile).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.USAGE) && e.message.includes('compressed'));
    await assert.rejects(new DockerArchiveSource(join(root, 'missing.tar')).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.NOT_FOUND));
    const plain = freshFile();
    writeFileSync(plain, await packTar([{ name: 'hello.txt', content: 'hi' }]));
    await assert.rejects(new DockerArchiveSource(plain).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.INVALID_RESPONSE) && e.message.includes('neither a docker archive'));
    const bad = freshFile();
    writeFileSync(bad, await packTar([{ name: 'manifest.json', content: JSON.stringify([{ Config: 'c.json', Layers: ['missing.tar'] }]) }, { name: 'c.json', content: '{}' }]));
    await assert.rejects(new DockerArchiveSource(bad).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.INVALID_RESPONSE) && e.message.includes('missing.tar'));
  });
});

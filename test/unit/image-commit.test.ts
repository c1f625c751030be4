/**
 * Validate at the boundary, again at the commit (issue "Trust at origin boundaries", item 9):
 * an OCI layout's index.json is written, and a docker archive renamed into place, only once
 * every blob its manifests name is there. Test doubles wrap the real destinations: one claims
 * a blob write it never made, one deletes a blob file just before the commit.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { IncompleteImageError, missingBlobs } from '../../src/image/commit-check.js';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination, DockerArchiveSource } from '../../src/image/docker-archive.js';
import { OciLayoutDestination, OciLayoutSource } from '../../src/image/oci-layout.js';
import type { BlobOptions, ImageDestination, PutManifestOptions, RawManifest } from '../../src/image/types.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { manifestDescriptor } from '../../src/oci/manifest.js';
import { MemorySource, copyImage as helperCopy, makeImage, makeIndex, readAll } from '../helpers/image-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-commit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => join(root, `${name}-${++n}`);

/** A destination that forwards to `inner`, with hooks to break it. */
class Wrapped implements ImageDestination {
  constructor(
    private readonly inner: ImageDestination,
    private readonly hooks: { dropBlob?: string; beforeCommit?: () => void } = {},
  ) {}
  get name(): string {
    return this.inner.name;
  }
  get parallelBlobs(): boolean {
    return this.inner.parallelBlobs;
  }
  hasBlob(desc: Descriptor): Promise<boolean> {
    return this.inner.hasBlob(desc);
  }
  async putBlob(desc: Descriptor, data: Readable, options?: BlobOptions): Promise<void> {
    if (desc.digest.toString() === this.hooks.dropBlob) {
      await readAll(data); // "written": read to the end, stored nowhere
      return;
    }
    return this.inner.putBlob(desc, data, options);
  }
  hasManifest(digest: Descriptor['digest']): Promise<boolean> {
    return this.inner.hasManifest?.(digest) ?? Promise.resolve(false);
  }
  putManifest(m: RawManifest, options: PutManifestOptions): Promise<void> {
    return this.inner.putManifest(m, options);
  }
  commit(): Promise<void> {
    this.hooks.beforeCommit?.();
    return this.inner.commit();
  }
  abort(): Promise<void> {
    return this.inner.abort();
  }
}

function missing(digest: string) {
  return (e: unknown): boolean => {
    assert.ok(isGantryError(e, ErrorCode.NOT_FOUND), `expected NOT_FOUND, got ${String(e)}`);
    assert.ok(e instanceof IncompleteImageError);
    assert.ok(e.message.includes(digest), e.message);
    assert.ok(e.missing.some((m) => m.digest === digest));
    return true;
  };
}

const configDigest = (m: RawManifest): string => (JSON.parse(m.bytes.toString()) as { config: { digest: string } }).config.digest;

function temps(dir: string): string[] {
  const out: string[] = [];
  for (const d of [dir, join(dir, 'blobs/sha256')]) if (existsSync(d)) out.push(...readdirSync(d).filter((f) => f.startsWith('.tmp-')));
  return out;
}

/** A layout holding one image tagged `old`; returns its index.json bytes. */
async function oldLayout(dir: string): Promise<Buffer> {
  const old = await makeImage({ seed: 'old' });
  await helperCopy(new MemorySource(old.manifest, old.blobs), new OciLayoutDestination(dir, { tag: 'old' }));
  return readFileSync(join(dir, 'index.json'));
}

describe('an OCI layout commits only a complete image', () => {
  test('a blob the destination claimed but never wrote fails the commit; index.json stays', async () => {
    const dir = fresh('layout');
    const before = await oldLayout(dir);
    const img = await makeImage({ seed: 'new' });
    const layer = img.layers[1]!.digest.toString();
    const dest = new Wrapped(new OciLayoutDestination(dir, { tag: 'v1' }), { dropBlob: layer });
    await assert.rejects(copyImage(new MemorySource(img.manifest, img.blobs), dest), missing(layer));
    assert.ok(readFileSync(join(dir, 'index.json')).equals(before), 'the old index.json is untouched');
    assert.deepEqual(temps(dir), []);
    assert.ok(await new OciLayoutSource(dir, { tag: 'old' }).getManifest(), 'the old image still reads');
  });

  test('a blob deleted after it was written, before the commit, fails it', async () => {
    const dir = fresh('layout');
    const before = await oldLayout(dir);
    const img = await makeImage({ seed: 'deleted' });
    const victim = img.layers[0]!;
    const dest = new Wrapped(new OciLayoutDestination(dir, { tag: 'v1' }), { beforeCommit: () => unlinkSync(join(dir, 'blobs/sha256', victim.digest.encoded)) });
    await assert.rejects(copyImage(new MemorySource(img.manifest, img.blobs), dest), missing(victim.digest.toString()));
    assert.ok(readFileSync(join(dir, 'index.json')).equals(before));
    assert.deepEqual(temps(dir), []);
  });

  test('a manifest put without its blobs (a copy that moved none) is refused, and no layout appears', async () => {
    const dir = fresh('layout');
    const img = await makeImage({ seed: 'none' });
    const dest = new OciLayoutDestination(dir, { tag: 'v1' });
    await dest.putManifest(img.manifest, { isTop: true });
    await assert.rejects(dest.commit(), (e: unknown) => {
      assert.ok(e instanceof IncompleteImageError);
      assert.deepEqual(e.missing.map((m) => m.digest), [configDigest(img.manifest), ...img.layers.map((l) => l.digest.toString())]);
      assert.match(e.message, /not committed: blob sha256:[0-9a-f]{64} \(config of manifest sha256:[0-9a-f]{64}\) is missing, and 2 more/);
      return true;
    });
    assert.ok(!existsSync(join(dir, 'index.json')));
    assert.ok(!existsSync(join(dir, 'oci-layout')));
  });

  test('an index: a missing blob of one platform fails the commit', async () => {
    const dir = fresh('layout');
    const before = await oldLayout(dir);
    const { index, children, blobs } = await makeIndex();
    const arm = children[1]!.layers[0]!.digest.toString();
    await assert.rejects(copyImage(new MemorySource(index, blobs), new Wrapped(new OciLayoutDestination(dir, { tag: 'v1' }), { dropBlob: arm })), (e: unknown) => {
      assert.ok(missing(arm)(e));
      assert.match((e as Error).message, new RegExp(`layers\\[0\\] of manifest ${children[1]!.manifest.digest.toString()}`));
      return true;
    });
    assert.ok(readFileSync(join(dir, 'index.json')).equals(before));
  });

  test('an image whose layer went missing from the layout is copied again, not reported up to date', async () => {
    const dir = fresh('layout');
    const img = await makeImage({ seed: 'again' });
    const src = new MemorySource(img.manifest, img.blobs);
    assert.equal((await copyImage(src, new OciLayoutDestination(dir, { tag: 'v1' }))).upToDate, false);
    assert.equal((await copyImage(src, new OciLayoutDestination(dir, { tag: 'v1' }))).upToDate, true);
    unlinkSync(join(dir, 'blobs/sha256', img.layers[1]!.digest.encoded));
    const r = await copyImage(src, new OciLayoutDestination(dir, { tag: 'v1' }));
    assert.equal(r.upToDate, false);
    assert.equal(r.blobs.copied, 1);
    assert.equal((await missingBlobs(manifestDescriptor(img.manifest), { name: 'x', holds: async (d) => existsSync(join(dir, 'blobs/sha256', d.digest.encoded)), manifest: async () => img.manifest })).length, 0);
  });

  test('the same image under a new tag is not "up to date": the tag is added, no blob is copied', async () => {
    const dir = fresh('layout');
    const img = await makeImage({ seed: 'retag' });
    const src = new MemorySource(img.manifest, img.blobs);
    await copyImage(src, new OciLayoutDestination(dir, { tag: 'v1' }));
    const retag = await copyImage(src, new OciLayoutDestination(dir, { tag: 'v2' }));
    assert.equal(retag.upToDate, false);
    assert.equal(retag.blobs.copied, 0);
    assert.equal(retag.blobs.existed, retag.blobs.total);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]).sort(), [['v1', img.manifest.digest.toString()], ['v2', img.manifest.digest.toString()]]);
    // The copy's own tag option counts the same way as the destination's.
    assert.equal((await copyImage(src, new OciLayoutDestination(dir), { tag: 'v2' })).upToDate, true);
    assert.equal((await copyImage(src, new OciLayoutDestination(dir), { tag: 'v3' })).upToDate, false);
  });
});

describe('a docker archive is renamed into place only when complete', () => {
  test('a blob claimed but never written: the old archive stays, no temporaries', async () => {
    const file = join(fresh('archive-dir'), 'out.tar');
    const first = await makeImage({ seed: 'first' });
    await copyImage(new MemorySource(first.manifest, first.blobs), new DockerArchiveDestination(file));
    const before = readFileSync(file);
    const img = await makeImage({ seed: 'second' });
    const layer = img.layers[0]!.digest.toString();
    await assert.rejects(copyImage(new MemorySource(img.manifest, img.blobs), new Wrapped(new DockerArchiveDestination(file), { dropBlob: layer })), missing(layer));
    assert.ok(readFileSync(file).equals(before), 'the previous archive is untouched');
    assert.deepEqual(readdirSync(dirname(file)), [basename(file)], 'no temporary archive or spool is left');
    assert.ok((await new DockerArchiveSource(file).getManifest()).bytes.length > 0);
  });

  test('a commit with nothing written is refused, even called directly; the destination cleans up after itself', async () => {
    const file = join(fresh('archive-dir'), 'out.tar');
    const img = await makeImage({ seed: 'direct' });
    const dest = new DockerArchiveDestination(file);
    await dest.putManifest(img.manifest, { isTop: true });
    await assert.rejects(dest.commit(), missing(img.layers[0]!.digest.toString()));
    assert.ok(!existsSync(file));
    assert.ok(!existsSync(dirname(file)) || readdirSync(dirname(file)).length === 0);
    await dest.abort(); // harmless after a failed commit
  });

  test('a complete archive still commits (the check does not get in the way)', async () => {
    const file = join(fresh('archive-dir'), 'ok.tar');
    const img = await makeImage({ seed: 'ok' });
    await copyImage(new MemorySource(img.manifest, img.blobs), new DockerArchiveDestination(file));
    writeFileSync(`${file}.note`, 'kept');
    const m = await new DockerArchiveSource(file).getManifest();
    assert.ok(m.bytes.length > 0);
    assert.deepEqual(readdirSync(dirname(file)).sort(), ['ok.tar', 'ok.tar.note']);
  });
});

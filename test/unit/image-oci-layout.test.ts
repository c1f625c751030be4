import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { OciLayoutDestination, OciLayoutSource } from '../../src/image/oci-layout.js';
import { tempOwnerTag } from '../../src/fs/stale-temp.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { Digest } from '../../src/ref/digest.js';
import { MemorySource, copyImage, makeImage, makeIndex, readAll } from '../helpers/image-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-layout-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => join(root, `layout-${++n}`);

function indexJson(dir: string): { manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[]; [k: string]: unknown } {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
}

function tempFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of [dir, join(dir, 'blobs/sha256')]) {
    if (existsSync(d)) out.push(...readdirSync(d).filter((f) => f.startsWith('.tmp-')));
  }
  return out;
}

/** A stream that sends `first` and then waits until destroyed. */
function stalled(first: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(first);
      }
    },
  });
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

describe('OCI layout round trip', () => {
  test('an image written with a tag reads back byte for byte', async () => {
    const dir = freshDir();
    const img = await makeImage();
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));

    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
    const idx = indexJson(dir);
    assert.equal(idx.manifests.length, 1);
    assert.equal(idx.manifests[0]?.digest, img.manifest.digest.toString());
    assert.deepEqual(idx.manifests[0]?.annotations, { 'org.opencontainers.image.ref.name': 'v1' });

    const src = new OciLayoutSource(dir, { tag: 'v1' });
    assert.equal(src.name, `oci:${dir}:v1`);
    const m = await src.getManifest();
    assert.ok(m.bytes.equals(img.manifest.bytes));
    assert.equal(m.mediaType, img.manifest.mediaType);
    const parsed = parseManifest(m.bytes);
    assert.equal(parsed.kind, 'image');
    if (parsed.kind !== 'image') return;
    // blobs read in parallel
    const blobs = await Promise.all([parsed.config, ...parsed.layers].map(async (d) => readAll(await src.getBlob(d))));
    assert.ok(blobs[0]?.equals(img.config));
    parsed.layers.forEach((l, i) => assert.ok(blobs[i + 1]?.equals(img.blobs.get(l.digest.toString()) as Buffer)));
    // the only image needs no tag
    assert.equal((await new OciLayoutSource(dir).getManifest()).digest.toString(), img.manifest.digest.toString());
    assert.equal((await new OciLayoutSource(dir, { digest: img.manifest.digest }).getManifest()).digest.toString(), img.manifest.digest.toString());
  });

  test('a multi-platform copy puts the index in index.json; children are readable by digest', async () => {
    const dir = freshDir();
    const { index, children, blobs } = await makeIndex();
    await copyImage(new MemorySource(index, blobs), new OciLayoutDestination(dir, { tag: 'multi' }));
    const idx = indexJson(dir);
    assert.equal(idx.manifests.length, 1);
    assert.equal(idx.manifests[0]?.digest, index.digest.toString());
    assert.equal(idx.manifests[0]?.mediaType, index.mediaType);
    const src = new OciLayoutSource(dir, { tag: 'multi' });
    assert.ok((await src.getManifest()).bytes.equals(index.bytes));
    const child = children[1]?.manifest;
    assert.ok(child);
    const got = await src.getManifest(child.digest);
    assert.ok(got.bytes.equals(child.bytes));
    assert.equal(got.mediaType, child.mediaType);
  });
});

describe('index.json updates', () => {
  test('other tags are kept, the same tag is replaced, unknown fields survive', async () => {
    const dir = freshDir();
    const [a, b, c] = await Promise.all([makeImage({ seed: 'a' }), makeImage({ seed: 'b' }), makeImage({ seed: 'c' })]);
    assert.ok(a && b && c);
    await copyImage(new MemorySource(a.manifest, a.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));
    const withExtra = { ...indexJson(dir), annotations: { keep: 'me' } };
    writeFileSync(join(dir, 'index.json'), JSON.stringify(withExtra));
    await copyImage(new MemorySource(b.manifest, b.blobs), new OciLayoutDestination(dir, { tag: 'v2' }));
    await copyImage(new MemorySource(c.manifest, c.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));
    const idx = indexJson(dir);
    assert.deepEqual(
      idx.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]),
      [
        ['v2', b.manifest.digest.toString()],
        ['v1', c.manifest.digest.toString()],
      ],
    );
    assert.deepEqual(idx.annotations, { keep: 'me' });
    // a's blobs stay (content-addressed; the layout may share them)
    assert.ok(existsSync(join(dir, 'blobs/sha256', a.manifest.digest.encoded)));
  });

  test('nothing is named before commit', async () => {
    const dir = freshDir();
    const a = await makeImage({ seed: 'a' });
    await copyImage(new MemorySource(a.manifest, a.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));
    const before = readFileSync(join(dir, 'index.json'));
    const b = await makeImage({ seed: 'b' });
    const dest = new OciLayoutDestination(dir, { tag: 'v1' });
    for (const [digest, bytes] of b.blobs) {
      await dest.putBlob({ mediaType: 'application/octet-stream', digest: Digest.parse(digest), size: bytes.length }, Readable.from([bytes]));
    }
    await dest.putManifest(b.manifest, { isTop: true });
    assert.ok(readFileSync(join(dir, 'index.json')).equals(before), 'index.json unchanged until commit');
    assert.equal((await new OciLayoutSource(dir, { tag: 'v1' }).getManifest()).digest.toString(), a.manifest.digest.toString());
    await dest.abort();
    assert.ok(readFileSync(join(dir, 'index.json')).equals(before), 'abort leaves index.json alone');
    await assert.rejects(dest.commit(), (e: unknown) => isGantryError(e, ErrorCode.USAGE));
  });
});

describe('crash safety', () => {
  test('a digest mismatch is rejected and leaves nothing', async () => {
    const dir = freshDir();
    const dest = new OciLayoutDestination(dir);
    const claimed = Digest.fromBytes('the real content');
    await assert.rejects(
      dest.putBlob({ mediaType: 'application/octet-stream', digest: claimed, size: 16 }, Readable.from([Buffer.from('other content!!!')])),
      (e: unknown) => isGantryError(e, ErrorCode.DIGEST_MISMATCH) && e.message.includes(claimed.toString()),
    );
    assert.ok(!existsSync(join(dir, 'blobs/sha256', claimed.encoded)));
    assert.deepEqual(tempFiles(dir), []);
    assert.equal(await dest.hasBlob({ mediaType: 'x', digest: claimed, size: 16 }), false);
  });

  test('abort during putBlob leaves no visible blob and no temp file', async () => {
    const dir = freshDir();
    const dest = new OciLayoutDestination(dir);
    const content = Buffer.alloc(100_000, 7);
    const desc = { mediaType: 'application/octet-stream', digest: Digest.fromBytes(content), size: content.length };
    const writing = dest.putBlob(desc, stalled(content.subarray(0, 50_000)));
    writing.catch(() => {});
    await waitFor(() => tempFiles(dir).length === 1);
    await dest.abort();
    await assert.rejects(writing, (e: unknown) => isGantryError(e, ErrorCode.ABORTED));
    assert.deepEqual(tempFiles(dir), []);
    assert.equal(await dest.hasBlob(desc), false);
  });

  test('an aborted signal stops putBlob and cleans up', async () => {
    const dir = freshDir();
    const dest = new OciLayoutDestination(dir);
    const content = Buffer.alloc(10_000, 1);
    const desc = { mediaType: 'application/octet-stream', digest: Digest.fromBytes(content), size: content.length };
    const ac = new AbortController();
    const writing = dest.putBlob(desc, stalled(content.subarray(0, 100)), { signal: ac.signal });
    writing.catch(() => {});
    await waitFor(() => tempFiles(dir).length === 1);
    ac.abort();
    await assert.rejects(writing);
    assert.deepEqual(tempFiles(dir), []);
    assert.equal(await dest.hasBlob(desc), false);
  });

  test('stale temp files of a dead writer are removed by the next writer; a live one is left alone', async () => {
    const dir = freshDir();
    const img = await makeImage();
    const blobsDir = join(dir, 'blobs/sha256');
    mkdirSync(blobsDir, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    assert.ok(deadPid > 0);
    const stale = `.tmp-${'a'.repeat(64)}-${deadPid}-0123456789ab`;
    const live = `.tmp-${'b'.repeat(64)}-${process.ppid}-0123456789ab`;
    writeFileSync(join(blobsDir, stale), 'partial');
    writeFileSync(join(blobsDir, live), 'partial');
    // readers ignore them
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 't' }));
    assert.ok(!existsSync(join(blobsDir, stale)));
    assert.ok(existsSync(join(blobsDir, live)));
    assert.ok((await new OciLayoutSource(dir, { tag: 't' }).getManifest()).bytes.equals(img.manifest.bytes));
  });

  test('stale temp files: the owner tag carries the host; another host\'s and ownerless ones go only by age', async () => {
    const dir = freshDir();
    const img = await makeImage({ seed: 'hosts' });
    const blobsDir = join(dir, 'blobs/sha256');
    mkdirSync(blobsDir, { recursive: true });
    const deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const host = tempOwnerTag().split('-')[1] as string;
    const otherHost = host === '00000000' ? '11111111' : '00000000';
    const ours = `.tmp-${'a'.repeat(64)}-${deadPid}-${host}-0123456789ab`;
    const foreign = `.tmp-${'b'.repeat(64)}-${deadPid}-${otherHost}-0123456789ab`;
    const ownerless = '.tmp-something';
    for (const f of [ours, foreign, ownerless]) writeFileSync(join(blobsDir, f), 'partial');
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 't' }));
    assert.ok(!existsSync(join(blobsDir, ours)));
    assert.ok(existsSync(join(blobsDir, foreign)));
    assert.ok(existsSync(join(blobsDir, ownerless)));
  });

  test('an existing blob is kept and the new stream is not read', async () => {
    const dir = freshDir();
    const content = Buffer.from('blob');
    const desc = { mediaType: 'x', digest: Digest.fromBytes(content), size: content.length };
    const dest = new OciLayoutDestination(dir);
    await dest.putBlob(desc, Readable.from([content]));
    assert.equal(await dest.hasBlob(desc), true);
    const second = Readable.from([content]);
    await dest.putBlob(desc, second);
    assert.ok(second.destroyed);
  });
});

describe('reading errors', () => {
  test('missing layout, unknown tag, several images without a tag, missing blob', async () => {
    await assert.rejects(new OciLayoutSource(join(root, 'nope')).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.NOT_FOUND) && e.message.includes('no index.json'));
    const dir = freshDir();
    for (const [seed, tag] of [['a', 'one'], ['b', 'two']] as const) {
      const img = await makeImage({ seed });
      await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag }));
    }
    await assert.rejects(new OciLayoutSource(dir, { tag: 'three' }).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.NOT_FOUND) && e.message.includes('tags present: one, two'));
    await assert.rejects(new OciLayoutSource(dir).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.USAGE) && e.message.includes('holds 2 images') && e.message.includes('one, two'));
    const missing = Digest.fromBytes('missing');
    await assert.rejects(new OciLayoutSource(dir, { tag: 'one' }).getBlob({ mediaType: 'x', digest: missing, size: 1 }), (e: unknown) => isGantryError(e, ErrorCode.NOT_FOUND) && e.message.includes(missing.toString()));
  });

  test('a corrupted manifest blob is DIGEST_MISMATCH', async () => {
    const dir = freshDir();
    const img = await makeImage();
    await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));
    writeFileSync(join(dir, 'blobs/sha256', img.manifest.digest.encoded), img.manifest.bytes.toString().replace('2', '3'));
    await assert.rejects(new OciLayoutSource(dir, { tag: 'v1' }).getManifest(), (e: unknown) => isGantryError(e, ErrorCode.DIGEST_MISMATCH));
  });
});

/**
 * The directory storage's half of the collection protocol, step by step: the collector's
 * "into the trash" is done by hand between a write and its check, and the storage must see
 * it — take the file back and touch it (so the collector, checking again, keeps it), or fail
 * the request and undo its write when the file is gone for good. Readers find trashed files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Digest } from '../../src/ref/digest.js';
import { openFilesystemStorage } from '../../src/server/storage/filesystem.js';
import { StorageLayout } from '../../src/server/storage/layout.js';
import { moveToTrash } from '../../src/server/storage/trash.js';
import type { Storage } from '../../src/server/storage/types.js';

const REPO = 'proto/app';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function putBlob(storage: Storage, bytes: Buffer, repo = REPO): Promise<Digest> {
  const d = Digest.fromBytes(bytes);
  const session = await storage.startUpload(repo);
  await storage.appendUpload(repo, session.id, Readable.from([bytes]));
  await storage.commitUpload(repo, session.id, d.toString());
  return d;
}

function manifest(config: Digest, layer: Digest): { digest: string; mediaType: string; bytes: Buffer } {
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.toString(), size: 2 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer.toString(), size: 1 }],
  }));
  return { digest: Digest.fromBytes(bytes).toString(), mediaType: OCI_MANIFEST, bytes };
}

describe('directory storage beside a collection', () => {
  let dir: string;
  let storage: Storage;
  let layout: StorageLayout;
  let n = 0;
  const fresh = (): Buffer => Buffer.from(`blob ${n++} ${Math.random()}`);
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-gc-proto-'));
    storage = await openFilesystemStorage(dir);
    layout = new StorageLayout(storage.location);
  });
  after(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('readers find a trashed blob, link or manifest, and put it back', async () => {
    const d = await putBlob(storage, fresh());
    assert.ok(await moveToTrash(layout, layout.blob(d)));
    assert.equal(await storage.blobSize(REPO, d.toString()), statSync(layout.trashOf(layout.blob(d))).size);
    assert.ok(existsSync(layout.blob(d)));
    assert.ok(await moveToTrash(layout, layout.link(REPO, d)));
    const opened = await storage.openBlob(REPO, d.toString());
    assert.ok(opened);
    assert.equal(opened.stream, opened.stream, 'one stream per opened blob, however often it is asked for');
    opened.stream.destroy();
    const m = manifest(await putBlob(storage, fresh()), await putBlob(storage, fresh()));
    await storage.putManifest(REPO, m);
    assert.ok(await moveToTrash(layout, layout.revision(REPO, Digest.parse(m.digest))));
    assert.ok(await moveToTrash(layout, layout.blob(Digest.parse(m.digest))));
    assert.deepEqual((await storage.getManifest(REPO, m.digest))?.bytes, m.bytes);
  });

  test('a mount links first, then takes the trashed blob back; a blob gone for good fails the mount', async () => {
    const d = await putBlob(storage, fresh(), 'proto/source');
    assert.ok(await moveToTrash(layout, layout.blob(d)));
    assert.equal(await storage.linkBlob(REPO, d.toString()), true);
    assert.ok(existsSync(layout.blob(d)));
    unlinkSync(layout.trashOf(layout.blob(d))); // the collector, seeing it back, drops its copy
    assert.ok(await moveToTrash(layout, layout.blob(d)));
    unlinkSync(layout.trashOf(layout.blob(d)));
    assert.equal(await storage.linkBlob('proto/other', d.toString()), false);
  });

  test('an upload of bytes the collector has trashed commits them again', async () => {
    const bytes = fresh();
    const d = await putBlob(storage, bytes, 'proto/source');
    assert.ok(await moveToTrash(layout, layout.blob(d)));
    unlinkSync(layout.trashOf(layout.blob(d)));
    await putBlob(storage, bytes);
    assert.equal(await storage.blobSize(REPO, d.toString()), bytes.length);
  });

  test('a manifest takes back and touches the links it names; the collector then sees them young', async () => {
    const config = await putBlob(storage, fresh());
    const layer = await putBlob(storage, fresh());
    const start = Date.now();
    // Between the handler's check and the write, a collection moved the layer's link away.
    assert.ok(await moveToTrash(layout, layout.link(REPO, layer)));
    await storage.putManifest(REPO, manifest(config, layer));
    assert.ok(existsSync(layout.link(REPO, layer)));
    // The trash entry is the same file: what the collector checks again is young.
    assert.ok(statSync(layout.trashOf(layout.link(REPO, layer))).mtimeMs >= start - 5);
    assert.ok(statSync(layout.link(REPO, config)).mtimeMs >= start - 5);
  });

  test('a manifest whose blob is gone for good is refused and its new revision undone', async () => {
    const config = await putBlob(storage, fresh());
    const layer = await putBlob(storage, fresh());
    assert.ok(await moveToTrash(layout, layout.link(REPO, layer)));
    unlinkSync(layout.trashOf(layout.link(REPO, layer)));
    const m = manifest(config, layer);
    await assert.rejects(storage.putManifest(REPO, m), /MANIFEST_BLOB_UNKNOWN/);
    assert.equal(existsSync(layout.revision(REPO, Digest.parse(m.digest))), false);
  });

  test('a tag takes its trashed manifest back, or is undone when the manifest is gone', async () => {
    const a = manifest(await putBlob(storage, fresh()), await putBlob(storage, fresh()));
    const b = manifest(await putBlob(storage, fresh()), await putBlob(storage, fresh()));
    await storage.putManifest(REPO, a);
    await storage.setTag(REPO, 't', a.digest);
    await storage.putManifest(REPO, b);
    assert.ok(await moveToTrash(layout, layout.revision(REPO, Digest.parse(b.digest))));
    await storage.setTag(REPO, 't', b.digest);
    assert.ok(existsSync(layout.revision(REPO, Digest.parse(b.digest))));
    unlinkSync(layout.trashOf(layout.revision(REPO, Digest.parse(b.digest))));
    assert.ok(await moveToTrash(layout, layout.revision(REPO, Digest.parse(b.digest))));
    unlinkSync(layout.trashOf(layout.revision(REPO, Digest.parse(b.digest))));
    await storage.setTag(REPO, 't', a.digest);
    await assert.rejects(storage.setTag(REPO, 't', b.digest), /MANIFEST_UNKNOWN/);
    assert.equal(await storage.resolveTag(REPO, 't'), a.digest);
  });

  test('a DELETE of a trashed link or manifest removes the trash copy too: the collector cannot bring it back', async () => {
    const d = await putBlob(storage, fresh());
    assert.ok(await moveToTrash(layout, layout.link(REPO, d)));
    assert.equal(await storage.deleteBlob(REPO, d.toString()), true);
    assert.equal(existsSync(layout.link(REPO, d)), false);
    assert.equal(existsSync(layout.trashOf(layout.link(REPO, d))), false);
    const m = manifest(await putBlob(storage, fresh()), await putBlob(storage, fresh()));
    await storage.putManifest(REPO, m);
    assert.ok(await moveToTrash(layout, layout.revision(REPO, Digest.parse(m.digest))));
    assert.equal(await storage.deleteManifest(REPO, m.digest), true);
    assert.equal(existsSync(layout.trashOf(layout.revision(REPO, Digest.parse(m.digest)))), false);
  });
});

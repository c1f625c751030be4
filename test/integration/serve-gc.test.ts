/**
 * `collectGarbage` on a real directory storage behind a running embedded registry: images
 * (one untagged by re-tagging), an index with children, referrers pushed with a subject, a
 * mounted but unused link, blobs never referenced, a blob whose only link was deleted and an
 * upload never finished. A dry run removes nothing and lists exactly the unreachable; the
 * collection removes exactly that, reclaims the sum of the sizes, and every tag still pulls
 * with the client, verified; `deleteUntagged` takes the untagged image and its referrer; the
 * grace period keeps what is young; a killed collection's trash and lock are recovered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Digest } from '../../src/ref/digest.js';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { collectGarbage, type GarbageItem } from '../../src/server/gc/collect.js';
import { call } from '../conformance/client.js';
import {
  age,
  blobPath,
  linkPath,
  pullVerified,
  pushBlob,
  pushImage,
  pushIndex,
  pushReferrer,
  revisionPath,
  snapshot,
  startRegistry,
  type Blob,
  type Pushed,
  type Registry,
} from './serve-gc-fixture.js';

const HOUR = 3_600_000;
const APP = 'gc/app';
const OTHER = 'gc/other';

const key = (item: GarbageItem): string =>
  item.kind === 'blob' ? `blob ${item.digest} ${item.size}`
    : item.kind === 'referrer' ? `referrer ${item.repository} ${item.subject} ${item.digest}`
      : `${item.kind} ${item.repository} ${item.digest}`;
const keys = (items: GarbageItem[]): string[] => items.map(key).sort();
const blobItem = (b: Blob): string => `blob ${b.digest} ${b.size}`;

describe('gantry serve gc: directory storage behind a running registry', () => {
  let dir: string;
  let storage: string;
  let reg: Registry;
  let A: Pushed, B: Pushed, C: Pushed, P1: Pushed, P2: Pushed, I: Pushed, S: Pushed, S2: Pushed, E: Pushed;
  let D: Blob, F: Blob, G: Blob, mounted: Blob;
  let session: string;

  /** Every tag (and the kept untagged manifests) pulls, every blob verified. */
  async function everythingPulls(untaggedToo: boolean): Promise<void> {
    const app = reg.repo(APP);
    assert.ok((await pullVerified(app, 'v1')).has(A.digest));
    assert.ok((await pullVerified(app, 'v2')).has(C.digest));
    const multi = await pullVerified(app, 'multi');
    for (const d of [I.digest, P1.digest, P2.digest, ...P1.blobs.map((b) => b.digest), ...P2.blobs.map((b) => b.digest)]) assert.ok(multi.has(d), d);
    assert.ok((await pullVerified(app, S.digest)).has(S.blobs[1]!.digest));
    assert.deepEqual((await app.referrers(A.digest)).manifests.map((m) => m.digest.toString()), [S.digest]);
    assert.ok((await pullVerified(reg.repo(OTHER), 'e')).has(E.digest));
    if (untaggedToo) {
      await pullVerified(app, B.digest);
      await pullVerified(app, S2.digest);
      assert.deepEqual((await app.referrers(B.digest)).manifests.map((m) => m.digest.toString()), [S2.digest]);
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-serve-gc-'));
    storage = join(dir, 'registry');
    reg = await startRegistry(storage);
    const app = reg.repo(APP);
    const shared = randomBytes(3000);
    A = await pushImage(app, 'v1', { layers: [shared, randomBytes(2000)] });
    B = await pushImage(app, 'v2', { layers: [shared, randomBytes(2500)] });
    C = await pushImage(app, 'v2'); // v2 moves: B is untagged now
    P1 = await pushImage(app, undefined);
    P2 = await pushImage(app, undefined);
    I = await pushIndex(app, 'multi', [P1, P2]);
    S = await pushReferrer(app, A);
    S2 = await pushReferrer(app, B);
    D = await pushBlob(app, randomBytes(1500)); // linked, never referenced
    G = await pushBlob(app, randomBytes(1700));
    await app.deleteBlob(G.digest); // its only link is gone, its bytes are not

    const other = reg.repo(OTHER);
    mounted = A.blobs[2]!;
    assert.ok(await other.mountBlob({ digest: Digest.parse(mounted.digest), size: mounted.size }, APP));
    E = await pushImage(other, 'e', { layers: [shared] });
    F = await pushBlob(other, randomBytes(1900));

    // An upload never finished: upload purging's business, not the collector's.
    const post = await call(reg.server.url, 'POST', `/v2/${APP}/blobs/uploads/`);
    session = post.header('docker-upload-uuid') as string;
    const patch = await call(reg.server.url, 'PATCH', post.header('location') as string, { headers: { 'content-type': 'application/octet-stream' }, body: randomBytes(1000) });
    assert.equal(patch.status, 202);

    age(storage, 2 * HOUR);
  });
  after(async () => {
    await reg?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const unreachable = (): string[] => [
    `link ${APP} ${D.digest}`,
    `link ${OTHER} ${F.digest}`,
    `link ${OTHER} ${mounted.digest}`,
    blobItem(D),
    blobItem(F),
    blobItem(G),
  ].sort();

  test('a dry run lists exactly the unreachable and removes nothing', async () => {
    const before = snapshot(storage);
    const r = await collectGarbage(storage, { dryRun: true });
    assert.deepEqual(keys(r.removed), unreachable());
    assert.deepEqual(r.counts, { blobs: 3, links: 3, manifests: 0, referrers: 0 });
    assert.equal(r.bytes, D.size + F.size + G.size);
    assert.equal(r.repositories, 2);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(snapshot(storage), before);
  });

  test('the collection removes exactly that, reclaims the sizes, and every tag still pulls verified', async () => {
    const r = await collectGarbage(storage);
    assert.deepEqual(keys(r.removed), unreachable());
    assert.equal(r.bytes, D.size + F.size + G.size);
    assert.equal(r.restored, 0);
    for (const b of [D, F, G]) assert.equal(existsSync(blobPath(storage, b.digest)), false, b.digest);
    assert.equal(existsSync(linkPath(storage, APP, D.digest)), false);
    assert.equal(existsSync(linkPath(storage, OTHER, mounted.digest)), false);
    assert.equal(existsSync(blobPath(storage, mounted.digest)), true, 'the mounted blob is still A\'s');
    assert.equal(existsSync(join(storage, 'trash')), false);
    assert.equal(existsSync(join(storage, 'gc.lock')), false);
    assert.ok(existsSync(join(storage, 'uploads', session, 'data')), 'the unfinished upload is left alone');
    await everythingPulls(true);
    // Nothing left to collect.
    const again = await collectGarbage(storage);
    assert.deepEqual(again.removed, []);
  });

  test('deleteUntagged: the untagged image, its own blobs and its referrer go; tags and their referrers stay', async () => {
    age(storage, 2 * HOUR);
    const gone = [B.blobs[0]!, B.blobs[2]!, S2.blobs[1]!, { digest: B.digest, size: B.size }, { digest: S2.digest, size: S2.size }];
    const expected = [
      `manifest ${APP} ${B.digest}`,
      `manifest ${APP} ${S2.digest}`,
      `referrer ${APP} ${B.digest} ${S2.digest}`,
      `link ${APP} ${B.blobs[0]!.digest}`,
      `link ${APP} ${B.blobs[2]!.digest}`,
      `link ${APP} ${S2.blobs[1]!.digest}`,
      ...gone.map(blobItem),
    ].sort();
    const dry = await collectGarbage(storage, { deleteUntagged: true, dryRun: true });
    assert.deepEqual(keys(dry.removed), expected);
    const r = await collectGarbage(storage, { deleteUntagged: true });
    assert.deepEqual(keys(r.removed), expected);
    assert.equal(r.bytes, gone.reduce((n, b) => n + b.size, 0));
    assert.equal(existsSync(revisionPath(storage, APP, B.digest)), false);
    await assert.rejects(reg.repo(APP).getManifest(B.digest), (err) => isGantryError(err, ErrorCode.NOT_FOUND));
    assert.deepEqual((await reg.repo(APP).referrers(B.digest)).manifests, []);
    assert.ok(existsSync(blobPath(storage, B.blobs[1]!.digest)), 'the layer B shared with A stays');
    await everythingPulls(false);
  });

  test('the grace period keeps what is young: a fresh blob, a fresh untagged manifest', async () => {
    const app = reg.repo(APP);
    const H = await pushBlob(app, randomBytes(1200));
    const U = await pushImage(app, undefined);
    let r = await collectGarbage(storage, { deleteUntagged: true });
    assert.deepEqual(r.removed, []);
    // Half an hour old: kept by the default hour, not by ten minutes.
    const files = (d: string): string[] => [blobPath(storage, d), linkPath(storage, APP, d)].map((p) => p.slice(storage.length + 1));
    age(storage, HOUR / 2, [...files(H.digest), ...U.blobs.flatMap((b) => files(b.digest)), blobPath(storage, U.digest).slice(storage.length + 1), revisionPath(storage, APP, U.digest).slice(storage.length + 1)]);
    r = await collectGarbage(storage, { deleteUntagged: true });
    assert.deepEqual(r.removed, []);
    r = await collectGarbage(storage, { deleteUntagged: true, graceMs: 10 * 60_000 });
    assert.deepEqual(keys(r.removed), [
      `link ${APP} ${H.digest}`,
      blobItem(H),
      `manifest ${APP} ${U.digest}`,
      ...U.blobs.flatMap((b) => [`link ${APP} ${b.digest}`, blobItem(b)]),
      blobItem({ digest: U.digest, size: U.size }),
    ].sort());
    await everythingPulls(false);
  });

  test('a killed collection: its stale lock is taken over and its trash put back first', async () => {
    // What a collection killed between "into the trash" and "check again" leaves behind.
    const config = linkPath(storage, APP, A.blobs[0]!.digest);
    const trashed = join(storage, 'trash', config.slice(storage.length + 1));
    mkdirSync(dirname(trashed), { recursive: true });
    renameSync(config, trashed);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    writeFileSync(join(storage, 'gc.lock'), JSON.stringify({ pid: dead, host: hostname(), started: new Date().toISOString() }));
    const r = await collectGarbage(storage);
    assert.equal(r.restored, 1);
    assert.deepEqual(r.removed, []);
    assert.ok(existsSync(config));
    await everythingPulls(false);
  });

  test('a running collection\'s lock refuses a second one; a dry run needs no lock', async () => {
    writeFileSync(join(storage, 'gc.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() }));
    try {
      await assert.rejects(collectGarbage(storage), (err) => isGantryError(err, ErrorCode.INVALID_CONFIG) && /another garbage collection is running/.test(err.message));
      assert.deepEqual((await collectGarbage(storage, { dryRun: true })).removed, []);
    } finally {
      rmSync(join(storage, 'gc.lock'));
    }
  });

  test('the registry puts back what a killed collection left in the trash when it opens the storage', async () => {
    await reg.close();
    const blob = blobPath(storage, A.blobs[2]!.digest);
    const trashed = join(storage, 'trash', blob.slice(storage.length + 1));
    mkdirSync(dirname(trashed), { recursive: true });
    renameSync(blob, trashed);
    reg = await startRegistry(storage);
    assert.ok(existsSync(blob));
    assert.equal(existsSync(trashed), false);
    await everythingPulls(false);
  });

  test('refused: memory storage, a directory that is not a storage, a negative grace', async () => {
    await assert.rejects(collectGarbage('memory'), (err) => isGantryError(err, ErrorCode.INVALID_OPTION) && /memory storage/.test(err.message));
    await assert.rejects(collectGarbage(dir), (err) => isGantryError(err, ErrorCode.INVALID_CONFIG) && /not a registry storage directory/.test(err.message));
    await assert.rejects(collectGarbage(storage, { graceMs: -1 }), (err) => isGantryError(err, ErrorCode.INVALID_OPTION) && /graceMs/.test(err.message));
  });
});

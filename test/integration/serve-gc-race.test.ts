/**
 * A push racing garbage collection, with a grace period of 0: whatever protects a push here
 * is the trash-then-check protocol, not the grace period. A collector runs back to back in its
 * own process (every other round deleting untagged manifests) while workers push images whose
 * layers come from a shared pool — pushed, deleted and pushed again, so that old unreferenced
 * links and blobs are taken by one collection just as a push links them again — plus indexes
 * of untagged children, re-tags of older manifests, and mounts between repositories. A reader
 * pulls kept images throughout. A push may lose a race before its manifest is accepted
 * (MANIFEST_BLOB_UNKNOWN, as with any registry deleting unreferenced blobs) — but only to a
 * collection that began after it linked its blobs: one whose blobs were all uploaded or mounted
 * afresh, losing with no collection begun in between, lost an upload finished during a sweep.
 * A push that was accepted must stay whole: every tag pulls, every blob present and verified.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RepositoryClient } from '../../src/client/registry-client.js';
import { RegistryError } from '../../src/transport/errors.js';
import { collectGarbage } from '../../src/server/gc/collect.js';
import { FIXTURE, OCI_MANIFEST, pullVerified, pushImage, pushIndex, startRegistry, type Pushed, type Registry } from './serve-gc-fixture.js';

const RACE_MS = 12_000;
/** The collector's pause between rounds: up to this many ms, so that some pushes get through between them. */
const PAUSE_MS = 200;
/** A push that lost a race is tried again, as a client would: the retry relinks what the collector is taking. */
const PUSH_ATTEMPTS = 4;
const WORKERS = 4;
const REPOS = ['race/one', 'race/two'];

interface Image {
  repo: string;
  tag: string;
  digest: string;
  /** Never deleted: the reader pulls it during the race. */
  keep: boolean;
}

/** A push that lost to a collection before the registry accepted its manifest. */
function lostRace(err: unknown): boolean {
  const code = err instanceof RegistryError ? err.errors[0]?.code : undefined;
  return code === 'MANIFEST_BLOB_UNKNOWN' || code === 'MANIFEST_UNKNOWN';
}

describe('gantry serve gc: pushes racing collections (grace 0)', () => {
  let dir: string;
  let storage: string;
  let reg: Registry;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-gc-race-'));
    storage = join(dir, 'registry');
    reg = await startRegistry(storage);
  });
  after(async () => {
    await reg?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every manifest the registry accepted is whole afterwards', { timeout: 120_000 }, async () => {
    const pool = Array.from({ length: 12 }, () => randomBytes(4096 + Math.floor(Math.random() * 8192)));
    const images: Image[] = [];
    const stats = { pushed: 0, lost: 0, deleted: 0, indexes: 0, retags: 0, pulls: 0 };
    /** Pushes that lost although every blob was linked afresh (uploaded or mounted), with when they ran. */
    const freshLosses: { repo: string; tag: string; start: number; end: number }[] = [];
    // Content tagged before the race starts.
    for (const [i, repo] of REPOS.entries()) {
      const p = await pushImage(reg.repo(repo), `base-${i}`, { layers: [pool[i]!, pool[i + 1]!] });
      images.push({ repo, tag: `base-${i}`, digest: p.digest, keep: true });
    }

    const stop = join(dir, 'stop');
    const gc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, 'loop', storage, '0', String(PAUSE_MS), stop], { stdio: ['ignore', 'pipe', 'pipe'] });
    let gcOut = '';
    let gcErr = '';
    gc.stdout.on('data', (c: Buffer) => (gcOut += c.toString()));
    gc.stderr.on('data', (c: Buffer) => (gcErr += c.toString()));
    const gcExit = new Promise<number | null>((resolve) => gc.once('exit', (code) => resolve(code)));

    const deadline = Date.now() + RACE_MS;
    const pick = (): Buffer => pool[Math.floor(Math.random() * pool.length)]!;
    const attempt = async <T>(push: () => Promise<T>): Promise<T | undefined> => {
      for (let n = 0; n < PUSH_ATTEMPTS; n++) {
        try {
          return await push();
        } catch (err) {
          if (!lostRace(err)) throw err;
          stats.lost++;
        }
      }
      return undefined;
    };

    const worker = async (w: number): Promise<void> => {
      const name = REPOS[w % REPOS.length]!;
      const repo = reg.repo(name);
      const mine: Pushed[] = [];
      for (let i = 0; Date.now() < deadline; i++) {
        const tag = `w${w}-${i}`;
        // Pool layers (every third push mounting them from the other repository when it has
        // them) and one new layer.
        const layers = [pick(), pick(), randomBytes(2048)];
        const mount = i % 3 === 0 ? { mountFrom: REPOS[(w + 1) % REPOS.length]! } : {};
        const p = await attempt(async () => {
          const statuses: string[] = [];
          const start = Date.now();
          try {
            return await pushImage(repo, tag, { layers, statuses, ...mount });
          } catch (err) {
            if (lostRace(err) && !statuses.includes('exists')) freshLosses.push({ repo: name, tag, start, end: Date.now() });
            throw err;
          }
        });
        if (!p) continue;
        stats.pushed++;
        const image = { repo: name, tag, digest: p.digest, keep: i % 4 === 0 };
        if (i % 4 === 1) {
          // Deleted at once: its pool layers become garbage, to be pushed again by someone.
          await repo.deleteManifest(p.digest);
          stats.deleted++;
          continue;
        }
        images.push(image);
        mine.push(p);
        if (i % 4 === 2) {
          // An index of two children pushed by digest (untagged until the index names them).
          const a = await attempt(() => pushImage(repo, undefined, { layers: [pick()] }));
          const b = a && (await attempt(() => pushImage(repo, undefined, { layers: [pick()] })));
          const idx = b && (await attempt(() => pushIndex(repo, `idx-${tag}`, [a, b])));
          if (idx) {
            images.push({ repo: name, tag: `idx-${tag}`, digest: idx.digest, keep: false });
            stats.indexes++;
          }
        }
        if (i % 4 === 3 && mine.length > 2) {
          // Tag an older manifest again.
          const old = mine[Math.floor(Math.random() * (mine.length - 1))]!;
          const put = await attempt(() => repo.putManifest(`re-${tag}`, old.bytes, OCI_MANIFEST));
          if (put) {
            images.push({ repo: name, tag: `re-${tag}`, digest: old.digest, keep: false });
            stats.retags++;
          }
        }
      }
    };

    const reader = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const kept = images.filter((i) => i.keep);
        const image = kept[Math.floor(Math.random() * kept.length)]!;
        await pullVerified(reg.repo(image.repo), image.tag);
        stats.pulls++;
      }
    };

    try {
      await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), reader()]);
    } finally {
      writeFileSync(stop, '');
    }
    assert.equal(await gcExit, 0, gcErr);
    const rounds = gcOut.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { started: number; counts: Record<string, number>; warnings: string[] });
    const removed = rounds.reduce((n, r) => n + r.counts.blobs! + r.counts.links! + r.counts.manifests!, 0);
    console.log(`race: ${rounds.length} collections removed ${removed} files; ${JSON.stringify(stats)}; warnings: ${JSON.stringify(rounds.flatMap((r) => r.warnings))}`);
    assert.ok(rounds.length >= 5, `only ${rounds.length} collections ran`);
    assert.ok(removed > 0, 'the collections removed nothing: no race happened');
    assert.ok(stats.pushed >= 10, `only ${stats.pushed} pushes went through`);
    // One warning may come from the race itself: a collection that reads a manifest pushed again
    // (its bytes taken by a collection before) in the instant before the push puts its bytes
    // back. Harmless: the push touches what the manifest names only after that.
    assert.deepEqual(rounds.flatMap((r) => r.warnings).filter((w) => !/has no bytes in the blob store$/.test(w)), []);
    // An upload that finished during a sweep is not lost: with grace 0 only a collection that
    // began after a blob was linked may take it (a collection's start and its clock reading
    // differ by a few ms at most). A push whose blobs were all linked afresh and lost with no
    // collection beginning in between lost something it should not have.
    const SLACK_MS = 20;
    const unexplained = freshLosses.filter((l) => !rounds.some((r) => r.started >= l.start - SLACK_MS && r.started <= l.end + SLACK_MS));
    assert.deepEqual(unexplained, [], `${unexplained.length} of ${freshLosses.length} fresh pushes lost with no collection started meanwhile`);

    // After the race, and after one more full collection: every accepted tag is whole.
    const check = async (): Promise<void> => {
      for (const image of images) {
        const repo: RepositoryClient = reg.repo(image.repo);
        const got = await repo.getManifest(image.tag).catch((err: unknown) => {
          throw new Error(`${image.repo}:${image.tag} (${image.digest}) is gone: ${(err as Error).message}`);
        });
        assert.equal(got.digest.toString(), image.digest, `${image.repo}:${image.tag}`);
        await pullVerified(repo, image.tag).catch((err: unknown) => {
          throw new Error(`${image.repo}:${image.tag} (${image.digest}) does not pull: ${(err as Error).message}`);
        });
      }
    };
    await check();
    await collectGarbage(storage, { graceMs: 0, deleteUntagged: true });
    await check();
  });
});

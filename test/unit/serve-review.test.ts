/**
 * Review findings on `gantry serve`'s garbage collector, each pinned by a test that failed
 * before its fix.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, LOCK_FILE, type CollectionLock } from '../../src/server/gc/lock.js';

/** A pid that runs nowhere (above Linux's largest pid_max): a lock naming it on this host is stale. */
const DEAD_PID = 2 ** 22 + 7;
const ROUNDS = 300;

describe('the collection lock', () => {
  test('collections starting together on a stale lock: exactly one takes it over', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gantry-review-lock-'));
    try {
      let wrong = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const dir = join(root, String(round));
        mkdirSync(dir);
        writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: DEAD_PID, host: hostname(), started: '2020-01-01T00:00:00.000Z' }));
        const results = await Promise.allSettled([acquireLock(dir), acquireLock(dir), acquireLock(dir), acquireLock(dir)]);
        const owners: CollectionLock[] = [];
        for (const r of results) {
          if (r.status === 'fulfilled') owners.push(r.value);
          else assert.match((r.reason as Error).message, /another garbage collection is running/);
        }
        if (owners.length !== 1) wrong++;
        for (const lock of owners) await lock.release();
        assert.deepEqual(readdirSync(dir), [], 'released, the lock leaves nothing behind');
      }
      assert.equal(wrong, 0, `rounds without exactly one owner: ${wrong} of ${ROUNDS}`);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/**
 * The bcrypt worker pool: comparisons happen in worker threads, the queue is bounded (per
 * client address, 429; in all, 503; both with Retry-After), client lines take turns, and a
 * comparison refused by `admit` when it reaches a worker never runs. Cost-4 hashes: the pool's
 * bookkeeping is under test, not bcrypt's speed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { BCRYPT_QUEUE_MAX, BCRYPT_QUEUE_PER_CLIENT, BCRYPT_WORKERS, compareBcrypt } from '../../src/server/bcrypt-workers.js';
import { RegistryRequestError } from '../../src/server/errors.js';
import { Htpasswd } from '../../src/server/htpasswd.js';

const hash = bcrypt.hashSync('secret', 4);

/** Resolves to what each promise did: `true`/`false`, or the status of the registry error. */
function outcomes(checks: Promise<boolean>[]): Promise<Array<boolean | number>> {
  return Promise.all(checks.map((c) => c.then((ok) => ok, (err: unknown) => (err instanceof RegistryRequestError ? err.status : Promise.reject(err)))));
}

describe('compareBcrypt', () => {
  test('compares in a worker thread', async () => {
    assert.equal(await compareBcrypt('secret', hash, 'c'), true);
    assert.equal(await compareBcrypt('Secret', hash, 'c'), false);
  });

  test('one address may keep BCRYPT_QUEUE_PER_CLIENT checks waiting; more are 429 with Retry-After', async () => {
    const extra = 3;
    const checks = Array.from({ length: BCRYPT_WORKERS + BCRYPT_QUEUE_PER_CLIENT + extra }, () => compareBcrypt('secret', hash, 'one-client'));
    const refused = await checks[checks.length - 1]?.catch((err: unknown) => err);
    assert.ok(refused instanceof RegistryRequestError && refused.status === 429 && refused.registryCode === 'TOOMANYREQUESTS', String(refused));
    assert.ok(Number(refused.headers['Retry-After']) >= 1);
    const results = await outcomes(checks);
    assert.equal(results.filter((r) => r === 429).length, extra);
    assert.equal(results.filter((r) => r === true).length, BCRYPT_WORKERS + BCRYPT_QUEUE_PER_CLIENT);
  });

  test('BCRYPT_QUEUE_MAX checks wait in all; more are 503 UNAVAILABLE', async () => {
    const clients = Math.ceil(BCRYPT_QUEUE_MAX / BCRYPT_QUEUE_PER_CLIENT) + 1;
    const checks: Promise<boolean>[] = [];
    for (let c = 0; c < clients; c++) for (let i = 0; i < BCRYPT_QUEUE_PER_CLIENT; i++) checks.push(compareBcrypt('secret', hash, `client-${c}`));
    const results = await outcomes(checks);
    assert.equal(results.filter((r) => r === 503).length, checks.length - BCRYPT_QUEUE_MAX - BCRYPT_WORKERS);
    assert.equal(results.filter((r) => r === true).length, BCRYPT_QUEUE_MAX + BCRYPT_WORKERS);
  });

  test('client lines take turns: one check of a second address is not behind a first address\'s ten', async () => {
    // `admit` runs as a check reaches a worker: the order checks start in.
    const started: string[] = [];
    const checks = Array.from({ length: 10 }, (_, i) => compareBcrypt('secret', hash, 'busy', () => void started.push(`busy-${i}`)));
    checks.push(compareBcrypt('secret', hash, 'other', () => void started.push('other')));
    await Promise.all(checks);
    // The workers' first checks, then the busy line's next, then the other line's only one.
    assert.equal(started.indexOf('other'), BCRYPT_WORKERS + 1, started.join(' '));
  });

  test('a check refused by admit when it reaches a worker never runs', async () => {
    let refuse = false;
    let admitted = 0;
    const admit = (): void => {
      if (refuse) throw new RegistryRequestError(429, 'TOOMANYREQUESTS', 'refused');
      admitted++;
    };
    const checks = Array.from({ length: BCRYPT_WORKERS + 3 }, () => compareBcrypt('secret', hash, 'admit', admit));
    refuse = true;
    const results = await outcomes(checks);
    assert.equal(admitted, BCRYPT_WORKERS, 'only the checks that went straight to a worker ran');
    assert.deepEqual(results, [...Array<boolean>(BCRYPT_WORKERS).fill(true), 429, 429, 429]);
  });
});

describe('Htpasswd.verify', () => {
  test('concurrent checks of the same credentials from one client share a comparison; a success is remembered', async () => {
    const h = Htpasswd.parse(`ann:${bcrypt.hashSync('pw', 10)}\n`);
    let admitted = 0;
    const attempt = { client: 'same', admit: () => void admitted++ };
    assert.deepEqual(await Promise.all(Array.from({ length: 8 }, () => h.verify('ann', 'pw', attempt))), Array(8).fill(true));
    assert.equal(admitted, 1);
    const started = performance.now();
    assert.equal(await h.verify('ann', 'pw', attempt), true);
    assert.equal(admitted, 1, 'remembered: no comparison');
    assert.ok(performance.now() - started < 20);
    assert.equal(await h.verify('ann', 'wrong', attempt), false);
    assert.equal(await h.verify('ann', 'wrong', attempt), false);
    assert.equal(admitted, 3, 'failures are never remembered');
  });
});

/**
 * Password checks for htpasswd users and the token issuer's users: bcrypt in the worker pool
 * (bcrypt-workers.ts), with two savings that matter because a client sends the same Basic
 * credentials with every request of a push or pull:
 *
 * - a verified (user, password, hash) is remembered for `VERIFIED_TTL_MS`, keyed by an
 *   HMAC-SHA256 of the three under a random per-process key: the password itself is never
 *   kept, and a changed hash misses;
 * - concurrent checks of the same credentials from one client share one comparison.
 *
 * Failures are never remembered.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { compareBcrypt } from './bcrypt-workers.js';

/**
 * How long a verified password is remembered: the requests of one push or pull, at most. Short,
 * because the cache key is a fast hash of the password (salted by the bcrypt hash and the
 * process key), which a memory dump would expose to guessing at sha256 speed.
 */
export const VERIFIED_TTL_MS = 5 * 60_000;
/** Verified credentials remembered at most; the oldest go first. */
const VERIFIED_CACHE_MAX = 1024;

const CACHE_KEY = randomBytes(32);
/** Cache key → when it expires (ms since the epoch); Map order is insertion order, oldest first. */
const verified = new Map<string, number>();
const inFlight = new Map<string, Promise<boolean>>();

/** Who is trying, for the fair queue and the throttle. */
export interface PasswordAttempt {
  /** The client's address (the queue's line; concurrent identical checks share per client). */
  client: string;
  /** Called when the comparison reaches a worker; throws to refuse it without running bcrypt. */
  admit?: () => void;
}

/** Whether `password` matches the bcrypt `hash` of `user`. */
export async function verifyBcrypt(user: string, password: string, hash: string, attempt: PasswordAttempt): Promise<boolean> {
  const key = createHmac('sha256', CACHE_KEY).update(JSON.stringify([user, password, hash])).digest('base64');
  const now = Date.now();
  const expires = verified.get(key);
  if (expires !== undefined) {
    if (expires > now) return true;
    verified.delete(key);
  }
  const shared = `${attempt.client} ${key}`;
  let check = inFlight.get(shared);
  if (!check) {
    check = compareBcrypt(password, hash, attempt.client, attempt.admit).finally(() => inFlight.delete(shared));
    inFlight.set(shared, check);
  }
  const ok = await check;
  if (ok) remember(key, Date.now());
  return ok;
}

function remember(key: string, now: number): void {
  verified.delete(key);
  if (verified.size >= VERIFIED_CACHE_MAX) {
    for (const [k, expires] of verified) if (expires <= now) verified.delete(k);
    while (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value as string);
  }
  verified.set(key, now + VERIFIED_TTL_MS);
}

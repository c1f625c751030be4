/**
 * Failed-authentication throttling per client address (issue "Trust at origin boundaries",
 * item 9). After `maxFailures` failed password checks from one address within `windowMs`, that
 * address's further attempts are answered 429 TOOMANYREQUESTS with Retry-After for `backoffMs`,
 * before any bcrypt runs; other addresses are unaffected.
 *
 * Only requests that carry credentials are attempts: an anonymous ping (every client's first
 * request) is neither counted nor refused. A success does not clear the count, or one valid
 * account would let a guesser reset it between guesses at another.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryErrorCode, RegistryRequestError } from './errors.js';

/** What a password check asks before it runs, and tells when it fails. */
export interface AuthAttemptGuard {
  /** Throws 429 with Retry-After while `client` is backing off. */
  admit(client: string): void;
  /** Records a failed password check from `client`. */
  failed(client: string): void;
}

export interface AuthThrottleLimits {
  maxFailures: number;
  windowMs: number;
  backoffMs: number;
}

/** A guard that admits everyone (throttling disabled). */
export const OPEN_GUARD: AuthAttemptGuard = { admit() {}, failed() {} };

/** Addresses remembered at most: a flood from many addresses must not grow memory without end. */
const TRACKED_CLIENTS_MAX = 10_000;

interface ClientRecord {
  /** Times of the failures within the window, oldest first; never more than `maxFailures`. */
  failures: number[];
  blockedUntil: number;
}

export class AuthThrottle implements AuthAttemptGuard {
  private readonly clients = new Map<string, ClientRecord>();

  constructor(
    private readonly limits: AuthThrottleLimits,
    private readonly now: () => number = Date.now,
  ) {}

  admit(client: string): void {
    const record = this.clients.get(client);
    const now = this.now();
    if (record && record.blockedUntil > now) {
      const seconds = Math.ceil((record.blockedUntil - now) / 1000);
      throw new RegistryRequestError(429, RegistryErrorCode.TOOMANYREQUESTS, 'too many failed authentication attempts from this address', undefined, {
        'Retry-After': String(seconds),
      });
    }
  }

  failed(client: string): void {
    const now = this.now();
    let record = this.clients.get(client);
    if (!record) {
      this.makeRoom(now);
      record = { failures: [], blockedUntil: 0 };
      this.clients.set(client, record);
    }
    record.failures = record.failures.filter((t) => now - t < this.limits.windowMs);
    record.failures.push(now);
    if (record.failures.length >= this.limits.maxFailures) {
      record.blockedUntil = now + this.limits.backoffMs;
      record.failures = [];
    }
  }

  /** Forgets addresses with nothing left to remember, then the oldest, when the table is full. */
  private makeRoom(now: number): void {
    if (this.clients.size < TRACKED_CLIENTS_MAX) return;
    for (const [client, r] of this.clients) {
      if (r.blockedUntil <= now && r.failures.every((t) => now - t >= this.limits.windowMs)) this.clients.delete(client);
    }
    while (this.clients.size >= TRACKED_CLIENTS_MAX) this.clients.delete(this.clients.keys().next().value as string);
  }
}

/** The peer address of a request; an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

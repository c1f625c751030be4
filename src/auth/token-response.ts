/**
 * The token server's answer (https://distribution.github.io/distribution/spec/auth/token/,
 * read as Docker's client reads it: docs/docker-rules.md#token-auth) and the cache that lets
 * concurrent requests for the same (realm, service, scopes) share one exchange.
 */
import { ErrorCode, GantryError } from '../errors.js';
import type { Scope } from '../ref/scope.js';
import { scopeSetKey } from '../ref/scope.js';

export interface TokenResponse {
  token: string;
  expiresAt: Date;
  issuedAt: Date;
  /** Only when the request asked for offline access; becomes the identity token on login. */
  refreshToken?: string;
}

/** Docker raises any shorter lifetime to this (also the token spec's default and minimum). */
export const MIN_TOKEN_LIFETIME_SECONDS = 60;

/** The largest token response a caller should read before handing it here. */
export const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;

function invalid(detail: string): GantryError {
  return new GantryError(ErrorCode.INVALID_RESPONSE, `unable to decode token response: ${detail}`);
}

/** Go's JSON decoding matches keys case-insensitively; so does this lookup. */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === name) return v;
  return undefined;
}

function optionalString(obj: Record<string, unknown>, name: string): string | undefined {
  const v = field(obj, name);
  if (v === undefined || v === null) return undefined;
  // Never echo the value: it may be the token itself.
  if (typeof v !== 'string') throw invalid(`field "${name}" is not a string`);
  return v;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Decodes a token response. `access_token` wins over `token`; `expires_in` defaults to and is
 * raised to 60 s; a missing `issued_at` counts from `now` (the end of the exchange).
 */
export function parseTokenResponse(body: Buffer | string, now: Date): TokenResponse {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    // V8 quotes the start of the input in its message; that may be the token, so cut it.
    throw invalid((err as Error).message.replace(/, ".*is not valid JSON$/s, ' (not valid JSON)'));
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('not a JSON object');
  const obj = doc as Record<string, unknown>;
  const token = optionalString(obj, 'access_token') || optionalString(obj, 'token');
  if (!token) {
    throw new GantryError(ErrorCode.INVALID_RESPONSE, 'authorization server did not include a token in the response');
  }
  const expiresRaw = field(obj, 'expires_in');
  let expiresIn = MIN_TOKEN_LIFETIME_SECONDS;
  if (expiresRaw !== undefined && expiresRaw !== null) {
    if (typeof expiresRaw !== 'number' || !Number.isInteger(expiresRaw)) throw invalid('field "expires_in" is not an integer');
    expiresIn = Math.max(expiresRaw, MIN_TOKEN_LIFETIME_SECONDS);
  }
  const issuedRaw = optionalString(obj, 'issued_at');
  let issuedAt = now;
  if (issuedRaw) {
    const t = Date.parse(issuedRaw);
    if (!RFC3339.test(issuedRaw) || Number.isNaN(t)) throw invalid(`field "issued_at" is not an RFC 3339 time: ${JSON.stringify(issuedRaw)}`);
    issuedAt = new Date(t);
  }
  const refreshToken = optionalString(obj, 'refresh_token');
  const out: TokenResponse = { token, issuedAt, expiresAt: new Date(issuedAt.getTime() + expiresIn * 1000) };
  if (refreshToken) out.refreshToken = refreshToken;
  return out;
}

export interface TokenCacheKeyParts {
  realm: string;
  service?: string;
  scopes: readonly Scope[];
}

/** One token per (realm, service, scope set); scope order does not matter. */
export function tokenCacheKey({ realm, service, scopes }: TokenCacheKeyParts): string {
  return JSON.stringify([realm, service ?? '', scopeSetKey(scopes)]);
}

export interface TokenCacheOptions {
  /** The clock; injectable so tests can move time (as distribution's `session_test.go` does). */
  now?: () => Date;
}

/**
 * Tokens by key, valid while `now <= expiresAt` (Docker's rule). `getOrFetch` makes concurrent
 * callers share one in-flight exchange; a failed exchange is not cached, so the next caller retries.
 */
export class TokenCache {
  readonly #now: () => Date;
  readonly #tokens = new Map<string, TokenResponse>();
  readonly #inFlight = new Map<string, Promise<TokenResponse>>();

  constructor(options: TokenCacheOptions = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  get(key: string): TokenResponse | undefined {
    const t = this.#tokens.get(key);
    if (!t) return undefined;
    if (this.#now().getTime() <= t.expiresAt.getTime()) return t;
    this.#tokens.delete(key);
    return undefined;
  }

  set(key: string, token: TokenResponse): void {
    this.#tokens.set(key, token);
  }

  delete(key: string): void {
    this.#tokens.delete(key);
  }

  getOrFetch(key: string, fetch: () => Promise<TokenResponse>): Promise<TokenResponse> {
    const cached = this.get(key);
    if (cached) return Promise.resolve(cached);
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const p = (async () => {
      try {
        const t = await fetch();
        this.#tokens.set(key, t);
        return t;
      } finally {
        this.#inFlight.delete(key);
      }
    })();
    this.#inFlight.set(key, p);
    return p;
  }
}

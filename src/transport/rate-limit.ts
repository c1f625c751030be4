/**
 * Docker Hub's rate-limit headers (docs.docker.com "Docker Hub pull usage and limits"):
 *   ratelimit-limit: 100;w=21600
 *   ratelimit-remaining: 76;w=21600
 *   docker-ratelimit-source: 203.0.113.7
 * Exposed on every result (and on errors) so a caller can slow down before the 429.
 */
import { header, type ResponseHeaders } from './types.js';

/** The rate limit a registry announced with an answer (Docker Hub's `ratelimit-*` headers). */
export interface RateLimit {
  /** Requests allowed in the window. */
  readonly limit: number;
  /** Requests left in the window, when the registry said. */
  readonly remaining?: number;
  /** The window in seconds (`w=`), when given. */
  readonly windowSeconds?: number;
  /** What the limit is counted against (an IP or an account id). */
  readonly source?: string;
}

function parseQuota(value: string | undefined): { count: number; window?: number } | undefined {
  if (!value) return undefined;
  const [countText = '', ...params] = value.split(';');
  const count = Number(countText.trim());
  if (!Number.isFinite(count) || countText.trim() === '') return undefined;
  const w = params.map((p) => /^\s*w\s*=\s*(\d+)\s*$/.exec(p)?.[1]).find((x) => x !== undefined);
  return w === undefined ? { count } : { count, window: Number(w) };
}

/** The rate limit a response announced, or undefined when it sent no `ratelimit-limit`. */
export function readRateLimit(headers: ResponseHeaders): RateLimit | undefined {
  const limit = parseQuota(header(headers, 'ratelimit-limit'));
  if (!limit) return undefined;
  const remaining = parseQuota(header(headers, 'ratelimit-remaining'));
  const source = header(headers, 'docker-ratelimit-source');
  const window = limit.window ?? remaining?.window;
  return {
    limit: limit.count,
    ...(remaining ? { remaining: remaining.count } : {}),
    ...(window !== undefined ? { windowSeconds: window } : {}),
    ...(source ? { source } : {}),
  };
}

/**
 * The protocol rules that several layers share, written once: which request bodies can be
 * sent again (redirect, retry and the authorizer all replay requests), which methods are
 * idempotent, which statuses say "try again".
 */
import type { TransportRequest } from './types.js';

/** A body that can be sent twice: none, a Buffer or a string. A stream is consumed by the first send. */
export function isReplayableBody(body: TransportRequest['body']): boolean {
  return body === undefined || body === null || typeof body === 'string' || Buffer.isBuffer(body);
}

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** Whether `req` may be sent twice with the same effect (an idempotent method and a replayable body). */
export function isReplayable(req: Pick<TransportRequest, 'method' | 'body'>): boolean {
  return IDEMPOTENT_METHODS.has(req.method.toUpperCase()) && isReplayableBody(req.body);
}

/** Statuses that say "try again": timeout, rate limit, and the gateway/overload family. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

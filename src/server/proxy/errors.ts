/**
 * How an upstream's failure reaches the cache's client: by kind, with the upstream's own message
 * (gantry's client redacts URLs and secrets where it builds its errors). A client must never see
 * a 401 from the cache for the upstream's sake: it would answer it with credentials for the
 * cache. So 401 and 403 upstream are DENIED here.
 */
import { RegistryErrorCode, RegistryRequestError, unsupported } from '../errors.js';

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The error for `what` (`manifest team/app:1`, `blob sha256:…`) when the upstream failed with `err`. */
export function upstreamFailure(err: unknown, what: string): RegistryRequestError {
  if (err instanceof RegistryRequestError) return err;
  const status = (err as { status?: unknown } | null)?.status;
  const detail = { upstream: messageOf(err) };
  if (status === 401 || status === 403) {
    return new RegistryRequestError(403, RegistryErrorCode.DENIED, `the upstream registry refused ${what}`, detail);
  }
  if (status === 429) {
    const retryAfter = (err as { retryAfter?: unknown }).retryAfter;
    return new RegistryRequestError(429, RegistryErrorCode.TOOMANYREQUESTS, `the upstream registry is rate limiting ${what}`, detail,
      typeof retryAfter === 'number' ? { 'Retry-After': String(retryAfter) } : {});
  }
  return new RegistryRequestError(503, RegistryErrorCode.UNAVAILABLE, `the upstream registry is unavailable for ${what}`, detail);
}

/** What a push, a delete or an upload gets from a pull-through cache, as from the CNCF registry's. */
export function pushRefused(method: string): RegistryRequestError {
  return unsupported(`${method} is not supported: this registry is a pull-through cache (read only)`);
}

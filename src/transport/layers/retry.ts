/**
 * Retries for idempotent requests, gantry's one retry policy: the transport retries requests
 * that can be sent again unchanged; uploads restart their session in the upload code. Such a
 * request is sent again when the connection failed in a way a retry can help (reset, refused,
 * timeout) or the registry answered 408, 429, 500, 502, 503 or 504.
 *
 *  - Only GET, HEAD, PUT, DELETE and OPTIONS, and only with a replayable body (none, a
 *    Buffer or a string): a streamed body has been consumed by the first try. POST and PATCH
 *    open or extend upload sessions; those are restarted by the upload code, from the start
 *    of the blob, never blindly here.
 *  - Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
 *    Jitter"): the n-th wait is uniform in [0, min(max, base·2ⁿ⁻¹)], so clients that failed
 *    together do not come back together.
 *  - `Retry-After` (seconds or an HTTP date) replaces the computed wait. A registry that asks
 *    for more than RETRY_AFTER_CAP_MS is not waited for: its answer is returned at once and
 *    the caller's RegistryError carries `retryAfter`, so a CLI can say when to come back
 *    instead of hanging.
 *  - The layer sits above auth, so each try is the authenticated request, with the token the
 *    auth layer holds at that moment. A 401 is never retried here: the auth layer answers it.
 *  - After the last try the last response is returned (the caller turns it into a typed
 *    error with the registry's own message) or the last error is thrown.
 */
import { ErrorCode, GantryError } from '../../errors.js';
import { parseRetryAfter } from '../errors.js';
import { checkOptions } from '../../options.js';
import { drainBody } from '../body.js';
import { isReplayable, RETRYABLE_STATUSES } from '../rules.js';
import { header, type Layer, type TransportResponse } from '../types.js';

export { isReplayable, RETRYABLE_STATUSES };

/** Tries per request, the first included: regclient and undici use 5; enough to ride out a
 *  registry restart or a load balancer shuffle, few enough that a dead host fails in seconds. */
export const RETRY_MAX_ATTEMPTS = 5;
/** The first backoff ceiling; doubled on each retry (0.5 s, 1 s, 2 s, 4 s: ≤ 7.5 s in all). */
export const RETRY_BASE_DELAY_MS = 500;
/** The largest computed backoff, whatever the attempt number. */
export const RETRY_MAX_DELAY_MS = 10_000;
/** The longest `Retry-After` gantry waits for (containers/image's 429 loop stops at 60 s). */
export const RETRY_AFTER_CAP_MS = 60_000;

/**
 * How the transport retries idempotent requests with replayable bodies (connection errors a
 * retry can help, 408, 429, 500, 502, 503, 504). A field out of range throws code `INVALID_OPTION`.
 */
export interface RetryPolicy {
  /** Tries per request, the first included, 1 to 100. Default 5 (RETRY_MAX_ATTEMPTS); 1 disables retries. */
  readonly maxAttempts?: number;
  /** The first backoff ceiling in ms, doubled on each retry. Default 500 ms (RETRY_BASE_DELAY_MS). */
  readonly baseDelayMs?: number;
  /** The largest computed backoff in ms. Default 10 000 ms (RETRY_MAX_DELAY_MS). */
  readonly maxDelayMs?: number;
  /** The longest `Retry-After` waited for, in ms; a longer one returns the answer at once. Default 60 000 ms (RETRY_AFTER_CAP_MS). */
  readonly retryAfterCapMs?: number;
  /** Waits `ms`, or rejects when `signal` aborts. Tests inject a recorder. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A number in [0, 1): the jitter source. Default `Math.random`. */
  readonly random?: () => number;
  /** Called before each wait, for `--debug` logs and progress. */
  readonly onRetry?: (info: RetryInfo) => void;
}

/** What `onRetry` of a {@link RetryPolicy} is told before each wait. */
export interface RetryInfo {
  /** The request's HTTP method. */
  readonly method: string;
  /** The request's URL as sent; not redacted, so redact it before logging it. */
  readonly url: URL;
  /** The try that failed (1 for the first). */
  readonly attempt: number;
  /** The wait before the next try, in ms: the `Retry-After` when sent, else the backoff. */
  readonly delayMs: number;
  /** The retryable status the registry answered; undefined when the try threw instead. */
  readonly status?: number;
  /** The retryable error the try threw (a {@link GantryError}); undefined when it got a response. */
  readonly error?: unknown;
}

/** A wait that ends early, with the abort reason, when `signal` fires. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An abort as gantry reports it: code ABORTED, the signal's reason as the cause (a reason
 * that already is a GantryError, such as the copy's "another blob failed", is kept as it is).
 */
function abortError(signal: AbortSignal | undefined): GantryError {
  const reason: unknown = signal?.reason;
  return reason instanceof GantryError ? reason : new GantryError(ErrorCode.ABORTED, 'aborted while waiting to retry', { cause: reason });
}

/** The full-jitter backoff before try `attempt + 1`. */
export function backoffDelay(attempt: number, policy: RetryPolicy = {}): number {
  const base = policy.baseDelayMs ?? RETRY_BASE_DELAY_MS;
  const max = policy.maxDelayMs ?? RETRY_MAX_DELAY_MS;
  const ceiling = Math.min(max, base * 2 ** (attempt - 1));
  return Math.floor((policy.random ?? Math.random)() * ceiling);
}

/** Checks a RetryPolicy (INVALID_OPTION naming the field). */
export function checkRetryPolicy(policy: RetryPolicy | undefined, where = 'RetryPolicy'): void {
  checkOptions(where, policy)
    .integer('maxAttempts', 1, 100)
    .number('baseDelayMs', 0, 3_600_000)
    .number('maxDelayMs', 0, 3_600_000)
    .number('retryAfterCapMs', 0, 86_400_000)
    .func('sleep')
    .func('random')
    .func('onRetry');
}

export function retry(policy: RetryPolicy = {}): Layer {
  checkRetryPolicy(policy);
  const maxAttempts = policy.maxAttempts ?? RETRY_MAX_ATTEMPTS;
  const cap = policy.retryAfterCapMs ?? RETRY_AFTER_CAP_MS;
  const sleep = policy.sleep ?? abortableSleep;
  return (next) => async (req) => {
    if (maxAttempts === 1 || !isReplayable(req)) return next(req);
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= maxAttempts;
      let res: TransportResponse;
      try {
        res = await next(req);
      } catch (err) {
        if (last || !(err instanceof GantryError) || !err.retryable || req.signal?.aborted) throw err;
        const delayMs = backoffDelay(attempt, policy);
        policy.onRetry?.({ method: req.method, url: req.url, attempt, delayMs, error: err });
        await sleep(delayMs, req.signal);
        continue;
      }
      if (last || !RETRYABLE_STATUSES.has(res.status)) return res;
      const after = parseRetryAfter(header(res.headers, 'retry-after'));
      if (after !== undefined && after * 1000 > cap) return res;
      const delayMs = after !== undefined ? after * 1000 : backoffDelay(attempt, policy);
      await drainBody(res.body);
      policy.onRetry?.({ method: req.method, url: req.url, attempt, delayMs, status: res.status });
      await sleep(delayMs, req.signal);
    }
  };
}

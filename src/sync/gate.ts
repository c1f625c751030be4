/**
 * One gate per registry that a sync talks to, as a transport Layer on every connection to it
 * (below redirect, above auth: it sees each hop and each retry, once): it bounds the requests
 * in flight to the registry, counts them by kind for the report, reads Docker Hub's
 * rate-limit headers on every answer, and keeps the run inside a budget.
 *
 * The budget (`reserve`): a request is sent only while the registry's last announced
 * `ratelimit-remaining`, less the requests already in flight (each may cost one), stays at or
 * above the reserve after it. Short of that, the request waits for those in flight to answer
 * (a HEAD, which Docker Hub does not count, leaves the number where it was); when none are in
 * flight and it still does not fit, the gate closes: it refuses this and every later request
 * with RateLimitReserveError, and the run stops with its report. A 429 that carries rate-limit
 * headers (the quota is spent) closes it too. Requests before the first announcement are not
 * held back: nothing is known yet.
 *
 * "In flight" ends when the answer's headers arrive: a blob's body may still be streaming.
 * Counting to the end of the body would let a copy whose blob download holds the registry's
 * last slot wait for an upload slot on the same registry forever.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { readRateLimit, type RateLimit } from '../transport/rate-limit.js';
import type { Layer, TransportRequest } from '../transport/types.js';

/** Requests one registry received from a sync, by kind (what an operator wants to see in a report). */
export interface SyncRequestCounts {
  /** Every request sent through the gate (each hop of a redirect and each retry count one). */
  total: number;
  /** `HEAD /v2/<name>/manifests/<ref>`. */
  manifestHead: number;
  /** `GET /v2/<name>/manifests/<ref>`. */
  manifestGet: number;
  /** `PUT /v2/<name>/manifests/<ref>`. */
  manifestPut: number;
  /** `HEAD /v2/<name>/blobs/<digest>`. */
  blobHead: number;
  /** `GET /v2/<name>/blobs/<digest>`. */
  blobGet: number;
  /** `POST`, `PATCH`, `PUT` and `DELETE` of `/v2/<name>/blobs/uploads/…` (mounts included). */
  blobUpload: number;
  /** `GET /v2/<name>/tags/list` pages. */
  tagList: number;
  /** `GET /v2/_catalog` pages. */
  catalog: number;
  /** Everything else: referrers, a redirect's storage host, deletes. */
  other: number;
}

/** A new, zeroed count. */
export function noRequests(): SyncRequestCounts {
  return { total: 0, manifestHead: 0, manifestGet: 0, manifestPut: 0, blobHead: 0, blobGet: 0, blobUpload: 0, tagList: 0, catalog: 0, other: 0 };
}

/** Which counter a request goes to, from its method and path (a mirror's path prefix before `/v2/` allowed). */
export function requestKind(req: Pick<TransportRequest, 'method' | 'url'>): Exclude<keyof SyncRequestCounts, 'total'> {
  const path = req.url.pathname;
  if (/\/v2\/_catalog$/.test(path)) return 'catalog';
  const m = /\/v2\/.+\/(manifests|blobs|tags|referrers)\/(.*)$/.exec(path);
  if (!m) return 'other';
  const [, kind, rest = ''] = m;
  if (kind === 'manifests') return req.method === 'HEAD' ? 'manifestHead' : req.method === 'GET' ? 'manifestGet' : req.method === 'PUT' ? 'manifestPut' : 'other';
  if (kind === 'tags') return rest === 'list' ? 'tagList' : 'other';
  if (kind === 'blobs') {
    if (rest.startsWith('uploads/') || rest === 'uploads') return 'blobUpload';
    return req.method === 'HEAD' ? 'blobHead' : req.method === 'GET' ? 'blobGet' : 'other';
  }
  return 'other';
}

/** A request the rate-limit budget did not let through: the run stops here, with its report. */
export class RateLimitReserveError extends GantryError {
  /** The registry whose budget is spent. */
  readonly registry: string;
  /** Its last announced `ratelimit-remaining`, when it announced one. */
  readonly remaining: number | undefined;
  /** The reserve the run keeps. */
  readonly reserve: number;

  constructor(registry: string, message: string, remaining: number | undefined, reserve: number) {
    super(ErrorCode.TOO_MANY_REQUESTS, message);
    this.name = 'RateLimitReserveError';
    this.registry = registry;
    this.remaining = remaining;
    this.reserve = reserve;
  }
}

/** Why a gate closed. */
export interface GateClosed {
  /** `rate-limit`: the reserve would have been crossed; `too-many-requests`: the registry answered 429 with its quota spent. */
  readonly reason: 'rate-limit' | 'too-many-requests';
  /** What to tell the user. */
  readonly message: string;
}

/** The bound, counts and budget of one registry in a sync. */
export class RegistryGate {
  /** The registry, `host[:port]`. */
  readonly registry: string;
  /** What was sent, by kind. */
  readonly requests = noRequests();
  /** The rate limit the registry announced last. */
  lastRateLimit: RateLimit | undefined;
  /** Set once the budget is spent: every later request is refused. */
  closed: GateClosed | undefined;
  private inFlight = 0;
  private readonly waiting = new Set<() => void>();

  constructor(
    registry: string,
    private readonly maxRequests: number,
    private readonly reserve: number,
    private readonly onClose: (gate: RegistryGate) => void,
  ) {
    this.registry = registry;
  }

  /** The transport layer that puts every request of a connection through this gate. */
  layer(): Layer {
    return (next) => async (req) => {
      await this.enter(req.signal);
      try {
        this.requests.total++;
        this.requests[requestKind(req)]++;
        const res = await next(req);
        this.observe(res.status, res.headers);
        return res;
      } finally {
        this.leave();
      }
    };
  }

  private refusal(): RateLimitReserveError {
    return new RateLimitReserveError(this.registry, `${this.registry}: ${this.closed?.message ?? 'rate limit reached'}`, this.lastRateLimit?.remaining, this.reserve);
  }

  /** Whether one more request fits the budget now (true while nothing is announced). */
  private fits(): boolean {
    const remaining = this.lastRateLimit?.remaining;
    return remaining === undefined || remaining - this.inFlight - 1 >= this.reserve;
  }

  private close(closed: GateClosed): void {
    if (this.closed) return;
    this.closed = closed;
    for (const wake of this.waiting) wake();
    this.onClose(this);
  }

  private async enter(signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      if (this.closed) throw this.refusal();
      if (signal?.aborted) throw signal.reason instanceof GantryError ? signal.reason : new GantryError(ErrorCode.ABORTED, `${this.registry}: aborted`, { cause: signal.reason });
      if (this.inFlight < this.maxRequests && this.fits()) {
        this.inFlight++;
        return;
      }
      if (this.inFlight === 0) {
        const remaining = this.lastRateLimit?.remaining ?? 0;
        this.close({ reason: 'rate-limit', message: `stopped before the rate limit: ${remaining} requests remain of ${this.lastRateLimit?.limit ?? '?'}, and the reserve is ${this.reserve}` });
        throw this.refusal();
      }
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          this.waiting.delete(wake);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          this.waiting.delete(wake);
          const reason: unknown = signal?.reason;
          reject(reason instanceof GantryError ? reason : new GantryError(ErrorCode.ABORTED, `${this.registry}: aborted`, { cause: reason }));
        };
        this.waiting.add(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  private leave(): void {
    this.inFlight--;
    const first = this.waiting.values().next();
    if (!first.done) first.value();
  }

  private observe(status: number, headers: Parameters<typeof readRateLimit>[0]): void {
    const rl = readRateLimit(headers);
    if (!rl) return;
    this.lastRateLimit = rl;
    if (status === 429) this.close({ reason: 'too-many-requests', message: `the registry answered 429 Too Many Requests with ${rl.remaining ?? 0} of ${rl.limit} requests remaining` });
  }
}

/**
 * The registry's Prometheus metrics (`gantry serve --metrics`, issue 16), on a registry of
 * their own per server (prom-client's `Registry`, never the global default), so two servers in
 * one process never mix their counts.
 *
 *   request → observe (route, method, status, duration, bytes on the wire) → router
 *   scrape  → collect (storage size, upload sessions: computed now, see metrics-storage.ts)
 *
 * Labels are a fixed, small set: `route` is one of {@link ROUTES}, classified from the path
 * here; the repository name is never a label (one series per repository would grow without
 * bound on a registry anyone can push to). `method` is one of the HTTP methods the API uses,
 * else `other`; `status` is the numeric status.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PullThroughCache } from './proxy/cache.js';
import type { Upstream } from './proxy/upstream.js';
import { storageUsage, uploadSessions } from './metrics-storage.js';
import type { Storage } from './storage/types.js';

/** Every value the `route` label takes. */
export const ROUTES = ['base', 'catalog', 'tags', 'manifest', 'blob', 'upload', 'referrers', 'token', 'ui', 'metrics', 'health', 'other'] as const;
export type Route = (typeof ROUTES)[number];

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The route of a raw request path, by the same shapes the router matches (router.ts), without
 * checking the name: a bad name is still a `manifest` request answered 400.
 */
export function routeOf(rawUrl: string): Route {
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (path === '/v2' || path === '/v2/') return 'base';
  if (path === '/v2/_catalog') return 'catalog';
  if (path.startsWith('/v2/')) {
    if (/\/blobs\/uploads(\/[^/]*)?$/.test(path)) return 'upload';
    if (/\/blobs\/[^/]+$/.test(path)) return 'blob';
    if (/\/manifests\/[^/]+$/.test(path)) return 'manifest';
    if (/\/tags\/list$/.test(path)) return 'tags';
    if (/\/referrers\/[^/]+$/.test(path)) return 'referrers';
    return 'other';
  }
  if (path === '/token') return 'token';
  if (path === '/ui' || path.startsWith('/ui/')) return 'ui';
  if (path === '/metrics') return 'metrics';
  if (path === '/healthz' || path === '/readyz') return 'health';
  return 'other';
}

/**
 * Request latencies, in seconds: from a HEAD answered from memory (ms) to a layer upload over a
 * slow link (minutes); prom-client's default buckets stop at 10 s.
 */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Per request: whether its answer needed the upstream (proxy mode); see {@link RegistryMetrics.upstreamUsed}. */
interface RequestTrace {
  upstream: boolean;
}

export class RegistryMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'route' | 'method' | 'status'>;
  private readonly bytesIn: Counter<'route'>;
  private readonly bytesOut: Counter<'route'>;
  private readonly inFlight: Gauge<'route'>;
  private readonly cache: Counter<'kind' | 'result'>;
  private readonly upstreamRequests: Counter<'operation'>;
  private readonly trace = new AsyncLocalStorage<RequestTrace>();
  /** Wire bytes of a keep-alive socket already counted for its earlier requests. */
  private readonly counted = new WeakMap<Socket, { read: number; written: number }>();

  /** `proxied`: the server is a pull-through cache, so the cache counters are shown (at 0) from the start. */
  constructor(storage: Storage, private readonly proxied: boolean) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'gantry_' });
    const labels = ['route', 'method', 'status'] as const;
    this.requests = new Counter({ name: 'gantry_http_requests_total', help: 'HTTP requests answered, by route, method and status.', labelNames: labels, registers });
    this.duration = new Histogram({ name: 'gantry_http_request_duration_seconds', help: 'Time from a request\'s headers to the end of its response.', labelNames: labels, buckets: DURATION_BUCKETS, registers });
    this.bytesIn = new Counter({ name: 'gantry_http_request_bytes_total', help: 'Bytes received (headers and bodies, as on the wire), by route.', labelNames: ['route'], registers });
    this.bytesOut = new Counter({ name: 'gantry_http_response_bytes_total', help: 'Bytes sent (headers and bodies, as on the wire), by route.', labelNames: ['route'], registers });
    this.inFlight = new Gauge({ name: 'gantry_http_requests_in_flight', help: 'Requests being received or answered now, by route (route="upload": uploads sending data).', labelNames: ['route'], registers });
    this.cache = new Counter({ name: 'gantry_proxy_cache_requests_total', help: 'Pull-through cache reads (GET/HEAD of manifests and blobs answered 2xx): hit = from storage, miss = the upstream was asked.', labelNames: ['kind', 'result'], registers });
    this.upstreamRequests = new Counter({ name: 'gantry_proxy_upstream_requests_total', help: 'Requests the pull-through cache made to its upstream, by operation.', labelNames: ['operation'], registers });
    if (proxied) {
      for (const kind of ['manifest', 'blob']) for (const result of ['hit', 'miss']) this.cache.inc({ kind, result }, 0);
    }
    new Gauge({
      name: 'gantry_upload_sessions',
      help: 'Upload sessions open in storage (started, neither committed, cancelled nor purged).',
      registers,
      async collect() {
        this.set(await uploadSessions(storage));
      },
    });
    const usage = (): ReturnType<typeof storageUsage> => storageUsage(storage);
    new Gauge({
      name: 'gantry_storage_blob_bytes',
      help: 'Bytes of the blobs in storage (manifests included), from a bounded walk at most a minute old.',
      registers,
      async collect() {
        this.set((await usage()).bytes);
      },
    });
    new Gauge({
      name: 'gantry_storage_blobs',
      help: 'Blobs in storage (manifests included).',
      registers,
      async collect() {
        this.set((await usage()).blobs);
      },
    });
    new Gauge({
      name: 'gantry_storage_walk_complete',
      help: '1 when the storage gauges counted every blob, 0 when the walk stopped at its bound.',
      registers,
      async collect() {
        this.set((await usage()).complete ? 1 : 0);
      },
    });
  }

  /** Counts one request once its response closes, and runs `next` in its trace. */
  observe(req: IncomingMessage, res: ServerResponse, next: () => void): void {
    const started = process.hrtime.bigint();
    const route = routeOf(req.url ?? '/');
    const method = METHODS.has(req.method ?? '') ? (req.method as string) : 'other';
    const trace: RequestTrace = { upstream: false };
    this.inFlight.inc({ route });
    res.once('close', () => {
      this.inFlight.dec({ route });
      const labels = { route, method, status: String(res.statusCode) };
      this.requests.inc(labels);
      this.duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      const socket = req.socket;
      const before = this.counted.get(socket) ?? { read: 0, written: 0 };
      // Everything read from the socket since its previous request: this request's headers and body.
      const now = { read: socket.bytesRead ?? before.read, written: socket.bytesWritten ?? before.written };
      this.bytesIn.inc({ route }, Math.max(0, now.read - before.read));
      this.bytesOut.inc({ route }, Math.max(0, now.written - before.written));
      this.counted.set(socket, now);
      if ((route === 'manifest' || route === 'blob') && (method === 'GET' || method === 'HEAD') && res.statusCode >= 200 && res.statusCode < 300 && this.proxied) {
        this.cache.inc({ kind: route, result: trace.upstream ? 'miss' : 'hit' });
      }
    });
    this.trace.run(trace, next);
  }

  /**
   * The upstream, counted: each call is an upstream request, and a fetch (or a blob HEAD) marks
   * the request it runs for (AsyncLocalStorage) as a cache miss; a tag's revalidation HEAD does not. A request that joins a blob fetch another started is
   * marked by {@link upstreamUsed} from the cache's blob lookup instead.
   */
  countUpstream(upstream: Upstream): Upstream {
    const mark = (operation: string, miss = true): void => {
      this.upstreamRequests.inc({ operation });
      if (miss) this.upstreamUsed();
    };
    return {
      getManifest: (repository, reference) => (mark('get_manifest'), upstream.getManifest(repository, reference)),
      // A tag revalidation: the manifest is still served from storage when the digest matches (a hit).
      headManifest: (repository, reference) => (mark('head_manifest', false), upstream.headManifest(repository, reference)),
      headBlob: (repository, digest) => (mark('head_blob'), upstream.headBlob(repository, digest)),
      getBlob: (repository, digest, options) => (mark('get_blob'), upstream.getBlob(repository, digest, options)),
      close: () => upstream.close(),
    };
  }

  /**
   * Marks, as misses, the requests that join a blob fetch in flight (the handler asks the cache
   * only for blobs storage lacks; `'stored'` means it was stored meanwhile: a hit). The cache
   * itself stays unaware of metrics.
   */
  countCacheJoins(cache: PullThroughCache): void {
    const blob = cache.blob.bind(cache);
    cache.blob = async (repository, digest) => {
      const found = await blob(repository, digest);
      if (found !== 'stored') this.upstreamUsed();
      return found;
    };
  }

  /** Marks the current request as answered through the upstream. */
  upstreamUsed(): void {
    const t = this.trace.getStore();
    if (t) t.upstream = true;
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

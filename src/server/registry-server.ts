/**
 * `createRegistryServer`: the embedded registry, an OCI distribution spec v1.1 registry on
 * `node:http`/`node:https` (no framework) over directory or in-memory storage.
 *
 *   request → router (route, name check, auth, log line) → handler → storage
 *
 * Password checks run in worker threads behind a per-address throttle (auth-throttle.ts); a
 * timer removes abandoned upload sessions while the server runs. In proxy mode the handlers read
 * through a pull-through cache of one upstream (proxy/cache.ts), whose client the caller's
 * `proxy.connect` builds.
 *
 * Before the router, the request listener answers `/healthz`, `/readyz` and (with `metrics`)
 * `/metrics` (metrics-http.ts), and counts every request for the metrics (metrics.ts).
 */
import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { parseOwnerTag, removeStaleTemps, tempOwnerTag } from '../fs/stale-temp.js';
import { createAuthorizer } from './auth.js';
import { AuthThrottle, OPEN_GUARD } from './auth-throttle.js';
import type { RegistryMetrics } from './metrics.js';
import { createOperations } from './metrics-http.js';
import { resolveOptions, type RegistryServerOptions, type ResolvedProxyOptions } from './options.js';
import { PullThroughCache } from './proxy/cache.js';
import { createRouter } from './router.js';
import { openFilesystemStorage } from './storage/filesystem.js';
import { createMemoryStorage } from './storage/memory.js';
import type { Storage } from './storage/types.js';

/** A running embedded registry. */
export interface RegistryServer {
  /** `http://host:port` or `https://host:port` (IPv6 hosts in brackets). */
  readonly url: string;
  /** The address it is bound to (`127.0.0.1`, `::1`). */
  readonly host: string;
  /** The bound port (the real one when `listen.port` was 0). */
  readonly port: number;
  /** `http://host:port` of the separate metrics listener (`metrics.listen`); undefined without one. */
  readonly metricsUrl: string | undefined;
  /** @internal The storage behind it (tests look inside). */
  readonly storage: Storage;
  /** Stops accepting connections, closes idle and active ones, and releases storage. */
  close(): Promise<void>;
}

/**
 * Idle keep-alive sockets stay open this long: longer than clients' own idle timeouts
 * (undici 4 s, Go 90 s would reconnect anyway), so the client, not the server, closes them
 * and a request never races a server-side close.
 */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * Starts an embedded registry (see {@link RegistryServerOptions}; default plain HTTP on
 * `127.0.0.1:5000`, no auth, storage in `./gantry-registry`) and resolves once it is listening.
 * Rejects with an `InvalidOptionError` or `ConfigError` for bad options or unreadable files, or
 * with the listen error (e.g. `EADDRINUSE`) after closing the storage again.
 */
export async function createRegistryServer(options: RegistryServerOptions = {}): Promise<RegistryServer> {
  const resolved = await resolveOptions(options);
  const purging = resolved.uploadPurging;
  const storage = resolved.storage === 'memory' ? createMemoryStorage() : await openFilesystemStorage(resolved.storage, purging.enabled ? purging.ageMs : undefined);
  let url = '';
  const auth = resolved.auth;
  const guard = resolved.authThrottle ? new AuthThrottle(resolved.authThrottle) : OPEN_GUARD;
  let proxy: ProxyMode | undefined;
  let router: ReturnType<typeof createRouter>;
  let authorizer: Awaited<ReturnType<typeof createAuthorizer>>;
  // Loaded only with metrics: prom-client is the largest module here, and most servers do without it.
  const metrics = resolved.metrics ? new (await import('./metrics.js')).RegistryMetrics(storage, resolved.proxy !== undefined) : undefined;
  try {
    authorizer = await createAuthorizer(auth, () => `${url}/token`, guard);
    if (resolved.proxy) proxy = await startProxyMode(resolved.proxy, storage, resolved.log, metrics);
    router = createRouter({
      storage,
      authorizer,
      deleteEnabled: resolved.deleteEnabled,
      ui: resolved.ui,
      ...(resolved.log ? { log: resolved.log } : {}),
      ...(auth.type === 'token' && auth.realm === undefined ? { tokenEndpoint: (req, res) => auth.issuer.handle(req, res, guard) } : {}),
      ...(proxy ? { cache: proxy.cache } : {}),
    });
  } catch (err) {
    await storage.close();
    throw err;
  }

  let stopping = false;
  const separateMetrics = resolved.metrics?.listen;
  const operationsOptions = { storage, closing: () => stopping };
  const operations = createOperations({ ...operationsOptions, ...(metrics && !separateMetrics ? { metrics } : {}) }, authorizer);
  const answer = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    if (!operations(req, res)) router(req, res);
  };
  const listener = metrics ? (req: http.IncomingMessage, res: http.ServerResponse) => metrics.observe(req, res, () => answer(req, res)) : answer;

  // Large uploads take as long as they take: no whole-request timeout, only a headers one.
  const serverOptions = { keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, requestTimeout: 0, headersTimeout: 60_000 };
  const server = resolved.tls
    ? https.createServer({
        ...serverOptions,
        cert: resolved.tls.cert,
        key: resolved.tls.key,
        ...(resolved.tls.clientCa ? { ca: resolved.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
      }, listener)
    : http.createServer(serverOptions, listener);
  // The metrics listener: plain HTTP, no auth (see metrics-http.ts); /healthz and /readyz too.
  const metricsServer = separateMetrics && metrics ? http.createServer(serverOptions, openOperations(createOperations({ ...operationsOptions, metrics }))) : undefined;

  try {
    await listen(server, resolved.port, resolved.host);
    if (metricsServer && separateMetrics) await listen(metricsServer, separateMetrics.port, separateMetrics.host);
  } catch (err) {
    await closeServer(server, 0);
    await proxy?.close();
    await storage.close();
    throw err;
  }
  url = urlOf(server, resolved.tls ? 'https' : 'http');
  const address = server.address() as AddressInfo;

  const purge = purging.enabled ? startUploadPurging(storage, purging.ageMs, purging.intervalMs, resolved.log) : undefined;

  let closing: Promise<void> | undefined;
  return {
    url,
    host: address.address,
    port: address.port,
    metricsUrl: metricsServer ? urlOf(metricsServer, 'http') : undefined,
    storage,
    close() {
      stopping = true;
      closing ??= closeServer(server, resolved.drainTimeoutMs)
        .then(() => purge?.stop())
        .then(() => proxy?.close())
        .then(() => (metricsServer ? closeServer(metricsServer, 0) : undefined))
        .then(() => storage.close());
      return closing;
    },
  };
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function urlOf(server: http.Server, scheme: 'http' | 'https'): string {
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${hostForUrl}:${address.port}`;
}

/**
 * Stops accepting connections; requests in progress get `drainMs` to finish (idle keep-alive
 * connections close at once), then every connection is cut. Resolves when the server is closed.
 */
function closeServer(server: http.Server, drainMs: number): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    if (drainMs > 0) {
      server.closeIdleConnections();
      timer = setTimeout(() => server.closeAllConnections(), drainMs);
      timer.unref();
    } else {
      server.closeAllConnections();
    }
  });
}

/** The metrics listener's request listener: the operations endpoints, 404 for anything else. */
function openOperations(operations: ReturnType<typeof createOperations>): http.RequestListener {
  return (req, res) => {
    if (operations(req, res)) return;
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 9 });
    res.end('not found');
  };
}

interface ProxyMode {
  cache: PullThroughCache;
  /** Cancels blobs in flight, closes the upstream, removes the spool directory. */
  close(): Promise<void>;
}

/** The spool folder of directory storage, beside (never inside) its own layout. */
const STORAGE_SPOOL = 'proxy-spool';

/** A spool directory's name: `gantry-spool-<pid>-<host>-<random>` (fs/stale-temp.ts's owner tag). */
const SPOOL_PREFIX = 'gantry-spool-';

/**
 * Connects the upstream and makes the cache. The spool lives in a directory of this server's
 * own, named with its owner tag, under `spoolDir`, `<storage>/proxy-spool` or the system's
 * temporary directory. The spool directories a crash left there are removed now, by the rule
 * of fs/stale-temp.ts: a dead pid of this host, or a day without a change. Another server's
 * live spool (two servers on one storage) is left alone.
 */
async function startProxyMode(options: ResolvedProxyOptions, storage: Storage, log: ((line: string) => void) | undefined, metrics: RegistryMetrics | undefined): Promise<ProxyMode> {
  const base = options.spoolDir ?? (storage.location !== 'memory' ? join(resolvePath(storage.location), STORAGE_SPOOL) : tmpdir());
  await mkdir(base, { recursive: true });
  await removeStaleTemps(base, (name) => (name.startsWith(SPOOL_PREFIX) ? { owner: parseOwnerTag(name) } : undefined));
  const spoolDir = join(base, `${SPOOL_PREFIX}${tempOwnerTag()}`);
  await mkdir(spoolDir, { mode: 0o700 });
  let upstream;
  try {
    upstream = await options.connect(options.remote);
  } catch (err) {
    await rm(spoolDir, { recursive: true, force: true });
    throw err;
  }
  if (metrics) upstream = metrics.countUpstream(upstream);
  const cache = new PullThroughCache({ storage, upstream, tagTtlMs: options.tagTtlMs, spoolDir, ...(log ? { log } : {}) });
  if (metrics) metrics.countCacheJoins(cache);
  let closing: Promise<void> | undefined;
  return {
    cache,
    close() {
      closing ??= cache
        .close()
        .then(() => upstream.close())
        .finally(() => rm(spoolDir, { recursive: true, force: true }));
      return closing;
    },
  };
}

/**
 * Every `intervalMs`, removes the upload sessions started `ageMs` or longer ago. The timer does
 * not keep the process alive; a run still going when the next is due is not doubled; `stop`
 * clears the timer and waits for a run in progress, so storage is not closed under it.
 */
function startUploadPurging(storage: Storage, ageMs: number, intervalMs: number, log: ((line: string) => void) | undefined): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= storage
      .purgeUploads(ageMs)
      .then(
        (removed) => {
          if (removed > 0) log?.(`upload purging: removed ${removed} session(s) older than ${ageMs / 1000}s`);
        },
        (err: unknown) => log?.(`upload purging failed: ${(err as Error)?.message ?? String(err)}`),
      )
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

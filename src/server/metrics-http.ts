/**
 * The operations endpoints, answered before the router (registry-server.ts) so they need no
 * route of its own:
 *
 *   /healthz   liveness: 200 `ok` while the process answers; no auth (a probe has no credentials)
 *   /readyz    readiness: 200 `ready` when storage answers, 503 while closing or when it does not
 *   /metrics   Prometheus exposition text (metrics.ts), with `--metrics`
 *
 * Where /metrics needs auth follows the CNCF registry, whose `http.debug` server (metrics,
 * health) is unauthenticated on a separate address: on the metrics listener (`--metrics-listen`)
 * it is open, so bind that to loopback or an internal network; on the registry's own address it
 * is behind the registry's auth, any authenticated user (the base check of `/v2/`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authorizer } from './auth.js';
import { RegistryRequestError } from './errors.js';
import { send, sendError } from './http.js';
import type { RegistryMetrics } from './metrics.js';
import type { Storage } from './storage/types.js';

/** A readiness probe waits this long for storage: probes time out at 1 s by default (Kubernetes). */
export const READY_PROBE_TIMEOUT_MS = 900;

/** A lookup every storage answers cheaply (one stat on disk): a tag no repository can have. */
const PROBE_REPOSITORY = 'gantry-readiness-probe';
const PROBE_TAG = 'probe';

export interface OperationsOptions {
  storage: Storage;
  /** Absent: /metrics is not served. */
  metrics?: RegistryMetrics;
  /** Whether the server is closing (readiness then answers 503). */
  closing(): boolean;
}

export type OperationsHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The path of a raw request URL, without its query. */
function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q < 0 ? raw : raw.slice(0, q);
}

/**
 * Answers an operations request and returns true, or returns false for any other path.
 * `authorizer`: /metrics is behind it (the registry's own address); absent, it is open.
 */
export function createOperations(options: OperationsOptions, authorizer?: Authorizer): OperationsHandler {
  const { storage, metrics, closing } = options;
  const text = (res: ServerResponse, status: number, body: string, head: boolean): void => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(head ? undefined : body);
  };
  async function ready(): Promise<boolean> {
    if (closing()) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), READY_PROBE_TIMEOUT_MS);
    });
    try {
      return await Promise.race([storage.resolveTag(PROBE_REPOSITORY, PROBE_TAG).then(() => !closing()), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
  async function scrape(req: IncomingMessage, res: ServerResponse, m: RegistryMetrics): Promise<void> {
    try {
      await authorizer?.authorize(req, undefined);
    } catch (err) {
      if (err instanceof RegistryRequestError) return sendError(res, err, req.method === 'HEAD');
      throw err;
    }
    const { contentType, body } = await m.scrape();
    send(res, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }, req.method === 'HEAD' ? undefined : body);
  }
  const fail = (res: ServerResponse) => (err: unknown): void => {
    if (res.headersSent) res.destroy();
    else text(res, 500, `error: ${(err as Error)?.message ?? String(err)}\n`, false);
  };

  return (req, res) => {
    const path = pathOf(req.url);
    const head = req.method === 'HEAD';
    if (path !== '/healthz' && path !== '/readyz' && !(path === '/metrics' && metrics)) return false;
    if (req.method !== 'GET' && !head) {
      res.setHeader('Allow', 'GET, HEAD');
      text(res, 405, 'method not allowed', false);
      return true;
    }
    if (path === '/healthz') text(res, 200, 'ok', head);
    else if (path === '/readyz') ready().then((ok) => text(res, ok ? 200 : 503, ok ? 'ready' : closing() ? 'closing' : 'storage not answering', head), fail(res));
    else scrape(req, res, metrics as RegistryMetrics).catch(fail(res));
    return true;
  };
}

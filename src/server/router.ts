/**
 * Maps `/v2/...` paths to handlers, checks access first, and writes the one log line per
 * request. Paths are matched on their raw (undecoded) form: a repository name must match the
 * spec's grammar as sent, so `%2e%2e` and friends never reach storage.
 *
 *   /v2/                                  base (auth check)
 *   /v2/_catalog                          catalog
 *   /v2/<name>/manifests/<reference>      manifests
 *   /v2/<name>/blobs/uploads/[<id>]       uploads
 *   /v2/<name>/blobs/<digest>             blobs
 *   /v2/<name>/tags/list                  tags
 *   /v2/<name>/referrers/<digest>         referrers
 *   /ui/…                                 the web view, with `ui` (ui/ui-route.ts)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { REMOTE_NAME_RE } from '../ref/grammar.js';
import { redactUrl } from '../redact.js';
import type { Authorizer, Scope } from './auth.js';
import type { Handler } from './context.js';
import { RegistryErrorCode, RegistryRequestError, unsupported } from './errors.js';
import { deleteBlob, getBlob } from './handlers/blobs.js';
import { deleteManifest, getManifest, putManifest } from './handlers/manifests.js';
import { getReferrers } from './handlers/referrers.js';
import { getCatalog, getTags } from './handlers/tags.js';
import { cancelUpload, getUpload, patchUpload, putUpload, startUpload } from './handlers/uploads.js';
import { send, sendError, sendJson } from './http.js';
import type { PullThroughCache } from './proxy/cache.js';
import { pushRefused } from './proxy/errors.js';
import type { Storage } from './storage/types.js';
import { createUiRoute, isUiPath } from './ui/ui-route.js';

const NAME_MAX = 255;

type Methods = Partial<Record<string, Handler>>;

/** The routes; with a pull-through cache, manifest and blob reads go through it. */
function routes(cache: PullThroughCache | undefined): Array<{ re: RegExp; methods: Methods }> {
  const readManifest: Handler = cache ? (ctx) => getManifest(ctx, cache) : (ctx) => getManifest(ctx);
  const readBlob: Handler = cache ? (ctx) => getBlob(ctx, cache) : (ctx) => getBlob(ctx);
  return [
    { re: /^\/v2\/(.+)\/blobs\/uploads\/?$/, methods: { POST: startUpload } },
    { re: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, methods: { GET: getUpload, PATCH: patchUpload, PUT: putUpload, DELETE: cancelUpload } },
    { re: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: readBlob, HEAD: readBlob, DELETE: deleteBlob } },
    { re: /^\/v2\/(.+)\/manifests\/([^/]+)$/, methods: { GET: readManifest, HEAD: readManifest, PUT: putManifest, DELETE: deleteManifest } },
    { re: /^\/v2\/(.+)\/tags\/(list)$/, methods: { GET: getTags, HEAD: getTags } },
    { re: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: getReferrers, HEAD: getReferrers } },
  ];
}

export interface RouterOptions {
  storage: Storage;
  authorizer: Authorizer;
  deleteEnabled: boolean;
  log?: (line: string) => void;
  /** Serves `/token` when the registry is its own token realm. */
  tokenEndpoint?: (req: IncomingMessage, res: ServerResponse) => unknown;
  /**
   * Proxy mode: reads of what storage lacks go to the upstream through this cache, and every
   * write (uploads, manifest PUTs, deletes) is refused with UNSUPPORTED, before authorization,
   * as the CNCF registry's proxy does.
   */
  cache?: PullThroughCache;
  /**
   * Serves the web view at `/ui/` (`gantry serve --ui`), read-only, behind `authorizer` as the
   * API is (docs/serve-ui.md). Default false: `/ui/` is a 404 like any unknown path.
   */
  ui?: boolean;
}

function scopeFor(method: string, name: string): Scope {
  if (method === 'GET' || method === 'HEAD') return { type: 'repository', name, actions: ['pull'] };
  if (method === 'DELETE') return { type: 'repository', name, actions: ['delete'] };
  return { type: 'repository', name, actions: ['pull', 'push'] };
}

export function createRouter(options: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { storage, authorizer, deleteEnabled, log, tokenEndpoint, cache } = options;
  const ROUTES = routes(cache);
  const ui = options.ui ? createUiRoute({ authorizer }) : undefined;

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    // The path as sent: WHATWG URL parsing would resolve `..` segments before the name check.
    const raw = req.url ?? '/';
    const queryAt = raw.indexOf('?');
    const path = queryAt < 0 ? raw : raw.slice(0, queryAt);
    const url = new URL(queryAt < 0 ? '' : raw.slice(queryAt), 'http://registry.invalid/');
    const head = method === 'HEAD';
    if (tokenEndpoint && path === '/token') {
      await tokenEndpoint(req, res);
      return;
    }
    if (ui && isUiPath(path)) return ui(req, res, path);
    if (path === '/v2' || path === '/v2/') {
      await authorizer.authorize(req, undefined);
      return sendJson(res, 200, {});
    }
    if (path === '/v2/_catalog') {
      if (method !== 'GET' && method !== 'HEAD') throw unsupported(`${method} is not allowed on the catalog`);
      const grant = await authorizer.authorize(req, { type: 'registry', name: 'catalog', actions: ['*'] });
      return getCatalog({ req, res, url, name: '', ref: '', storage, grant, deleteEnabled, head });
    }
    for (const route of ROUTES) {
      const m = route.re.exec(path);
      if (!m) continue;
      const name = m[1] as string;
      if (name.length > NAME_MAX || !REMOTE_NAME_RE.test(name)) {
        throw new RegistryRequestError(400, RegistryErrorCode.NAME_INVALID, 'invalid repository name', { name: name.slice(0, NAME_MAX) });
      }
      const handler = route.methods[method];
      if (!handler) throw unsupported(`${method} is not allowed here`);
      if (cache && method !== 'GET' && method !== 'HEAD') throw pushRefused(method);
      if (method === 'DELETE' && !deleteEnabled) throw unsupported('deletion is disabled on this registry');
      const grant = await authorizer.authorize(req, scopeFor(method, name));
      return handler({ req, res, url, name, ref: m[2] ?? '', storage, grant, deleteEnabled, head });
    }
    throw new RegistryRequestError(404, RegistryErrorCode.NAME_UNKNOWN, 'no such endpoint', { path });
  }

  return (req, res) => {
    const started = process.hrtime.bigint();
    const socket = req.socket;
    const written0 = socket.bytesWritten;
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
    if (log) {
      res.once('close', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const path = redactUrl(new URL(req.url ?? '/', 'http://registry.invalid')).replace('http://registry.invalid', '');
        const status = res.writableFinished ? String(res.statusCode) : `${res.statusCode}(aborted)`;
        // Bytes the response put on the wire (headers included): what the client received.
        log(`${req.method} ${path} ${status} ${socket.bytesWritten - written0}B ${ms.toFixed(1)}ms`);
      });
    }
    dispatch(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof RegistryRequestError) {
        // An unread request body would otherwise be parsed as the next request on this socket.
        if (!req.complete) res.setHeader('Connection', 'close');
        sendError(res, err, req.method === 'HEAD');
        return;
      }
      if (isClientAbort(err)) {
        res.destroy();
        return;
      }
      log?.(`${req.method} ${redactUrl(new URL(req.url ?? '/', 'http://registry.invalid')).replace('http://registry.invalid', '')} internal error: ${(err as Error)?.message ?? String(err)}`);
      if (!req.complete) res.setHeader('Connection', 'close');
      send(res, 500, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'internal server error' }] }));
    });
  };
}

function isClientAbort(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

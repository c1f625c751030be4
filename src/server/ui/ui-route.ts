/**
 * `/ui/`: the web view of `gantry serve --ui` (issue 16, "A web view"). It serves the static
 * app in ./app/, read-only (GET and HEAD), behind the same auth as the API:
 *
 * - htpasswd: the page itself needs Basic credentials, so the 401's `WWW-Authenticate: Basic`
 *   makes the browser prompt, and the browser then sends them to `/v2/` as well;
 * - token auth: a browser cannot send a bearer token on a navigation, so the app's files are
 *   served (they hold no registry data) and the app shows a login form, gets a token from the
 *   registry's `/token` and sends it as `Bearer` on its `/v2/` calls.
 *
 * Every answer carries a strict Content-Security-Policy (scripts, styles and fetches from this
 * origin only, no inline code, Trusted Types so no string can become HTML) and `nosniff`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authorizer } from '../auth.js';
import { RegistryRequestError } from '../errors.js';
import { loadAppFiles, type AppFile } from './static.js';

/** Where the app lives; the router sends `/ui` and everything under `/ui/` here. */
export const UI_PREFIX = '/ui/';

/**
 * The policy of every `/ui/` answer. `require-trusted-types-for 'script'` with no policy allowed
 * makes the browser refuse any string assigned to `innerHTML` and friends: the app can only
 * build the page with `createElement` and `textContent`.
 */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

/** The headers on every `/ui/` answer, errors included. */
export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': UI_CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export interface UiRouteOptions {
  authorizer: Authorizer;
  /** The app's files; default: read from the package (static.ts). */
  files?: Map<string, AppFile>;
}

/** True for the paths the UI answers: `/ui` and everything under `/ui/`. */
export function isUiPath(path: string): boolean {
  return path === '/ui' || path.startsWith(UI_PREFIX);
}

/**
 * The `/ui/` handler. `path` is the request's raw path (no query, not decoded): a file is
 * served only when the rest of the path is exactly the name of one of the app's files.
 */
export function createUiRoute(options: UiRouteOptions): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> {
  const { authorizer } = options;
  const files = options.files ?? loadAppFiles();

  return async (req, res, path) => {
    const method = req.method ?? 'GET';
    // Set first, so the router's error answers (a 401, a 429) carry them too.
    for (const [key, value] of Object.entries(UI_SECURITY_HEADERS)) res.setHeader(key, value);
    if (method !== 'GET' && method !== 'HEAD') {
      return plain(res, 405, `${method} is not allowed here: the web view is read-only\n`, { Allow: 'GET, HEAD' }, method === 'HEAD');
    }
    await admit(authorizer, req);
    if (path === '/ui') return plain(res, 301, 'moved to /ui/\n', { Location: UI_PREFIX }, method === 'HEAD');
    const name = path === UI_PREFIX ? 'index.html' : path.slice(UI_PREFIX.length);
    const file = files.get(name);
    if (!file) return plain(res, 404, 'not found\n', {}, method === 'HEAD');
    const headers = {
      'Content-Type': file.contentType,
      'Content-Length': file.body.length,
      ETag: file.etag,
      // Revalidated every time: a new gantry's app must not run against a cached old module.
      'Cache-Control': 'no-cache',
    };
    if (req.headers['if-none-match'] === file.etag) {
      res.writeHead(304, { ETag: file.etag, 'Cache-Control': 'no-cache' });
      res.end();
      return;
    }
    res.writeHead(200, headers);
    res.end(method === 'HEAD' ? undefined : file.body);
  };
}

/**
 * The API's own check, with no scope (as `/v2/`). A Basic refusal goes out as is, so the
 * browser prompts; a Bearer refusal is let through: the app logs in itself.
 */
async function admit(authorizer: Authorizer, req: IncomingMessage): Promise<void> {
  try {
    await authorizer.authorize(req, undefined);
  } catch (err) {
    if (err instanceof RegistryRequestError && err.status === 401 && /^Bearer\b/i.test(String(err.headers['WWW-Authenticate'] ?? ''))) return;
    throw err;
  }
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string>, head: boolean): void {
  const body = Buffer.from(text);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'no-cache', ...headers });
  res.end(head ? undefined : body);
}

/**
 * Token requests as they arrive at the realm, parsed before any credential is checked:
 *   - `GET realm?service=…&scope=…&scope=…[&offline_token=true]`, optional Basic auth
 *     (https://distribution.github.io/distribution/spec/auth/token/);
 *   - the OAuth2 form `POST realm` with `grant_type` `password` or `refresh_token`,
 *     `client_id` required, scopes space-separated in one `scope` field, `access_type=offline`
 *     for a refresh token (https://distribution.github.io/distribution/spec/auth/oauth/).
 * A request that is malformed fails here with the status the endpoint answers; the
 * issuer (issuer.ts) checks the credentials and grants.
 */
import type { IncomingMessage } from 'node:http';
import type { Scope } from '../../ref/scope.js';
import { parseScope } from '../../ref/scope.js';

/** The largest OAuth2 form body read: a form holds a few short fields, never megabytes. */
export const MAX_FORM_BYTES = 64 * 1024;

/** A refusal of the token endpoint: status, the registry-style error code, extra headers. */
export class TokenRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const unauthorized = (): TokenRequestError => new TokenRequestError(401, 'UNAUTHORIZED', 'authentication required');
const unsupported = (message: string): TokenRequestError => new TokenRequestError(400, 'UNSUPPORTED', message);

/** Who the request claims to be; nothing here is checked yet. */
export type TokenCredentials =
  | { type: 'anonymous' }
  | { type: 'password'; username: string; password: string }
  | { type: 'refresh'; refreshToken: string };

export interface TokenRequest {
  /** The `service` parameter; null when the request has none. */
  service: string | null;
  scopes: Scope[];
  credentials: TokenCredentials;
  /** Whether a refresh token is asked for (GET `offline_token=true` with credentials, POST `access_type=offline`). */
  offline: boolean;
}

/**
 * Parses a token request. Throws TokenRequestError: 405 for a method other than GET and POST,
 * 400 for a bad scope, a missing `client_id` or an unknown grant type, 401 for a malformed
 * `Authorization` header, 413 for a form over MAX_FORM_BYTES.
 */
export async function parseTokenRequest(req: IncomingMessage): Promise<TokenRequest> {
  const url = new URL(req.url ?? '/', 'http://issuer.invalid');
  if (req.method === 'GET') {
    const scopes = parseScopes(url.searchParams.getAll('scope').flatMap((s) => s.split(' ')));
    const credentials = basicCredentials(req.headers.authorization);
    return {
      service: url.searchParams.get('service'),
      scopes,
      credentials,
      offline: url.searchParams.get('offline_token') === 'true' && credentials.type !== 'anonymous',
    };
  }
  if (req.method === 'POST') {
    const form = new URLSearchParams(await readForm(req));
    const service = form.get('service');
    if (!form.get('client_id')) throw unsupported('missing client_id');
    const scopes = parseScopes((form.get('scope') ?? '').split(' '));
    const grant = form.get('grant_type');
    if (grant === 'password') {
      const credentials: TokenCredentials = { type: 'password', username: form.get('username') ?? '', password: form.get('password') ?? '' };
      return { service, scopes, credentials, offline: form.get('access_type') === 'offline' };
    }
    if (grant === 'refresh_token') {
      return { service, scopes, credentials: { type: 'refresh', refreshToken: form.get('refresh_token') ?? '' }, offline: false };
    }
    throw unsupported('unsupported grant_type');
  }
  throw new TokenRequestError(405, 'UNSUPPORTED', 'method not allowed');
}

/** No header is anonymous; a header that is not `Basic user:password` (user non-empty) is 401. */
function basicCredentials(header: string | undefined): TokenCredentials {
  if (!header) return { type: 'anonymous' };
  const m = /^basic\s+(\S+)$/i.exec(header);
  if (!m) throw unauthorized();
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw unauthorized();
  return { type: 'password', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function parseScopes(texts: readonly string[]): Scope[] {
  const out: Scope[] = [];
  for (const t of texts) {
    if (t === '') continue;
    const s = parseScope(t);
    if (!s) throw unsupported('invalid scope');
    out.push(s);
  }
  return out;
}

function readForm(req: IncomingMessage): Promise<string> {
  return new Promise((resolveForm, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        reject(new TokenRequestError(413, 'UNSUPPORTED', 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolveForm(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

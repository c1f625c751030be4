/**
 * Errors from token servers and registries on the auth path, mapped the way Docker's
 * `HandleErrorResponse` does (distribution `registry/client/errors.go`, now
 * https://github.com/distribution/distribution/blob/main/internal/client/errors.go; the rules
 * are in docs/docker-rules.md#token-auth), and rendered with Docker's errcode wording so users
 * see `denied: requested access to the resource is denied`, not a bare status.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { ERRCODE_MESSAGES, errcodeText, parseErrorDocument, type RegistryErrorEntry } from '../transport/errors.js';
import { parseWwwAuthenticate } from './challenge.js';

export type { RegistryErrorEntry };

function renderAll(errors: readonly RegistryErrorEntry[]): string {
  if (errors.length === 1) return errcodeText(errors[0] as RegistryErrorEntry);
  return `errors:\n${errors.map((e) => `${errcodeText(e)}\n`).join('')}`;
}

const CODE_FOR: Record<string, ErrorCode> = {
  UNAUTHORIZED: ErrorCode.UNAUTHORIZED,
  DENIED: ErrorCode.DENIED,
  TOOMANYREQUESTS: ErrorCode.TOO_MANY_REQUESTS,
};

/** An auth failure with the server's own error list; `code` is chosen by its first entry. */
export class AuthError extends GantryError {
  readonly status: number;
  readonly errors: RegistryErrorEntry[];
  /** The redacted URL that answered, when the caller gave it. */
  readonly url: string | undefined;

  constructor(status: number, errors: RegistryErrorEntry[], options: { message?: string; url?: string | undefined } = {}) {
    const first = errors[0]?.code ?? '';
    const code = CODE_FOR[first] ?? ErrorCode.REGISTRY;
    super(code, options.message ?? renderAll(errors), { retryable: code === ErrorCode.TOO_MANY_REQUESTS || status >= 500 });
    this.name = 'AuthError';
    this.status = status;
    this.errors = errors;
    this.url = options.url;
  }
}

function entry(code: string, message?: string, detail?: unknown): RegistryErrorEntry {
  return { code, message: message || ERRCODE_MESSAGES[code] || '', ...(detail !== undefined ? { detail } : {}) };
}

/** Docker's `makeError`: a bare message takes its code from the status. */
function byStatus(status: number, message: string): RegistryErrorEntry {
  const code = status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'DENIED' : status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN';
  return entry(code, message);
}

/** Node's `IncomingHttpHeaders`, undici's or fetch's `Headers`. */
export type HeaderSource = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: HeaderSource, name: string): string | string[] | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const h = headers as Record<string, string | string[] | undefined>;
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** The largest error body kept in an error (the caller caps what it reads; this caps what it keeps). */
const MAX_BODY_IN_ERROR = 4096;

/**
 * Maps a failed response from a token server or registry to an `AuthError`, Docker's way:
 * a bearer challenge's `error=invalid_token|insufficient_scope` first; then a `{"details":…}`
 * body, a `{"errors":[…]}` body, or a non-JSON body whose text becomes the message; a 401 whose
 * body says nothing useful is `unauthorized: authentication required`. Statuses outside 4xx
 * become `received unexpected HTTP status: <status line>`.
 */
export function authErrorFromResponse(status: number, headers: HeaderSource, body: Buffer | string, options: AuthErrorOptions = {}): AuthError {
  const text = (typeof body === 'string' ? body : body.toString('utf8')).slice(0, MAX_BODY_IN_ERROR);
  const url = options.url === undefined ? undefined : redactUrl(options.url);
  if (status < 400 || status >= 500) {
    const message = `received unexpected HTTP status: ${status} ${options.statusText ?? ''}`.trim();
    return new AuthError(status, [entry('UNKNOWN', message)], { message, url });
  }
  const fromBody = bodyErrors(status, header(headers, 'content-type'), text);
  for (const c of parseWwwAuthenticate(header(headers, 'www-authenticate'))) {
    if (c.scheme !== 'bearer') continue;
    const code = c.parameters.error === 'invalid_token' ? 'UNAUTHORIZED' : c.parameters.error === 'insufficient_scope' ? 'DENIED' : undefined;
    if (!code) continue;
    const first = entry(code, c.parameters.error_description);
    return new AuthError(status, [first, ...(fromBody.structured ? fromBody.errors : [])], { url });
  }
  return new AuthError(status, fromBody.errors, { url });
}

export interface AuthErrorOptions {
  /** The status line's text, for `received unexpected HTTP status: 503 Service Unavailable`. */
  statusText?: string;
  /** The URL that answered; kept redacted on the error (query secrets and user info removed). */
  url?: string;
}

function bodyErrors(status: number, contentType: string | string[] | undefined, text: string): { errors: RegistryErrorEntry[]; structured: boolean } {
  const type = (Array.isArray(contentType) ? contentType[0] : contentType)?.split(';')[0]?.trim().toLowerCase();
  const declaredJson = type === 'application/json' || type === 'application/vnd.api+json';
  const doc = parseErrorDocument(text);
  if (!doc.json && !declaredJson) return { errors: [byStatus(status, text.trim())], structured: false };
  if (doc.details) return { errors: [byStatus(status, doc.details)], structured: true };
  if (doc.errors) return { errors: doc.errors.map((e) => entry(e.code.toUpperCase(), e.message || undefined, e.detail)), structured: true };
  // JSON that says nothing useful (Docker's UnexpectedHTTPResponseError).
  if (status === 401) return { errors: [entry('UNAUTHORIZED', undefined, text || undefined)], structured: false };
  return { errors: [entry('UNKNOWN', `error parsing HTTP ${status} response body: ${text.trim() || 'no error details found in HTTP response body'}`)], structured: false };
}

/**
 * Transport errors: what went wrong on the wire (connection, TLS, timeout, redirect) and
 * what a registry answered when it was not what we asked for. Messages read like
 *   GET https://host/v2/x/manifests/1: MANIFEST_UNKNOWN: manifest unknown
 * and carry only redacted URLs.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { readPrefix, releaseBody } from './body.js';
export { errorCodeOf, isUntrustedCertificate, toTransportError, TransportError } from './connection-errors.js';
import { readRateLimit, type RateLimit } from './rate-limit.js';
import { RETRYABLE_STATUSES } from './rules.js';

/** One entry of a registry's `{"errors": [...]}` body (distribution-spec "Error Codes"). */
export interface RegistryErrorEntry {
  /** The registry's error code as sent, e.g. `MANIFEST_UNKNOWN`; `UNKNOWN` when the entry had none. */
  readonly code: string;
  /** The registry's message; `''` when it sent none. */
  readonly message: string;
  /** The entry's `detail` as sent (any JSON value); undefined when it had none. */
  readonly detail?: unknown;
}

/** distribution's errcode default messages, for errors a server sent without one. */
export const ERRCODE_MESSAGES: Readonly<Record<string, string>> = {
  UNKNOWN: 'unknown error',
  UNAUTHORIZED: 'authentication required',
  DENIED: 'requested access to the resource is denied',
  TOOMANYREQUESTS: 'too many requests',
  UNSUPPORTED: 'The operation is unsupported.',
  UNAVAILABLE: 'service unavailable',
  NAME_UNKNOWN: 'repository name not known to registry',
  NAME_INVALID: 'invalid repository name',
  MANIFEST_UNKNOWN: 'manifest unknown',
};

/** errcode's `Error()`, as Docker prints it: `<code lower-cased, _ as space>: <message>`. */
export function errcodeText(e: RegistryErrorEntry): string {
  const words = e.code.toLowerCase().replaceAll('_', ' ');
  return e.message ? `${words}: ${e.message}` : words;
}

/** The largest error body gantry reads; the rest is discarded. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * `MANIFEST_UNKNOWN: manifest unknown`; the auth family as Docker prints it, because users
 * compare it with docker's output: `denied: requested access to the resource is denied`.
 */
const DOCKER_WORDED = new Set(['UNAUTHORIZED', 'DENIED', 'TOOMANYREQUESTS']);
function renderEntry(e: RegistryErrorEntry): string {
  if (DOCKER_WORDED.has(e.code)) return errcodeText(e);
  return e.message ? `${e.code}: ${e.message}` : e.code;
}

const STATUS_CODE: Record<number, ErrorCode> = { 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.DENIED, 404: ErrorCode.NOT_FOUND, 429: ErrorCode.TOO_MANY_REQUESTS };

/** A response whose status the caller did not expect, with the registry's own error list. */
export class RegistryError extends GantryError {
  /** The registry's HTTP status. */
  readonly status: number;
  /** The request's HTTP method, e.g. `GET`. */
  readonly method: string;
  /** The request's URL, redacted (user info and non-protocol query values replaced). */
  readonly url: string;
  /** The registry's own error list from the body; empty when it sent none. */
  readonly errors: readonly RegistryErrorEntry[];
  /** Seconds from `Retry-After`, when the registry sent one. */
  readonly retryAfter: number | undefined;
  /** The rate limit the registry announced with this answer (Docker Hub's 429s), if it did. */
  readonly rateLimit: RateLimit | undefined;
  constructor(method: string, url: string | URL, status: number, errors: readonly RegistryErrorEntry[], options: { retryAfter?: number; rawBody?: string; rateLimit?: RateLimit } = {}) {
    const u = redactUrl(url);
    const what = errors.length > 0 ? errors.map(renderEntry).join('; ') : `${status} ${statusText(status)}${options.rawBody ? `: ${options.rawBody}` : ''}`;
    const registryCode = errors[0]?.code;
    const code =
      registryCode === 'MANIFEST_UNKNOWN' || registryCode === 'BLOB_UNKNOWN' || registryCode === 'NAME_UNKNOWN'
        ? ErrorCode.NOT_FOUND
        : registryCode === 'DENIED'
          ? ErrorCode.DENIED
          : registryCode === 'TOOMANYREQUESTS'
            ? ErrorCode.TOO_MANY_REQUESTS
            : (STATUS_CODE[status] ?? ErrorCode.REGISTRY);
    super(code, `${method} ${u}: ${what}`, { retryable: RETRYABLE_STATUSES.has(status) });
    this.name = 'RegistryError';
    this.status = status;
    this.method = method;
    this.url = u;
    this.errors = errors;
    this.retryAfter = options.retryAfter;
    this.rateLimit = options.rateLimit;
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout',
  409: 'Conflict', 413: 'Payload Too Large', 416: 'Range Not Satisfiable', 429: 'Too Many Requests', 500: 'Internal Server Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};
export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Unexpected Status';
}

/** An error body, parsed once for every reader (the client's errors and the auth layer's). */
export interface ErrorDocument {
  /** Whether the body was JSON at all. */
  readonly json: boolean;
  /** The spec's `{"errors": [...]}` list, when the body has one (codes as sent). */
  readonly errors?: RegistryErrorEntry[];
  /** A token server's `{"details": "..."}`. */
  readonly details?: string;
}

/** Parses `{"errors":[{code,message,detail}]}` (distribution-spec) or `{"details": "..."}` (token servers). */
export function parseErrorDocument(body: string): ErrorDocument {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { json: false };
  }
  if (!json || typeof json !== 'object') return { json: true };
  const list = (json as { errors?: unknown }).errors;
  if (Array.isArray(list) && list.length > 0) {
    const errors = list.map((raw) => {
      const e = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
      return { code: typeof e.code === 'string' && e.code ? e.code : 'UNKNOWN', message: typeof e.message === 'string' ? e.message : '', ...(e.detail !== undefined ? { detail: e.detail } : {}) };
    });
    return { json: true, errors };
  }
  const details = (json as { details?: unknown }).details;
  return typeof details === 'string' && details ? { json: true, details } : { json: true };
}

/** The registry's error list of a body: the spec's list, or a token server's details as one UNKNOWN entry. */
export function parseErrorBody(body: string): RegistryErrorEntry[] {
  const doc = parseErrorDocument(body);
  if (doc.errors) return doc.errors;
  return doc.details ? [{ code: 'UNKNOWN', message: doc.details }] : [];
}

/**
 * The error for a response the caller did not expect: the registry's own error list, the
 * status, `Retry-After`; a bearer challenge's `error="insufficient_scope"` reads as Docker
 * renders it (`DENIED: requested access to the resource is denied`), and the rate limit the
 * registry announced (`rateLimit`). Reads at most MAX_ERROR_BODY_BYTES of the body and
 * discards the rest. The one function of this name: the client and login use it as it is.
 */
export async function errorFromResponse(
  req: { readonly method: string; readonly url: URL },
  res: { status: number; headers: Record<string, string | string[] | undefined>; body: Parameters<typeof releaseBody>[0] & AsyncIterable<unknown> },
): Promise<RegistryError> {
  const { method, url } = req;
  // A HEAD has no body to read; a body cut off mid-error still leaves the status.
  let text = '';
  if (method === 'HEAD') releaseBody(res.body);
  else text = (await readPrefix(res.body, MAX_ERROR_BODY_BYTES)).toString('utf8');
  let errors = parseErrorBody(text);
  const www = res.headers['www-authenticate'];
  const challenge = (Array.isArray(www) ? www : www ? [www] : []).find((v) => /^bearer\b/i.test(v) && /error="?insufficient_scope/i.test(v));
  if (res.status === 401 && challenge) errors = [{ code: 'DENIED', message: ERRCODE_MESSAGES.DENIED as string }, ...errors.filter((e) => e.code !== 'UNAUTHORIZED')];
  const ra = res.headers['retry-after'];
  const retryAfter = parseRetryAfter(Array.isArray(ra) ? ra[0] : ra);
  const raw = errors.length === 0 && text && !/^\s*[<{]/.test(text) ? text.trim().slice(0, 200) : undefined;
  const rateLimit = readRateLimit(res.headers);
  return new RegistryError(method, url, res.status, errors, {
    ...(retryAfter !== undefined ? { retryAfter } : {}),
    ...(raw ? { rawBody: raw } : {}),
    ...(rateLimit ? { rateLimit } : {}),
  });
}

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

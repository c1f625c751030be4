/**
 * Transport errors: what went wrong on the wire (connection, TLS, timeout, redirect) and
 * what a registry answered when it was not what we asked for. Messages read like
 *   GET https://host/v2/x/manifests/1: MANIFEST_UNKNOWN: manifest unknown
 * and carry only redacted URLs.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { redactUrl } from '../redact.js';
import { releaseBody } from './body.js';
import { RETRYABLE_STATUSES } from './rules.js';

/** One entry of a registry's `{"errors": [...]}` body (distribution-spec "Error Codes"). */
export interface RegistryErrorEntry {
  readonly code: string;
  readonly message: string;
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

const TLS_CODES = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|ERR_OSSL_)/;
const UNTRUSTED_CODES = /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_UNTRUSTED)$/;
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'GANTRY_HANDSHAKE_TIMEOUT', 'GANTRY_REQUEST_TIMEOUT', 'GANTRY_LOW_SPEED']);
const RETRYABLE_CONNECTION = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'UND_ERR_SOCKET', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CLOSED']);

/** A failure below HTTP: the request got no response. */
export class TransportError extends GantryError {
  readonly method: string;
  readonly url: string;
  /** The underlying Node/undici error code, e.g. `ECONNREFUSED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`. */
  readonly cause_code: string | undefined;
  constructor(code: ErrorCode, method: string, url: string | URL, message: string, options: { cause?: unknown; retryable?: boolean; causeCode?: string } = {}) {
    const u = redactUrl(url);
    super(code, `${method} ${u}: ${message}`, options);
    this.name = 'TransportError';
    this.method = method;
    this.url = u;
    this.cause_code = options.causeCode;
  }
}

/** The Node/undici error code of `err` or of the first cause that has one. */
export function errorCodeOf(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/** True when `err` is a TLS verification failure (an unknown or self-signed CA). */
export function isUntrustedCertificate(err: unknown): boolean {
  const c = err instanceof TransportError ? err.cause_code : errorCodeOf(err);
  return c !== undefined && UNTRUSTED_CODES.test(c);
}

/** Plain words for the TLS failures people meet; OpenSSL's own text is kept as the detail. */
const TLS_WORDS: Record<string, string> = {
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server does not speak TLS on this port (is it plain http?)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate signed by unknown authority',
  UNABLE_TO_GET_ISSUER_CERT: 'certificate signed by unknown authority',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the server requires a client certificate',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the server refused the client certificate',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'the server refused the client certificate (unknown CA)',
  ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: 'handshake failure (no common protocol or cipher, or a client certificate was required)',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'the server does not support TLS 1.2 or later',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'the server does not support TLS 1.2 or later',
};

/** OpenSSL's `...:SSL routines:func:reason:file:line:` reduced to its reason. */
function opensslReason(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+):/.exec(message);
  return m ? m[1]! : message.trim();
}

/** Turns whatever undici or Node threw into a TransportError with a stable code. */
export function toTransportError(err: unknown, method: string, url: string | URL): GantryError {
  if (err instanceof GantryError) return err;
  const code = errorCodeOf(err);
  const detail = (err as Error)?.message ?? String(err);
  const where = code ? `${detail} (${code})` : detail;
  if (code === 'ABORT_ERR' || (err as Error)?.name === 'AbortError') {
    return new TransportError(ErrorCode.ABORTED, method, url, 'aborted', { cause: err, causeCode: code });
  }
  if (code && TIMEOUT_CODES.has(code)) {
    return new TransportError(ErrorCode.TIMEOUT, method, url, `timed out: ${where}`, { cause: err, retryable: true, causeCode: code });
  }
  if (code && TLS_CODES.test(code)) {
    const words = TLS_WORDS[code] ?? opensslReason(detail);
    return new TransportError(ErrorCode.TLS, method, url, `TLS: ${words} (${code})`, { cause: err, causeCode: code });
  }
  if (code === 'ENOTFOUND') {
    return new TransportError(ErrorCode.CONNECTION, method, url, `host not found: ${where}`, { cause: err, causeCode: code });
  }
  return new TransportError(ErrorCode.CONNECTION, method, url, `connection failed: ${where}`, { cause: err, retryable: code !== undefined && RETRYABLE_CONNECTION.has(code), causeCode: code });
}

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
  readonly status: number;
  readonly method: string;
  readonly url: string;
  readonly errors: readonly RegistryErrorEntry[];
  /** Seconds from `Retry-After`, when the registry sent one. */
  readonly retryAfter: number | undefined;
  constructor(method: string, url: string | URL, status: number, errors: readonly RegistryErrorEntry[], options: { retryAfter?: number; rawBody?: string } = {}) {
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

/** Parses an error body: `{"errors":[{code,message,detail}]}` (spec), or `{"details": "..."}` (token servers). */
export function parseErrorBody(body: string): RegistryErrorEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return [];
  }
  if (json && typeof json === 'object') {
    const errors = (json as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      return errors
        .filter((e): e is Record<string, unknown> => !!e && typeof e === 'object')
        .map((e) => ({ code: String(e.code ?? 'UNKNOWN'), message: String(e.message ?? ''), ...(e.detail !== undefined ? { detail: e.detail } : {}) }));
    }
    const details = (json as { details?: unknown }).details;
    if (typeof details === 'string') return [{ code: 'UNKNOWN', message: details }];
  }
  return [];
}

/**
 * The error for a response the caller did not expect: the registry's own error list, the
 * status, `Retry-After`; a bearer challenge's `error="insufficient_scope"` reads as Docker
 * renders it (`DENIED: requested access to the resource is denied`). Reads at most
 * MAX_ERROR_BODY_BYTES of the body and discards the rest.
 */
export async function errorFromResponse(method: string, url: URL, res: { status: number; headers: Record<string, string | string[] | undefined>; body: Parameters<typeof releaseBody>[0] & AsyncIterable<unknown> }): Promise<RegistryError> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (method !== 'HEAD') {
    try {
      for await (const c of res.body as AsyncIterable<Buffer>) {
        chunks.push(c);
        size += c.length;
        if (size >= MAX_ERROR_BODY_BYTES) break;
      }
    } catch {
      // A body cut off mid-error still leaves us the status.
    }
  }
  releaseBody(res.body);
  const text = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
  let errors = parseErrorBody(text);
  const www = res.headers['www-authenticate'];
  const challenge = (Array.isArray(www) ? www : www ? [www] : []).find((v) => /^bearer\b/i.test(v) && /error="?insufficient_scope/i.test(v));
  if (res.status === 401 && challenge) errors = [{ code: 'DENIED', message: ERRCODE_MESSAGES.DENIED as string }, ...errors.filter((e) => e.code !== 'UNAUTHORIZED')];
  const ra = res.headers['retry-after'];
  const retryAfter = parseRetryAfter(Array.isArray(ra) ? ra[0] : ra);
  const raw = errors.length === 0 && text && !/^\s*[<{]/.test(text) ? text.trim().slice(0, 200) : undefined;
  return new RegistryError(method, url, res.status, errors, { ...(retryAfter !== undefined ? { retryAfter } : {}), ...(raw ? { rawBody: raw } : {}) });
}

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - now) / 1000));
}

/**
 * Failures below HTTP: the request got no response, or its body broke (connection, TLS,
 * timeout, low speed). Kept apart from the registry's own errors (errors.ts) so the body
 * readers (body.ts) can turn a broken body into one without a cycle.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { redactUrl } from '../redact.js';

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

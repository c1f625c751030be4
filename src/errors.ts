/**
 * Every error gantry throws is a `GantryError` with a stable `code`. Callers switch on
 * `code` (or `instanceof` a subclass), never on message text. Messages name what was
 * wrong and where; they never carry a secret (URLs and headers are redacted where the
 * error is built, see `redact.ts`).
 */

/** The stable error codes. Adding one is fine; renaming one breaks callers. */
export const ErrorCode = {
  /** A malformed image reference, digest, tag or repository name. */
  INVALID_REFERENCE: 'INVALID_REFERENCE',
  /** A malformed option, flag or configuration value (daemon.json, mirrors, insecure registries). */
  INVALID_CONFIG: 'INVALID_CONFIG',
  /** An option passed to a library entry point that makes no sense (`jobs: NaN`); the message names it. */
  INVALID_OPTION: 'INVALID_OPTION',
  /** A problem in a certs.d folder: half a client pair, an unreadable file. */
  CERTS_DIR: 'CERTS_DIR',
  /** The TLS handshake failed: unknown CA, bad client certificate, protocol mismatch. */
  TLS: 'TLS',
  /** The connection could not be made or was cut: refused, reset, DNS failure. */
  CONNECTION: 'CONNECTION',
  /** A connect, handshake, header or idle timeout. */
  TIMEOUT: 'TIMEOUT',
  /** A redirect that gantry refuses to follow (https→http, too many hops). */
  REDIRECT: 'REDIRECT',
  /** The registry answered with an unexpected status; `errors` holds its own error list. */
  REGISTRY: 'REGISTRY',
  /** 401: authentication required or credentials rejected. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** 403 or insufficient scope. */
  DENIED: 'DENIED',
  /** 429. */
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  /** A manifest, blob, tag or repository that does not exist. */
  NOT_FOUND: 'NOT_FOUND',
  /** Downloaded bytes whose digest or size is not what was asked for. */
  DIGEST_MISMATCH: 'DIGEST_MISMATCH',
  /** A response larger than gantry accepts for its kind (manifest, error body, token). */
  TOO_LARGE: 'TOO_LARGE',
  /** A response gantry cannot parse (malformed JSON, token, manifest). */
  INVALID_RESPONSE: 'INVALID_RESPONSE',
  /** Credential storage: config.json, credential helpers. */
  CREDENTIALS: 'CREDENTIALS',
  /** gantry refused to send a credential over plain http to a host that is not configured insecure. */
  INSECURE_TRANSPORT: 'INSECURE_TRANSPORT',
  /** The image's registry or namespace is `blocked = true` in registries.conf: refused before any request. */
  BLOCKED: 'BLOCKED',
  /** No endpoint of a registry could be reached. */
  NO_ENDPOINT: 'NO_ENDPOINT',
  /** The operation was aborted by the caller. */
  ABORTED: 'ABORTED',
  /** Command-line usage. */
  USAGE: 'USAGE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options for a {@link GantryError}: its cause and whether a retry can help. */
export interface GantryErrorOptions {
  /** The underlying error, kept as the standard `Error.cause`; left unset when undefined. */
  cause?: unknown;
  /** Whether repeating the same request may succeed (connection resets, 503, 429). */
  retryable?: boolean;
}

/**
 * The error class of everything gantry throws. Switch on {@link GantryError.code | code}
 * (or `instanceof` a subclass such as {@link RegistryError}), never on the message.
 */
export class GantryError extends Error {
  /** The stable {@link ErrorCode} that says what kind of failure this is. */
  readonly code: ErrorCode;
  /** Whether repeating the same request may succeed (connection resets, 503, 429). Default `false`. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: GantryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GantryError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A malformed reference, with Docker's own wording (see `ref/`). */
export class InvalidReferenceError extends GantryError {
  constructor(message: string, options: GantryErrorOptions = {}) {
    super(ErrorCode.INVALID_REFERENCE, message, options);
    this.name = 'InvalidReferenceError';
  }
}

/** A malformed option or configuration value, with Docker's own wording where it has one. */
export class ConfigError extends GantryError {
  constructor(message: string, options: GantryErrorOptions = {}) {
    super(ErrorCode.INVALID_CONFIG, message, options);
    this.name = 'ConfigError';
  }
}

/** True when `err` is a GantryError with the given code. */
export function isGantryError(err: unknown, code?: ErrorCode): err is GantryError {
  return err instanceof GantryError && (code === undefined || err.code === code);
}

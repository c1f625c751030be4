/**
 * What the client does with an answer it did not ask for: read the registry's error list
 * (capped at MAX_ERROR_BODY_BYTES), and throw a RegistryError with the registry's own codes
 * (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `BLOB_UNKNOWN`, `DENIED`, `TOOMANYREQUESTS`, …).
 *
 * Pulls get Docker's wording on top (moby `daemon/internal/distribution/errors.go`;
 * docs/docker-rules.md#pull-errors), so scripts that grep `docker pull`'s output keep working:
 *   manifest for <ref> not found: manifest unknown: <message>
 *   repository <name> not found: name unknown: <message>
 *   pull access denied for <name>, repository does not exist or may require 'docker login': denied: <message>
 */
import { ErrorCode, GantryError, type GantryErrorOptions } from '../errors.js';
import type { Reference } from '../ref/reference.js';
import { errcodeText, ERRCODE_MESSAGES, errorFromResponse, RegistryError } from '../transport/errors.js';

export { errcodeText, errorFromResponse };
import type { TransportRequest, TransportResponse } from '../transport/types.js';

/** Throws the registry's error unless `res.status` is one of `ok`. */
export async function expectStatus(req: Pick<TransportRequest, 'method' | 'url'>, res: TransportResponse, ok: readonly number[]): Promise<void> {
  if (!ok.includes(res.status)) throw await errorFromResponse(req, res);
}

/** The code a registry would have sent, for answers without a body (HEAD) or without a list. */
function registryCode(err: RegistryError, notFound: string): string | undefined {
  const own = err.errors[0]?.code;
  if (own && own !== 'UNKNOWN') return own;
  if (err.status === 404) return notFound;
  if (err.status === 403) return 'DENIED';
  return undefined;
}

/**
 * A RegistryError from a pull with Docker's wording. It stays a RegistryError (status,
 * `errors`, `code`), so callers that switch on `code` see NOT_FOUND or DENIED as before.
 */
export class PullError extends RegistryError {
  readonly reference: string;
  constructor(cause: RegistryError, ref: Reference, registryCode: string) {
    const entry = cause.errors[0] && cause.errors[0].code !== 'UNKNOWN' ? cause.errors[0] : { code: registryCode, message: ERRCODE_MESSAGES[registryCode] ?? '' };
    super(cause.method, cause.url, cause.status, cause.errors.length > 0 && cause.errors[0]?.code !== 'UNKNOWN' ? cause.errors : [entry], {
      ...(cause.retryAfter !== undefined ? { retryAfter: cause.retryAfter } : {}),
      ...(cause.rateLimit ? { rateLimit: cause.rateLimit } : {}),
    });
    this.name = 'PullError';
    this.reference = ref.familiar();
    const detail = errcodeText(entry);
    const name = ref.repository.familiar;
    if (registryCode === 'DENIED') {
      this.message = `pull access denied for ${name}, repository does not exist or may require 'docker login': ${detail}`;
    } else if (registryCode === 'NAME_UNKNOWN') {
      this.message = `repository ${name} not found: ${detail}`;
    } else {
      this.message = `manifest for ${ref.familiar()} not found: ${detail}`;
    }
  }
}

/**
 * Docker's translation of a manifest pull failure: MANIFEST_UNKNOWN, NAME_UNKNOWN and DENIED
 * get Docker's message; anything else is returned unchanged.
 */
export function translatePullError(err: unknown, ref: Reference): unknown {
  if (!(err instanceof RegistryError) || err instanceof PullError) return err;
  const code = registryCode(err, 'MANIFEST_UNKNOWN');
  if (code === 'MANIFEST_UNKNOWN' || code === 'NAME_UNKNOWN' || code === 'DENIED') return new PullError(err, ref, code);
  return err;
}

/** A registry answer that breaks the protocol (a bad `Location`, `Range` or `Content-Range`). */
export class InvalidResponseError extends GantryError {
  constructor(message: string, options: GantryErrorOptions = {}) {
    super(ErrorCode.INVALID_RESPONSE, message, options);
    this.name = 'InvalidResponseError';
  }
}

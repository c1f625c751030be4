/**
 * Errors for content that is not what it claims to be. Both use existing codes so callers can
 * switch on `code`: a malformed manifest is INVALID_RESPONSE wherever it came from (a registry, a
 * layout, an archive), and bytes that hash to something else are DIGEST_MISMATCH.
 */
import { ErrorCode, GantryError } from '../errors.js';
import type { GantryErrorOptions } from '../errors.js';

/** A manifest, index, descriptor or config that does not parse or validate. */
export class ManifestError extends GantryError {
  constructor(message: string, options: GantryErrorOptions = {}) {
    super(ErrorCode.INVALID_RESPONSE, message, options);
    this.name = 'ManifestError';
  }
}

/** Content whose digest or size is not the one it was asked for under. */
export class DigestMismatchError extends GantryError {
  readonly expected: string;
  readonly actual: string | undefined;

  constructor(message: string, expected: string, actual?: string, options: GantryErrorOptions = {}) {
    super(ErrorCode.DIGEST_MISMATCH, message, options);
    this.name = 'DigestMismatchError';
    this.expected = expected;
    this.actual = actual;
  }
}

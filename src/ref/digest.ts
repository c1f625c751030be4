/**
 * Content digests (`algorithm:encoded`), validated the way go-digest does (`digest.go`,
 * `algorithm.go`) so that error texts match what Docker and the registry print.
 */
import { createHash } from 'node:crypto';
import { InvalidReferenceError } from '../errors.js';

/** The algorithms gantry can verify, with the length of their hex encoding. */
const ENCODED_LENGTH: Readonly<Record<string, number>> = Object.freeze({ sha256: 64, sha512: 128 });

/** The hash algorithms gantry can verify: `sha256` (64 hex characters) and `sha512` (128). */
export type DigestAlgorithm = 'sha256' | 'sha512';

/** go-digest's `DigestRegexpAnchored`: tells "unknown algorithm" apart from "garbage". */
const DIGEST_SHAPE_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const LOWER_HEX_RE = /^[a-f0-9]+$/;

/** go-digest's error texts. */
export const DIGEST_INVALID_FORMAT = 'invalid checksum digest format';
export const DIGEST_INVALID_LENGTH = 'invalid checksum digest length';
export const DIGEST_UNSUPPORTED = 'unsupported digest algorithm';

/**
 * A validated, immutable content digest such as `sha256:<64 hex>`. Build one with
 * `Digest.parse` (throws a {@link GantryError} with code `INVALID_REFERENCE`),
 * `Digest.tryParse` or `Digest.fromBytes`.
 */
export class Digest {
  /** The hash algorithm, `sha256` or `sha512`. */
  readonly algorithm: DigestAlgorithm;
  /** The lower-case hex encoding of the hash. */
  readonly encoded: string;

  private constructor(algorithm: DigestAlgorithm, encoded: string) {
    this.algorithm = algorithm;
    this.encoded = encoded;
    Object.freeze(this);
  }

  /**
   * Parses `sha256:<64 hex>` or `sha512:<128 hex>`. The checks run in go-digest's order
   * (shape, algorithm, length, characters), so `sha256:ABC…` of the right length is a
   * format error while `sha256:abc` is a length error.
   */
  static parse(s: string): Digest {
    const parsed = Digest.#check(s);
    if (typeof parsed === 'string') throw new InvalidReferenceError(parsed);
    return parsed;
  }

  /**
   * The digest `s` names, or undefined when `parse` would refuse it: for input that is often
   * not a digest (a tag or a digest in a URL path, a name read back from disk), where a
   * refusal is an answer rather than an error. Whatever it accepts is canonical, so
   * `toString()` gives back `s` exactly and is safe as a path component.
   */
  static tryParse(s: string): Digest | undefined {
    const parsed = Digest.#check(s);
    return typeof parsed === 'string' ? undefined : parsed;
  }

  /** The digest, or go-digest's message for why `s` is not one. */
  static #check(s: string): Digest | string {
    const colon = s.indexOf(':');
    if (colon <= 0 || colon + 1 === s.length) return DIGEST_INVALID_FORMAT;
    const algorithm = s.slice(0, colon);
    const encoded = s.slice(colon + 1);
    const length = ENCODED_LENGTH[algorithm];
    if (length === undefined) return DIGEST_SHAPE_RE.test(s) ? DIGEST_UNSUPPORTED : DIGEST_INVALID_FORMAT;
    if (encoded.length !== length) return DIGEST_INVALID_LENGTH;
    if (!LOWER_HEX_RE.test(encoded)) return DIGEST_INVALID_FORMAT;
    return new Digest(algorithm as DigestAlgorithm, encoded);
  }

  /** The digest of `bytes`. */
  static fromBytes(bytes: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
    if (ENCODED_LENGTH[algorithm] === undefined) throw new InvalidReferenceError(DIGEST_UNSUPPORTED);
    return new Digest(algorithm, createHash(algorithm).update(bytes).digest('hex'));
  }

  /** True when `other` has the same algorithm and encoding. */
  equals(other: Digest): boolean {
    return this.algorithm === other.algorithm && this.encoded === other.encoded;
  }

  /** The canonical form `algorithm:encoded`, e.g. `sha256:<64 lower-case hex>`. */
  toString(): string {
    return `${this.algorithm}:${this.encoded}`;
  }

  /** The same string as `toString()`, so a digest serialises as `"sha256:…"`. */
  toJSON(): string {
    return this.toString();
  }
}

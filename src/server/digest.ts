/**
 * Digests as the registry accepts them: `sha256:<64 hex>` or `sha512:<128 hex>`, lower-case
 * hex (the spec's registered algorithms). Anything else is refused before it reaches storage,
 * so a digest is always safe to use as a path component.
 */
import { createHash } from 'node:crypto';
import { digestInvalid } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** `algorithm:hex`. */
  digest: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** Parses a digest or returns undefined when it is not one the registry supports. */
export function tryParseDigest(input: string): ParsedDigest | undefined {
  const m = /^(sha256|sha512):([a-f0-9]+)$/.exec(input);
  if (!m) return undefined;
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2] as string;
  if (hex.length !== HEX_LENGTH[algorithm]) return undefined;
  return { algorithm, hex, digest: input };
}

/** Parses a digest or throws the spec's DIGEST_INVALID (400). */
export function parseDigest(input: string | null | undefined): ParsedDigest {
  if (!input) throw digestInvalid('digest parameter missing');
  const parsed = tryParseDigest(input);
  if (!parsed) throw digestInvalid('invalid or unsupported digest', { digest: input });
  return parsed;
}

export function digestOf(bytes: Buffer, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

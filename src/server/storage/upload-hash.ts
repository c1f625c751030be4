/**
 * Hashing upload bytes while they are written, so that committing a large upload needs no
 * second read. Node's `Hash` cannot be serialised, so the live hash exists only in the process
 * that received every byte of the session; after a restart (or for a digest algorithm other
 * than the live one) the commit re-reads the stored bytes instead. Large uploads are hashed in
 * a worker thread (src/hashing), so parallel uploads do not queue behind one core.
 */
import { Transform } from 'node:stream';
import { createBlobHash, hashAndPass, type BlobHash } from '../../hashing/blob-hash.js';
import type { ByteRange } from './types.js';
import { RegistryErrorCode, RegistryRequestError } from '../errors.js';

/** The algorithm hashed live; sha512 uploads are rare and re-hashed at commit. */
export const LIVE_ALGORITHM = 'sha256';

export interface LiveHash {
  hash: BlobHash;
  /** Bytes the hash has consumed; it is only usable while this equals the session's size. */
  size: number;
}

/**
 * The live hash of a session, made when its first bytes arrive: `sizeHint` (the first
 * request's Content-Length, when it has one) decides whether it is hashed inline or in a worker.
 */
export function newLiveHash(sizeHint?: number): LiveHash {
  return { hash: createBlobHash(LIVE_ALGORITHM, sizeHint, 'worker'), size: 0 };
}

/** A pass-through that feeds every chunk to `hash` and counts bytes (the in-memory storage's upload path). */
export function hashingCounter(hash: BlobHash): { stream: Transform; bytes: () => number } {
  let bytes = 0;
  const stream = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      hashAndPass(hash, chunk, callback);
    },
  });
  return { stream, bytes: () => bytes };
}

/** RANGE_INVALID (416) with the `Range` the client should resume from. */
export function rangeInvalid(received: number, message = 'chunk does not start where the upload ends'): RegistryRequestError {
  return new RegistryRequestError(416, RegistryErrorCode.RANGE_INVALID, message, { received }, {
    Range: `0-${Math.max(received - 1, 0)}`,
  });
}

/** A session already receiving a body cannot take a second one at the same time. */
export function uploadBusy(id: string): RegistryRequestError {
  return new RegistryRequestError(416, RegistryErrorCode.BLOB_UPLOAD_INVALID, 'upload is receiving another request', { id });
}

/** Resolves a byte range request against a blob's size. */
export type RangeResolver = (size: number) => ByteRange | undefined;

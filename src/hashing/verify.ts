/**
 * Trust nothing downloaded: a blob is hashed and counted while it flows, and the stream fails
 * as soon as it is longer than its descriptor says, or at its end when the size or digest
 * differ. Nothing is buffered whole, so a layer of any size costs one chunk of memory.
 *
 * The chunk that completes the blob is held back until the digest is known: a consumer that
 * forwards the bytes (an upload's request body) never delivers a whole blob that then turns
 * out wrong. An upload of a bad blob is therefore always cut short of its Content-Length, so
 * the registry cannot answer it and the commit (`PUT ?digest=`) is never sent.
 */
import { Transform } from 'node:stream';
import { createBlobHash, hashAndPass, type HashPlacement } from './blob-hash.js';
import type { TransformCallback } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.js';
import { DigestMismatchError } from '../oci/errors.js';

/** What a verifying stream saw, once it has ended. */
export interface VerifiedBlob {
  size: number;
  digest: string;
}

/**
 * A pass-through that checks the bytes against `desc` (sha256 or sha512, by the descriptor's
 * digest). Errors with DIGEST_MISMATCH, naming the expected and actual digest and size.
 * `what` names the blob in messages (defaults to `blob <digest>`).
 */
export function verifyingStream(desc: Pick<Descriptor, 'digest' | 'size'>, what = `blob ${desc.digest.toString()}`, placement: HashPlacement = 'auto'): Transform & { readonly result: VerifiedBlob | undefined } {
  // Large blobs are hashed in a worker thread where a core is free for it (OFFLOAD_HASHING).
  const hash = createBlobHash(desc.digest.algorithm, desc.size, placement);
  const expected = desc.digest.toString();
  let seen = 0;
  let result: VerifiedBlob | undefined;
  /** The chunk that brought the count to `desc.size`: passed on only once the digest matches. */
  let last: Buffer | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (chunk.length === 0) {
        callback();
        return;
      }
      seen += chunk.length;
      if (seen > desc.size) {
        callback(new DigestMismatchError(`${what}: size mismatch: expected ${desc.size} bytes, got more (${seen} so far)`, expected));
        return;
      }
      if (seen < desc.size) {
        hashAndPass(hash, chunk, callback);
        return;
      }
      last = chunk;
      const wait = hash.update(chunk);
      if (wait) wait.then(() => callback(), callback);
      else callback();
    },
    flush(callback: TransformCallback) {
      hash.digest().then((hex) => finish(`${desc.digest.algorithm}:${hex}`, callback), callback);
    },
    destroy(err, callback) {
      if (!result) hash.discard();
      callback(err);
    },
  });
  function finish(actual: string, callback: TransformCallback): void {
    if (seen !== desc.size) {
      callback(new DigestMismatchError(`${what}: size mismatch: expected ${desc.size} bytes, got ${seen} (digest ${actual})`, expected, actual));
      return;
    }
    if (actual !== expected) {
      callback(new DigestMismatchError(`${what}: digest mismatch: expected ${expected}, got ${actual} (${seen} bytes)`, expected, actual));
      return;
    }
    result = { size: seen, digest: actual };
    const held = last;
    last = undefined;
    callback(null, held);
  }
  Object.defineProperty(stream, 'result', { get: () => result });
  return stream as Transform & { readonly result: VerifiedBlob | undefined };
}

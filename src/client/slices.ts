/**
 * Consecutive slices of one source stream, each of an exact length, for chunked uploads.
 * A slice is pulled from the source as the request body drains, so a chunk of any size
 * costs one source chunk of memory, never the whole chunk.
 *
 * When the reader starts at byte 0 it hashes and counts everything it hands out, and
 * `finish()` checks the total against the descriptor: a source that is not the blob it
 * claims to be fails here rather than at the registry's commit.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.js';
import { DigestMismatchError } from '../oci/errors.js';

export class SliceReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private leftover: Buffer | undefined;
  private readonly hash: Hash | undefined;
  private position: number;
  private done = false;

  constructor(
    private readonly source: Readable,
    private readonly desc: Pick<Descriptor, 'digest' | 'size'>,
    start = 0,
  ) {
    this.iterator = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    this.hash = start === 0 ? createHash(desc.digest.algorithm) : undefined;
    this.position = start;
  }

  private fail(message: string, actual?: string): never {
    throw new DigestMismatchError(`blob ${this.desc.digest.toString()}: ${message}`, this.desc.digest.toString(), actual);
  }

  /** The next `length` bytes, as they come. Fails if the source ends first. */
  async *slice(length: number): AsyncGenerator<Buffer> {
    let remaining = length;
    while (remaining > 0) {
      let chunk = this.leftover;
      this.leftover = undefined;
      if (!chunk) {
        const r = this.done ? { done: true as const, value: undefined } : await this.iterator.next();
        if (r.done) {
          this.done = true;
          this.fail(`size mismatch: expected ${this.desc.size} bytes, the source ended at ${this.position}`);
        }
        chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
      }
      if (chunk.length > remaining) {
        this.leftover = chunk.subarray(remaining);
        chunk = chunk.subarray(0, remaining);
      }
      remaining -= chunk.length;
      this.position += chunk.length;
      this.hash?.update(chunk);
      yield chunk;
    }
  }

  /** Checks that the source has nothing more and, when read from the start, its digest. */
  async finish(): Promise<void> {
    if (this.leftover && this.leftover.length > 0) this.fail(`size mismatch: expected ${this.desc.size} bytes, the source has more`);
    if (!this.done) {
      const r = await this.iterator.next();
      if (!r.done && (r.value as Buffer).length > 0) this.fail(`size mismatch: expected ${this.desc.size} bytes, the source has more`);
      this.done = true;
    }
    if (this.hash) {
      const actual = `${this.desc.digest.algorithm}:${this.hash.digest('hex')}`;
      if (actual !== this.desc.digest.toString()) this.fail(`digest mismatch: expected ${this.desc.digest.toString()}, got ${actual}`, actual);
    }
  }

  close(): void {
    if (!this.source.destroyed) this.source.destroy();
  }
}

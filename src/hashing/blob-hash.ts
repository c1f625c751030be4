/**
 * The hash of a blob while it streams: on the main thread for small blobs, in a worker thread
 * (hash-workers.ts) for large ones. Bytes bound for a worker are copied into a staging buffer
 * of STAGE_BYTES, handed over without a copy when full, and handed back once hashed, so a
 * hash holds at most IN_FLIGHT + 1 buffers: memory stays flat whatever the blob's size, and a
 * stream that outruns its worker waits (update() returns a promise) instead of queueing.
 */
import { createHash, type Hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import type { TransformCallback } from 'node:stream';
import { pickHashWorker, type HashWorker } from './hash-workers.js';

/** Blobs at least this large are hashed off the main thread (smaller ones cost less inline than the round trip). */
export const OFFLOAD_MIN_BYTES = 4 << 20;
/** Bytes handed to a worker at a time: 2,048 messages per GiB, 1.5 MiB per stream with IN_FLIGHT (peak RSS stays under 150 MiB with 6 parallel pulls). */
export const STAGE_BYTES = 1 << 19;
/** Staging buffers a hash may have in a worker before update() makes the stream wait. */
export const IN_FLIGHT = 2;

export interface BlobHash {
  /** Feeds bytes. Returns a promise only when the stream should wait before feeding more. */
  update(chunk: Uint8Array): Promise<void> | undefined;
  /** The hex digest of everything fed; the hash is used up. */
  digest(): Promise<string>;
  /** An independent hash with the same state (the embedded registry's rollback of a failed chunk). */
  copy(): BlobHash;
  /** Releases the hash without a digest. */
  discard(): void;
}

/**
 * Whether the client's large blobs are hashed in worker threads: only with more than two
 * cores. A copy keeps one core busy with HTTP and TLS while the registries or the disk take
 * the other; on two cores a worker has no core of its own, and handing it the bytes (a copy
 * into a staging buffer, a message, a thread switch each time) costs more than hashing where
 * the bytes already are. Measured with bench/verify-cost.ts on two cores (a registry→registry
 * copy of 8×64 MiB that verifies every blob against one that verifies nothing, 6 pairs a run):
 * a median 1.04–1.23× the time over five runs hashing inline, 1.11–1.21× over four with
 * workers, and the client's extra CPU 0.54 s inline against 1.10 s with workers (one run each).
 * (`gantry serve` offloads regardless: many uploads arrive at once, and its main thread also
 * parses and writes them.)
 */
export const OFFLOAD_HASHING = availableParallelism() > 2;

/** Where a hash runs: `auto` (by size and OFFLOAD_HASHING), or always in a `worker`. */
export type HashPlacement = 'auto' | 'worker';

/**
 * A hash for `algorithm` (`sha256`, `sha512`). `expectedSize` is the blob's size when known:
 * below OFFLOAD_MIN_BYTES it is hashed inline; unknown or large, in a worker when
 * OFFLOAD_HASHING (or `placement` is `worker`), else inline.
 */
export function createBlobHash(algorithm: string, expectedSize?: number, placement: HashPlacement = 'auto'): BlobHash {
  if (expectedSize !== undefined && expectedSize < OFFLOAD_MIN_BYTES) return new InlineHash(createHash(algorithm));
  if (placement === 'auto' && !OFFLOAD_HASHING) return new InlineHash(createHash(algorithm));
  return new WorkerHash(pickHashWorker(), algorithm);
}

/** A Transform's step: feeds `chunk` to `hash`, then passes it on once the hash can take more. */
export function hashAndPass(hash: BlobHash, chunk: Buffer, callback: TransformCallback): void {
  const wait = hash.update(chunk);
  if (wait) wait.then(() => callback(null, chunk), callback);
  else callback(null, chunk);
}

class InlineHash implements BlobHash {
  constructor(private readonly hash: Hash) {}

  update(chunk: Uint8Array): undefined {
    this.hash.update(chunk);
    return undefined;
  }

  digest(): Promise<string> {
    return Promise.resolve(this.hash.digest('hex'));
  }

  copy(): BlobHash {
    return new InlineHash(this.hash.copy());
  }

  discard(): void {}
}

let nextId = 1;

class WorkerHash implements BlobHash {
  private readonly id = nextId++;
  private stage: Buffer | undefined;
  private staged = 0;
  private readonly spare: ArrayBuffer[] = [];
  private inFlight = 0;
  private error: Error | undefined;
  private drained: (() => void) | undefined;
  private result: { resolve(hex: string): void; reject(err: Error): void } | undefined;
  private done = false;

  constructor(private readonly worker: HashWorker, algorithm: string, from?: number) {
    worker.attach(this.id, algorithm, {
      acked: (buffer) => {
        this.inFlight -= 1;
        this.spare.push(buffer);
        this.wake();
      },
      digested: (hex) => this.result?.resolve(hex),
      failed: (err) => {
        this.error = err;
        this.result?.reject(err);
        this.wake();
      },
    }, from);
  }

  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.error) return Promise.reject(this.error);
    if (this.done) return Promise.reject(new Error('hash already digested or discarded'));
    let offset = 0;
    while (offset < chunk.length) {
      this.stage ??= Buffer.from(this.spare.pop() ?? new ArrayBuffer(STAGE_BYTES));
      const n = Math.min(chunk.length - offset, STAGE_BYTES - this.staged);
      this.stage.set(chunk.subarray(offset, offset + n), this.staged);
      this.staged += n;
      offset += n;
      if (this.staged === STAGE_BYTES) this.send();
    }
    if (this.inFlight < IN_FLIGHT) return undefined;
    return new Promise<void>((resolve) => {
      this.drained = resolve;
    });
  }

  digest(): Promise<string> {
    if (this.error) return Promise.reject(this.error);
    this.flush();
    this.done = true;
    return new Promise<string>((resolve, reject) => {
      this.result = { resolve, reject };
      this.worker.digest(this.id);
    });
  }

  copy(): BlobHash {
    if (this.error) throw this.error;
    this.flush();
    return new WorkerHash(this.worker, '', this.id);
  }

  discard(): void {
    this.done = true;
    this.stage = undefined;
    this.worker.drop(this.id);
  }

  private flush(): void {
    if (this.staged > 0) this.send();
  }

  private send(): void {
    const stage = this.stage!;
    this.worker.update(this.id, stage.buffer as ArrayBuffer, this.staged);
    this.stage = undefined;
    this.staged = 0;
    this.inFlight += 1;
  }

  private wake(): void {
    if (this.drained && (this.inFlight < IN_FLIGHT || this.error)) {
      const resolve = this.drained;
      this.drained = undefined;
      resolve();
    }
  }
}

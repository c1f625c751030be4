/**
 * The spool of one blob on its way from the upstream: a temporary file the fetch appends to,
 * followed by any number of readers, each from its own offset, each at its own pace. A reader
 * that catches up with the fetch waits for the next write; one that joins late reads what is
 * already there and then follows. Memory stays flat whatever the blob's size: the writer keeps
 * at most MAX_QUEUED_BYTES waiting for the disk, a reader one READ_BYTES buffer plus its
 * stream's own.
 *
 * Nothing unverified is ever delivered whole: every reader holds back the last byte of its range
 * until the spool is sealed (the fetch verified the digest and committed the blob to storage).
 * When the fetch fails, each reader fails with its range still short, so its client sees a cut
 * response, never a complete wrong one.
 *
 * The file is removed once the fetch and every reader let go of it (`release`).
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** Bytes read from the spool at a time by one reader. */
const READ_BYTES = 1 << 18;
/** Bytes the writer may have waiting for the disk before `append` asks the fetch to wait. */
const MAX_QUEUED_BYTES = 1 << 20;

export class Spool {
  /** Bytes in the file, readable by readers. */
  private durable = 0;
  private queue: Buffer[] = [];
  private queued = 0;
  private writing: Promise<void> | undefined;
  private failure: Error | undefined;
  private sealed = false;
  private waiters: (() => void)[] = [];
  /** The fetch's hold plus one per open reader. */
  private refs = 1;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Creates the (new, empty) spool file at `path`. */
  static async create(path: string): Promise<Spool> {
    return new Spool(path, await open(path, 'wx+', 0o600));
  }

  /** Bytes written to the file so far. */
  get size(): number {
    return this.durable;
  }

  /**
   * Queues `chunk` for the file. Returns a promise only when the caller should wait before the
   * next one (too much is queued); it rejects when a write failed.
   */
  append(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.writing ??= this.writeQueued();
    return this.queued >= MAX_QUEUED_BYTES ? this.flush() : undefined;
  }

  /** Resolves once everything appended is in the file. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failure) throw this.failure;
  }

  /** Every byte is in and verified: readers may deliver their last byte. */
  seal(): void {
    this.sealed = true;
    this.wake();
  }

  /** The fetch failed: readers fail with `err` where they stand. */
  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  /**
   * A reader of bytes `start` to `end` (inclusive; `end` below `start` for an empty range);
   * undefined when the spool is already gone. The reader holds the file until it ends or is
   * destroyed.
   */
  reader(start: number, end: number): Readable | undefined {
    if (this.closed) return undefined;
    this.refs++;
    return new SpoolReader(this, start, end + 1);
  }

  /** Lets go of one hold; the last one closes and removes the file. */
  release(): void {
    if (--this.refs > 0 || this.closed) return;
    this.closed = true;
    void this.handle
      .close()
      .catch(() => undefined)
      .then(() => rm(this.path, { force: true }))
      .catch(() => undefined);
  }

  /** @internal For readers: what they may deliver now, and whether the spool failed. */
  state(): { durable: number; sealed: boolean; failure: Error | undefined } {
    return { durable: this.durable, sealed: this.sealed, failure: this.failure };
  }

  /** @internal For readers: resolves at the next write, seal or failure. */
  progress(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** @internal For readers: positional read from the file. */
  read(buffer: Buffer, position: number): Promise<number> {
    return this.handle.read(buffer, 0, buffer.length, position).then((r) => r.bytesRead);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Writes the queue in batches (whatever gathered during the previous write) until it is empty. Never rejects. */
  private async writeQueued(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const chunks = this.queue;
        const bytes = this.queued;
        this.queue = [];
        this.queued = 0;
        await writeAll(this.handle, chunks, this.durable);
        this.durable += bytes;
        this.wake();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.writing = undefined;
    }
  }
}

/** One writev, repeated from the first byte not written after a short write. */
async function writeAll(handle: FileHandle, chunks: Buffer[], position: number): Promise<void> {
  let left = chunks.reduce((n, c) => n + c.length, 0);
  let at = position;
  let rest = chunks;
  while (left > 0) {
    const { bytesWritten } = await handle.writev(rest, at);
    at += bytesWritten;
    left -= bytesWritten;
    if (left === 0) return;
    let skip = bytesWritten;
    while (skip >= rest[0]!.length) skip -= rest.shift()!.length;
    rest = [rest[0]!.subarray(skip), ...rest.slice(1)];
  }
}

class SpoolReader extends Readable {
  private position: number;
  private pumping = false;
  private released = false;

  constructor(
    private readonly spool: Spool,
    start: number,
    /** One past the last byte. */
    private readonly stop: number,
  ) {
    super({ highWaterMark: READ_BYTES });
    this.position = start;
  }

  override _read(): void {
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.destroyed) {
        const { durable, sealed, failure } = this.spool.state();
        if (failure) {
          this.destroy(failure);
          return;
        }
        // The range's last byte waits for the seal: the blob is verified only as a whole.
        const limit = sealed ? Math.min(this.stop, durable) : Math.min(this.stop - 1, durable);
        if (this.position < limit) {
          const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, limit - this.position));
          const n = await this.spool.read(buffer, this.position);
          if (n === 0) throw new Error(`spool ${this.spool.path} ended at byte ${this.position}, before the ${durable} written`);
          this.position += n;
          if (this.destroyed) return;
          if (!this.push(n === buffer.length ? buffer : buffer.subarray(0, n))) return;
          continue;
        }
        if (sealed && this.position >= this.stop) {
          this.push(null);
          return;
        }
        if (sealed) throw new Error(`spool ${this.spool.path} holds ${durable} bytes, the range ends at ${this.stop}`);
        await this.spool.progress();
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.pumping = false;
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.released) {
      this.released = true;
      this.spool.release();
    }
    callback(err);
  }
}

/**
 * One blob fetched from the upstream once, for every request that wants it while it is missing
 * (single flight), and stored as it streams:
 *
 *   upstream stream ─┬─> spool file ─────────────> readers: every waiting response, each at its
 *                    │                               own pace (late joiners read from the start)
 *                    └─> storage upload session ──> commit (storage verifies the digest) ──> seal
 *
 * The fetch runs at the pace of the disk, not of the slowest client, and goes on when every
 * client has left (the next pull finds the blob stored). A wrong byte fails the stream or the
 * commit: nothing is stored, every reader is cut short of its last byte, and the next request
 * starts a new flight.
 */
import { once } from 'node:events';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { blobUnknown, digestInvalid } from '../errors.js';
import type { Storage, UploadSession } from '../storage/types.js';
import { upstreamFailure } from './errors.js';
import { Spool } from './spool.js';
import type { Upstream, UpstreamBlob } from './upstream.js';

/** Bytes buffered between the fetch and the storage upload. */
const STORAGE_BUFFER_BYTES = 1 << 20;

/** How a flight began: the blob was in storage after all, or it is being fetched (with its size). */
export type FlightStart = { readonly kind: 'stored' } | { readonly kind: 'fetching'; readonly size: number };

export interface BlobFlightOptions {
  storage: Storage;
  upstream: Upstream;
  repository: string;
  digest: string;
  /** Where the spool file goes (a new name). */
  spoolPath: string;
  log?: (line: string) => void;
}

export class BlobFlight {
  /** Settles once the size is known (or the blob is known to be stored); rejects with the error to answer. */
  readonly started: Promise<FlightStart>;
  /** Settles (never rejects) once the blob is committed or the fetch failed. */
  readonly done: Promise<void>;
  /** Set the moment the fetch fails: a request arriving after it starts a new flight. */
  failed = false;
  private spool: Spool | undefined;
  private stream: Readable | undefined;
  private readonly controller = new AbortController();

  constructor(private readonly options: BlobFlightOptions) {
    let resolveStart!: (start: FlightStart) => void;
    let rejectStart!: (err: unknown) => void;
    this.started = new Promise<FlightStart>((resolve, reject) => {
      resolveStart = resolve;
      rejectStart = reject;
    });
    // A flight nobody waits for any more must not fail the process.
    this.started.catch(() => undefined);
    this.done = this.run(resolveStart, rejectStart);
  }

  /** A reader of bytes `start`–`end` of the spool; undefined when the spool is gone (read storage instead). */
  reader(start: number, end: number): Readable | undefined {
    return this.spool?.reader(start, end);
  }

  /** Cancels the fetch (the server is closing); readers fail. */
  abort(): void {
    const err = new Error('the registry is closing');
    this.controller.abort(err);
    this.stream?.destroy(err);
  }

  /** The flight's own hold on the spool: let go once it no longer takes new readers. */
  release(): void {
    this.spool?.release();
  }

  private async run(resolveStart: (start: FlightStart) => void, rejectStart: (err: unknown) => void): Promise<void> {
    const { storage, upstream, repository, digest, log } = this.options;
    let started = false;
    let session: UploadSession | undefined;
    try {
      // Stored between the caller's look and this flight: nothing to fetch.
      if ((await storage.blobSize(repository, digest)) !== undefined) {
        started = true;
        resolveStart({ kind: 'stored' });
        return;
      }
      let blob: UpstreamBlob | undefined;
      try {
        blob = await upstream.getBlob(repository, digest, { signal: this.controller.signal });
      } catch (err) {
        throw upstreamFailure(err, `blob ${digest}`);
      }
      if (!blob) throw blobUnknown(digest);
      this.stream = blob.stream;
      if (this.controller.signal.aborted) throw this.controller.signal.reason;
      session = await storage.startUpload(repository);
      this.spool = await Spool.create(this.options.spoolPath);
      started = true;
      resolveStart({ kind: 'fetching', size: blob.size });
      const t0 = Date.now();
      await this.transfer(blob, session, this.spool);
      await storage.commitUpload(repository, session.id, digest);
      session = undefined;
      this.spool.seal();
      log?.(`proxy: cached blob ${digest} of ${repository} (${blob.size} bytes in ${Date.now() - t0} ms)`);
    } catch (err) {
      this.failed = true;
      this.stream?.destroy();
      if (!started) rejectStart(err);
      else this.spool?.fail(err instanceof Error ? err : new Error(String(err)));
      if (session) await storage.cancelUpload(repository, session.id).catch(() => undefined);
      log?.(`proxy: blob ${digest} of ${repository} not cached: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  /** Streams the upstream's bytes into the spool and the storage session at once, at the pace of the slower. */
  private async transfer(blob: UpstreamBlob, session: UploadSession, spool: Spool): Promise<void> {
    const { storage, repository, digest } = this.options;
    const toStorage = new PassThrough({ highWaterMark: STORAGE_BUFFER_BYTES });
    const appending = storage.appendUpload(repository, session.id, toStorage, undefined, blob.size);
    // The session stops reading only by failing; resolving early would leave a write waiting forever.
    const storageStopped = appending.then(() => {
      throw new Error('storage stopped reading the blob before its end');
    });
    storageStopped.catch(() => undefined);
    let received = 0;
    const sink = new Writable({
      highWaterMark: STORAGE_BUFFER_BYTES,
      write(chunk: Buffer, _encoding, callback) {
        // The digest is checked at the commit; a body running past its size is cut here, before it fills the disk.
        received += chunk.length;
        if (received > blob.size) {
          callback(digestInvalid(`the upstream sent more than the ${blob.size} bytes it announced`, { digest }));
          return;
        }
        const spooled = spool.append(chunk);
        const full = !toStorage.write(chunk);
        if (!spooled && !full) {
          callback();
          return;
        }
        Promise.all([spooled, full ? Promise.race([once(toStorage, 'drain'), storageStopped]) : undefined]).then(() => callback(), callback);
      },
      final(callback) {
        if (received !== blob.size) {
          callback(digestInvalid(`the upstream sent ${received} of the ${blob.size} bytes it announced`, { digest }));
          return;
        }
        toStorage.end();
        Promise.all([appending, spool.flush()]).then(() => callback(), callback);
      },
    });
    try {
      await pipeline(blob.stream, sink);
    } catch (err) {
      toStorage.destroy(err as Error);
      await appending.catch(() => undefined);
      throw err;
    }
  }
}

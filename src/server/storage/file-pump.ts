/**
 * Serving a stored blob: its bytes read from an open file into a few buffers that are used
 * again once the response has sent them. A read stream allocates a new buffer for every read,
 * and in a server whose heap is as large as `gantry serve`'s the collections that those
 * allocations trigger cost more than the reads (measured: docs/performance.md, "Serving").
 * Memory stays at two or three buffers per response: a buffer goes back to the free list when
 * its write has completed, and the next read waits for the response to drain.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { drainedOrClosed } from '../../fs/drained.js';

/**
 * Writes bytes `start`..`end` (inclusive) of `handle` into `dest`, ends it, and closes the
 * handle whatever happens. Fails like `pipeline` does when `dest` closes early (premature
 * close) or the file is shorter than `end`.
 */
export async function pumpFile(handle: FileHandle, start: number, end: number, dest: Writable, chunkBytes: number): Promise<void> {
  const free: Buffer[] = [];
  // A broken response is reported by its 'error' (held here, thrown below), as pipeline does.
  let failure: Error | undefined;
  const onError = (err: Error): void => {
    failure ??= err;
  };
  dest.on('error', onError);
  try {
    for (let pos = start; pos <= end; ) {
      if (dest.destroyed || dest.writableEnded) break;
      const buf = free.pop() ?? Buffer.allocUnsafeSlow(chunkBytes);
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, end - pos + 1), pos);
      if (bytesRead === 0) throw new Error(`the stored file ended at byte ${pos}, before byte ${end}`);
      pos += bytesRead;
      const more = dest.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead), (err) => {
        if (!err) free.push(buf);
      });
      if (!more) await drainedOrClosed(dest);
    }
    if (failure) throw failure;
    if (!dest.destroyed && !dest.writableEnded) dest.end();
    await finished(dest);
  } catch (err) {
    dest.destroy(); // the response is cut short, never ended as if complete (the error is the caller's to report)
    throw err;
  } finally {
    dest.off('error', onError);
    await handle.close();
  }
}

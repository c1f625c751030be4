/**
 * The low-speed limit on a response body (see timeouts.ts). The bytes undici hands the body
 * are counted where they arrive (its `push`), independent of the reader; the limit only
 * judges time in which the reader was waiting for data: when the body's buffer is full, the
 * reader (a slow disk, a paused pipeline) is the bottleneck, and the window starts again.
 */
import type { Readable } from 'node:stream';
import type { LowSpeedLimit } from './timeouts.js';

/** How often the rate is sampled. */
const TICK_MS = 1000;

/**
 * Watches `body`; when it stays under the limit for the window, calls `onStall` (which
 * destroys the body with a clear error). Stops by itself when the body ends or closes.
 */
export function watchLowSpeed(body: Readable, limit: LowSpeedLimit, onStall: (received: number, elapsedMs: number) => void): void {
  let received = 0;
  const push = body.push.bind(body);
  body.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk !== null && chunk !== undefined) received += (chunk as { length: number }).length;
    return push(chunk, encoding);
  };
  const tick = Math.max(10, Math.min(TICK_MS, Math.floor(limit.windowMs / 4)));
  let windowStart = performance.now();
  let windowBytes = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    if (body.readableLength >= body.readableHighWaterMark) {
      // The reader is behind: not the server's fault.
      windowStart = now;
      windowBytes = received;
      return;
    }
    const elapsed = now - windowStart;
    if (elapsed < limit.windowMs) return;
    const got = received - windowBytes;
    if ((got * 1000) / elapsed < limit.bytesPerSecond) {
      stop();
      onStall(got, elapsed);
      return;
    }
    // Slide: judge the next window from here.
    windowStart = now;
    windowBytes = received;
  }, tick);
  timer.unref();
  const stop = (): void => clearInterval(timer);
  body.once('end', stop);
  body.once('close', stop);
  body.once('error', stop);
}

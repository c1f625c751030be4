/**
 * The low-speed limit on a response body (see timeouts.ts). The bytes undici hands the body
 * are counted where they arrive (its `push`), independent of the reader; the limit only
 * judges time in which a reader was waiting for data: while nobody reads the body yet, or its
 * buffer is full (a slow disk, a paused pipeline), the window starts again, and once the
 * server has sent the whole body there is nothing left to judge.
 */
import type { Readable } from 'node:stream';
import type { LowSpeedLimit } from './timeouts.js';

/** How often the rate is sampled. */
const TICK_MS = 1000;

/**
 * Watches `body`; when it stays under the limit for the window, calls `onStall` (which
 * destroys the body with a clear error). Stops by itself once the server has sent the whole
 * body, or when the body ends, fails or closes.
 */
export function watchLowSpeed(body: Readable, limit: LowSpeedLimit, onStall: (received: number, elapsedMs: number) => void): void {
  let received = 0;
  const tick = Math.max(10, Math.min(TICK_MS, Math.floor(limit.windowMs / 4)));
  let windowStart = performance.now();
  let windowBytes = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    if (body.readableFlowing === null || body.readableLength >= body.readableHighWaterMark) {
      // Nobody reads yet, or the reader is behind: not the server's fault.
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
  const push = body.push.bind(body);
  body.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    // The server has sent the whole body: what is left is the reader's pace, not a stall.
    if (chunk === null) stop();
    else if (chunk !== undefined) received += (chunk as { length: number }).length;
    return push(chunk, encoding);
  };
  body.once('end', stop);
  body.once('close', stop);
  body.once('error', stop);
}

/**
 * Reading small bodies (manifests, error lists, token responses) with a cap: gantry never
 * reads more than it accepts for the kind of document, whatever the server sends.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { toTransportError } from './connection-errors.js';
import { header, type TransportResponse } from './types.js';

const ignore = (): void => undefined;

/**
 * Abandons a response body that will not be read (a HEAD's, an error's rest, a reader that
 * stopped). undici's body emits `error` (RequestAbortedError) when destroyed unread; with no
 * listener that is an uncaught exception that kills the process (issue 12, item 4). Every
 * path that gives up a body goes through here: a listener first, then destroy.
 */
export function releaseBody(body: { destroyed?: boolean; destroy(err?: Error): unknown; on?(event: 'error', listener: (err: Error) => void): unknown }): void {
  body.on?.('error', ignore);
  if (!body.destroyed) body.destroy();
}

/** Reads and discards what is left of a body (keeps the connection for reuse); never throws. */
export async function drainBody(body: { dump(): Promise<void>; on?(event: 'error', listener: (err: Error) => void): unknown }): Promise<void> {
  body.on?.('error', ignore);
  await body.dump().catch(ignore);
}

/**
 * The first `max` bytes of a body, for documents only worth a look (an error body, a v1
 * `_ping`): the rest is given up, and a body cut off mid-way leaves what had arrived. Never
 * throws; the body is released either way.
 */
export async function readPrefix(body: AsyncIterable<unknown> & Parameters<typeof releaseBody>[0], max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= max) break;
    }
  } catch {
    // What arrived before the cut is kept.
  } finally {
    releaseBody(body);
  }
  return Buffer.concat(chunks, size).subarray(0, max);
}

export async function readCapped(res: Pick<TransportResponse, 'body' | 'headers' | 'url'>, max: number, what: string): Promise<Buffer> {
  // Refused before reading when the server says up front that it is too large.
  const declared = Number(header(res.headers, 'content-length') ?? NaN);
  if (declared > max) {
    await drainBody(res.body);
    throw new GantryError(ErrorCode.TOO_LARGE, `${what} is ${declared} bytes, more than the ${max} gantry reads`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > max) {
        releaseBody(res.body);
        throw new GantryError(ErrorCode.TOO_LARGE, `${what} is larger than ${max} bytes`);
      }
      chunks.push(buf);
    }
  } catch (err) {
    // A body that broke (idle timeout, low speed, reset) reads as a TransportError naming the URL.
    throw toTransportError(err, 'GET', res.url);
  }
  return Buffer.concat(chunks, size);
}

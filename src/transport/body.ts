/**
 * Reading small bodies (manifests, error lists, token responses) with a cap: gantry never
 * reads more than it accepts for the kind of document, whatever the server sends.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { header, type TransportResponse } from './types.js';

export async function readCapped(res: Pick<TransportResponse, 'body' | 'headers'>, max: number, what: string): Promise<Buffer> {
  // Refused before reading when the server says up front that it is too large.
  const declared = Number(header(res.headers, 'content-length') ?? NaN);
  if (declared > max) {
    await res.body.dump().catch(() => undefined);
    throw new GantryError(ErrorCode.TOO_LARGE, `${what} is ${declared} bytes, more than the ${max} gantry reads`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > max) {
      res.body.destroy();
      throw new GantryError(ErrorCode.TOO_LARGE, `${what} is larger than ${max} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size);
}

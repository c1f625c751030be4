/**
 * Reading small bodies (manifests, error lists, token responses) with a cap: gantry never
 * reads more than it accepts for the kind of document, whatever the server sends.
 */
import { ErrorCode, GantryError } from '../errors.js';
import type { TransportResponse } from './types.js';

export async function readCapped(res: Pick<TransportResponse, 'body'>, max: number, what: string): Promise<Buffer> {
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

/**
 * Small helpers for answering requests with `node:http`: JSON and error bodies, capped body
 * reads, the digest a request names, and the `Range` header of blob GETs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Digest } from '../ref/digest.js';
import { digestInvalid, RegistryErrorCode, RegistryRequestError } from './errors.js';
import type { ByteRange } from './storage/types.js';

export function send(res: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: string | Buffer): void {
  const payload = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Length': payload?.length ?? 0, ...headers });
  res.end(payload);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string | number> = {}, contentType = 'application/json'): void {
  send(res, status, { 'Content-Type': contentType, ...headers }, JSON.stringify(value));
}

export function sendError(res: ServerResponse, err: RegistryRequestError, head = false): void {
  const body = err.body();
  res.writeHead(err.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...err.headers });
  res.end(head ? undefined : body);
}

/**
 * Reads a request body of at most `limit` bytes. A larger declared or actual length is
 * refused with 413 before more is buffered.
 */
export async function readBody(req: IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const tooLarge = (): RegistryRequestError =>
    new RegistryRequestError(413, RegistryErrorCode.SIZE_INVALID, `${what} exceeds the limit of ${limit} bytes`, { limit });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * The digest a request names (in its path, or a `digest` / `mount` parameter), or the spec's
 * DIGEST_INVALID (400). Only `sha256` and `sha512` with lower-case hex are accepted, so the
 * digest is always safe to use as a path component in storage.
 */
export function parseDigestParam(value: string | null | undefined): Digest {
  if (!value) throw digestInvalid('digest parameter missing');
  const digest = Digest.tryParse(value);
  if (!digest) throw digestInvalid('invalid or unsupported digest', { digest: value });
  return digest;
}

/**
 * Parses `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob's size. Undefined means
 * "the whole blob" (no header, or a form we do not serve partially, such as several ranges).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    start = Math.max(size - suffix, 0);
    end = size - 1;
    if (suffix === 0) throw rangeNotSatisfiable(size);
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== '' && Number(m[2]) < start) throw rangeNotSatisfiable(size);
  }
  if (start >= size) throw rangeNotSatisfiable(size);
  return { start, end };
}

function rangeNotSatisfiable(size: number): RegistryRequestError {
  return new RegistryRequestError(416, RegistryErrorCode.RANGE_INVALID, 'requested range not satisfiable', { size }, {
    'Content-Range': `bytes */${size}`,
  });
}

/** Parses an upload's `Content-Range: a-b` (the spec's form, no `bytes ` prefix; both accepted). */
export function parseContentRange(header: string | undefined): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^(?:bytes )?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw new RegistryRequestError(416, RegistryErrorCode.RANGE_INVALID, 'malformed Content-Range', { 'content-range': header });
  const range = { start: Number(m[1]), end: Number(m[2]) };
  if (range.end < range.start) throw new RegistryRequestError(416, RegistryErrorCode.RANGE_INVALID, 'Content-Range ends before it starts');
  return range;
}

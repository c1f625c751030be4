/**
 * Blob reads and deletes (spec: "Pulling blobs", "Deleting blobs"). GET streams from storage
 * with `pipeline`, so a 1 GiB blob never sits in memory; `Range: bytes=a-b` answers 206.
 */
import { pipeline } from 'node:stream/promises';
import type { RequestContext } from '../context.js';
import { blobUnknown } from '../errors.js';
import { parseDigestParam, parseRange, send } from '../http.js';

export async function getBlob(ctx: RequestContext): Promise<void> {
  const { req, res, storage, name } = ctx;
  const digest = parseDigestParam(ctx.ref).toString();
  const common = { 'Docker-Content-Digest': digest, 'Accept-Ranges': 'bytes', ETag: `"${digest}"`, 'Content-Type': 'application/octet-stream' };
  if (ctx.head) {
    const size = await storage.blobSize(name, digest);
    if (size === undefined) throw blobUnknown(digest);
    return send(res, 200, { ...common, 'Content-Length': size });
  }
  const rangeHeader = req.headers.range;
  let range: { start: number; end: number } | undefined;
  const blob = await storage.openBlob(name, digest, (size) => (range = parseRange(rangeHeader, size)));
  if (!blob) throw blobUnknown(digest);
  if (range) {
    res.writeHead(206, { ...common, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}` });
  } else {
    res.writeHead(200, { ...common, 'Content-Length': blob.size });
  }
  await pipeline(blob.stream, res);
}

export async function deleteBlob(ctx: RequestContext): Promise<void> {
  const digest = parseDigestParam(ctx.ref).toString();
  if (!(await ctx.storage.deleteBlob(ctx.name, digest))) throw blobUnknown(digest);
  send(ctx.res, 202, { 'Docker-Content-Digest': digest });
}

/**
 * Blob reads and deletes (spec: "Pulling blobs", "Deleting blobs"). GET streams from storage
 * with `pipeline`, so a 1 GiB blob never sits in memory; `Range: bytes=a-b` answers 206.
 *
 * In proxy mode (`cache`), a blob storage lacks is streamed from its upstream fetch as it
 * arrives (src/server/proxy/blob-flight.ts), with the same headers; a HEAD asks the upstream
 * for the size without fetching.
 */
import { pipeline } from 'node:stream/promises';
import type { RequestContext } from '../context.js';
import { blobUnknown } from '../errors.js';
import { parseDigestParam, parseRange, send } from '../http.js';
import type { PullThroughCache } from '../proxy/cache.js';
import type { ByteRange, OpenedBlob } from '../storage/types.js';

export async function getBlob(ctx: RequestContext, cache?: PullThroughCache): Promise<void> {
  const { res, storage, name } = ctx;
  const digest = parseDigestParam(ctx.ref).toString();
  const common = { 'Docker-Content-Digest': digest, 'Accept-Ranges': 'bytes', ETag: `"${digest}"`, 'Content-Type': 'application/octet-stream' };
  if (ctx.head) {
    const size = (await storage.blobSize(name, digest)) ?? (cache ? await cache.blobSize(name, digest) : undefined);
    if (size === undefined) throw blobUnknown(digest);
    return send(res, 200, { ...common, 'Content-Length': size });
  }
  const opened = (await openStored(ctx, digest)) ?? (cache ? await openThroughCache(ctx, cache, digest) : undefined);
  if (!opened) throw blobUnknown(digest);
  const { blob, range } = opened;
  if (range) {
    res.writeHead(206, { ...common, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${blob.size}` });
  } else {
    res.writeHead(200, { ...common, 'Content-Length': blob.size });
  }
  if (blob.writeTo) await blob.writeTo(res);
  else await pipeline(blob.stream, res);
}

interface OpenedRange {
  blob: OpenedBlob;
  range: ByteRange | undefined;
}

async function openStored(ctx: RequestContext, digest: string): Promise<OpenedRange | undefined> {
  let range: ByteRange | undefined;
  const blob = await ctx.storage.openBlob(ctx.name, digest, (size) => (range = parseRange(ctx.req.headers.range, size)));
  return blob ? { blob, range } : undefined;
}

/**
 * Joins the blob's upstream fetch; storage again when it was stored meanwhile. A flight that
 * ended between the join and the read (its spool let go) either stored the blob or failed:
 * storage answers the first, and a second try starts a new flight for the second (whose
 * failure is the upstream's error, not a 404).
 */
async function openThroughCache(ctx: RequestContext, cache: PullThroughCache, digest: string): Promise<OpenedRange | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const found = await cache.blob(ctx.name, digest);
    if (found !== 'stored') {
      const range = parseRange(ctx.req.headers.range, found.size);
      const stream = found.flight.reader(range?.start ?? 0, range?.end ?? found.size - 1);
      if (stream) return { blob: { size: found.size, stream }, range };
    }
    const stored = await openStored(ctx, digest);
    if (stored || found === 'stored') return stored;
  }
  return undefined;
}

export async function deleteBlob(ctx: RequestContext): Promise<void> {
  const digest = parseDigestParam(ctx.ref).toString();
  if (!(await ctx.storage.deleteBlob(ctx.name, digest))) throw blobUnknown(digest);
  send(ctx.res, 202, { 'Docker-Content-Digest': digest });
}

/**
 * Pushing blobs (spec: "Pushing blobs"): monolithic POST `?digest=`, POST + PUT, chunked
 * PATCHes with `Content-Range`, streamed PATCH without one, cross-repository mount, upload
 * status and cancellation. Bytes go straight from the socket to storage, hashed on the way.
 */
import type { RequestContext } from '../context.js';
import { RegistryErrorCode, RegistryRequestError, uploadUnknown } from '../errors.js';
import { parseDigestParam, parseContentRange, send } from '../http.js';
import { REMOTE_NAME_RE } from '../../ref/grammar.js';
import type { UploadSession } from '../storage/types.js';

function sessionHeaders(name: string, session: UploadSession): Record<string, string> {
  return {
    Location: `/v2/${name}/blobs/uploads/${session.id}`,
    // distribution answers `0-0` for an empty session too; clients expect that form.
    Range: `0-${Math.max(session.size - 1, 0)}`,
    'Docker-Upload-UUID': session.id,
  };
}

function blobCreated(ctx: RequestContext, digest: string): void {
  send(ctx.res, 201, { Location: `/v2/${ctx.name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

/** Whether the request carries a body to append (a final PUT may or may not). */
function hasBody(ctx: RequestContext): boolean {
  const length = ctx.req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return ctx.req.headers['transfer-encoding'] !== undefined;
}

/** Appends the request body, checking `Content-Range` against the session when given. */
async function append(ctx: RequestContext, session: UploadSession): Promise<UploadSession> {
  const range = parseContentRange(ctx.req.headers['content-range']);
  const length = ctx.req.headers['content-length'];
  if (range && length !== undefined && Number(length) !== range.end - range.start + 1) {
    throw new RegistryRequestError(400, RegistryErrorCode.SIZE_INVALID, 'Content-Length does not match Content-Range');
  }
  const after = await ctx.storage.appendUpload(ctx.name, session.id, ctx.req, range?.start, length !== undefined ? Number(length) : undefined);
  if (range && after.size !== range.end + 1) {
    // The body was not the length the range announced: the bytes are kept, the client told.
    throw new RegistryRequestError(400, RegistryErrorCode.SIZE_INVALID, 'body length does not match Content-Range', { received: after.size });
  }
  return after;
}

export async function startUpload(ctx: RequestContext): Promise<void> {
  const { url, storage, name, grant } = ctx;
  const mount = url.searchParams.get('mount');
  const from = url.searchParams.get('from');
  if (mount !== null && from !== null) {
    const digest = parseDigestParam(mount).toString();
    // Mount only what the caller could read anyway; otherwise fall back to a new session.
    if (REMOTE_NAME_RE.test(from) && grant.can('repository', from, 'pull') && (await storage.blobSize(from, digest)) !== undefined) {
      if (await storage.linkBlob(name, digest)) return blobCreated(ctx, digest);
    }
  }
  const digestParam = url.searchParams.get('digest');
  if (digestParam !== null) {
    const digest = parseDigestParam(digestParam).toString();
    const session = await storage.startUpload(name);
    try {
      await append(ctx, session);
    } catch (err) {
      await storage.cancelUpload(name, session.id);
      throw err;
    }
    await storage.commitUpload(name, session.id, digest);
    return blobCreated(ctx, digest);
  }
  const session = await storage.startUpload(name);
  send(ctx.res, 202, sessionHeaders(name, session));
}

async function session(ctx: RequestContext): Promise<UploadSession> {
  const s = await ctx.storage.getUpload(ctx.name, ctx.ref);
  if (!s) throw uploadUnknown(ctx.ref);
  return s;
}

export async function getUpload(ctx: RequestContext): Promise<void> {
  send(ctx.res, 204, sessionHeaders(ctx.name, await session(ctx)));
}

export async function patchUpload(ctx: RequestContext): Promise<void> {
  const after = await append(ctx, await session(ctx));
  send(ctx.res, 202, sessionHeaders(ctx.name, after));
}

export async function putUpload(ctx: RequestContext): Promise<void> {
  const digest = parseDigestParam(ctx.url.searchParams.get('digest')).toString();
  let s = await session(ctx);
  if (hasBody(ctx) || ctx.req.headers['content-range'] !== undefined) s = await append(ctx, s);
  await ctx.storage.commitUpload(ctx.name, s.id, digest);
  blobCreated(ctx, digest);
}

export async function cancelUpload(ctx: RequestContext): Promise<void> {
  if (!(await ctx.storage.cancelUpload(ctx.name, ctx.ref))) throw uploadUnknown(ctx.ref);
  send(ctx.res, 204);
}

/**
 * Blob uploads (distribution-spec "Pushing blobs"), cheapest first:
 *  1. HEAD: a blob already in the repository is not uploaded (`exists`).
 *  2. `POST ?mount=<digest>&from=<repo>` when a source repository on the same registry is
 *     known: 201 is `mounted`; 202 means the registry cannot (or will not) mount, and the
 *     session it opened is used for a normal upload (ggcr #1404, #1679).
 *  3. POST, then by size:
 *     - up to MONOLITHIC_MAX_BYTES: one `PUT ?digest=` with the whole blob (one round trip;
 *       a broken PUT restarts the session, as in 4: the registry kept part of it);
 *     - larger: one streamed PATCH with Content-Length (never chunked transfer encoding, which
 *       registries and S3 refuse), then `PUT ?digest=` (ggcr, containers/image);
 *     - chunked when asked for (`chunkSize`) or when the registry refuses a streamed body
 *       (413, 416): PATCHes with `Content-Range`, each at least `OCI-Chunk-Min-Length`,
 *       each sent to the `Location` of the previous answer, each checked against the `Range`
 *       the registry reports. A chunk is a slice of the source stream, not a buffer, so
 *       memory stays flat whatever the chunk size.
 *  4. A session that fails (a broken connection, a 5xx, a `Range` that goes backwards past
 *     what can be re-read) is abandoned and the upload restarts with a new POST from the
 *     start of the blob, at most UPLOAD_MAX_ATTEMPTS times; a session is never patched
 *     blindly at an offset the registry did not confirm.
 * The bytes are verified on their way out: a source that does not match the descriptor
 * fails the upload here, before the registry is asked to commit it.
 */
import { Readable } from 'node:stream';
import { verifyingStream } from '../hashing/verify.js';
import type { Descriptor } from '../oci/descriptor.js';
import { GantryError } from '../errors.js';
import { RegistryError } from '../transport/errors.js';
import { abortableSleep, backoffDelay } from '../transport/layers/retry.js';
import { header, type TransportRequest, type TransportResponse } from '../transport/types.js';
import { errorFromResponse, InvalidResponseError } from './errors.js';
import { headBlob } from './blobs.js';
import { SliceReader } from './slices.js';
import type { RepositoryTarget } from './target.js';
import type { Repository } from '../ref/reference.js';
import { repositoryScope } from '../ref/scope.js';

/** Blobs up to this size go up in one PUT, read into memory first (1 MiB: cheap, and most config blobs and small layers fit). */
export const MONOLITHIC_MAX_BYTES = 1024 * 1024;
/** The chunk size of a chunked upload when none is asked for (regclient uses 1 MiB; larger chunks mean fewer round trips, and a chunk is streamed, not buffered). */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** Upload sessions per blob before giving up (each restarts from byte 0). */
export const UPLOAD_MAX_ATTEMPTS = 3;
/** Statuses that say "this registry wants chunks": payload too large, or a PATCH without Content-Range refused. */
const NEEDS_CHUNKS = new Set([413, 416]);

/** Opens the blob's bytes from `offset`. Called again when a session restarts (offset 0) or resumes at the registry's `Range`. */
export type OpenBlobStream = (offset: number) => Readable | Promise<Readable>;

/** Options for a blob upload: chunking, a repository to mount from, progress, verification, a signal. */
export interface UploadOptions {
  /** Upload in chunks of this many bytes (raised to the registry's `OCI-Chunk-Min-Length`). */
  readonly chunkSize?: number;
  /** A repository on the same registry that may hold the blob: try a cross-repository mount first. */
  readonly mountFrom?: string | Repository;
  /** Cancels the upload when it fires. */
  readonly signal?: AbortSignal;
  /** Reports bytes the registry has confirmed (for progress). */
  readonly onProgress?: (uploaded: number) => void;
  /**
   * Hash a streamed (PATCH) upload on its way out and fail before the commit when it is not
   * the blob it claims to be (default true). False leaves the check to the registry, which
   * verifies the digest on every commit anyway, and saves the client's CPU (bench: sha256
   * runs at ~0.4 GiB/s on the bench machine and was the largest CPU cost of a copy). The copy
   * engine's registry destination keeps it on: that upload is the one client-side hash of a
   * blob it copies.
   */
  readonly verify?: boolean;
  /**
   * The caller has just asked (`headBlob`) and the repository lacked the blob: skip the HEAD
   * that otherwise opens the upload (a copy engine that checks every blob first saves one
   * request per blob). A restarted session still asks.
   */
  readonly knownAbsent?: boolean;
}

/** How a blob reached the repository. */
export interface UploadResult {
  /** `exists`: it was already there; `mounted`: mounted from `mountFrom`; `uploaded`: its bytes were sent. */
  readonly status: 'exists' | 'mounted' | 'uploaded';
  /** Sessions used (1 unless a session failed and was restarted); 0 when nothing was sent. */
  readonly sessions: number;
  /** Whether chunked PATCHes were used. */
  readonly chunked: boolean;
}

type Desc = Pick<Descriptor, 'digest' | 'size'>;

/** An upload session: where to send the next request. */
interface Session {
  location: URL;
  /** `OCI-Chunk-Min-Length`, 0 when absent. */
  minChunk: number;
}

class NeedsChunksError extends Error {}

/** The source could not be opened again for a restarted session: the session's failure is the real error. */
class ReopenError extends Error {}

function sessionFrom(res: TransportResponse, base: URL, previous?: Session): Session {
  const loc = header(res.headers, 'location');
  if (!loc) {
    if (previous) return previous;
    throw new InvalidResponseError(`upload session: ${res.status} without a Location header`);
  }
  const min = Number(header(res.headers, 'oci-chunk-min-length') ?? NaN);
  return { location: new URL(loc, base), minChunk: Number.isSafeInteger(min) && min > 0 ? min : (previous?.minChunk ?? 0) };
}

/** The last byte the registry holds, from `Range: 0-<last>` (-1 when it holds none). */
function confirmedEnd(res: TransportResponse): number | undefined {
  const v = header(res.headers, 'range')?.trim();
  if (v === undefined) return undefined;
  const m = /^(?:bytes=)?0-(\d+)$/.exec(v);
  if (m) return Number(m[1]);
  return /^(?:bytes=)?0-0?$/.test(v) ? -1 : undefined;
}

export async function uploadBlob(repo: RepositoryTarget, desc: Desc, open: OpenBlobStream, options: UploadOptions): Promise<UploadResult> {
  const signal = options.signal ? { signal: options.signal } : {};
  const from = options.mountFrom === undefined ? undefined : typeof options.mountFrom === 'string' ? options.mountFrom : options.mountFrom.path;
  const pushScopes = repo.scopes('push');
  const scopes = from && from !== repo.path ? [...pushScopes, repositoryScope(from, ['pull'])] : pushScopes;
  const send = async (req: Omit<TransportRequest, 'scopes'>): Promise<TransportResponse> => repo.client.send({ ...req, scopes, ...signal });

  let chunked = options.chunkSize !== undefined;
  let mount = from;
  let opens = 0;
  const reopen: OpenBlobStream = async (offset) => {
    try {
      return await open(offset);
    } catch (err) {
      if (opens > 0) throw new ReopenError((err as Error).message, { cause: err });
      throw err;
    } finally {
      opens++;
    }
  };
  let lastError: unknown;
  for (let attempt = 1; attempt <= UPLOAD_MAX_ATTEMPTS; attempt++) {
    if (!(attempt === 1 && options.knownAbsent) && (await headBlob(repo, desc.digest, { ...signal, scopes }))) return { status: 'exists', sessions: attempt - 1, chunked };
    let session: Session | undefined;
    try {
      const postReq = { method: 'POST', url: await repo.url('blobs/uploads/', mount ? { mount: desc.digest.toString(), from: mount } : {}), headers: { 'content-length': '0' } };
      let res = await send(postReq);
      if (mount) {
        mount = undefined; // one mount try per blob; a restarted session uploads
        if (res.status === 201) {
          await res.body.dump().catch(() => undefined);
          return { status: 'mounted', sessions: 0, chunked: false };
        }
        if (res.status !== 202) {
          // A registry that refuses the mount request itself: open a plain session instead.
          await res.body.dump().catch(() => undefined);
          res = await send({ ...postReq, url: await repo.url('blobs/uploads/') });
        }
      }
      if (res.status !== 202) throw await errorFromResponse(postReq, res);
      await res.body.dump().catch(() => undefined);
      session = sessionFrom(res, res.url);
      if (chunked) {
        await uploadChunks(desc, reopen, session, options, send);
      } else {
        try {
          await uploadWhole(desc, reopen, session, send, options.verify ?? true);
        } catch (err) {
          if (!(err instanceof NeedsChunksError)) throw err;
          await cancel(session, send);
          chunked = true;
          attempt--; // not a failure of the registry: the same blob again, in chunks
          continue;
        }
      }
      options.onProgress?.(desc.size);
      return { status: 'uploaded', sessions: attempt, chunked };
    } catch (err) {
      if (session) await cancel(session, send);
      if (err instanceof ReopenError) throw lastError ?? err.cause;
      lastError = err;
      const retryable = (err instanceof GantryError && err.retryable) || sessionGone(err);
      if (!retryable || options.signal?.aborted || attempt === UPLOAD_MAX_ATTEMPTS) throw err;
      await abortableSleep(backoffDelay(attempt), options.signal);
    }
  }
  throw lastError;
}

/** Registry error codes that say the session is closed or no longer matches what was sent. */
const SESSION_GONE_CODES = new Set(['BLOB_UPLOAD_UNKNOWN', 'BLOB_UPLOAD_INVALID']);

/**
 * Whether the registry no longer knows the session. Seen when the answer to the closing PUT
 * was lost and the retry layer sent it again: the registry had committed the blob and closed
 * the session. A new attempt starts with a HEAD, which finds the blob there.
 */
function sessionGone(err: unknown): boolean {
  return err instanceof RegistryError && err.errors.some((e) => SESSION_GONE_CODES.has(e.code));
}

/**
 * Cancels an abandoned session (best effort: registries expire them anyway), so a failed
 * upload does not hold storage until the registry's purge runs.
 */
async function cancel(session: Session, send: (req: Omit<TransportRequest, 'scopes'>) => Promise<TransportResponse>): Promise<void> {
  const res = await send({ method: 'DELETE', url: session.location }).catch(() => undefined);
  await res?.body.dump().catch(() => undefined);
}

/** Appends `digest=` to a session URL, keeping the registry's own query (`_state`). */
function commitUrl(session: Session, desc: Desc): URL {
  const url = new URL(session.location);
  url.searchParams.set('digest', desc.digest.toString());
  return url;
}

/**
 * The closing PUT. One that carries the blob is sent as a stream, which the retry layer does
 * not replay: the registry keeps what arrived before a broken connection, so the same PUT
 * sent again to the same session is refused (distribution: BLOB_UPLOAD_INVALID, the session
 * offset moved); the session is restarted instead.
 */
async function commit(desc: Desc, session: Session, send: (req: Omit<TransportRequest, 'scopes'>) => Promise<TransportResponse>, body?: Buffer): Promise<void> {
  const req = {
    method: 'PUT',
    url: commitUrl(session, desc),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(body?.length ?? 0) },
    body: body && body.length > 0 ? Readable.from([body], { objectMode: false }) : Buffer.alloc(0),
  };
  const res = await send(req);
  if (body && NEEDS_CHUNKS.has(res.status)) {
    await res.body.dump().catch(() => undefined);
    throw new NeedsChunksError();
  }
  if (res.status !== 201 && res.status !== 204 && res.status !== 200) throw await errorFromResponse(req, res);
  await res.body.dump().catch(() => undefined);
}

/** Reads a small blob whole (it is at most MONOLITHIC_MAX_BYTES), verified. */
async function readSmall(desc: Desc, source: Readable): Promise<Buffer> {
  const verifier = verifyingStream(desc);
  const chunks: Buffer[] = [];
  source.on('error', (err) => verifier.destroy(err));
  for await (const chunk of source.pipe(verifier) as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** One PUT for a small blob; a streamed PATCH then an empty PUT for a large one. */
async function uploadWhole(desc: Desc, open: OpenBlobStream, session: Session, send: (req: Omit<TransportRequest, 'scopes'>) => Promise<TransportResponse>, verify: boolean): Promise<void> {
  if (desc.size <= MONOLITHIC_MAX_BYTES) {
    await commit(desc, session, send, await readSmall(desc, await open(0)));
    return;
  }
  const source = await open(0);
  const verifier = verify ? verifyingStream(desc) : undefined;
  if (verifier) source.on('error', (err) => verifier.destroy(err));
  const req = {
    method: 'PATCH',
    url: session.location,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
    body: verifier ? source.pipe(verifier) : source,
  };
  let res: TransportResponse;
  try {
    res = await send(req);
  } catch (err) {
    source.destroy();
    // A verification failure of our own source is the real error, not the broken request.
    throw verifier?.errored ?? err;
  }
  if (NEEDS_CHUNKS.has(res.status)) {
    source.destroy();
    await res.body.dump().catch(() => undefined);
    throw new NeedsChunksError();
  }
  if (res.status !== 202 && res.status !== 204) throw await errorFromResponse(req, res);
  await res.body.dump().catch(() => undefined);
  const next = sessionFrom(res, res.url, session);
  const end = confirmedEnd(res);
  if (end !== undefined && end !== desc.size - 1) {
    throw new InvalidResponseError(`upload of blob ${desc.digest.toString()}: sent ${desc.size} bytes, the registry reports Range 0-${end}`, { retryable: true });
  }
  await commit(desc, next, send);
}

/**
 * Chunked PATCHes. Each chunk is `Content-Range: <first>-<last>` with its Content-Length;
 * the registry's `Range` after each says how far it got. If it got less than sent, the
 * next chunk starts where it says (the source is reopened there); anything else is a
 * broken session.
 */
async function uploadChunks(desc: Desc, open: OpenBlobStream, first: Session, options: UploadOptions, send: (req: Omit<TransportRequest, 'scopes'>) => Promise<TransportResponse>): Promise<void> {
  let session = first;
  let offset = 0;
  let reader = new SliceReader(await open(0), desc);
  try {
    while (offset < desc.size) {
      const size = Math.min(Math.max(options.chunkSize ?? DEFAULT_CHUNK_BYTES, session.minChunk, 1), desc.size - offset);
      const last = offset + size - 1;
      const req = {
        method: 'PATCH',
        url: session.location,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), 'content-range': `${offset}-${last}` },
        body: Readable.from(reader.slice(size), { objectMode: false }),
      };
      const res = await send(req);
      if (res.status !== 202 && res.status !== 204) throw await errorFromResponse(req, res);
      await res.body.dump().catch(() => undefined);
      session = sessionFrom(res, res.url, session);
      const end = confirmedEnd(res) ?? last;
      if (end > last || end < -1) {
        throw new InvalidResponseError(`chunked upload of blob ${desc.digest.toString()}: sent bytes ${offset}-${last}, the registry reports Range 0-${end}`, { retryable: true });
      }
      if (end !== last) {
        // The registry kept less than it was sent: continue from its offset, re-reading the source there.
        reader.close();
        reader = new SliceReader(await open(end + 1), desc, end + 1);
      }
      offset = end + 1;
      options.onProgress?.(offset);
    }
    await reader.finish();
  } finally {
    reader.close();
  }
  await commit(desc, session, send);
}

/**
 * A mount and nothing else: true when the registry mounted the blob from `from` (201).
 * When it opens an upload session instead (202), the session is cancelled (best effort) and
 * the answer is false, as it is when the registry refuses mounts outright (4xx other than
 * auth and rate limits): the caller then uploads.
 */
export async function mountBlob(repo: RepositoryTarget, desc: Desc, from: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
  const signal = options.signal ? { signal: options.signal } : {};
  const scopes = [...repo.scopes('push'), repositoryScope(from, ['pull'])];
  const req = { method: 'POST', url: await repo.url('blobs/uploads/', { mount: desc.digest.toString(), from }), headers: { 'content-length': '0' }, scopes, ...signal };
  const res = await repo.client.send(req);
  if (res.status === 201) {
    await res.body.dump().catch(() => undefined);
    return true;
  }
  if (res.status === 202) {
    await res.body.dump().catch(() => undefined);
    const location = header(res.headers, 'location');
    if (location) {
      const cancel = await repo.client.send({ method: 'DELETE', url: new URL(location, res.url), scopes, ...signal }).catch(() => undefined);
      await cancel?.body.dump().catch(() => undefined);
    }
    return false;
  }
  if (res.status >= 400 && res.status < 500 && ![401, 403, 429].includes(res.status)) {
    await res.body.dump().catch(() => undefined);
    return false;
  }
  throw await errorFromResponse(req, res);
}

/**
 * Blobs: HEAD, GET as a verified stream, DELETE (distribution-spec "Pulling blobs").
 *
 * A GET is hashed and counted while it flows (`verifyingStream`): the stream fails at its end
 * unless the size and digest are the descriptor's, and as soon as it runs longer. Nothing is
 * held whole in memory; a layer of any size costs a chunk or two.
 *
 * Redirects to storage hosts (S3, a CDN) are followed by the transport, which drops
 * `Authorization` across origins. An interrupted GET is resumed from the byte reached with
 * `Range: bytes=<n>-` (moby's `resumable` reader, containers/image `bodyReader`); a server that
 * ignores the range and sends the whole blob again (200) is read from the start with the
 * bytes already delivered skipped, so the consumer sees one continuous, verified stream. A
 * registry whose blob is shorter than the descriptor (a 416 to the Range, another length
 * announced, the same short body sent again) fails with DIGEST_MISMATCH, not asked again.
 */
import { Readable, pipeline } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.js';
import { DigestMismatchError } from '../oci/errors.js';
import type { Digest } from '../ref/digest.js';
import type { Scope } from '../ref/scope.js';
import { verifyingStream } from '../hashing/verify.js';
import { abortableSleep } from '../transport/layers/retry.js';
import { errorCodeOf, TransportError } from '../transport/errors.js';
import { ErrorCode } from '../errors.js';
import { releaseBody } from '../transport/body.js';
import { header, type TransportRequest, type TransportResponse } from '../transport/types.js';
import { errorFromResponse, expectStatus, InvalidResponseError } from './errors.js';
import { readRateLimit, type RateLimit } from '../transport/rate-limit.js';
import type { RepositoryTarget } from './target.js';

/** Resumes of one GET in a row that bring no new byte before the download fails (moby: 5). */
export const BLOB_RESUME_MAX_ATTEMPTS = 5;
/** The wait before the n-th resume in a row is n times this (moby waits 5 s flat; loopback tests need less). */
export const BLOB_RESUME_DELAY_MS = 250;

/** Body errors that mean "the connection broke", not "the caller gave up". */
const RESUMABLE_CODES = new Set([
  'UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_CLOSED', 'GANTRY_LOW_SPEED',
]);
/** The transport's low-speed cut (timeouts.ts): resumed like any cut, but counted apart, since a drip brings a byte now and then. */
const LOW_SPEED = 'GANTRY_LOW_SPEED';

/** What a HEAD of a blob says. */
export interface BlobHead {
  /** The digest asked about. */
  readonly digest: Digest;
  /** From Content-Length; undefined if the registry did not say. */
  readonly size: number | undefined;
  /** The rate limit the registry announced with the answer, if it did. */
  readonly rateLimit?: RateLimit;
}

/** Options of {@link RepositoryClient.getBlob}. */
export interface GetBlobOptions {
  /** Aborts the download; the stream fails with code ABORTED. */
  readonly signal?: AbortSignal;
  /** Waits between resumes (tests). Default: a timer that the signal can cut short. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Hash and count the bytes here (default true). False when the consumer verifies them
   * itself, as every ImageDestination does before a blob becomes visible: hashing twice cost a
   * registry→layout pull a third of its CPU (bench: 256 MiB pull, 2.7 s CPU, 1.4 s of it sha256).
   */
  readonly verify?: boolean;
}

/** A verified blob stream. `resumes` counts the Range requests it needed. */
export type BlobStream = Readable & {
  /** The rate limit the registry announced with the answer, if it did. */
  readonly rateLimit?: RateLimit;
  /** How many times the download was resumed after a break. */
  readonly resumes: number
};

function withSignal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

/** `scopes`: a push names its push scopes here too, so that one token serves the whole upload. */
export async function headBlob(repo: RepositoryTarget, digest: Digest, options: { signal?: AbortSignal; scopes?: readonly Scope[] }): Promise<BlobHead | undefined> {
  const req = { method: 'HEAD', url: await repo.url(`blobs/${digest.toString()}`), scopes: options.scopes ?? repo.scopes('pull'), ...withSignal(options.signal) };
  const res = await repo.client.send(req);
  await res.body.dump().catch(() => undefined);
  if (res.status === 404) return undefined;
  await expectStatus(req, res, [200]);
  const length = header(res.headers, 'content-length');
  const rateLimit = readRateLimit(res.headers);
  return { digest, size: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined, ...(rateLimit ? { rateLimit } : {}) };
}

export async function deleteBlob(repo: RepositoryTarget, digest: Digest, options: { signal?: AbortSignal }): Promise<void> {
  const req = { method: 'DELETE', url: await repo.url(`blobs/${digest.toString()}`), scopes: repo.scopes('delete'), ...withSignal(options.signal) };
  const res = await repo.client.send(req);
  await expectStatus(req, res, [200, 202, 204]);
  await res.body.dump().catch(() => undefined);
}

/** Whether a body error is a broken connection worth a Range request. */
function isResumable(err: unknown): boolean {
  const code = err instanceof TransportError ? err.cause_code : errorCodeOf(err);
  return code !== undefined && RESUMABLE_CODES.has(code);
}

/** The first byte of `Content-Range: bytes <first>-<last>/<total>`. */
function rangeStart(res: TransportResponse): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header(res.headers, 'content-range')?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * GET a blob. The first request is made before returning, so a missing blob (404,
 * BLOB_UNKNOWN) or a denied one rejects here; everything after is a stream error.
 */
export async function getBlob(repo: RepositoryTarget, desc: Pick<Descriptor, 'digest' | 'size'>, options: GetBlobOptions): Promise<BlobStream> {
  const url = await repo.url(`blobs/${desc.digest.toString()}`);
  const what = `blob ${desc.digest.toString()}`;
  const sleep = options.sleep ?? abortableSleep;
  const request = (offset: number): TransportRequest => ({
    method: 'GET',
    url,
    headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    scopes: repo.scopes('pull'),
    ...withSignal(options.signal),
  });
  const firstReq = request(0);
  const first = await repo.client.send(firstReq);
  if (first.status !== 200) throw await errorFromResponse(firstReq, first);
  const length = header(first.headers, 'content-length');
  if (length !== undefined && /^\d+$/.test(length) && Number(length) !== desc.size) {
    await first.body.dump().catch(() => undefined);
    throw new DigestMismatchError(`${what}: size mismatch: expected ${desc.size} bytes, the registry announces ${length}`, desc.digest.toString());
  }

  let resumes = 0;
  let res = first;
  let delivered = 0;
  let skip = 0;
  let failures = 0;
  let slowCuts = 0;
  /** Where the last resume stood when the registry, ignoring the Range, sent the whole blob again. */
  let resentFrom: number | undefined;
  let started = false;
  // Each response body gets a generation; events of a body given up on are ignored.
  let generation = 0;
  // A body destroyed before it was read (the consumer gave up) fails with an AbortError: quietly.
  first.body.on('error', () => undefined);
  // One Readable fed by the response bodies' 'data' events: no async iterator and no
  // Readable.from() layer, which cost a pull ~0.5 s of CPU per GiB in copies and promises.
  const body = new Readable({
    highWaterMark: 1 << 16,
    read() {
      if (!started) {
        started = true;
        attach(first);
      } else {
        // While a resume is being asked for, res.body is the one that ended or failed: a no-op.
        res.body.resume();
      }
    },
    destroy(err, callback) {
      generation++;
      releaseBody(res.body);
      callback(err);
    },
  });

  function attach(r: TransportResponse): void {
    res = r;
    const gen = ++generation;
    // A body given up on can still be failed later (undici destroys it when the request's
    // signal aborts): never an unhandled 'error' event.
    r.body.on('error', (err) => {
      if (gen === generation) void settle(err);
    });
    r.body.on('data', (chunk: Buffer) => {
      if (gen !== generation) return;
      let c = chunk;
      if (skip > 0) {
        if (c.length <= skip) {
          skip -= c.length;
          return;
        }
        c = c.subarray(skip);
        skip = 0;
      }
      delivered += c.length;
      failures = 0;
      if (!body.push(c)) r.body.pause();
    });
    r.body.once('end', () => {
      if (gen === generation) void settle(undefined);
    });
    r.body.once('close', () => {
      if (gen === generation) void settle(Object.assign(new Error('the response body closed before its end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  }

  /** The current body ended (`broke` undefined) or failed: finish, fail, or resume with Range. */
  async function settle(broke: unknown): Promise<void> {
    generation++;
    try {
      // A body that ended short without an error (a chunked response cut cleanly) is a break too,
      // unless it was the whole blob sent again and it ended where the first one did: then the
      // registry's blob is that short, and asking again would only bring the same bytes.
      if (broke === undefined && (delivered >= desc.size || skip > 0 || resentFrom === delivered)) {
        if (skip > 0) throw new DigestMismatchError(`${what}: the registry's second answer was shorter than the part already read`, desc.digest.toString());
        if (delivered < desc.size) throw new DigestMismatchError(`${what}: size mismatch: expected ${desc.size} bytes, the registry's blob ends at byte ${delivered}`, desc.digest.toString());
        body.push(null);
        return;
      }
      if (broke !== undefined && (!isResumable(broke) || options.signal?.aborted)) throw broke;
      if (broke instanceof TransportError && broke.cause_code === LOW_SPEED && ++slowCuts > BLOB_RESUME_MAX_ATTEMPTS) {
        throw new TransportError(ErrorCode.TIMEOUT, 'GET', url, `${what}: the download stalled ${slowCuts} times (under the low-speed limit) at byte ${delivered} of ${desc.size}`, {
          cause: broke,
          causeCode: LOW_SPEED,
          retryable: true,
        });
      }
      failures++;
      if (failures > BLOB_RESUME_MAX_ATTEMPTS) {
        throw new TransportError(ErrorCode.CONNECTION, 'GET', url, `${what}: the download broke ${failures} times in a row at byte ${delivered} of ${desc.size}`, {
          cause: broke,
          causeCode: errorCodeOf(broke) ?? 'PREMATURE_END',
        });
      }
      await sleep(BLOB_RESUME_DELAY_MS * failures, options.signal);
      if (body.destroyed) return;
      resumes++;
      const req = request(delivered);
      const next = await repo.client.send(req);
      if (body.destroyed) {
        releaseBody(next.body);
        return;
      }
      if (next.status === 206) {
        const start = rangeStart(next);
        if (start !== delivered) {
          await next.body.dump().catch(() => undefined);
          throw new InvalidResponseError(`GET ${what}: asked for bytes ${delivered}- and got Content-Range ${header(next.headers, 'content-range') ?? '(none)'}`);
        }
      } else if (next.status === 200) {
        const resentLength = header(next.headers, 'content-length');
        if (resentLength !== undefined && /^\d+$/.test(resentLength) && Number(resentLength) !== desc.size) {
          await next.body.dump().catch(() => undefined);
          throw new DigestMismatchError(`${what}: size mismatch: expected ${desc.size} bytes, the registry announces ${resentLength}`, desc.digest.toString());
        }
        skip = delivered; // no range support: the whole blob again, the known part skipped
        resentFrom = delivered;
      } else if (next.status === 416) {
        // "Range Not Satisfiable" for `bytes=<delivered>-`: the registry's blob ends before it.
        await next.body.dump().catch(() => undefined);
        throw new DigestMismatchError(`${what}: size mismatch: expected ${desc.size} bytes, the registry's blob ends at or before byte ${delivered} (416 to a Range request)`, desc.digest.toString());
      } else {
        throw await errorFromResponse(req, next);
      }
      attach(next);
    } catch (err) {
      if (!body.destroyed) body.destroy(err as Error);
    }
  }

  let out: Readable = body;
  if (options.verify ?? true) {
    const verifier = verifyingStream(desc, what);
    pipeline(body, verifier, () => undefined);
    out = verifier;
  }
  const rateLimit = readRateLimit(first.headers);
  Object.defineProperty(out, 'resumes', { get: () => resumes, enumerable: true });
  if (rateLimit) Object.defineProperty(out, 'rateLimit', { value: rateLimit, enumerable: true });
  return out as BlobStream;
}

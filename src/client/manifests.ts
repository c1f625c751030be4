/**
 * Manifests: GET and HEAD by tag or digest, PUT, DELETE (distribution-spec "Pulling
 * manifests", "Pushing manifests", "Deleting manifests").
 *
 * Trust nothing downloaded: the digest is computed from the bytes as received (never from a
 * re-serialised value); `Docker-Content-Digest`, when the registry sends it, must agree; a
 * manifest asked for by digest must hash to that digest. Bodies are read up to
 * MAX_MANIFEST_BYTES (4 MiB, distribution's own limit) and no further.
 */
import { readCapped } from '../transport/body.js';
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { DigestMismatchError } from '../oci/errors.js';
import { manifestDescriptor, MAX_MANIFEST_BYTES, parseManifest, type IndexManifest, type Manifest } from '../oci/manifest.js';
import { ACCEPT_MANIFESTS } from '../oci/media-types.js';
import { parsePlatform, selectManifest, type Platform } from '../oci/platform.js';
import { Digest } from '../ref/digest.js';
import type { Reference } from '../ref/reference.js';
import { header, type TransportResponse } from '../transport/types.js';
import { errorFromResponse, expectStatus, InvalidResponseError, translatePullError } from './errors.js';
import { readRateLimit, type RateLimit } from '../transport/rate-limit.js';
import type { RepositoryTarget } from './target.js';

/** Options for a manifest GET or HEAD: the media types to accept, a platform to resolve an index to, a signal. */
export interface GetManifestOptions {
  /** Media types to accept, best first. Default: ACCEPT_MANIFESTS (OCI and Docker, schema 1 last). */
  readonly accept?: readonly string[];
  /**
   * With an index or manifest list, fetch the image for this platform (`linux/arm64` or a
   * Platform) instead; the index comes back as `index`.
   */
  readonly platform?: Platform | string;
  /** Cancels the request when it fires. */
  readonly signal?: AbortSignal;
}

/** A manifest as downloaded and checked: its bytes hash to `digest` (and to the digest asked for, if any). */
export interface ManifestResult {
  /** The parsed manifest; it carries the raw `bytes`, the `digest` of those bytes and the `mediaType`. */
  readonly manifest: Manifest;
  /** The manifest's bytes exactly as received (at most 4 MiB). */
  readonly bytes: Buffer;
  /** The digest of `bytes`. */
  readonly digest: Digest;
  /** The manifest's media type: its `mediaType` field, else the Content-Type, else inferred from its shape. */
  readonly mediaType: string;
  /** The descriptor that points at this manifest. */
  readonly descriptor: Descriptor;
  /** The index the manifest was chosen from, when a platform was asked for and the target was an index. */
  readonly index?: IndexManifest;
  /** The rate limit the registry announced with this answer; undefined when it sent none. */
  readonly rateLimit?: RateLimit;
}

/** What a manifest HEAD told without a body; a field the registry did not send is undefined. */
export interface ManifestHead {
  /** From `Docker-Content-Digest`, or the digest asked for; undefined when a tag's HEAD did not say. */
  readonly digest: Digest | undefined;
  /** The Content-Type's media type (parameters dropped); undefined when the registry sent none. */
  readonly mediaType: string | undefined;
  /** The manifest's size in bytes, from `Content-Length`; undefined when absent or not a number. */
  readonly size: number | undefined;
  /** The rate limit the registry announced with this answer; undefined when it sent none. */
  readonly rateLimit?: RateLimit;
}

/** What a manifest PUT stored. */
export interface PutManifestResult {
  /** The digest of the bytes pushed, computed here; a `Docker-Content-Digest` the registry sent in the same algorithm agreed with it. */
  readonly digest: Digest;
  /** The `Location` the registry answered with. */
  readonly location?: string;
  /** `OCI-Subject`: the registry indexed the manifest's subject for the referrers API. */
  readonly subject?: string;
  /** The rate limit the registry announced with this answer; undefined when it sent none. */
  readonly rateLimit?: RateLimit;
}

/** The media type of a Content-Type (parameters dropped). */
function mediaTypeOf(res: TransportResponse): string | undefined {
  const t = header(res.headers, 'content-type')?.split(';')[0]?.trim();
  return t || undefined;
}


/** `Docker-Content-Digest` as a Digest; undefined when absent or in an algorithm gantry cannot check. */
function announcedDigest(res: TransportResponse): Digest | undefined {
  const v = header(res.headers, 'docker-content-digest');
  if (!v) return undefined;
  try {
    return Digest.parse(v.trim());
  } catch {
    return undefined;
  }
}

async function fetchOne(repo: RepositoryTarget, ref: Reference, options: GetManifestOptions): Promise<ManifestResult> {
  const url = await repo.url(`manifests/${ref.identifier}`);
  const req = { method: 'GET', url, headers: { accept: (options.accept ?? ACCEPT_MANIFESTS).join(', ') }, scopes: repo.scopes('pull'), ...(options.signal ? { signal: options.signal } : {}) };
  const res = await repo.client.send(req);
  if (res.status !== 200) throw translatePullError(await errorFromResponse(req, res), ref);
  const bytes = await readCapped(res, MAX_MANIFEST_BYTES, `manifest ${ref.familiar()}`);
  const announced = announcedDigest(res);
  if (announced) {
    const actual = Digest.fromBytes(bytes, announced.algorithm);
    if (!actual.equals(announced)) {
      throw new DigestMismatchError(
        `manifest ${ref.familiar()}: the registry says its digest is ${announced.toString()} (Docker-Content-Digest), but its ${bytes.length} bytes hash to ${actual.toString()}`,
        announced.toString(),
        actual.toString(),
      );
    }
  }
  const contentType = mediaTypeOf(res);
  const manifest = parseManifest(bytes, { ...(contentType ? { mediaType: contentType } : {}), ...(ref.digest ? { expectedDigest: ref.digest } : {}) });
  const rateLimit = readRateLimit(res.headers);
  return {
    manifest,
    bytes,
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    descriptor: manifestDescriptor(manifest),
    ...(rateLimit ? { rateLimit } : {}),
  };
}

export async function getManifest(repo: RepositoryTarget, ref: Reference, options: GetManifestOptions): Promise<ManifestResult> {
  const top = await fetchOne(repo, ref, options);
  if (options.platform === undefined || top.manifest.kind !== 'index') return top;
  const wanted = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  const chosen = selectManifest(top.manifest, wanted);
  const child = await fetchOne(repo, ref.withDigest(chosen.digest), options);
  return { ...child, index: top.manifest };
}

export async function headManifest(repo: RepositoryTarget, ref: Reference, options: GetManifestOptions): Promise<ManifestHead | undefined> {
  const url = await repo.url(`manifests/${ref.identifier}`);
  const req = { method: 'HEAD', url, headers: { accept: (options.accept ?? ACCEPT_MANIFESTS).join(', ') }, scopes: repo.scopes('pull'), ...(options.signal ? { signal: options.signal } : {}) };
  const res = await repo.client.send(req);
  if (res.status === 404) {
    await res.body.dump().catch(() => undefined);
    return undefined;
  }
  if (res.status !== 200) throw translatePullError(await errorFromResponse(req, res), ref);
  await res.body.dump().catch(() => undefined);
  const announced = announcedDigest(res);
  if (announced && ref.digest && !announced.equals(ref.digest) && announced.algorithm === ref.digest.algorithm) {
    throw new DigestMismatchError(`manifest ${ref.familiar()}: HEAD answered with digest ${announced.toString()}`, ref.digest.toString(), announced.toString());
  }
  const length = header(res.headers, 'content-length');
  const rateLimit = readRateLimit(res.headers);
  return {
    digest: announced ?? ref.digest,
    mediaType: mediaTypeOf(res),
    size: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
    ...(rateLimit ? { rateLimit } : {}),
  };
}

/**
 * PUT `bytes` as they are under a tag or a digest, with `mediaType` as Content-Type. The
 * digest is computed here (and must equal the target when it is a digest), and must equal
 * the registry's `Docker-Content-Digest` when it sends one.
 */
export async function putManifest(repo: RepositoryTarget, target: string | Digest, bytes: Buffer, mediaType: string, options: { signal?: AbortSignal }): Promise<PutManifestResult> {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new GantryError(ErrorCode.TOO_LARGE, `manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES} registries accept`);
  }
  const digest = Digest.fromBytes(bytes, target instanceof Digest ? target.algorithm : 'sha256');
  if (target instanceof Digest && !digest.equals(target)) {
    throw new DigestMismatchError(`manifest to push as ${target.toString()} hashes to ${digest.toString()}`, target.toString(), digest.toString());
  }
  const ref = repo.reference(target);
  const url = await repo.url(`manifests/${ref.identifier}`);
  const req = { method: 'PUT', url, headers: { 'content-type': mediaType }, body: bytes, scopes: repo.scopes('push'), ...(options.signal ? { signal: options.signal } : {}) };
  const res = await repo.client.send(req);
  await expectStatus(req, res, [200, 201, 202, 204]);
  await res.body.dump().catch(() => undefined);
  const announced = announcedDigest(res);
  if (announced && announced.algorithm === digest.algorithm && !announced.equals(digest)) {
    throw new InvalidResponseError(`PUT ${ref.familiar()}: the registry stored the manifest as ${announced.toString()}, but its bytes hash to ${digest.toString()}`);
  }
  const location = header(res.headers, 'location');
  const subject = header(res.headers, 'oci-subject');
  const rateLimit = readRateLimit(res.headers);
  return { digest, ...(location ? { location } : {}), ...(subject ? { subject } : {}), ...(rateLimit ? { rateLimit } : {}) };
}

/** DELETE by digest (registries refuse deleting by tag; distribution answers 202). */
export async function deleteManifest(repo: RepositoryTarget, target: string | Digest, options: { signal?: AbortSignal }): Promise<void> {
  const ref = repo.reference(target);
  const url = await repo.url(`manifests/${ref.identifier}`);
  const req = { method: 'DELETE', url, scopes: repo.scopes('delete'), ...(options.signal ? { signal: options.signal } : {}) };
  const res = await repo.client.send(req);
  await expectStatus(req, res, [200, 202, 204]);
  await res.body.dump().catch(() => undefined);
}

/**
 * Referrers (distribution-spec v1.1 "Listing Referrers"): the manifests whose `subject` is a
 * digest. `GET /v2/<name>/referrers/<digest>` with the `artifactType` filter, following
 * `Link` pages. A registry without the API (404, or 400/405 from older routers) is read
 * through the referrers tag schema: the index tagged `<alg>-<hex>` (`sha256-…`). The filter
 * is applied here whenever the registry did not say it applied it (`OCI-Filters-Applied`).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCode, GantryError } from '../errors.js';
import { descriptorToJSON, parseJsonObject, type Descriptor, type JsonObject } from '../oci/descriptor.js';
import { parseManifest, type Manifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Digest } from '../ref/digest.js';
import { Reference } from '../ref/reference.js';
import { header } from '../transport/types.js';
import { errorFromResponse, InvalidResponseError } from './errors.js';
import { readCapped } from '../transport/body.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { getManifest, headManifest, putManifest, type PutManifestResult } from './manifests.js';
import { nextLink } from './pagination.js';
import { readRateLimit, type RateLimit } from '../transport/rate-limit.js';
import type { RepositoryTarget } from './target.js';

/** Statuses that mean "no referrers API here": fall back to the tag schema. */
const NO_API = new Set([400, 404, 405]);
/** Referrers pages followed at most. */
export const MAX_REFERRERS_PAGES = 1000;

/** Options for a referrers listing: an `artifactType` filter and a signal. */
export interface ReferrersOptions {
  /** Only referrers with this `artifactType`. */
  readonly artifactType?: string;
  /** Cancels the listing's requests when it fires. */
  readonly signal?: AbortSignal;
}

/** The manifests that refer to a digest (their `subject`), and where the list came from. */
export interface ReferrersResult {
  /** The referrers' descriptors, filtered by `artifactType` when one was asked for; empty when there are none. */
  readonly manifests: readonly Descriptor[];
  /** `api`: the referrers API answered; `tag`: the `sha256-<hex>` tag index was read (or is absent). */
  readonly source: 'api' | 'tag';
  /** The latest rate limit the registry announced while listing; undefined when it sent none. */
  readonly rateLimit?: RateLimit;
}

/**
 * The referrers tag of the tag schema, `<alg>-<ref>`: `sha256:abc…` → `sha256-abc…`, the
 * algorithm cut to 32 characters and the encoded digest to 64, so that a sha512 subject still
 * makes a valid tag (at most 128 characters). See "Referrers Tag Schema" in
 * https://github.com/opencontainers/distribution-spec/blob/main/spec.md
 */
export function referrersTag(digest: Digest): string {
  return `${digest.algorithm.slice(0, 32)}-${digest.encoded.slice(0, 64)}`;
}

function filter(manifests: readonly Descriptor[], artifactType: string | undefined): Descriptor[] {
  return artifactType === undefined ? [...manifests] : manifests.filter((m) => m.artifactType === artifactType);
}

export async function referrers(repo: RepositoryTarget, digest: Digest, options: ReferrersOptions): Promise<ReferrersResult> {
  const signal = options.signal ? { signal: options.signal } : {};
  let url: URL | undefined = await repo.url(`referrers/${digest.toString()}`, { artifactType: options.artifactType });
  const all: Descriptor[] = [];
  let rateLimit: RateLimit | undefined;
  for (let page = 0; url; page++) {
    if (page >= MAX_REFERRERS_PAGES) throw new InvalidResponseError(`referrers of ${digest.toString()}: more than ${MAX_REFERRERS_PAGES} pages`);
    const req = { method: 'GET', url, headers: { accept: MediaType.OCI_INDEX }, scopes: repo.scopes('pull'), ...signal };
    const res = await repo.client.send(req);
    if (page === 0 && NO_API.has(res.status)) {
      await res.body.dump().catch(() => undefined);
      return byTag(repo, digest, options);
    }
    if (res.status !== 200) throw await errorFromResponse(req, res);
    rateLimit = readRateLimit(res.headers) ?? rateLimit;
    const bytes = await readCapped(res, MAX_MANIFEST_BYTES, `referrers of ${digest.toString()}`);
    const index = parseManifest(bytes, { mediaType: header(res.headers, 'content-type') ?? MediaType.OCI_INDEX });
    if (index.kind !== 'index') throw new InvalidResponseError(`referrers of ${digest.toString()}: the registry answered with a ${index.mediaType}, not an index`);
    const applied = (header(res.headers, 'oci-filters-applied') ?? '').split(',').map((s) => s.trim());
    all.push(...(applied.includes('artifactType') ? index.manifests : filter(index.manifests, options.artifactType)));
    url = nextLink(res);
  }
  return { manifests: all, source: 'api', ...(rateLimit ? { rateLimit } : {}) };
}

/** The tag schema: the index at `<alg>-<hex>`, or nothing when that tag does not exist. */
async function byTag(repo: RepositoryTarget, digest: Digest, options: ReferrersOptions): Promise<ReferrersResult> {
  const ref = Reference.of(repo.repository, { tag: referrersTag(digest) });
  try {
    const result = await getManifest(repo, ref, { accept: [MediaType.OCI_INDEX], ...(options.signal ? { signal: options.signal } : {}) });
    if (result.manifest.kind !== 'index') {
      throw new InvalidResponseError(`referrers tag ${ref.familiar()} is a ${result.mediaType}, not an index`);
    }
    return { manifests: filter(result.manifest.manifests, options.artifactType), source: 'tag', ...(result.rateLimit ? { rateLimit: result.rateLimit } : {}) };
  } catch (err) {
    if (err instanceof Error && (err as { status?: number }).status === 404) return { manifests: [], source: 'tag' };
    throw err;
  }
}

/** Attempts at the fallback tag's read-modify-write before giving up. */
export const MAX_REFERRERS_TAG_ATTEMPTS = 16;
/** After writing the referrers tag, look again after this many of the PUT's round trips, and at least SETTLE_MIN_MS. */
const SETTLE_ROUND_TRIPS = 4;
const SETTLE_MIN_MS = 50;

/** What {@link RepositoryClient.putReferrer} did: the manifest's push, and how its subject learns of it. */
export interface PutReferrerResult extends PutManifestResult {
  /** `api`: the registry indexed the subject itself (`OCI-Subject`); `tag`: the `sha256-<hex>` index was updated. */
  readonly indexedBy: 'api' | 'tag';
  /** With `tag`: the digest of the referrers index now tagged; undefined when the entry was there already. */
  readonly tagDigest?: Digest;
}

/**
 * The descriptor a referrers list holds for a manifest: media type, digest, size, the
 * `artifactType` (for an image manifest without one, its config's media type, as the
 * distribution spec says) and the manifest's annotations.
 */
export function referrerDescriptor(manifest: Manifest): Descriptor {
  const artifactType = manifest.kind === 'image' ? (manifest.artifactType ?? manifest.config.mediaType) : undefined;
  const annotations = manifest.kind === 'schema1' ? undefined : manifest.annotations;
  return {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.bytes.length,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined && Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}

/**
 * Pushes a manifest that has a `subject` (by digest) and makes it findable as a referrer. A
 * registry that answers the PUT with `OCI-Subject` indexed it; otherwise the referrers tag
 * schema is written: the index at `sha256-<hex>` of the subject is read, the manifest's
 * descriptor added, and the index put back. Between read and write another writer may have
 * changed the tag, so the digest is checked again just before the PUT, and the step redone on
 * the newer index when it moved: an entry another writer added before that check is never
 * written over. Registries have no conditional PUT, so a writer that checked just before this
 * PUT landed can still write over it; each writer therefore reads the tag again a few round
 * trips after its PUT and merges again when its entry is gone (the race test in
 * test/integration/client-referrers-write.test.ts runs eight writers at once). Gives up after
 * MAX_REFERRERS_TAG_ATTEMPTS rounds (REGISTRY).
 */
export async function putReferrer(repo: RepositoryTarget, bytes: Buffer, mediaType: string, options: { signal?: AbortSignal } = {}): Promise<PutReferrerResult> {
  const manifest = parseManifest(bytes, { mediaType });
  const subject = manifest.kind === 'schema1' ? undefined : manifest.subject;
  if (subject === undefined) throw new GantryError(ErrorCode.INVALID_OPTION, `putReferrer: the manifest ${manifest.digest.toString()} has no subject`);
  const pushed = await putManifest(repo, manifest.digest, bytes, mediaType, options);
  if (pushed.subject !== undefined) return { ...pushed, indexedBy: 'api' };
  const entry = descriptorToJSON(referrerDescriptor(manifest));
  const tagRef = Reference.of(repo.repository, { tag: referrersTag(subject.digest) });
  const signal = options.signal ? { signal: options.signal } : {};
  const current = async (): Promise<{ digest?: Digest; doc?: JsonObject; has: boolean }> => {
    try {
      const got = await getManifest(repo, tagRef, { accept: [MediaType.OCI_INDEX], ...signal });
      if (got.manifest.kind !== 'index') throw new InvalidResponseError(`referrers tag ${tagRef.familiar()} is a ${got.mediaType}, not an index`);
      return { digest: got.digest, doc: parseJsonObject(got.bytes, `referrers tag ${tagRef.familiar()}`), has: got.manifest.manifests.some((m) => m.digest.equals(manifest.digest)) };
    } catch (err) {
      if ((err as { status?: number }).status === 404) return { has: false };
      throw err;
    }
  };
  const tagDigestNow = async (): Promise<string | undefined> => {
    const head = await headManifest(repo, tagRef, { accept: [MediaType.OCI_INDEX], ...signal });
    if (head === undefined) return undefined;
    // A registry that does not say the digest on HEAD: ask with a GET.
    return (head.digest ?? (await current()).digest)?.toString();
  };
  for (let attempt = 0; attempt < MAX_REFERRERS_TAG_ATTEMPTS; attempt++) {
    const seen = await current();
    if (seen.has) return { ...pushed, indexedBy: 'tag' };
    const manifests = Array.isArray(seen.doc?.manifests) ? (seen.doc.manifests as unknown[]) : [];
    const next = Buffer.from(JSON.stringify({ ...(seen.doc ?? { schemaVersion: 2 }), mediaType: MediaType.OCI_INDEX, manifests: [...manifests, entry] }));
    // The tag moved since it was read: read again rather than write over the other entry.
    if ((await tagDigestNow()) !== seen.digest?.toString()) continue;
    const started = performance.now();
    const written = await putManifest(repo, tagRef.tag as string, next, MediaType.OCI_INDEX, options);
    // Another writer that checked the tag before this PUT landed may still be about to write
    // over it (a registry has no conditional PUT). Its PUT follows its check by about one
    // round trip, so look again after a few of them: if the entry is gone, merge again.
    await delay(Math.max(SETTLE_MIN_MS, SETTLE_ROUND_TRIPS * (performance.now() - started)), undefined, signal);
    const after = await current();
    if (after.has) return { ...pushed, indexedBy: 'tag', ...(after.digest?.equals(written.digest) ? { tagDigest: written.digest } : {}) };
  }
  throw new GantryError(ErrorCode.REGISTRY, `referrers tag ${tagRef.familiar()} kept changing under ${MAX_REFERRERS_TAG_ATTEMPTS} attempts to add ${manifest.digest.toString()}`);
}

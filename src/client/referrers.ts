/**
 * Referrers (distribution-spec v1.1 "Listing Referrers"): the manifests whose `subject` is a
 * digest. `GET /v2/<name>/referrers/<digest>` with the `artifactType` filter, following
 * `Link` pages. A registry without the API (404, or 400/405 from older routers) is read
 * through the referrers tag schema: the index tagged `<alg>-<hex>` (`sha256-…`). The filter
 * is applied here whenever the registry did not say it applied it (`OCI-Filters-Applied`).
 */
import type { Descriptor } from '../oci/descriptor.js';
import { parseManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Digest } from '../ref/digest.js';
import { Reference } from '../ref/reference.js';
import { header } from '../transport/types.js';
import { errorFromResponse, InvalidResponseError } from './errors.js';
import { readCapped } from '../transport/body.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { getManifest } from './manifests.js';
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

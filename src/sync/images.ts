/**
 * The image side of a sync: what digest a destination tag must have to be up to date, and
 * the copy of one tag on the run's shared clients (copyImage with a RegistryImageSource and a
 * RegistryImageDestination, not copy(), which would connect to both registries for every tag).
 *
 * The digest to compare: the source tag's own (from its HEAD) when every platform is copied,
 * which keeps an unchanged tag at one HEAD per side. With `platforms`, the destination holds
 * something else than the source tag when that is an index: one platform's image (copy's
 * `platform`), or a new index listing only the platforms asked for. Its digest is known only
 * from the source index, so such a tag costs one GET of the index at the source per run.
 */
import type { CopyOptions, CopyResult } from '../image/copy.js';
import { copyImage } from '../image/copy.js';
import { RegistryImageDestination, RegistryImageSource } from '../image/registry.js';
import type { RawManifest } from '../image/types.js';
import type { RegistryClient, RepositoryClient } from '../client/registry-client.js';
import type { ManifestHead } from '../client/manifests.js';
import { ErrorCode, GantryError } from '../errors.js';
import { isIndex } from '../oci/media-types.js';
import { matchPlatform, parsePlatform, selectManifest } from '../oci/platform.js';
import { Digest } from '../ref/digest.js';
import type { Reference } from '../ref/reference.js';

/** What the destination tag must point at, and the manifest to write when it is a platform subset. */
export interface Expected {
  /** The digest the destination tag must have. */
  readonly digest: Digest;
  /** The index of only the platforms asked for, when it is not the source's own manifest. */
  readonly subset?: RawManifest;
}

/**
 * An index narrowed to `platforms`: the source index's JSON with only the matching entries
 * in `manifests` (other fields kept). A new manifest, so a new digest, the same for the same
 * source bytes on every run. NOT_FOUND when no entry matches.
 */
export function platformSubset(index: RawManifest, platforms: readonly string[], where: string): RawManifest {
  const wanted = platforms.map((p) => parsePlatform(p));
  const json = JSON.parse(index.bytes.toString('utf8')) as { manifests?: { platform?: Parameters<typeof matchPlatform>[1] }[] };
  const kept = (json.manifests ?? []).filter((d) => d.platform !== undefined && wanted.some((w) => matchPlatform(w, d.platform!)));
  if (kept.length === 0) throw new GantryError(ErrorCode.NOT_FOUND, `${where}: the index has none of the platforms ${platforms.join(', ')}`);
  const bytes = Buffer.from(JSON.stringify({ ...json, manifests: kept }));
  return { bytes, mediaType: index.mediaType, digest: Digest.fromBytes(bytes) };
}

/**
 * The digest the destination must have for `source` (its HEAD is `head`): the HEAD's digest
 * for all platforms (a GET when the registry's HEAD did not say); for `platforms`, from one
 * GET of the source index.
 */
export async function expectedDigest(repo: RepositoryClient, ref: Reference, head: ManifestHead, platforms: readonly string[] | undefined, signal: AbortSignal | undefined): Promise<Expected> {
  const opts = signal ? { signal } : {};
  const all = platforms === undefined || platforms.length === 0;
  if (head.digest && (all || (head.mediaType !== undefined && !isIndex(head.mediaType)))) return { digest: head.digest };
  const got = await repo.getManifest(ref, opts);
  if (all || got.manifest.kind !== 'index') return { digest: got.digest };
  if (platforms.length === 1) return { digest: selectManifest(got.manifest, parsePlatform(platforms[0]!)).digest };
  const subset = platformSubset({ bytes: got.bytes, mediaType: got.mediaType, digest: got.digest }, platforms, ref.familiar());
  return { digest: subset.digest, subset };
}

/** The source with its top manifest replaced by a platform subset (children and blobs are the source's). */
class SubsetSource extends RegistryImageSource {
  constructor(
    client: RegistryClient,
    reference: Reference,
    private readonly top: RawManifest,
  ) {
    super(client, reference);
  }

  override async getManifest(digest?: Digest): Promise<RawManifest> {
    if (digest === undefined || digest.equals(this.top.digest)) return this.top;
    return super.getManifest(digest);
  }
}

/**
 * A registry destination whose tag the sync already HEADed, so copy need not ask again: it
 * differs (the manifest is written), or it is up to date (a copy for the referrers only).
 */
class ComparedDestination extends RegistryImageDestination {
  constructor(
    client: RegistryClient,
    reference: Reference,
    private readonly current: boolean,
  ) {
    super(client, reference);
  }

  override async hasManifest(digest: Digest): Promise<boolean> {
    if (this.current) this.upToDate = digest.toString();
    return this.current;
  }
}

/** How one tag is copied. */
export interface TagCopy {
  /** The source client and the tag's reference there. */
  readonly from: { readonly client: RegistryClient; readonly reference: Reference };
  /** The destination client and the tag's reference there. */
  readonly to: { readonly client: RegistryClient; readonly reference: Reference };
  /** What the destination must end up with. */
  readonly expected: Expected;
  /** The platforms asked for (none: all). */
  readonly platforms: readonly string[] | undefined;
  /** Copy the referrers (copy()'s `referrers`). */
  readonly referrers: boolean;
  /** The destination tag has the expected digest already: only missing referrers are copied. */
  readonly upToDate?: boolean;
  /** Blobs at once. */
  readonly jobs: number;
  /** Aborts the copy. */
  readonly signal?: AbortSignal;
}

/** Copies one tag on the shared clients; blobs the destination has are not sent again (a rerun after a kill resumes here). */
export function copyTag(c: TagCopy): Promise<CopyResult> {
  const source = c.expected.subset ? new SubsetSource(c.from.client, c.from.reference, c.expected.subset) : new RegistryImageSource(c.from.client, c.from.reference);
  const destination = new ComparedDestination(c.to.client, c.to.reference, c.upToDate ?? false);
  const options: CopyOptions = {
    jobs: c.jobs,
    ...(c.signal ? { signal: c.signal } : {}),
    ...(c.platforms?.length === 1 ? { platform: c.platforms[0]! } : {}),
    ...(c.referrers ? { referrers: true } : {}),
  };
  return copyImage(source, destination, options);
}

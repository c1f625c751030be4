/**
 * The two interfaces copy is built on. Every place an image can live (a registry, an OCI
 * layout, a docker archive) is an `ImageSource` to read from and an `ImageDestination` to
 * write to. They are small and lazy: nothing is read until asked for, blobs are streams, and
 * manifests travel as the bytes they were (their digest depends on it).
 *
 * Who verifies a blob: **the destination, always, on the client.** A source streams the
 * bytes it has, unhashed; `putBlob` hashes and counts them while they flow (in a worker thread
 * for large blobs: `hashing/verify.ts`) and rejects with DIGEST_MISMATCH, before anything
 * becomes visible, when the size or digest is not the descriptor's. So every copy checks
 * every byte it moves once, whatever the pair (registry→registry, registry→layout,
 * layout→registry, …), and no pair hashes a byte twice. A registry destination does it as
 * it uploads, and the registry checks again on its side: that second hash is not ours. Any
 * other reader of `getBlob` (inspect) verifies what it reads itself.
 *
 * Two capabilities on top, for referrers (`copy --referrers`, docs/referrers.md): a
 * `ReferrerSource` says what refers to a manifest, a `ReferrerDestination` stores referrers.
 * Registries and OCI layouts (directories and archives) are both; a docker archive is neither.
 */
import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.js';
import type { Digest } from '../ref/digest.js';

/** A manifest as stored: exact bytes, media type and the digest of those bytes. */
export interface RawManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

export interface BlobOptions {
  signal?: AbortSignal;
  /** For `putBlob`: the caller has just seen `hasBlob` answer false, so the destination need not ask again. */
  absent?: boolean;
}

export interface ImageSource {
  /** Human name for messages: `oci:/path:tag`, `docker-archive:/x.tar`, `docker://host/repo:tag`. */
  readonly name: string;
  /** The top-level manifest (image or index) as raw bytes + media type + digest. */
  getManifest(digest?: Digest): Promise<RawManifest>; // digest: a child manifest of an index
  /**
   * A blob's bytes as a stream, not verified here: the caller (a destination's `putBlob`, or
   * `verifyingStream`) checks size and digest while it flows. A source still fails the stream
   * when it knows the bytes are wrong (a registry announcing another length).
   */
  getBlob(desc: Descriptor, options?: BlobOptions): Promise<Readable>;
  close(): Promise<void>;
}

export interface PutManifestOptions {
  /** The tag to give the top-level manifest (OCI layout ref name, archive RepoTags). */
  tag?: string;
  /** True for the manifest the image is named by; false for the children of an index. */
  isTop: boolean;
}

export interface ImageDestination {
  readonly name: string;
  /** Whether reading blobs in parallel / writing in parallel is supported (a tar is sequential). */
  readonly parallelBlobs: boolean;
  /**
   * How it keeps manifests: `any` keeps every format's bytes (a registry; the default); `oci`
   * keeps bytes, but OCI tools read only OCI's format there, so the copy converts Docker's
   * unless digests are preserved (an OCI layout or archive); `rewritten` keeps no manifest
   * (a docker archive writes its own `manifest.json`).
   */
  readonly manifestFormat?: 'any' | 'oci' | 'rewritten';
  hasBlob(desc: Descriptor): Promise<boolean>;
  /**
   * Streams a blob in, verifying size and digest on the client while it flows (a stream longer
   * than `desc.size` fails as soon as it passes it). A mismatch rejects with DIGEST_MISMATCH
   * and nothing of the blob is committed: a layout's temp file is removed, a registry upload is
   * cancelled before its final `PUT ?digest=`. Nothing partial stays on any failure.
   */
  putBlob(desc: Descriptor, data: Readable, options?: BlobOptions): Promise<void>;
  /**
   * Whether the image is there already, as the copy would leave it: the top manifest and
   * everything it reaches, under the tag asked for (`tag`, else the destination's own). True
   * makes the copy a no-op that reports the image up to date.
   */
  hasManifest?(digest: Digest, tag?: string): Promise<boolean>;
  putManifest(m: RawManifest, options: PutManifestOptions): Promise<void>;
  /** Makes everything visible (index.json last; closes the tar). Nothing is visible before. */
  commit(): Promise<void>;
  /** Throws away what was not committed. */
  abort(): Promise<void>;
}

/** What a referrers lookup of a source takes: an `artifactType` filter and a signal. */
export interface ReferrerQuery {
  /** Only referrers with this `artifactType`. */
  artifactType?: string;
  signal?: AbortSignal;
}

/**
 * A source that can say what refers to a manifest (`copy --referrers`, `gantry referrers`):
 * a registry (the referrers API, else the `sha256-<hex>` tag index) or an OCI layout (the
 * `index.json` entries whose manifest has that `subject`). A docker archive is not one: it
 * keeps no manifests, so nothing can refer to one of them.
 */
export interface ReferrerSource extends ImageSource {
  /** The descriptors of the manifests whose `subject` is `digest`; empty when there are none. */
  referrers(digest: Digest, query?: ReferrerQuery): Promise<Descriptor[]>;
  /** The manifest tagged `tag` in the same repository or layout (cosign's `sha256-<hex>.sig`); undefined when no manifest has that tag. */
  taggedManifest(tag: string, options?: BlobOptions): Promise<RawManifest | undefined>;
}

/** Whether `source` can list referrers (see {@link ReferrerSource}). */
export function isReferrerSource(source: ImageSource): source is ReferrerSource {
  const s = source as Partial<ReferrerSource>;
  return typeof s.referrers === 'function' && typeof s.taggedManifest === 'function';
}

/**
 * A destination that can hold referrers: a registry (indexed by the registry, else through
 * the referrers tag), an OCI layout or an OCI archive (`index.json` entries without a tag).
 * Like `putManifest`, nothing is visible before `commit()` where the destination has a commit.
 */
export interface ReferrerDestination extends ImageDestination {
  /**
   * Stores a manifest that has a `subject`, as a referrer of it. The copy calls it after the
   * manifest's blobs (and, for an index, its child manifests) and after its subject.
   */
  putReferrer(m: RawManifest, options?: BlobOptions): Promise<void>;
  /** Stores a manifest under `tag` beside the image (cosign's `sha256-<hex>.sig`), after its blobs. */
  putTaggedManifest(m: RawManifest, tag: string, options?: BlobOptions): Promise<void>;
  /**
   * Whether the destination already holds this referrer as the copy would write it: under
   * `tag` (a cosign tag pointing at the manifest), or listed among the referrers of `subject`.
   * A copy of an image the destination has asks it for every referrer and writes only the
   * missing ones (a rerun copies a signature added since). Without it, every referrer is written.
   */
  holdsReferrer?(m: RawManifest, subject: Digest, tag: string | undefined, options?: BlobOptions): Promise<boolean>;
}

/** Whether `destination` can hold referrers (see {@link ReferrerDestination}). */
export function isReferrerDestination(destination: ImageDestination): destination is ReferrerDestination {
  const d = destination as Partial<ReferrerDestination>;
  return typeof d.putReferrer === 'function' && typeof d.putTaggedManifest === 'function';
}

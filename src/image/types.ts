/**
 * The two interfaces copy is built on. Every place an image can live (a registry, an OCI
 * layout, a docker archive) is an `ImageSource` to read from and an `ImageDestination` to
 * write to. They are small and lazy: nothing is read until asked for, blobs are streams, and
 * manifests travel as the bytes they were (their digest depends on it).
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
}

export interface ImageSource {
  /** Human name for messages: `oci:/path:tag`, `docker-archive:/x.tar`, `docker://host/repo:tag`. */
  readonly name: string;
  /** The top-level manifest (image or index) as raw bytes + media type + digest. */
  getManifest(digest?: Digest): Promise<RawManifest>; // digest: a child manifest of an index
  /** A blob's bytes as a stream; the caller verifies size/digest while it flows. */
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
  hasBlob(desc: Descriptor): Promise<boolean>;
  /** Streams a blob in; verifies size and digest before it becomes visible; nothing partial stays. */
  putBlob(desc: Descriptor, data: Readable, options?: BlobOptions): Promise<void>;
  hasManifest?(digest: Digest): Promise<boolean>;
  putManifest(m: RawManifest, options: PutManifestOptions): Promise<void>;
  /** Makes everything visible (index.json last; closes the tar). Nothing is visible before. */
  commit(): Promise<void>;
  /** Throws away what was not committed. */
  abort(): Promise<void>;
}

/**
 * A registry repository as an ImageSource and an ImageDestination, for the copy engine.
 * Both are thin: the client does the protocol work (verification, resume, mounts, chunks).
 * As every pair of them does, the source streams raw bytes and the destination verifies them
 * on the client (types.ts): a registry source that serves wrong bytes fails the copy with
 * DIGEST_MISMATCH, whichever registry or layout the copy goes to.
 *
 * A registry has no transaction: blobs and child manifests are visible as soon as they are
 * pushed, so `commit()` and `abort()` have nothing to do. The order the copy engine pushes in
 * (blobs, then children, then the tagged top manifest) is what keeps a half-copied image
 * unreachable by its tag.
 *
 * Both also speak referrers (`copy --referrers`): the source lists them through the client
 * (referrers API, else the `sha256-<hex>` tag index) and reads cosign's tags; the destination
 * pushes them with the client's `putReferrer`, after the manifest they refer to.
 */
import type { Readable } from 'node:stream';
import type { BlobOptions, PutManifestOptions, RawManifest, ReferrerDestination, ReferrerQuery, ReferrerSource, ImageSource } from './types.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { Digest } from '../ref/digest.js';
import type { Reference, Repository } from '../ref/reference.js';
import { ErrorCode, GantryError, isGantryError } from '../errors.js';
import type { RegistryClient, RepositoryClient } from '../client/registry-client.js';
import type { GetManifestOptions } from '../client/manifests.js';

/** Whether a registry error means "no such manifest" (404: MANIFEST_UNKNOWN, NAME_UNKNOWN). */
function isNotFound(err: unknown): boolean {
  return (err as { status?: number } | undefined)?.status === 404;
}

export class RegistryImageSource implements ReferrerSource {
  readonly name: string;
  readonly repository: RepositoryClient;

  constructor(
    client: RegistryClient,
    readonly reference: Reference,
    private readonly options: Pick<GetManifestOptions, 'accept'> = {},
  ) {
    this.repository = client.repositoryClient(reference);
    this.name = `docker://${reference.familiar()}`;
  }

  /** The top manifest by the reference's digest or tag; a child of an index by its digest. */
  async getManifest(digest?: Digest): Promise<RawManifest> {
    const r = await this.repository.getManifest(digest ?? this.reference, this.options);
    return { bytes: r.bytes, mediaType: r.mediaType, digest: r.digest };
  }

  /**
   * The bytes as the registry sends them, resumed with `Range` when the connection breaks, but
   * not hashed here: by the ImageSource contract (types.ts) every destination verifies size and
   * digest on the client while the blob flows, so each byte is hashed once whatever the pair.
   */
  getBlob(desc: Descriptor, options: BlobOptions = {}): Promise<Readable> {
    return this.repository.getBlob(desc, { verify: false, ...(options.signal ? { signal: options.signal } : {}) });
  }

  /** The referrers API, else the `sha256-<hex>` tag index (client/referrers.ts). */
  async referrers(digest: Digest, query: ReferrerQuery = {}): Promise<Descriptor[]> {
    const listed = await this.repository.referrers(digest, {
      ...(query.artifactType !== undefined ? { artifactType: query.artifactType } : {}),
      ...(query.signal ? { signal: query.signal } : {}),
    });
    return [...listed.manifests];
  }

  /** The manifest a tag of this repository names; undefined on 404. */
  async taggedManifest(tag: string, options: BlobOptions = {}): Promise<RawManifest | undefined> {
    try {
      const r = await this.repository.getManifest(tag, { ...this.options, ...(options.signal ? { signal: options.signal } : {}) });
      return { bytes: r.bytes, mediaType: r.mediaType, digest: r.digest };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async close(): Promise<void> {}
}

export interface RegistryDestinationOptions {
  /** Repositories on the same registry that may hold the blobs; a mount from the first is tried once per blob. */
  readonly mountFrom?: readonly (string | Repository)[];
  /** Force chunked uploads of this size. */
  readonly chunkSize?: number;
}

export class RegistryImageDestination implements ReferrerDestination {
  readonly name: string;
  readonly parallelBlobs = true;
  readonly repository: RepositoryClient;

  constructor(
    client: RegistryClient,
    readonly reference: Reference,
    private readonly options: RegistryDestinationOptions = {},
  ) {
    this.repository = client.repositoryClient(reference);
    this.name = `docker://${reference.familiar()}`;
  }

  /**
   * The copy engine's mount: only from another repository of the same registry (a mount
   * across registries is not a thing; Docker Hub even rejects a foreign `from`, ggcr #1741).
   */
  async mountBlob(desc: Descriptor, source: ImageSource): Promise<boolean> {
    if (!(source instanceof RegistryImageSource)) return false;
    const from = source.reference.repository;
    if (from.domain !== this.reference.repository.domain || from.path === this.reference.repository.path) return false;
    return this.repository.mountBlob(desc, from, {});
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return (await this.repository.headBlob(desc.digest)) !== undefined;
  }

  /**
   * Uploads `data` unless the blob is there or can be mounted. `data` can be read once: if
   * the upload session has to restart after part of it was sent, the upload fails (the copy
   * engine retries with a fresh stream from its source).
   *
   * Verified on the client, as every destination is (types.ts): the client's upload hashes
   * the bytes on their way out and checks size and digest before it asks for the commit (a
   * streamed PATCH through `verifyingStream`, hashed in a worker thread and holding back its
   * last chunk until the digest matches; a small blob before its one PUT; chunks before the
   * closing PUT). A blob that is not what its descriptor says fails with DIGEST_MISMATCH, its
   * session is cancelled, and `PUT ?digest=` is never sent. The registry checks again on
   * commit; that hash is its own.
   */
  async putBlob(desc: Descriptor, data: Readable, options: BlobOptions = {}): Promise<void> {
    let opened = false;
    const open = (offset: number): Readable => {
      if (opened || offset !== 0) {
        throw new GantryError(ErrorCode.CONNECTION, `blob ${desc.digest.toString()}: the upload to ${this.name} must restart, and its source stream cannot be read twice`);
      }
      opened = true;
      return data;
    };
    const mounts = this.options.mountFrom ?? [];
    try {
      const first = await this.repository.uploadBlob(desc, open, {
        ...(mounts[0] !== undefined ? { mountFrom: mounts[0] } : {}),
        ...(this.options.chunkSize ? { chunkSize: this.options.chunkSize } : {}),
        // The one client-side hash of the blob: the source stream is not hashed (types.ts).
        verify: true,
        ...(options.absent ? { knownAbsent: true } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (first.status !== 'uploaded' && !opened) data.destroy();
    } catch (err) {
      if (!data.destroyed) data.destroy();
      throw err;
    }
  }

  /** The digest the destination tag was found to point at already (set by hasManifest). */
  protected upToDate: string | undefined;

  /**
   * Whether the image is there already. For the top manifest the question is whether the
   * destination *tag* points at it: one HEAD by tag answers, and then `putManifest` has
   * nothing to do (a no-op copy makes one manifest request). Without a tag, a HEAD by digest.
   * A 403 counts as "no" (JFrog answers HEADs of unknown manifests with 403; ggcr
   * `manifestExists`); the PUT then says what is really wrong.
   */
  async hasManifest(digest: Digest): Promise<boolean> {
    try {
      const tag = this.reference.tag;
      const head = await this.repository.headManifest(tag ?? digest);
      if (!head) return false;
      if (tag && !head.digest?.equals(digest)) return false;
      if (tag) this.upToDate = digest.toString();
      return true;
    } catch (err) {
      if (isGantryError(err, ErrorCode.DENIED)) return false;
      throw err;
    }
  }

  /** The top manifest under the reference's tag (its digest when it has none); children by digest. */
  async putManifest(m: RawManifest, options: PutManifestOptions): Promise<void> {
    const tag = options.isTop ? (options.tag ?? this.reference.tag) : undefined;
    if (options.isTop && tag === this.reference.tag && this.upToDate === m.digest.toString()) return;
    await this.repository.putManifest(tag ?? m.digest, m.bytes, m.mediaType);
  }

  /**
   * Pushes a referrer by digest. A registry that answers `OCI-Subject` indexes it itself;
   * otherwise the client adds it to the subject's `sha256-<hex>` tag index, by a checked
   * read-modify-write (client/referrers.ts `putReferrer`).
   */
  async putReferrer(m: RawManifest, options: BlobOptions = {}): Promise<void> {
    await this.repository.putReferrer(m.bytes, m.mediaType, options.signal ? { signal: options.signal } : {});
  }

  /** Pushes the manifest under `tag` (cosign's `sha256-<hex>.sig`), the tag name the source had. */
  async putTaggedManifest(m: RawManifest, tag: string): Promise<void> {
    await this.repository.putManifest(tag, m.bytes, m.mediaType);
  }

  /** Each subject's referrers as this destination lists them, asked once per copy. */
  private readonly listed = new Map<string, Promise<Set<string>>>();

  /**
   * A cosign tag: one HEAD of the tag, which must point at `m`. A referrer by subject: listed
   * by the referrers API or the subject's tag index (one request per subject; a manifest
   * stored by digest but missing from the index is not held: the write adds it).
   */
  async holdsReferrer(m: RawManifest, subject: Digest, tag: string | undefined, options: BlobOptions = {}): Promise<boolean> {
    const signal = options.signal ? { signal: options.signal } : {};
    if (tag !== undefined) {
      try {
        return (await this.repository.headManifest(tag, signal))?.digest?.equals(m.digest) ?? false;
      } catch (err) {
        if (isGantryError(err, ErrorCode.DENIED)) return false;
        throw err;
      }
    }
    let list = this.listed.get(subject.toString());
    if (list === undefined) {
      list = this.repository.referrers(subject, signal).then((r) => new Set(r.manifests.map((d) => d.digest.toString())));
      this.listed.set(subject.toString(), list);
    }
    return (await list).has(m.digest.toString());
  }

  async commit(): Promise<void> {}

  async abort(): Promise<void> {}
}

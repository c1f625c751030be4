/**
 * OCI-layout tarballs (`oci-archive:FILE[:TAG]`): a tar of an OCI image layout (`oci-layout`,
 * `index.json`, `blobs/<alg>/<hex>`), what `podman save --format oci-archive` and
 * `skopeo copy … oci-archive:` write, and what newer `docker save` writes beside its
 * `manifest.json`.
 *
 * Reading indexes the tar once (`tar-index.ts`) and then serves the layout's files from their
 * offsets, as `oci:DIR` serves them from a directory: the same `index.json` rules
 * (`layout-index.ts`), TAG being the `org.opencontainers.image.ref.name` annotation. The
 * manifests keep their bytes and digests, unlike a `docker save` archive's. `TarLayout` is
 * also what `docker-archive:` reads an OCI-layout tarball with. Writing is
 * `oci-archive-writer.ts`.
 */
import type { Readable } from 'node:stream';
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import type { IndexManifest } from '../oci/manifest.js';
import type { Digest } from '../ref/digest.js';
import { checkOptions } from '../options.js';
import { LayoutReferrers, OCI_LAYOUT_FILE, blobPath, readLayoutIndex, readLayoutManifest, selectLayoutSubject } from './layout-index.js';
import type { LayoutFiles } from './layout-index.js';
import { TarIndex } from './tar-index.js';
import type { BlobOptions, RawManifest, ReferrerQuery, ReferrerSource } from './types.js';

export { OciArchiveDestination } from './oci-archive-writer.js';
export type { OciArchiveDestinationOptions } from './oci-archive-writer.js';

/** `docker save`'s own table of contents; its presence without `index.json` means the wrong transport was named. */
const DOCKER_ARCHIVE_MANIFEST = 'manifest.json';

/** An OCI layout read from the entries of an indexed tarball, with its selected top-level descriptor. */
export class TarLayout {
  /** The referrers and attachment tags the layout holds, found on the first question. */
  readonly attached: LayoutReferrers;

  private constructor(
    private readonly files: LayoutFiles,
    index: IndexManifest,
    /** The descriptor `index.json` has for the selected image. */
    readonly top: Descriptor,
    private readonly name: string,
  ) {
    this.attached = new LayoutReferrers(files, async () => index, name);
  }

  /**
   * Reads `index.json` of the tarball `tar` and selects the image with `select` (given the
   * layout's files too, to read the manifests it chooses between).
   */
  static async open(tar: TarIndex, name: string, select: (index: IndexManifest, files: LayoutFiles) => Descriptor | Promise<Descriptor>): Promise<TarLayout> {
    const files = tar.asLayoutFiles(name);
    const index = await readLayoutIndex(files, name);
    return new TarLayout(files, index, await select(index, files), name);
  }

  /** The selected top-level manifest, or the manifest blob `digest` (a child of an index). */
  manifest(digest?: Digest): Promise<RawManifest> {
    if (digest) return readLayoutManifest(this.files, digest, this.name);
    return readLayoutManifest(this.files, this.top.digest, this.name, this.top.mediaType);
  }

  /** A stream of the blob's stored bytes (unverified: the reader checks them, see types.ts). */
  blob(desc: Descriptor, signal?: AbortSignal): Promise<Readable> {
    return this.files.openStream(blobPath(desc.digest), signal).catch((err: unknown) => {
      if (err instanceof GantryError && err.code === ErrorCode.NOT_FOUND) {
        throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: blob ${desc.digest.toString()} not found in the archive`, { cause: err });
      }
      throw err;
    });
  }
}

/** Options for reading an `oci-archive:` tarball. */
export interface OciArchiveSourceOptions {
  /** The image's ref name (`org.opencontainers.image.ref.name`) in `index.json`; default: the only image. */
  tag?: string;
}

/** Reads one image (or index) of an OCI-layout tarball, and the referrers it holds. Blobs may be read in parallel. */
export class OciArchiveSource implements ReferrerSource {
  readonly name: string;
  private opened: Promise<TarLayout> | undefined;

  constructor(
    readonly file: string,
    private readonly options: OciArchiveSourceOptions = {},
  ) {
    checkOptions('OciArchiveSource', options).string('tag');
    this.name = `oci-archive:${file}${options.tag !== undefined ? `:${options.tag}` : ''}`;
  }

  /** The one pass over the tarball, shared by every caller. */
  private open(): Promise<TarLayout> {
    this.opened ??= TarIndex.scan(this.file, this.name).then((tar) => {
      if (!tar.resolve(OCI_LAYOUT_FILE) && !tar.resolve('index.json') && tar.resolve(DOCKER_ARCHIVE_MANIFEST)) {
        throw new GantryError(ErrorCode.USAGE, `${this.name}: this is a \`docker save\` archive (${DOCKER_ARCHIVE_MANIFEST}, no index.json); read it as docker-archive:${this.file}`);
      }
      const selector = this.options.tag !== undefined ? { tag: this.options.tag } : {};
      return TarLayout.open(tar, this.name, (index, files) => selectLayoutSubject(files, index, selector, this.name));
    });
    return this.opened;
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    return (await this.open()).manifest(digest);
  }

  async getBlob(desc: Descriptor, options: BlobOptions = {}): Promise<Readable> {
    options.signal?.throwIfAborted();
    return (await this.open()).blob(desc, options.signal);
  }

  /** The manifests of the archive's layout whose `subject` is `digest` (as `oci:` finds them). */
  async referrers(digest: Digest, query: ReferrerQuery = {}): Promise<Descriptor[]> {
    query.signal?.throwIfAborted();
    return (await this.open()).attached.referrers(digest, query.artifactType);
  }

  /** The manifest `index.json` names by the ref name `tag`; undefined when none has it. */
  async taggedManifest(tag: string): Promise<RawManifest | undefined> {
    return (await this.open()).attached.tagged(tag);
  }

  async close(): Promise<void> {}
}

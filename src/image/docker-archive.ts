/**
 * `docker save` tarballs (`docker-archive:FILE[:REF]`, or `docker-archive:FILE:@N` for the
 * N-th image of a multi-image archive, reading only): `manifest.json` =
 * `[{Config, RepoTags, Layers}]`, the config as a file, one uncompressed tar per layer.
 *
 * Reading presents the image as a Docker schema 2 manifest built from the archive's files
 * (the archive keeps no registry manifest, so its digest is new), or, for an OCI-layout
 * tarball without `manifest.json`, the layout's own manifests (read as `oci-archive:` reads
 * them, `oci-archive.ts`). Writing does what skopeo's `docker-archive:` transport does, so
 * `docker load` and skopeo accept the result: layers are
 * decompressed and stored as `<diff_id hex>.tar` (sha256 of the file = the config's
 * diff_id), the config as `<config hex>.json`, then `manifest.json`; the tarball appears
 * under its name only on `commit()`.
 */
import type { Readable } from 'node:stream';
import { ErrorCode, GantryError } from '../errors.js';
import { checkOptions } from '../options.js';
import { isJsonObject } from '../oci/descriptor.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { Digest } from '../ref/digest.js';
import { Reference } from '../ref/reference.js';
import { ANNOTATION_REF_NAME } from '../oci/descriptor.js';
import { OCI_LAYOUT_FILE, selectLayoutImage } from './layout-index.js';
import { TarLayout } from './oci-archive.js';
import { TarIndex, isGzip, isZstd } from './tar-index.js';
import type { TarEntry } from './tar-index.js';
import type { BlobOptions, ImageSource, RawManifest } from './types.js';

export { DockerArchiveDestination } from './docker-archive-writer.js';
export type { DockerArchiveDestinationOptions } from './docker-archive-writer.js';

export const ARCHIVE_MANIFEST = 'manifest.json';
/** `containerd`'s full-name annotation, which `docker save` (v25+) puts in index.json. */
const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

/** One element of `manifest.json`. */
export interface ArchiveManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

export interface DockerArchiveSourceOptions {
  /** The image tagged so in the archive (`RepoTags`, compared after normalisation). */
  ref?: string;
  /** The image at this position of `manifest.json` (skopeo's `@N`). */
  index?: number;
}

/** What the first pass learnt: how to answer getManifest and getBlob. */
interface Opened {
  tar: TarIndex;
  /** Set for OCI-layout tarballs: manifests come from the layout. */
  layout?: TarLayout;
  /** Set for docker-format archives: the built schema 2 manifest. */
  manifest?: RawManifest;
  /** Blob digest → tar entry. */
  blobs: Map<string, TarEntry>;
}

/** Normalised for comparison (`ubuntu` = `docker.io/library/ubuntu:latest`); unparseable names stay as they are. */
function normalizeRef(s: string): string {
  try {
    return Reference.parse(s).withDefaultTag().canonical();
  } catch {
    return s;
  }
}

function layerMediaType(entry: TarEntry): string {
  if (isGzip(entry.head)) return MediaType.DOCKER_LAYER_GZIP;
  if (isZstd(entry.head)) return MediaType.OCI_LAYER_ZSTD;
  return MediaType.DOCKER_LAYER;
}

/** Reads one image from a `docker save` tarball or an OCI-layout tarball. */
export class DockerArchiveSource implements ImageSource {
  readonly name: string;
  private opened: Promise<Opened> | undefined;

  constructor(
    readonly file: string,
    private readonly options: DockerArchiveSourceOptions = {},
  ) {
    checkOptions('DockerArchiveSource', options).string('ref').integer('index', 0);
    if (options.ref !== undefined && options.index !== undefined) {
      throw new GantryError(ErrorCode.USAGE, `docker-archive:${file}: give a reference or an index, not both`);
    }
    const suffix = options.ref !== undefined ? `:${options.ref}` : options.index !== undefined ? `:@${options.index}` : '';
    this.name = `docker-archive:${file}${suffix}`;
  }

  /** The first pass, shared by every caller (so not tied to any one caller's signal). */
  private open(): Promise<Opened> {
    this.opened ??= TarIndex.scan(this.file, this.name).then((tar) => this.interpret(tar));
    return this.opened;
  }

  private async interpret(tar: TarIndex): Promise<Opened> {
    const manifestEntry = tar.resolve(ARCHIVE_MANIFEST);
    if (manifestEntry) return this.interpretDocker(tar, manifestEntry);
    if (tar.resolve(OCI_LAYOUT_FILE)) return this.interpretLayout(tar);
    throw new GantryError(ErrorCode.INVALID_RESPONSE, `${this.name}: neither a docker archive (no ${ARCHIVE_MANIFEST}) nor an OCI layout (no ${OCI_LAYOUT_FILE})`);
  }

  private selectItem(items: ArchiveManifestItem[]): ArchiveManifestItem {
    const tags = items.flatMap((i) => i.RepoTags);
    const listing = tags.length > 0 ? `tags present: ${tags.join(', ')}` : 'no tags present';
    if (this.options.index !== undefined) {
      const item = items[this.options.index];
      if (item) return item;
      throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: the archive holds ${items.length} image(s); there is no index ${this.options.index}`);
    }
    if (this.options.ref !== undefined) {
      const wanted = normalizeRef(this.options.ref);
      const item = items.find((i) => i.RepoTags.some((t) => normalizeRef(t) === wanted));
      if (item) return item;
      throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: no image tagged ${this.options.ref}; ${listing}`);
    }
    const [only, ...rest] = items;
    if (only && rest.length === 0) return only;
    if (!only) throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: the archive holds no images`);
    throw new GantryError(ErrorCode.USAGE, `${this.name}: the archive holds ${items.length} images; name one by reference (docker-archive:${this.file}:REF) or by position from 0 (docker-archive:${this.file}:@N); ${listing}`);
  }

  private async interpretDocker(tar: TarIndex, manifestEntry: TarEntry): Promise<Opened> {
    const raw = await tar.readEntry(manifestEntry, MAX_MANIFEST_BYTES);
    const items = parseArchiveManifest(raw, this.name);
    const item = this.selectItem(items);
    const blobs = new Map<string, TarEntry>();
    const find = (path: string, what: string): TarEntry => {
      const entry = tar.resolve(path);
      if (!entry?.sha256) throw new GantryError(ErrorCode.INVALID_RESPONSE, `${this.name}: ${what} ${path} is listed in ${ARCHIVE_MANIFEST} but not in the archive`);
      blobs.set(entry.sha256, entry);
      return entry;
    };
    const configEntry = find(item.Config, 'config');
    const layers = item.Layers.map((path, i) => {
      const entry = find(path, `Layers[${i}]`);
      return { mediaType: layerMediaType(entry), size: entry.size, digest: entry.sha256 as string };
    });
    const body = {
      schemaVersion: 2,
      mediaType: MediaType.DOCKER_MANIFEST,
      config: { mediaType: MediaType.DOCKER_CONFIG, size: configEntry.size, digest: configEntry.sha256 as string },
      layers,
    };
    const bytes = Buffer.from(JSON.stringify(body));
    return { tar, blobs, manifest: { bytes, mediaType: MediaType.DOCKER_MANIFEST, digest: Digest.fromBytes(bytes) } };
  }

  private async interpretLayout(tar: TarIndex): Promise<Opened> {
    const layout = await TarLayout.open(tar, this.name, (index) => {
      if (this.options.index !== undefined) {
        const found = index.manifests[this.options.index];
        if (!found) throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: index.json has ${index.manifests.length} image(s); there is no index ${this.options.index}`);
        return found;
      }
      if (this.options.ref !== undefined) {
        const wanted = normalizeRef(this.options.ref);
        const found = index.manifests.find((m) => {
          const full = m.annotations?.[ANNOTATION_IMAGE_NAME];
          return (full !== undefined && normalizeRef(full) === wanted) || m.annotations?.[ANNOTATION_REF_NAME] === this.options.ref;
        });
        return found ?? selectLayoutImage(index, { tag: this.options.ref }, this.name);
      }
      return selectLayoutImage(index, {}, this.name);
    });
    return { tar, blobs: new Map(), layout };
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    const opened = await this.open();
    if (opened.layout) return opened.layout.manifest(digest);
    const manifest = opened.manifest as RawManifest;
    if (digest && !digest.equals(manifest.digest)) {
      throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: manifest ${digest.toString()} not found; the archive's image is ${manifest.digest.toString()}`);
    }
    return manifest;
  }

  async getBlob(desc: Descriptor, options: BlobOptions = {}): Promise<Readable> {
    options.signal?.throwIfAborted();
    const opened = await this.open();
    if (opened.layout) return opened.layout.blob(desc, options.signal);
    const entry = opened.blobs.get(desc.digest.toString());
    if (!entry) throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: blob ${desc.digest.toString()} is not part of this image`);
    return opened.tar.openEntry(entry, options.signal);
  }

  async close(): Promise<void> {}
}

/** Validates `manifest.json`: an array of `{Config, RepoTags, Layers}` with string paths. */
export function parseArchiveManifest(raw: Buffer, name: string): ArchiveManifestItem[] {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new GantryError(ErrorCode.INVALID_RESPONSE, `${name}: ${ARCHIVE_MANIFEST} is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(body)) throw new GantryError(ErrorCode.INVALID_RESPONSE, `${name}: ${ARCHIVE_MANIFEST} must be an array`);
  return body.map((item: unknown, i) => {
    const where = `${name}: ${ARCHIVE_MANIFEST}[${i}]`;
    if (!isJsonObject(item)) throw new GantryError(ErrorCode.INVALID_RESPONSE, `${where}: must be an object`);
    const { Config, RepoTags, Layers } = item;
    if (typeof Config !== 'string') throw new GantryError(ErrorCode.INVALID_RESPONSE, `${where}.Config: must be a string`);
    const strings = (v: unknown, field: string): string[] => {
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
        throw new GantryError(ErrorCode.INVALID_RESPONSE, `${where}.${field}: must be an array of strings`);
      }
      return v as string[];
    };
    return { Config, RepoTags: strings(RepoTags, 'RepoTags'), Layers: strings(Layers, 'Layers') };
  });
}

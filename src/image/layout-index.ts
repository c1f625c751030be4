/**
 * Reading an OCI image layout (image-spec `image-layout.md`) wherever its files are: a
 * directory (`oci:`) or the entries of a tarball (newer `docker save`). `index.json` names
 * images by the `org.opencontainers.image.ref.name` annotation; blobs live at
 * `blobs/<alg>/<hex>`. Also the `index.json` update rule writers share.
 */
import type { Readable } from 'node:stream';
import { ErrorCode, GantryError } from '../errors.js';
import { ANNOTATION_REF_NAME, descriptorToJSON, isJsonObject } from '../oci/descriptor.js';
import type { Descriptor, JsonObject } from '../oci/descriptor.js';
import { DigestMismatchError } from '../oci/errors.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.js';
import type { IndexManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { Digest } from '../ref/digest.js';
import type { RawManifest } from './types.js';

/** Where a layout's files are read from. Paths are relative and use `/`. */
export interface LayoutFiles {
  /** The whole file (at most `maxBytes`), or undefined when it does not exist. */
  readFile(path: string, maxBytes: number): Promise<Buffer | undefined>;
  /** A stream of the file; NOT_FOUND when it does not exist. */
  openStream(path: string, signal?: AbortSignal): Promise<Readable>;
}

/** Which image of a layout: by tag (ref name), by manifest digest, or the only one. */
export interface LayoutSelector {
  tag?: string;
  digest?: Digest;
}

export const INDEX_JSON = 'index.json';
export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

/**
 * Whether `tag` can be a layout's ref name (`org.opencontainers.image.ref.name`): not empty,
 * no whitespace. The spec's character set (image-spec annotations.md) is a SHOULD; gantry
 * refuses only what would break a reader splitting `oci:DIR:TAG` or a line of output.
 */
export function isValidRefName(tag: string): boolean {
  return tag !== '' && !/\s/.test(tag);
}

export function blobPath(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.encoded}`;
}

/** The tags (ref names) present in an index.json, in order, without duplicates. */
export function layoutTags(index: IndexManifest): string[] {
  const tags = index.manifests.map((m) => m.annotations?.[ANNOTATION_REF_NAME]).filter((t): t is string => t !== undefined);
  return [...new Set(tags)];
}

/** Reads and validates `index.json` (an OCI index; `mediaType` optional). */
export async function readLayoutIndex(files: LayoutFiles, name: string): Promise<IndexManifest> {
  const bytes = await files.readFile(INDEX_JSON, MAX_MANIFEST_BYTES);
  if (bytes === undefined) throw new GantryError(ErrorCode.NOT_FOUND, `${name}: not an OCI layout: no ${INDEX_JSON}`);
  const index = parseManifest(bytes, { mediaType: MediaType.OCI_INDEX });
  if (index.kind !== 'index') throw new GantryError(ErrorCode.INVALID_RESPONSE, `${name}: ${INDEX_JSON} is not an image index`);
  return index;
}

/** The descriptor of the image `selector` names in `index`, with errors that list the tags present. */
export function selectLayoutImage(index: IndexManifest, selector: LayoutSelector, name: string): Descriptor {
  const tags = layoutTags(index);
  const listing = tags.length > 0 ? `tags present: ${tags.join(', ')}` : 'no tags present';
  if (selector.digest) {
    const wanted = selector.digest;
    const found = index.manifests.find((m) => m.digest.equals(wanted));
    if (found) return found;
    throw new GantryError(ErrorCode.NOT_FOUND, `${name}: no manifest ${wanted.toString()} in ${INDEX_JSON}`);
  }
  if (selector.tag !== undefined) {
    const found = index.manifests.find((m) => m.annotations?.[ANNOTATION_REF_NAME] === selector.tag);
    if (found) return found;
    throw new GantryError(ErrorCode.NOT_FOUND, `${name}: no image tagged ${JSON.stringify(selector.tag)}; ${listing}`);
  }
  const [only, ...rest] = index.manifests;
  if (only && rest.length === 0) return only;
  if (!only) throw new GantryError(ErrorCode.NOT_FOUND, `${name}: the layout holds no images`);
  throw new GantryError(ErrorCode.USAGE, `${name}: the layout holds ${index.manifests.length} images; name one by tag (${listing})`);
}

/** Reads a manifest blob, checking it against its digest (and the media type it is listed with). */
export async function readLayoutManifest(files: LayoutFiles, digest: Digest, name: string, mediaType?: string): Promise<RawManifest> {
  const bytes = await files.readFile(blobPath(digest), MAX_MANIFEST_BYTES);
  if (bytes === undefined) throw new GantryError(ErrorCode.NOT_FOUND, `${name}: manifest ${digest.toString()} not found`);
  const m = parseManifest(bytes, mediaType === undefined ? { expectedDigest: digest } : { expectedDigest: digest, mediaType });
  return { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest };
}

/** Reads a small blob whole (a config), checking its digest. */
export async function readSmallBlob(files: LayoutFiles, desc: Descriptor, name: string): Promise<Buffer> {
  const bytes = await files.readFile(blobPath(desc.digest), MAX_MANIFEST_BYTES);
  if (bytes === undefined) throw new GantryError(ErrorCode.NOT_FOUND, `${name}: blob ${desc.digest.toString()} not found`);
  const actual = Digest.fromBytes(bytes, desc.digest.algorithm);
  if (!actual.equals(desc.digest)) {
    throw new DigestMismatchError(`${name}: blob ${desc.digest.toString()} has digest ${actual.toString()}`, desc.digest.toString(), actual.toString());
  }
  return bytes;
}

/**
 * The new `index.json` text: existing entries kept, except the one carrying the same tag (a tag
 * names one image) or, untagged, an untagged entry for the same digest; unknown top-level fields
 * of the old file are kept too.
 */
export function updatedIndexJson(existing: Buffer | undefined, top: Descriptor, tag: string | undefined): string {
  let doc: JsonObject = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] };
  if (existing !== undefined) {
    const parsed: unknown = JSON.parse(existing.toString('utf8'));
    if (isJsonObject(parsed)) doc = parsed;
  }
  const old = Array.isArray(doc.manifests) ? (doc.manifests as unknown[]) : [];
  const kept = old.filter((entry) => {
    if (!isJsonObject(entry)) return true;
    const annotations = isJsonObject(entry.annotations) ? entry.annotations : {};
    const ref = annotations[ANNOTATION_REF_NAME];
    if (tag !== undefined) return ref !== tag;
    return !(ref === undefined && entry.digest === top.digest.toString());
  });
  const entry: Descriptor = { ...top, annotations: { ...top.annotations } };
  if (tag !== undefined) entry.annotations = { ...entry.annotations, [ANNOTATION_REF_NAME]: tag };
  else if (Object.keys(entry.annotations ?? {}).length === 0) delete entry.annotations;
  doc.manifests = [...kept, descriptorToJSON(entry)];
  if (doc.schemaVersion === undefined) doc.schemaVersion = 2;
  return JSON.stringify(doc);
}

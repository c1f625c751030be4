/**
 * Reading an OCI image layout (image-spec `image-layout.md`) wherever its files are: a
 * directory (`oci:`) or the entries of a tarball (newer `docker save`). `index.json` names
 * images by the `org.opencontainers.image.ref.name` annotation; blobs live at
 * `blobs/<alg>/<hex>`. Also the `index.json` update rule writers share, and how referrers are
 * found in a layout (docs/referrers.md).
 */
import type { Readable } from 'node:stream';
import { ErrorCode, GantryError } from '../errors.js';
import { ANNOTATION_REF_NAME, descriptorToJSON, isJsonObject } from '../oci/descriptor.js';
import type { Descriptor, JsonObject } from '../oci/descriptor.js';
import { DigestMismatchError } from '../oci/errors.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.js';
import type { IndexManifest, Manifest } from '../oci/manifest.js';
import { MediaType, isManifest } from '../oci/media-types.js';
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

/** One entry `index.json` is to name: a manifest's descriptor, with its tag (ref name) or none. */
export interface LayoutEntry {
  readonly desc: Descriptor;
  readonly tag?: string | undefined;
}

/**
 * The new `index.json` text: existing entries kept, except the one carrying the same tag (a tag
 * names one image) or, untagged, an untagged entry for the same digest; unknown top-level fields
 * of the old file are kept too. `more` are further entries (referrers, untagged; cosign's
 * tags), added after `top` by the same rule.
 */
export function updatedIndexJson(existing: Buffer | undefined, top: Descriptor, tag: string | undefined, more: readonly LayoutEntry[] = []): string {
  let doc: JsonObject = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] };
  if (existing !== undefined) {
    const parsed: unknown = JSON.parse(existing.toString('utf8'));
    if (isJsonObject(parsed)) doc = parsed;
  }
  let entries = Array.isArray(doc.manifests) ? (doc.manifests as unknown[]) : [];
  for (const next of [{ desc: top, tag }, ...more]) {
    const kept = entries.filter((entry) => {
      if (!isJsonObject(entry)) return true;
      const annotations = isJsonObject(entry.annotations) ? entry.annotations : {};
      const ref = annotations[ANNOTATION_REF_NAME];
      if (next.tag !== undefined) return ref !== next.tag;
      return !(ref === undefined && entry.digest === next.desc.digest.toString());
    });
    const entry: Descriptor = { ...next.desc, annotations: { ...next.desc.annotations } };
    if (next.tag !== undefined) entry.annotations = { ...entry.annotations, [ANNOTATION_REF_NAME]: next.tag };
    else if (Object.keys(entry.annotations ?? {}).length === 0) delete entry.annotations;
    entries = [...kept, descriptorToJSON(entry)];
  }
  doc.manifests = entries;
  if (doc.schemaVersion === undefined) doc.schemaVersion = 2;
  return JSON.stringify(doc);
}

/**
 * Tags that attach a manifest to another rather than name an image: the referrers tag schema
 * (`sha256-<hex>`) and cosign's `sha256-<hex>.sig`, `.att`, `.sbom`.
 */
const ATTACHMENT_TAG = /^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$/;

/** Whether `tag` attaches a manifest to another (see ATTACHMENT_TAG) instead of naming an image. */
export function isAttachmentTag(tag: string | undefined): boolean {
  return tag !== undefined && ATTACHMENT_TAG.test(tag);
}

/** A manifest an `index.json` entry names, or undefined when it cannot be read as one (a layout MAY miss blobs). */
async function entryManifest(files: LayoutFiles, desc: Descriptor, name: string): Promise<Manifest | undefined> {
  if (!isManifest(desc.mediaType)) return undefined;
  try {
    const raw = await readLayoutManifest(files, desc.digest, name);
    return parseManifest(raw.bytes, { mediaType: raw.mediaType, expectedDigest: desc.digest });
  } catch (err) {
    if (err instanceof GantryError && err.code !== ErrorCode.ABORTED) return undefined;
    throw err;
  }
}

/**
 * The image `selector` names, as {@link selectLayoutImage} finds it; without a selector, a
 * layout that also holds referrers (untagged entries with a `subject`) and cosign's tags still
 * has one image: the one entry that is neither.
 */
export async function selectLayoutSubject(files: LayoutFiles, index: IndexManifest, selector: LayoutSelector, name: string): Promise<Descriptor> {
  if (selector.digest || selector.tag !== undefined || index.manifests.length < 2) return selectLayoutImage(index, selector, name);
  const images: Descriptor[] = [];
  for (const desc of index.manifests) {
    if (isAttachmentTag(desc.annotations?.[ANNOTATION_REF_NAME])) continue;
    const m = await entryManifest(files, desc, name);
    if (m !== undefined && m.kind !== 'schema1' && m.subject !== undefined) continue;
    images.push(desc);
  }
  const [only, ...rest] = images;
  return only && rest.length === 0 ? only : selectLayoutImage(index, selector, name);
}

/**
 * The referrers an OCI layout holds, found as the image-spec leaves them: every manifest
 * `index.json` lists whose `subject` is the digest (gantry writes referrers so, as untagged
 * entries), plus the entries of a referrers tag index (`sha256-<hex>` as ref name: the tag
 * schema inside a layout, as older regclient versions write it). Read once, on the first
 * question: every listed manifest is read and only the descriptors are kept. Entries that
 * cannot be read as manifests are passed over.
 */
export class LayoutReferrers {
  private built: Promise<{ bySubject: Map<string, Descriptor[]>; byTag: Map<string, Descriptor> }> | undefined;

  constructor(
    private readonly files: LayoutFiles,
    private readonly index: () => Promise<IndexManifest>,
    private readonly name: string,
  ) {}

  private build() {
    this.built ??= (async () => {
      const bySubject = new Map<string, Descriptor[]>();
      const byTag = new Map<string, Descriptor>();
      const add = (subject: string, desc: Descriptor): void => {
        const list = bySubject.get(subject) ?? [];
        if (!list.some((d) => d.digest.equals(desc.digest))) list.push(desc);
        bySubject.set(subject, list);
      };
      for (const desc of (await this.index()).manifests) {
        const tag = desc.annotations?.[ANNOTATION_REF_NAME];
        if (tag !== undefined && !byTag.has(tag)) byTag.set(tag, desc);
        const m = await entryManifest(this.files, desc, this.name);
        if (m === undefined || m.kind === 'schema1') continue;
        if (m.subject !== undefined) add(m.subject.digest.toString(), referrerEntry(m));
        const tagged = tag !== undefined && /^sha256-[0-9a-f]{64}$/.test(tag) ? tag : undefined;
        if (tagged !== undefined && m.kind === 'index') {
          for (const d of m.manifests) add(`sha256:${tagged.slice('sha256-'.length)}`, d);
        }
      }
      return { bySubject, byTag };
    })();
    return this.built;
  }

  /** The descriptors of the manifests whose subject is `digest`, filtered by `artifactType` when given. */
  async referrers(digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    const list = (await this.build()).bySubject.get(digest.toString()) ?? [];
    return artifactType === undefined ? [...list] : list.filter((d) => d.artifactType === artifactType);
  }

  /** The manifest tagged `tag` in `index.json`; undefined when no entry has that ref name. */
  async tagged(tag: string): Promise<RawManifest | undefined> {
    const desc = (await this.build()).byTag.get(tag);
    return desc === undefined ? undefined : readLayoutManifest(this.files, desc.digest, this.name, desc.mediaType);
  }
}

/**
 * The descriptor a layout's `index.json` (and a referrers list) holds for a referrer: media
 * type, digest, size and `artifactType` (an image manifest without one: its config's media
 * type, as the distribution spec says). The manifest's annotations are not copied into
 * `index.json`, where one named `org.opencontainers.image.ref.name` would tag it.
 */
export function referrerEntry(m: Exclude<Manifest, { kind: 'schema1' }>): Descriptor {
  const artifactType = m.kind === 'image' ? (m.artifactType ?? m.config.mediaType) : undefined;
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, ...(artifactType !== undefined ? { artifactType } : {}) };
}

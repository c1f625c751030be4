/**
 * The last check before a destination makes an image visible (issue "Trust at origin
 * boundaries", item 9): every blob the image's manifests name is in the destination and
 * complete. A copy whose blob loop ran no worker (`jobs: NaN`), a destination wrapper that
 * claimed a write it never made, a blob file deleted under the writer: each fails the commit
 * with the missing digest named, instead of an `index.json` or archive naming what is not
 * there. Written once; OCI layouts and docker archives answer its two questions their way.
 */
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { parseManifest } from '../oci/manifest.js';
import type { RawManifest } from './types.js';

/** An index of indexes of images is as deep as layouts go; deeper is a loop or an attack. */
const MAX_MANIFEST_DEPTH = 8;

/** What a destination holds, asked once per blob the image reaches. */
export interface CommitContents {
  /** The destination, for messages. */
  readonly name: string;
  /**
   * Whether the blob (a manifest, config or layer) is there and complete: its size and digest
   * verified as it was written in this session, or, written before this session, present with
   * `desc.size` bytes.
   */
  holds(desc: Descriptor): Promise<boolean>;
  /** A manifest the destination holds, its bytes checked against `desc.digest`. */
  manifest(desc: Descriptor): Promise<RawManifest>;
}

/** A blob an image names that its destination does not hold. */
export interface MissingBlob {
  readonly digest: string;
  /** Where it is named: `layers[1] of manifest sha256:…`. */
  readonly where: string;
}

/** An image that cannot be committed because blobs it names are missing. */
export class IncompleteImageError extends GantryError {
  readonly missing: readonly MissingBlob[];
  constructor(name: string, missing: readonly MissingBlob[]) {
    const [first] = missing;
    const more = missing.length > 1 ? `, and ${missing.length - 1} more: ${missing.slice(1, 4).map((m) => m.digest).join(', ')}${missing.length > 4 ? ', …' : ''}` : '';
    super(ErrorCode.NOT_FOUND, `${name}: not committed: blob ${first?.digest ?? '?'} (${first?.where ?? '?'}) is missing${more}; nothing was made visible`);
    this.name = 'IncompleteImageError';
    this.missing = missing;
  }
}

/** The blobs reachable from `top` (itself included) that `contents` does not hold, in walk order. */
export async function missingBlobs(top: Descriptor, contents: CommitContents): Promise<MissingBlob[]> {
  const missing: MissingBlob[] = [];
  const seen = new Set<string>();
  const visit = async (desc: Descriptor, where: string, depth: number, isManifest: boolean): Promise<void> => {
    const key = `${desc.digest.toString()} ${desc.size}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (!(await contents.holds(desc))) {
      missing.push({ digest: desc.digest.toString(), where });
      return;
    }
    if (!isManifest) return;
    if (depth >= MAX_MANIFEST_DEPTH) throw new GantryError(ErrorCode.INVALID_RESPONSE, `${contents.name}: manifests nested more than ${MAX_MANIFEST_DEPTH} deep under ${top.digest.toString()}`);
    const raw = await contents.manifest(desc);
    const m = parseManifest(raw.bytes, { mediaType: raw.mediaType, expectedDigest: desc.digest });
    const of = `of manifest ${m.digest.toString()}`;
    if (m.kind === 'index') {
      for (const [i, child] of m.manifests.entries()) await visit(child, `manifests[${i}] ${of}`, depth + 1, true);
    } else if (m.kind === 'image') {
      await visit(m.config, `config ${of}`, depth + 1, false);
      for (const [i, layer] of m.layers.entries()) await visit(layer, `layers[${i}] ${of}`, depth + 1, false);
    }
    // A schema 1 manifest names its layers in its own way; copy refuses those before this.
  };
  await visit(top, 'the top-level manifest', 0, true);
  return missing;
}

/** Throws IncompleteImageError (NOT_FOUND) unless every blob reachable from `top` is held. */
export async function assertComplete(top: Descriptor, contents: CommitContents): Promise<void> {
  const missing = await missingBlobs(top, contents);
  if (missing.length > 0) throw new IncompleteImageError(contents.name, missing);
}

/** A blob's digest (a Digest or its string) and size. */
export interface SizedDigest {
  readonly digest: { toString(): string };
  readonly size: number;
}

/** Blobs whose size and digest were verified as they were written in this session. */
export class VerifiedBlobs {
  private readonly sizes = new Map<string, number>();

  add(desc: SizedDigest): void {
    this.sizes.set(desc.digest.toString(), desc.size);
  }

  has(desc: SizedDigest): boolean {
    return this.sizes.get(desc.digest.toString()) === desc.size;
  }
}

/**
 * Manifests and indexes, parsed from the bytes they came in. The digest is the hash of those
 * bytes and the bytes stay attached: gantry never re-serialises a manifest, because any change
 * of whitespace or key order makes a different digest (image-spec `manifest.md`, `image-index.md`).
 */
import { ErrorCode, GantryError } from '../errors.js';
import { Digest } from '../ref/digest.js';
import { invalid, isJsonObject, parseDescriptor, parseJsonObject, showValue } from './descriptor.js';
import type { Descriptor, JsonObject } from './descriptor.js';
import { DigestMismatchError } from './errors.js';
import { MediaType, isImageManifest, isIndex, isSchema1 } from './media-types.js';

/**
 * The largest manifest gantry reads into memory: distribution's own limit for manifests it
 * accepts (`maxManifestBodySize`, 4 MiB), also used by containerd and containers/image.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface ManifestBase {
  /** The media type: the body's `mediaType`, else the Content-Type it was served with, else inferred from its shape. */
  mediaType: string;
  /** The exact bytes; the digest covers them. */
  bytes: Buffer;
  /** The digest of `bytes` (sha256, or the algorithm of the digest it was asked for by). */
  digest: Digest;
}

/** An OCI image manifest or a Docker schema 2 manifest (an image, or an OCI artifact). */
export interface ImageManifest extends ManifestBase {
  /** Always `'image'`: tells the {@link Manifest} union apart. */
  kind: 'image';
  /** The descriptor of the config blob. */
  config: Descriptor;
  /** The descriptors of the layers, in the manifest's order. */
  layers: Descriptor[];
  /** The manifest this one refers to (OCI 1.1 `subject`, for referrers); undefined when absent. */
  subject?: Descriptor;
  /** The artifact's type (OCI 1.1 `artifactType`); undefined when the manifest has none. */
  artifactType?: string;
  /** The manifest's annotations; undefined when it has none. */
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list: descriptors of other manifests, usually one per platform. */
export interface IndexManifest extends ManifestBase {
  /** Always `'index'`: tells the {@link Manifest} union apart. */
  kind: 'index';
  /** The descriptors of the manifests it lists, in its order. */
  manifests: Descriptor[];
  /** The manifest this one refers to (OCI 1.1 `subject`, for referrers); undefined when absent. */
  subject?: Descriptor;
  /** The index's annotations; undefined when it has none. */
  annotations?: Record<string, string>;
}

/** Docker schema 1: carried as bytes, never interpreted (gantry cannot verify its signatures). */
export interface Schema1Manifest extends ManifestBase {
  /** Always `'schema1'`: tells the {@link Manifest} union apart. */
  kind: 'schema1';
}

/** A parsed manifest with its bytes and digest; switch on `kind` (`image`, `index` or `schema1`). */
export type Manifest = ImageManifest | IndexManifest | Schema1Manifest;

export interface ParseManifestOptions {
  /** The Content-Type it was served with (parameters are ignored). */
  mediaType?: string;
  /** The digest it was asked for by; a different hash is DIGEST_MISMATCH. */
  expectedDigest?: Digest;
}

/** Content-Types that say nothing about which manifest this is (old registries, file servers). */
const UNSPECIFIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream', 'binary/octet-stream']);

/** `application/vnd.oci.image.index.v1+json; charset=utf-8` → the media type alone, or undefined. */
function declaredType(contentType: string | undefined): string | undefined {
  const t = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return UNSPECIFIC_TYPES.has(t) ? undefined : t;
}

/** What the JSON looks like when it does not say (`mediaType` is optional in OCI). */
function inferType(body: JsonObject): string | undefined {
  if (body.schemaVersion === 1) return body.signatures !== undefined ? MediaType.DOCKER_SCHEMA1_SIGNED_MANIFEST : MediaType.DOCKER_SCHEMA1_MANIFEST;
  if (Array.isArray(body.manifests)) return MediaType.OCI_INDEX;
  if (body.config !== undefined && body.layers !== undefined) return MediaType.OCI_MANIFEST;
  return undefined;
}

function parseAnnotations(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isJsonObject(v)) invalid(where, 'must be an object of strings');
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') invalid(`${where}[${JSON.stringify(k)}]`, 'must be a string');
  }
  return v as Record<string, string>;
}

function parseDescriptorList(v: unknown, where: string): Descriptor[] {
  if (!Array.isArray(v)) invalid(where, `must be an array, got ${showValue(v)}`);
  return v.map((item, i) => parseDescriptor(item, `${where}[${i}]`));
}

/**
 * Parses and validates a manifest or index. The media type is the body's `mediaType`, else
 * the Content-Type, else inferred from the shape; a body that contradicts its Content-Type is
 * rejected (the digest would then name content of another kind than the one served).
 */
export function parseManifest(bytes: Buffer, options: ParseManifestOptions = {}): Manifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new GantryError(ErrorCode.TOO_LARGE, `manifest is ${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES} gantry accepts`);
  }
  const digest = Digest.fromBytes(bytes, options.expectedDigest?.algorithm ?? 'sha256');
  if (options.expectedDigest && !digest.equals(options.expectedDigest)) {
    throw new DigestMismatchError(
      `manifest digest mismatch: expected ${options.expectedDigest.toString()}, got ${digest.toString()} (${bytes.length} bytes)`,
      options.expectedDigest.toString(),
      digest.toString(),
    );
  }
  const where = `manifest ${digest.toString()}`;
  const body = parseJsonObject(bytes, where);

  const declared = declaredType(options.mediaType);
  if (body.mediaType !== undefined && typeof body.mediaType !== 'string') invalid(`${where}: mediaType`, 'must be a string');
  const own = body.mediaType || undefined;
  if (declared && own && declared !== own) {
    invalid(where, `served as ${declared} but its mediaType field says ${own}`);
  }
  const mediaType = own ?? declared ?? inferType(body);
  if (mediaType === undefined) invalid(where, 'no mediaType, and neither manifests nor config+layers to tell its kind by');

  if (isSchema1(mediaType)) return { kind: 'schema1', mediaType, bytes, digest };
  if (!isIndex(mediaType) && !isImageManifest(mediaType)) invalid(where, `unsupported manifest media type ${showValue(mediaType)}`);
  if (body.schemaVersion !== 2) invalid(`${where}: schemaVersion`, `must be 2, got ${showValue(body.schemaVersion)}`);
  const subject = body.subject === undefined || body.subject === null ? undefined : parseDescriptor(body.subject, `${where}: subject`);
  const annotations = parseAnnotations(body.annotations, `${where}: annotations`);

  if (isIndex(mediaType)) {
    if (body.layers !== undefined || body.config !== undefined) invalid(where, `is a ${mediaType} but has config/layers fields`);
    const manifests = parseDescriptorList(body.manifests, `${where}: manifests`);
    const index: Manifest = { kind: 'index', mediaType, bytes, digest, manifests };
    if (subject) index.subject = subject;
    if (annotations) index.annotations = annotations;
    return index;
  }

  if (body.manifests !== undefined) invalid(where, `is a ${mediaType} but has a manifests field`);
  const config = parseDescriptor(body.config, `${where}: config`);
  const layers = parseDescriptorList(body.layers, `${where}: layers`);
  const image: Manifest = { kind: 'image', mediaType, bytes, digest, config, layers };
  if (subject) image.subject = subject;
  if (annotations) image.annotations = annotations;
  if (body.artifactType !== undefined) {
    if (typeof body.artifactType !== 'string') invalid(`${where}: artifactType`, 'must be a string');
    image.artifactType = body.artifactType;
  }
  return image;
}

/** The descriptor that points at a manifest (for an index, `index.json` or a tag). */
export function manifestDescriptor(m: { mediaType: string; bytes: Buffer; digest: Digest }): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
}

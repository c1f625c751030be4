/**
 * Content descriptors (image-spec `descriptor.md`): what a manifest says about each blob or
 * child manifest. Parsed by hand, field by field, so an error names the exact field
 * (`manifest sha256:…: layers[2].size: must be a non-negative integer`).
 */
import { Digest } from '../ref/digest.js';
import { ManifestError } from './errors.js';

/**
 * The platform an image is for, as an index's descriptor names it (`linux/arm64/v8`). The
 * platform functions live in `platform.ts`; the value is here, beside the descriptor that
 * carries it.
 */
export interface Platform {
  /** `linux`, `windows`, … */
  os: string;
  /** `amd64`, `arm64`, `arm`, … (GOARCH values). */
  architecture: string;
  /** `v8`, `v7`, …: the CPU variant, where the architecture has them. */
  variant?: string;
  /** `os.version` (Windows builds). */
  osVersion?: string;
  /** `os.features`. */
  osFeatures?: string[];
}

/**
 * A content descriptor: what a manifest says about one blob or child manifest. See
 * https://github.com/opencontainers/image-spec/blob/main/descriptor.md
 */
export interface Descriptor {
  /** The media type of the content. */
  mediaType: string;
  /** The digest of the content's bytes. */
  digest: Digest;
  /** Bytes; a safe integer (blobs above 8 PiB are not a concern). */
  size: number;
  /** Other places the content may be fetched from (foreign layers). */
  urls?: string[];
  /** Free-form metadata. */
  annotations?: Record<string, string>;
  /** The platform of an image manifest, in an index. */
  platform?: Platform;
  /** The artifact type of the content, for artifacts and referrers. */
  artifactType?: string;
}

/** The annotation an OCI layout uses to name (tag) a manifest in `index.json`. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

/** A JSON object as parsed, before validation. */
export type JsonObject = Record<string, unknown>;

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Shows a bad value in an error without letting a huge one flood the message. */
export function showValue(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Throws a ManifestError naming `where` (a JSON path, prefixed with what it belongs to). */
export function invalid(where: string, problem: string): never {
  throw new ManifestError(`${where}: ${problem}`);
}

/** Parses `bytes` as one JSON object, or fails naming `where` and what was wrong. */
export function parseJsonObject(bytes: Buffer, where: string): JsonObject {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    invalid(where, `not valid JSON: ${(err as Error).message}`);
  }
  if (!isJsonObject(body)) invalid(where, 'must be a JSON object');
  return body;
}

export function parseDigestField(v: unknown, where: string): Digest {
  if (typeof v !== 'string') invalid(where, `must be a digest string, got ${showValue(v)}`);
  try {
    return Digest.parse(v);
  } catch (err) {
    return invalid(where, `${(err as Error).message} (${showValue(v)})`);
  }
}

function parseStringMap(v: unknown, where: string): Record<string, string> {
  if (!isJsonObject(v)) invalid(where, 'must be an object of strings');
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') invalid(`${where}[${JSON.stringify(k)}]`, 'must be a string');
  }
  return v as Record<string, string>;
}

function parseStringList(v: unknown, where: string): string[] {
  if (!Array.isArray(v)) invalid(where, 'must be an array of strings');
  v.forEach((item, i) => {
    if (typeof item !== 'string') invalid(`${where}[${i}]`, 'must be a string');
  });
  return v as string[];
}

/** The JSON form of a platform (`os.version`, `os.features`) into gantry's `Platform`. */
export function parsePlatformJSON(v: unknown, where: string): Platform {
  if (!isJsonObject(v)) invalid(where, 'must be an object');
  const { os, architecture, variant } = v;
  if (typeof os !== 'string') invalid(`${where}.os`, 'must be a string');
  if (typeof architecture !== 'string') invalid(`${where}.architecture`, 'must be a string');
  const platform: Platform = { os, architecture };
  if (variant !== undefined && variant !== '') {
    if (typeof variant !== 'string') invalid(`${where}.variant`, 'must be a string');
    platform.variant = variant;
  }
  const osVersion = v['os.version'];
  if (osVersion !== undefined && osVersion !== '') {
    if (typeof osVersion !== 'string') invalid(`${where}["os.version"]`, 'must be a string');
    platform.osVersion = osVersion;
  }
  if (v['os.features'] !== undefined) platform.osFeatures = parseStringList(v['os.features'], `${where}["os.features"]`);
  return platform;
}

/** Validates one descriptor; `where` is the path to it, e.g. `manifest sha256:…: layers[2]`. */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isJsonObject(v)) invalid(where, 'must be an object');
  if (typeof v.mediaType !== 'string' || v.mediaType === '') invalid(`${where}.mediaType`, 'must be a non-empty string');
  const digest = parseDigestField(v.digest, `${where}.digest`);
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    invalid(`${where}.size`, `must be a non-negative integer, got ${showValue(size)}`);
  }
  const desc: Descriptor = { mediaType: v.mediaType, digest, size };
  if (v.urls !== undefined && v.urls !== null) desc.urls = parseStringList(v.urls, `${where}.urls`);
  if (v.annotations !== undefined && v.annotations !== null) {
    desc.annotations = parseStringMap(v.annotations, `${where}.annotations`);
  }
  if (v.platform !== undefined && v.platform !== null) desc.platform = parsePlatformJSON(v.platform, `${where}.platform`);
  if (v.artifactType !== undefined) {
    if (typeof v.artifactType !== 'string') invalid(`${where}.artifactType`, 'must be a string');
    desc.artifactType = v.artifactType;
  }
  return desc;
}

/** The JSON form of a descriptor, for the manifests and `index.json` files gantry writes. */
export function descriptorToJSON(d: Descriptor): JsonObject {
  const out: JsonObject = { mediaType: d.mediaType, digest: d.digest.toString(), size: d.size };
  if (d.urls && d.urls.length > 0) out.urls = d.urls;
  if (d.annotations && Object.keys(d.annotations).length > 0) out.annotations = d.annotations;
  if (d.platform) {
    const p: JsonObject = { architecture: d.platform.architecture, os: d.platform.os };
    if (d.platform.osVersion) p['os.version'] = d.platform.osVersion;
    if (d.platform.osFeatures) p['os.features'] = d.platform.osFeatures;
    if (d.platform.variant) p.variant = d.platform.variant;
    out.platform = p;
  }
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

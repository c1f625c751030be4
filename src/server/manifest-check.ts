/**
 * What the registry checks in a pushed manifest before storing it (spec: "Pushing
 * manifests"): that it is JSON, which media type it has, which blobs and child manifests it
 * references (they must already be in the repository: MANIFEST_BLOB_UNKNOWN), and its
 * `subject`, which the referrers API lists. The bytes are stored exactly as received.
 */
import { Digest } from '../ref/digest.js';
import { manifestInvalid } from './errors.js';
import type { ReferrerDescriptor } from './storage/types.js';

export const MediaType = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const IMAGE_TYPES = new Set<string>([MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST]);
const INDEX_TYPES = new Set<string>([MediaType.OCI_INDEX, MediaType.DOCKER_LIST]);

interface Descriptor {
  mediaType?: unknown;
  digest?: unknown;
  size?: unknown;
  urls?: unknown;
}

export interface CheckedManifest {
  mediaType: string;
  /** Blobs that must be in the repository (config and layers, minus foreign layers). */
  blobs: string[];
  /** Manifests that must be in the repository (children of an index). */
  manifests: string[];
  subject?: string;
  /** The descriptor the referrers API lists for this manifest, given its digest and size. */
  referrer(digest: string, size: number): ReferrerDescriptor;
}

function descriptorDigest(d: unknown, where: string): string {
  const digest = (d as Descriptor | null)?.digest;
  if (typeof digest !== 'string' || !Digest.tryParse(digest)) throw manifestInvalid(`${where}: missing or invalid digest`);
  return digest;
}

function descriptors(value: unknown, where: string): Descriptor[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw manifestInvalid(`${where} must be an array`);
  return value as Descriptor[];
}

export function checkManifest(bytes: Buffer, contentType: string | undefined): CheckedManifest {
  let doc: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    doc = parsed as Record<string, unknown>;
  } catch {
    throw manifestInvalid('manifest is not a JSON object');
  }
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const fromHeader = header && header !== 'application/json' && header !== 'application/octet-stream' ? header : undefined;
  if (declared && fromHeader && declared !== fromHeader && (IMAGE_TYPES.has(declared) || INDEX_TYPES.has(declared))) {
    throw manifestInvalid(`Content-Type ${fromHeader} does not match the manifest's mediaType ${declared}`);
  }
  const mediaType = fromHeader ?? declared ?? (Array.isArray(doc.manifests) ? MediaType.OCI_INDEX : MediaType.OCI_MANIFEST);

  const blobs: string[] = [];
  const manifests: string[] = [];
  let configMediaType: string | undefined;
  if (IMAGE_TYPES.has(mediaType)) {
    if (doc.schemaVersion !== 2) throw manifestInvalid('schemaVersion must be 2');
    const config = doc.config as Descriptor | undefined;
    if (typeof config !== 'object' || config === null) throw manifestInvalid('config descriptor missing');
    blobs.push(descriptorDigest(config, 'config'));
    configMediaType = typeof config.mediaType === 'string' ? config.mediaType : undefined;
    descriptors(doc.layers, 'layers').forEach((layer, i) => {
      const digest = descriptorDigest(layer, `layers[${i}]`);
      // Foreign (non-distributable) layers live at their `urls`, not in this registry.
      if (!Array.isArray(layer.urls) || layer.urls.length === 0) blobs.push(digest);
    });
  } else if (INDEX_TYPES.has(mediaType)) {
    if (doc.schemaVersion !== 2) throw manifestInvalid('schemaVersion must be 2');
    descriptors(doc.manifests, 'manifests').forEach((m, i) => manifests.push(descriptorDigest(m, `manifests[${i}]`)));
  }

  let subject: string | undefined;
  if (doc.subject !== undefined) subject = descriptorDigest(doc.subject, 'subject');
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : configMediaType;
  const annotations = typeof doc.annotations === 'object' && doc.annotations !== null ? (doc.annotations as Record<string, string>) : undefined;
  return {
    mediaType,
    blobs,
    manifests,
    ...(subject ? { subject } : {}),
    referrer: (digest, size) => ({
      mediaType,
      digest,
      size,
      ...(artifactType ? { artifactType } : {}),
      ...(annotations ? { annotations } : {}),
    }),
  };
}

/**
 * Docker's image format to OCI's, for destinations that OCI tools read (an OCI layout, an OCI
 * archive): umoci reads only OCI image manifests, and skopeo finds no image in a layout whose
 * `index.json` names a Docker media type. skopeo converts when it writes a layout; so does
 * gantry, unless the caller asks to keep the digests (`preserveDigests`, crane's behaviour).
 *
 * Only the manifests change: the media types of the manifest, its config and its layers, and
 * in an index the descriptors of the converted children. Blobs are the same bytes (a Docker
 * config is a valid OCI config, a Docker layer a valid OCI layer), so no blob digest changes;
 * the converted manifests get new digests, computed from the bytes written. Media types:
 * https://github.com/opencontainers/image-spec/blob/main/media-types.md (compatibility matrix).
 */
import { ErrorCode, GantryError } from '../errors.js';
import { MediaType } from '../oci/media-types.js';
import { Digest } from '../ref/digest.js';
import type { RawManifest } from './types.js';

/** Docker layer media types and their OCI equivalents. */
const LAYER_TO_OCI: Readonly<Record<string, string>> = {
  [MediaType.DOCKER_LAYER]: MediaType.OCI_LAYER,
  [MediaType.DOCKER_LAYER_GZIP]: MediaType.OCI_LAYER_GZIP,
  [MediaType.DOCKER_FOREIGN_LAYER]: MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP,
  'application/vnd.docker.image.rootfs.foreign.diff.tar': MediaType.OCI_LAYER_NONDISTRIBUTABLE,
};

/** Whether a manifest is in Docker's schema 2 format (an image manifest or a manifest list). */
export function isDockerFormat(mediaType: string): boolean {
  return mediaType === MediaType.DOCKER_MANIFEST || mediaType === MediaType.DOCKER_MANIFEST_LIST;
}

type Json = Record<string, unknown>;

function parse(raw: RawManifest, where: string): Json {
  try {
    const v = JSON.parse(raw.bytes.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Json;
  } catch {
    // reported below
  }
  throw new GantryError(ErrorCode.INVALID_RESPONSE, `${where}: manifest ${raw.digest.toString()} is not a JSON object`);
}

function serialise(doc: Json, mediaType: string): RawManifest {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, mediaType, digest: Digest.fromBytes(bytes) };
}

/** A Docker schema 2 image manifest as an OCI image manifest (config and layers retyped). */
export function imageToOci(raw: RawManifest, where: string): RawManifest {
  const doc = parse(raw, where);
  const config = doc.config as Json | undefined;
  const layers = Array.isArray(doc.layers) ? (doc.layers as Json[]) : [];
  const converted: Json = {
    ...doc,
    mediaType: MediaType.OCI_MANIFEST,
    ...(config ? { config: { ...config, mediaType: config.mediaType === MediaType.DOCKER_CONFIG ? MediaType.OCI_CONFIG : config.mediaType } } : {}),
    layers: layers.map((l) => ({ ...l, mediaType: LAYER_TO_OCI[String(l.mediaType)] ?? l.mediaType })),
  };
  return serialise(converted, MediaType.OCI_MANIFEST);
}

/**
 * An index or manifest list as an OCI index whose descriptors name the converted children
 * (`converted`: old child digest → new manifest). Children that did not change keep theirs.
 */
export function indexToOci(raw: RawManifest, converted: ReadonlyMap<string, RawManifest>, where: string): RawManifest {
  const doc = parse(raw, where);
  const manifests = Array.isArray(doc.manifests) ? (doc.manifests as Json[]) : [];
  const out: Json = {
    ...doc,
    mediaType: MediaType.OCI_INDEX,
    manifests: manifests.map((d) => {
      const child = converted.get(String(d.digest));
      return child ? { ...d, mediaType: child.mediaType, digest: child.digest.toString(), size: child.bytes.length } : d;
    }),
  };
  return serialise(out, MediaType.OCI_INDEX);
}

/**
 * Media types of the manifests, configs and layers gantry moves around (OCI image-spec
 * `media-types.md`, Docker's `manifest-v2-2.md`). Strings are compared exactly: registries
 * echo them back, and a digest covers the bytes that carry them.
 */

export const MediaType = {
  /** application/vnd.oci.image.manifest.v1+json: an OCI image manifest. */
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  /** application/vnd.oci.image.index.v1+json: an OCI image index (a list of manifests, often one per platform). */
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  /** application/vnd.oci.image.config.v1+json: an OCI image config blob. */
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  /** application/vnd.oci.image.layer.v1.tar: an uncompressed OCI layer. */
  OCI_LAYER: 'application/vnd.oci.image.layer.v1.tar',
  /** application/vnd.oci.image.layer.v1.tar+gzip: a gzip-compressed OCI layer. */
  OCI_LAYER_GZIP: 'application/vnd.oci.image.layer.v1.tar+gzip',
  /** application/vnd.oci.image.layer.v1.tar+zstd: a zstd-compressed OCI layer. */
  OCI_LAYER_ZSTD: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** Deprecated in image-spec 1.1 but still found in Windows images. */
  OCI_LAYER_NONDISTRIBUTABLE: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  /** application/vnd.oci.image.layer.nondistributable.v1.tar+gzip: a gzip-compressed non-distributable layer (deprecated in image-spec 1.1). */
  OCI_LAYER_NONDISTRIBUTABLE_GZIP: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  /** application/vnd.oci.image.layer.nondistributable.v1.tar+zstd: a zstd-compressed non-distributable layer (deprecated in image-spec 1.1). */
  OCI_LAYER_NONDISTRIBUTABLE_ZSTD: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  /** The two-byte `{}` blob of image-spec 1.1, used as the config of artifacts. */
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',

  /** application/vnd.docker.distribution.manifest.v2+json: a Docker schema 2 image manifest. */
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  /** application/vnd.docker.distribution.manifest.list.v2+json: a Docker manifest list (one manifest per platform). */
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  /** application/vnd.docker.container.image.v1+json: a Docker image config blob. */
  DOCKER_CONFIG: 'application/vnd.docker.container.image.v1+json',
  /** application/vnd.docker.image.rootfs.diff.tar: an uncompressed Docker layer. */
  DOCKER_LAYER: 'application/vnd.docker.image.rootfs.diff.tar',
  /** application/vnd.docker.image.rootfs.diff.tar.gzip: a gzip-compressed Docker layer. */
  DOCKER_LAYER_GZIP: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  /** application/vnd.docker.image.rootfs.foreign.diff.tar.gzip: a gzip-compressed foreign layer, whose blob may be served from its `urls` instead of the registry. */
  DOCKER_FOREIGN_LAYER: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** Schema 1 is read as raw bytes only: gantry never builds or verifies its signatures. */
  DOCKER_SCHEMA1_MANIFEST: 'application/vnd.docker.distribution.manifest.v1+json',
  /** application/vnd.docker.distribution.manifest.v1+prettyjws: a signed Docker schema 1 manifest, read as raw bytes only. */
  DOCKER_SCHEMA1_SIGNED_MANIFEST: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;
export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/** The two-byte content of the OCI empty descriptor. */
export const EMPTY_JSON = Buffer.from('{}');

/**
 * The Accept header for manifest GETs and HEADs. Schema 1 comes last, so a registry that can
 * still convert (distribution 2.x) only does so when nothing better exists.
 */
export const ACCEPT_MANIFESTS: readonly string[] = Object.freeze([
  MediaType.OCI_MANIFEST,
  MediaType.OCI_INDEX,
  MediaType.DOCKER_MANIFEST,
  MediaType.DOCKER_MANIFEST_LIST,
  MediaType.DOCKER_SCHEMA1_SIGNED_MANIFEST,
  MediaType.DOCKER_SCHEMA1_MANIFEST,
]);

/** An OCI index or a Docker manifest list. */
export function isIndex(mediaType: string): boolean {
  return mediaType === MediaType.OCI_INDEX || mediaType === MediaType.DOCKER_MANIFEST_LIST;
}

/** An OCI image manifest or a Docker schema 2 manifest. */
export function isImageManifest(mediaType: string): boolean {
  return mediaType === MediaType.OCI_MANIFEST || mediaType === MediaType.DOCKER_MANIFEST;
}

/** A Docker schema 1 manifest, signed or not. */
export function isSchema1(mediaType: string): boolean {
  return (
    mediaType === MediaType.DOCKER_SCHEMA1_MANIFEST ||
    mediaType === MediaType.DOCKER_SCHEMA1_SIGNED_MANIFEST
  );
}

/** Any manifest media type gantry can parse (image, index, schema 1). */
export function isManifest(mediaType: string): boolean {
  return isIndex(mediaType) || isImageManifest(mediaType) || isSchema1(mediaType);
}

/** Layers stored gzip-compressed. */
export function isGzipLayer(mediaType: string): boolean {
  return (
    mediaType === MediaType.OCI_LAYER_GZIP ||
    mediaType === MediaType.DOCKER_LAYER_GZIP ||
    mediaType === MediaType.DOCKER_FOREIGN_LAYER ||
    mediaType === MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP
  );
}

/** Layers stored zstd-compressed. */
export function isZstdLayer(mediaType: string): boolean {
  return mediaType === MediaType.OCI_LAYER_ZSTD || mediaType === MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD;
}

/** Layers whose blobs a registry may refuse to serve (`urls` point elsewhere). */
export function isForeignLayer(mediaType: string): boolean {
  return (
    mediaType === MediaType.DOCKER_FOREIGN_LAYER ||
    mediaType === MediaType.OCI_LAYER_NONDISTRIBUTABLE ||
    mediaType === MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP ||
    mediaType === MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD
  );
}

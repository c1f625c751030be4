/**
 * `inspect`: what an image is, from any location — digest, media type, platforms of an
 * index, layers and sizes, and what its config says (created, labels, os/arch). Reads the
 * manifest and, for a single image, its config blob (capped, verified); never a layer.
 */
import type { Readable } from 'node:stream';
import { ErrorCode, GantryError } from '../errors.js';
import { parseImageConfig, type ImageConfig } from '../oci/config.js';
import { formatPlatform, parsePlatform, selectManifest, type Platform } from '../oci/platform.js';
import { parseManifest, type Manifest } from '../oci/manifest.js';
import type { RegistryAccessOptions } from '../client/connect.js';
import { openSource, parseImageLocation, type ImageLocation } from './transports.js';
import type { ImageSource } from './types.js';
import type { Descriptor } from '../oci/descriptor.js';
import { verifyingStream } from '../hashing/verify.js';
import { checkOptions } from '../options.js';
import { isPlatformOption, PLATFORM_EXPECTED } from './copy.js';

/** The largest image config read. Real ones are a few KiB; some carry long histories. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** One layer of an inspected image, as its manifest lists it. */
export interface InspectLayer {
  /** The layer's digest, e.g. `sha256:…`. */
  readonly digest: string;
  /** The layer blob's size in bytes, as stored (compressed when its media type is). */
  readonly size: number;
  /** The layer's media type, e.g. `application/vnd.oci.image.layer.v1.tar+gzip`. */
  readonly mediaType: string;
}

/** What {@link inspect} found: the manifest the location names, its platforms if it is an index, its layers and config if it is an image. */
export interface InspectResult {
  /** The location as gantry names it, e.g. `docker://ubuntu:22.04` or `oci:/path:tag`. */
  readonly name: string;
  /** The digest of the manifest the location names, e.g. `sha256:…`. */
  readonly digest: string;
  /** That manifest's media type. */
  readonly mediaType: string;
  /** The manifest bytes as served. */
  readonly raw: Buffer;
  /** For an index: its platforms with their manifest digests. */
  readonly platforms?: readonly {
    /** `os/arch[/variant]`, e.g. `linux/arm64/v8`; `unknown` when the entry names no platform. */
    platform: string;
    /** The platform manifest's digest. */
    digest: string;
    /** The platform manifest's media type. */
    mediaType: string;
    /** The platform manifest's size in bytes. */
    size: number
  }[];
  /** For a single image (or the platform chosen from an index). */
  readonly image?: {
    /** The image manifest's digest. */
    readonly digest: string;
    /** The platform chosen from the index, `os/arch[/variant]`; undefined for a single image or an entry that names none. */
    readonly platform?: string;
    /** The image's layers, in the manifest's order. */
    readonly layers: readonly InspectLayer[];
    /** The sum of the layer sizes in bytes (the config not included). */
    readonly size: number;
    /** The config blob's digest. */
    readonly configDigest: string;
    /** What the config says, parsed. */
    readonly config: ImageConfig;
    /** The config blob's bytes, verified against its size and digest (at most 8 MiB). */
    readonly configRaw: Buffer;
  };
}

/** Options for {@link inspect}: a platform to inspect within an index, and registry access. */
export interface InspectOptions {
  /** With an index, also inspect this platform's image. */
  readonly platform?: string | Platform;
  /** How to reach the registry (TLS, credentials) when the location is one; unused for `oci:` and `docker-archive:`. */
  readonly access?: RegistryAccessOptions;
}

async function readBlob(source: ImageSource, desc: Descriptor): Promise<Buffer> {
  if (desc.size > MAX_CONFIG_BYTES) throw new GantryError(ErrorCode.TOO_LARGE, `${source.name}: config ${desc.digest.toString()} is ${desc.size} bytes, more than ${MAX_CONFIG_BYTES}`);
  const stream: Readable = await source.getBlob(desc);
  const chunks: Buffer[] = [];
  for await (const c of stream.pipe(verifyingStream(desc, `config ${desc.digest.toString()}`))) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function imageDetails(source: ImageSource, m: Manifest, platform?: string): Promise<InspectResult['image']> {
  if (m.kind !== 'image') return undefined;
  const configRaw = await readBlob(source, m.config);
  return {
    digest: m.digest.toString(),
    ...(platform ? { platform } : {}),
    layers: m.layers.map((l) => ({ digest: l.digest.toString(), size: l.size, mediaType: l.mediaType })),
    size: m.layers.reduce((a, l) => a + l.size, 0),
    configDigest: m.config.digest.toString(),
    config: parseImageConfig(configRaw, `config of ${source.name}`),
    configRaw,
  };
}

/** Inspects the image at `location` (`docker://…`, `oci:…`, `docker-archive:…`, or a bare reference). */
export async function inspect(location: string | ImageLocation, options: InspectOptions = {}): Promise<InspectResult> {
  checkOptions('inspect', options).check('platform', isPlatformOption, PLATFORM_EXPECTED).object('access');
  const loc = typeof location === 'string' ? parseImageLocation(location) : location;
  const opened = await openSource(loc, options.access);
  try {
    const source = opened.value;
    const top = await source.getManifest();
    const m = parseManifest(top.bytes, { mediaType: top.mediaType });
    const base = { name: source.name, digest: top.digest.toString(), mediaType: top.mediaType, raw: top.bytes };
    if (m.kind === 'schema1') return base;
    if (m.kind === 'image') return { ...base, image: await imageDetails(source, m) };
    const platforms = m.manifests.map((d) => ({ platform: d.platform ? formatPlatform(d.platform) : 'unknown', digest: d.digest.toString(), mediaType: d.mediaType, size: d.size }));
    if (!options.platform) return { ...base, platforms };
    const wanted = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
    const chosen = selectManifest(m, wanted);
    const child = await source.getManifest(chosen.digest);
    const cm = parseManifest(child.bytes, { mediaType: child.mediaType, expectedDigest: chosen.digest });
    const image = await imageDetails(source, cm, chosen.platform ? formatPlatform(chosen.platform) : undefined);
    return { ...base, platforms, ...(image ? { image } : {}) };
  } finally {
    await opened.close();
  }
}

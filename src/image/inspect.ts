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

export interface InspectLayer {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

export interface InspectResult {
  readonly name: string;
  readonly digest: string;
  readonly mediaType: string;
  /** The manifest bytes as served. */
  readonly raw: Buffer;
  /** For an index: its platforms with their manifest digests. */
  readonly platforms?: readonly { platform: string; digest: string; mediaType: string; size: number }[];
  /** For a single image (or the platform chosen from an index). */
  readonly image?: {
    readonly digest: string;
    readonly platform?: string;
    readonly layers: readonly InspectLayer[];
    readonly size: number;
    readonly configDigest: string;
    readonly config: ImageConfig;
    readonly configRaw: Buffer;
  };
}

export interface InspectOptions {
  /** With an index, also inspect this platform's image. */
  readonly platform?: string | Platform;
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

/**
 * Small generated images for the image-format tests: a tar layer made with tar-stream,
 * gzipped with node:zlib, a config whose diff_ids match, an OCI or Docker manifest, and
 * optionally an index over two platforms. Also an in-memory `ImageSource` and the minimal
 * copy loop (blobs, then manifests children first) the copy engine will replace.
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Digest } from '../../src/ref/digest.js';
import type { ImageDestination, ImageSource, RawManifest } from '../../src/image/types.js';

export async function makeTar(files: Record<string, string>): Promise<Buffer> {
  const p = pack();
  for (const [name, content] of Object.entries(files)) p.entry({ name, mtime: new Date(0), mode: 0o644 }, content);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export interface FixtureImage {
  manifest: RawManifest;
  config: Buffer;
  /** Uncompressed layer tars. */
  tars: Buffer[];
  /** Every blob (config, layers, child manifests) by digest string. */
  blobs: Map<string, Buffer>;
  /** Layer descriptors as in the manifest. */
  layers: Descriptor[];
}

function desc(mediaType: string, bytes: Buffer): Descriptor {
  return { mediaType, digest: Digest.fromBytes(bytes), size: bytes.length };
}

function json(d: Descriptor): Record<string, unknown> {
  return { mediaType: d.mediaType, digest: d.digest.toString(), size: d.size };
}

export interface FixtureOptions {
  docker?: boolean;
  /** Leave the layers uncompressed. */
  plain?: boolean;
  arch?: string;
  variant?: string;
  seed?: string;
}

export async function makeImage(options: FixtureOptions = {}): Promise<FixtureImage> {
  const seed = options.seed ?? 'a';
  const tars = [await makeTar({ 'etc/hello': `hello ${seed}\n` }), await makeTar({ 'etc/world': `world ${seed}\n`, 'bin/x': 'x'.repeat(3000) })];
  const blobsList = tars.map((t) => (options.plain ? t : gzipSync(t)));
  const layerType = options.docker
    ? options.plain ? MediaType.DOCKER_LAYER : MediaType.DOCKER_LAYER_GZIP
    : options.plain ? MediaType.OCI_LAYER : MediaType.OCI_LAYER_GZIP;
  const config = Buffer.from(
    JSON.stringify({
      architecture: options.arch ?? 'amd64',
      os: 'linux',
      ...(options.variant ? { variant: options.variant } : {}),
      created: '2024-01-01T00:00:00Z',
      config: { Labels: { seed } },
      rootfs: { type: 'layers', diff_ids: tars.map((t) => Digest.fromBytes(t).toString()) },
      history: [{ created_by: 'fixture' }, { created_by: 'fixture 2' }],
    }),
  );
  const configDesc = desc(options.docker ? MediaType.DOCKER_CONFIG : MediaType.OCI_CONFIG, config);
  const layers = blobsList.map((b) => desc(layerType, b));
  const mediaType = options.docker ? MediaType.DOCKER_MANIFEST : MediaType.OCI_MANIFEST;
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: json(configDesc), layers: layers.map(json) }, null, 2));
  const blobs = new Map<string, Buffer>([[configDesc.digest.toString(), config]]);
  layers.forEach((l, i) => blobs.set(l.digest.toString(), blobsList[i] as Buffer));
  return { manifest: { bytes, mediaType, digest: Digest.fromBytes(bytes) }, config, tars, blobs, layers };
}

/** An index over amd64 and arm64 images (with `docker`, a Docker manifest list of Docker images); `blobs` holds the children too. */
export async function makeIndex(options: { docker?: boolean } = {}): Promise<{ index: RawManifest; children: FixtureImage[]; blobs: Map<string, Buffer> }> {
  const docker = options.docker ?? false;
  const amd = await makeImage({ docker, seed: 'amd' });
  const arm = await makeImage({ docker, seed: 'arm', arch: 'arm64', variant: 'v8' });
  const mediaType = docker ? MediaType.DOCKER_MANIFEST_LIST : MediaType.OCI_INDEX;
  const entry = (img: FixtureImage, architecture: string, variant?: string) => ({
    mediaType: img.manifest.mediaType,
    digest: img.manifest.digest.toString(),
    size: img.manifest.bytes.length,
    platform: { architecture, os: 'linux', ...(variant ? { variant } : {}) },
  });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: [entry(amd, 'amd64'), entry(arm, 'arm64', 'v8')] }));
  const blobs = new Map<string, Buffer>([...amd.blobs, ...arm.blobs]);
  for (const c of [amd, arm]) blobs.set(c.manifest.digest.toString(), c.manifest.bytes);
  return { index: { bytes, mediaType, digest: Digest.fromBytes(bytes) }, children: [amd, arm], blobs };
}

/** An ImageSource over memory. */
export class MemorySource implements ImageSource {
  readonly name = 'memory:';
  constructor(
    private readonly top: RawManifest,
    private readonly blobs: Map<string, Buffer>,
  ) {}

  async getManifest(digest?: Digest): Promise<RawManifest> {
    if (!digest || digest.equals(this.top.digest)) return this.top;
    const bytes = this.blobs.get(digest.toString());
    if (!bytes) throw new Error(`no manifest ${digest.toString()}`);
    return { bytes, mediaType: parseManifest(bytes).mediaType, digest };
  }

  async getBlob(d: Descriptor): Promise<Readable> {
    const bytes = this.blobs.get(d.digest.toString());
    if (!bytes) throw new Error(`no blob ${d.digest.toString()}`);
    return Readable.from([bytes]);
  }

  async close(): Promise<void> {}
}

/** Copies the top manifest (and, for an index, every child) from `src` to `dest`, then commits. */
export async function copyImage(src: ImageSource, dest: ImageDestination, tag?: string): Promise<RawManifest> {
  const copyOne = async (m: RawManifest, isTop: boolean): Promise<void> => {
    const parsed = parseManifest(m.bytes, { mediaType: m.mediaType, expectedDigest: m.digest });
    if (parsed.kind === 'index') {
      for (const child of parsed.manifests) await copyOne(await src.getManifest(child.digest), false);
    } else if (parsed.kind === 'image') {
      for (const blob of [parsed.config, ...parsed.layers]) {
        if (!(await dest.hasBlob(blob))) await dest.putBlob(blob, await src.getBlob(blob));
      }
    }
    await dest.putManifest(m, tag === undefined ? { isTop } : { isTop, tag });
  };
  const top = await src.getManifest();
  try {
    await copyOne(top, true);
    await dest.commit();
  } catch (err) {
    await dest.abort();
    throw err;
  }
  return top;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

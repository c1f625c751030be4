/**
 * The benchmark's images: OCI layouts of N layers, each a gzip (level 0: stored blocks, so
 * generating is as fast as the disk) of pseudo-random bytes, so no tool or registry can win by
 * compressing. The bytes come from AES-CTR over zeros keyed by the layer's index: the same
 * size and layer count give the same image, which is cached under `bench/work/images/`.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;
/** The tag the image carries in the layout's `index.json`. */
export const LAYOUT_TAG = 'bench';
const CHUNK = 4 * MIB;

export interface BlobFile {
  digest: string;
  size: number;
  /** The blob's path on disk. */
  file: string;
  mediaType: string;
}

export interface BenchImage {
  /** The OCI layout directory. */
  dir: string;
  layers: BlobFile[];
  config: BlobFile;
  manifest: BlobFile;
  /** Bytes of all blobs (layers, config, manifest): what a copy moves. */
  totalBytes: number;
}

/** `<layers>x<MiB per layer>` (KiB below 1 MiB): the cache key and the image's name in reports. */
export function imageKey(totalBytes: number, layers: number): string {
  const perLayer = totalBytes / layers;
  return perLayer < MIB ? `${layers}x${Math.round(perLayer / 1024)}KiB` : `${layers}x${Math.round(perLayer / MIB)}MiB`;
}

function randomSource(seed: number, bytes: number): Readable {
  const key = createHash('sha256').update(`gantry-bench-layer-${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(CHUNK);
  let left = bytes;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK, left);
      left -= n;
      this.push(cipher.update(zeros.subarray(0, n)));
    },
  });
}

async function writeLayer(blobsDir: string, seed: number, bytes: number): Promise<BlobFile & { diffId: string }> {
  const temp = join(blobsDir, `.gen-${seed}`);
  const blobHash = createHash('sha256');
  const diffHash = createHash('sha256');
  let size = 0;
  const source = randomSource(seed, bytes);
  source.on('data', (chunk: Buffer) => diffHash.update(chunk));
  const gzip = createGzip({ level: 0, chunkSize: 1 << 20 });
  gzip.on('data', (chunk: Buffer) => {
    blobHash.update(chunk);
    size += chunk.length;
  });
  await pipeline(source, gzip, createWriteStream(temp, { highWaterMark: CHUNK }));
  const digest = `sha256:${blobHash.digest('hex')}`;
  const file = join(blobsDir, digest.slice(7));
  await rename(temp, file);
  return { digest, size, file, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: `sha256:${diffHash.digest('hex')}` };
}

async function writeJsonBlob(blobsDir: string, value: unknown, mediaType: string): Promise<BlobFile> {
  const bytes = Buffer.from(JSON.stringify(value));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const file = join(blobsDir, digest.slice(7));
  await writeFile(file, bytes);
  return { digest, size: bytes.length, file, mediaType };
}

function descriptor(b: BlobFile): { mediaType: string; digest: string; size: number } {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/**
 * The layout for `totalBytes` split into `layers` equal layers (of uncompressed data; the
 * stored gzip adds ~0.01 %), generated once and then read from the cache.
 */
export async function benchImage(workDir: string, totalBytes: number, layers: number, log: (msg: string) => void): Promise<BenchImage> {
  const dir = join(workDir, 'images', imageKey(totalBytes, layers));
  const blobsDir = join(dir, 'blobs', 'sha256');
  const complete = join(dir, '.complete.json');
  if (existsSync(complete)) {
    const { readFile } = await import('node:fs/promises');
    return JSON.parse(await readFile(complete, 'utf8')) as BenchImage;
  }
  log(`generating ${imageKey(totalBytes, layers)} (${(totalBytes / GIB).toFixed(2)} GiB) in ${dir}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(blobsDir, { recursive: true });
  const perLayer = Math.floor(totalBytes / layers);
  const written: (BlobFile & { diffId: string })[] = [];
  for (let i = 0; i < layers; i++) written.push(await writeLayer(blobsDir, i, perLayer));
  const config = await writeJsonBlob(blobsDir, {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: written.map((l) => l.diffId) },
  }, 'application/vnd.oci.image.config.v1+json');
  const layerBlobs: BlobFile[] = written.map(({ diffId: _diffId, ...b }) => b);
  const manifest = await writeJsonBlob(blobsDir, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: descriptor(config),
    layers: layerBlobs.map(descriptor),
  }, 'application/vnd.oci.image.manifest.v1+json');
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...descriptor(manifest), annotations: { 'org.opencontainers.image.ref.name': LAYOUT_TAG } }],
  }));
  const image: BenchImage = {
    dir,
    layers: layerBlobs,
    config,
    manifest,
    totalBytes: layerBlobs.reduce((n, l) => n + l.size, 0) + config.size + manifest.size,
  };
  await writeFile(complete, JSON.stringify(image));
  return image;
}

/**
 * Test content for the distribution client: deterministic pseudo-random blobs of any size
 * that are generated while they stream (never held whole), and small images pushed through
 * the client itself.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RepositoryClient } from '../../src/client/registry-client.js';
import { Digest } from '../../src/ref/digest.js';

const CHUNK = 1024 * 1024;

/** xorshift32 bytes: `size` of them from `offset`, in 1 MiB chunks produced on demand. */
export function prngStream(size: number, seed: number, offset = 0): Readable {
  // The sequence is defined per 4-byte word; a stream from `offset` starts at its word.
  let state = (seed >>> 0) || 1;
  let word = 0;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    word++;
    return state;
  };
  const firstWord = Math.floor(offset / 4);
  while (word < firstWord) next();
  let position = firstWord * 4;
  let skip = offset - position;
  return new Readable({
    read() {
      if (position >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK, size - position);
      const words = new Uint32Array(Math.ceil(n / 4));
      for (let i = 0; i < words.length; i++) words[i] = next();
      let buf = Buffer.from(words.buffer, 0, n);
      position += n;
      if (skip > 0) {
        buf = buf.subarray(skip);
        skip = 0;
      }
      this.push(buf);
    },
  });
}

/** The sha256 digest of `prngStream(size, seed)`, computed by streaming it. */
export async function prngDigest(size: number, seed: number): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of prngStream(size, seed)) hash.update(chunk as Buffer);
  return Digest.parse(`sha256:${hash.digest('hex')}`);
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export interface PushedImage {
  bytes: Buffer;
  digest: Digest;
  config: { digest: Digest; size: number };
  layer: { digest: Digest; size: number; data: Buffer };
}

/** Pushes a one-layer image (config + layer + manifest) under `tag` (or by digest). */
export async function pushImage(repo: RepositoryClient, tag: string | undefined, seed: number, extra: Record<string, unknown> = {}): Promise<PushedImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
  const layerData = Buffer.from(`layer ${seed} `.repeat(100));
  const configDesc = { digest: Digest.fromBytes(config), size: config.length };
  const layerDesc = { digest: Digest.fromBytes(layerData), size: layerData.length };
  await repo.uploadBlob(configDesc, () => Readable.from([config]));
  await repo.uploadBlob(layerDesc, () => Readable.from([layerData]));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDesc.digest.toString(), size: configDesc.size },
      layers: [{ mediaType: OCI_LAYER, digest: layerDesc.digest.toString(), size: layerDesc.size }],
      ...extra,
    }),
  );
  const digest = Digest.fromBytes(bytes);
  await repo.putManifest(tag ?? digest, bytes, OCI_MANIFEST);
  return { bytes, digest, config: configDesc, layer: { ...layerDesc, data: layerData } };
}

/**
 * What verifying a registry→registry copy costs, paired in one process: the copy as gantry
 * ships it (the destination hashes every blob on the client) against the same copy with the
 * client's hash turned off (the upload's `verify: false`, which the copy itself never uses),
 * alternating run by run between two real docker-registry instances (http source, TLS
 * destination). Prints each pair's wall-time ratio, their median, and the client's CPU time.
 *
 *   node --import tsx bench/verify-cost.ts            # 8 × 64 MiB, 6 pairs
 *   LAYERS=4 LAYER_MIB=50 RUNS=5 node --import tsx bench/verify-cost.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { connectRegistry } from '../src/client/connect.js';
import { OFFLOAD_HASHING } from '../src/hashing/blob-hash.js';
import { copyImage } from '../src/image/copy.js';
import { RegistryImageDestination, RegistryImageSource } from '../src/image/registry.js';
import type { BlobOptions, ImageSource, RawManifest } from '../src/image/types.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { MediaType } from '../src/oci/media-types.js';
import { Digest } from '../src/ref/digest.js';
import { Reference } from '../src/ref/reference.js';
import { createBenchPki, startBenchDockerRegistry } from './registries.js';

const LAYERS = Number(process.env.LAYERS ?? 8);
const LAYER_BYTES = Number(process.env.LAYER_MIB ?? 64) * 1024 * 1024;
const RUNS = Number(process.env.RUNS ?? 6);

/** The destination with the client's hash off: what a copy cost before it verified anything. */
class UnverifiedDestination extends RegistryImageDestination {
  override async putBlob(desc: Descriptor, data: Readable, options: BlobOptions = {}): Promise<void> {
    const r = await this.repository.uploadBlob(desc, () => data, { verify: false, ...(options.signal ? { signal: options.signal } : {}) });
    if (r.status !== 'uploaded') data.destroy();
  }
}

/** The seed image, served from memory once to the source registry. */
class Seed implements ImageSource {
  readonly name = 'seed:';
  constructor(private readonly top: RawManifest, private readonly blobs: Map<string, Buffer>) {}
  async getManifest(): Promise<RawManifest> {
    return this.top;
  }
  async getBlob(d: Descriptor): Promise<Readable> {
    const { Readable: R } = await import('node:stream');
    return R.from([this.blobs.get(d.digest.toString())!]);
  }
  async close(): Promise<void> {}
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), 'gantry-verify-cost-'));
const pki = createBenchPki(dir);
const src = await startBenchDockerRegistry(join(dir, 'src'));
const dst = await startBenchDockerRegistry(join(dir, 'dst'), pki);
try {
  const blobs = new Map<string, Buffer>();
  const layers = Array.from({ length: LAYERS }, () => randomBytes(LAYER_BYTES));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  for (const b of [config, ...layers]) blobs.set(Digest.fromBytes(b).toString(), b);
  const d = (mediaType: string, b: Buffer) => ({ mediaType, digest: Digest.fromBytes(b).toString(), size: b.length });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: d(MediaType.OCI_CONFIG, config), layers: layers.map((l) => d(MediaType.OCI_LAYER, l)) }));
  const seeded = await connectRegistry(src.host, 'push');
  await copyImage(new Seed({ bytes, mediaType: MediaType.OCI_MANIFEST, digest: Digest.fromBytes(bytes) }, blobs), new RegistryImageDestination(seeded.client, Reference.parse(`${src.host}/cost/img:v1`)));
  await seeded.close();
  blobs.clear();
  layers.length = 0;

  const pull = await connectRegistry(src.host, 'pull');
  const push = await connectRegistry(dst.host, 'push', { certsDir: pki.certsDir });
  const wall: Record<'verified' | 'unverified', number[]> = { verified: [], unverified: [] };
  /** CPU seconds of this process (main thread and hash workers) per copy. */
  const cpu: Record<'verified' | 'unverified', number[]> = { verified: [], unverified: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const mode of i % 2 ? (['unverified', 'verified'] as const) : (['verified', 'unverified'] as const)) {
      const ref = Reference.parse(`${dst.host}/cost/${mode}${i}:v1`);
      const dest = mode === 'verified' ? new RegistryImageDestination(push.client, ref) : new UnverifiedDestination(push.client, ref);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await copyImage(new RegistryImageSource(pull.client, Reference.parse(`${src.host}/cost/img:v1`)), dest);
      const c = process.cpuUsage(c0);
      wall[mode].push((performance.now() - t0) / 1000);
      cpu[mode].push((c.user + c.system) / 1e6);
      process.stdout.write(`run ${i + 1} ${mode.padEnd(10)} ${wall[mode].at(-1)!.toFixed(2)} s, client CPU ${cpu[mode].at(-1)!.toFixed(2)} s\n`);
    }
  }
  await pull.close();
  await push.close();
  const pairs = wall.verified.map((v, i) => v / wall.unverified[i]!);
  process.stdout.write(
    `${LAYERS} × ${LAYER_BYTES / 1024 / 1024} MiB, hashed ${OFFLOAD_HASHING ? 'in worker threads' : 'inline'}: ` +
      `verified/unverified per pair ${pairs.map((p) => p.toFixed(3)).join(' ')}; median ${median(pairs).toFixed(3)} ` +
      `(${Math.min(...pairs).toFixed(2)}–${Math.max(...pairs).toFixed(2)}); client CPU median ${median(cpu.verified).toFixed(2)} s verified, ${median(cpu.unverified).toFixed(2)} s unverified\n`,
  );
} finally {
  await src.stop();
  await dst.stop();
  rmSync(dir, { recursive: true, force: true });
}

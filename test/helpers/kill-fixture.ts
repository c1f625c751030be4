/**
 * What the SIGKILL tests share: an image whose layers stream from the PRNG (never held whole),
 * a loopback TCP proxy that paces a registry's answers so a copy is slow enough to be killed
 * part-way, and the built CLI started as a child with pipes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { copyImage } from '../../src/image/copy.js';
import { openDestination, parseImageLocation } from '../../src/image/transports.js';
import type { ImageSource, RawManifest } from '../../src/image/types.js';
import { createRegistryServer } from '../../src/server/index.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { Digest } from '../../src/ref/digest.js';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, prngDigest, prngStream } from './client-fixtures.js';

const BIN = fileURLToPath(new URL('../../bin/gantry.js', import.meta.url));

/** An image of plain layers of `sizes`, seeded from `seedBase`; the config's diff_ids are the layers' digests. */
export async function prngImage(sizes: readonly number[], seedBase: number): Promise<ImageSource & { manifest: RawManifest }> {
  const seeds = new Map<string, { size: number; seed: number }>();
  const layers: Descriptor[] = [];
  for (const [i, size] of sizes.entries()) {
    const digest = await prngDigest(size, seedBase + i);
    seeds.set(digest.toString(), { size, seed: seedBase + i });
    layers.push({ mediaType: OCI_LAYER, digest, size });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest.toString()) } }));
  const json = (d: Descriptor) => ({ mediaType: d.mediaType, digest: d.digest.toString(), size: d.size });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: json({ mediaType: OCI_CONFIG, digest: Digest.fromBytes(config), size: config.length }), layers: layers.map(json) }));
  const manifest = { bytes, mediaType: OCI_MANIFEST, digest: Digest.fromBytes(bytes) };
  return {
    name: 'prng:',
    manifest,
    getManifest: async () => manifest,
    getBlob: async (desc) => {
      const layer = seeds.get(desc.digest.toString());
      return layer ? prngStream(layer.size, layer.seed) : Readable.from([config]);
    },
    close: async () => undefined,
  };
}

/** A loopback TCP proxy pacing the answers of 127.0.0.1:`port` to `bytesPerSecond` per connection. */
export async function startSlowProxy(port: number, bytesPerSecond: number): Promise<{ host: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port });
    sockets.add(client).add(upstream);
    const pace = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        setTimeout(() => cb(null, chunk), (chunk.length / bytesPerSecond) * 1000);
      },
    });
    client.pipe(upstream);
    upstream.pipe(pace).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts `gantry ARGS` with pipes; `done` settles when it exits (killed after `timeoutMs`). */
export function startGantry(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Run {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<Awaited<Run['done']>>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export interface SlowRegistry {
  /** A scratch folder (removed by `close`) with `daemon.json`, `certs.d` and `docker-config` for the CLI. */
  readonly dir: string;
  /** The CLI's environment: a Docker config of its own, no DOCKER_AUTH_CONFIG. */
  readonly env: NodeJS.ProcessEnv;
  /** The flags that keep the CLI off the machine's certs.d and daemon.json. */
  readonly flags: string[];
  /** `host:port` of the pacing proxy in front of the registry. */
  readonly host: string;
  /** The image pushed as `big/app:v1`. */
  readonly image: ImageSource & { manifest: RawManifest };
  close(): Promise<void>;
}

/**
 * The embedded registry holding a PRNG image (`big/app:v1`, layers of `sizes`) behind a proxy
 * pacing it to `bytesPerSecond`: slow enough that a copy can be killed part-way.
 */
export async function startSlowRegistry(prefix: string, sizes: readonly number[], seedBase: number, bytesPerSecond: number): Promise<SlowRegistry> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config') };
  delete env.DOCKER_AUTH_CONFIG;
  writeFileSync(join(dir, 'daemon.json'), '{}');
  const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: join(dir, 'registry') });
  const url = new URL(server.url);
  const image = await prngImage(sizes, seedBase);
  const dest = await openDestination(parseImageLocation(`${url.host}/big/app:v1`));
  try {
    await copyImage(image, dest.value);
  } finally {
    await dest.close();
  }
  const proxy = await startSlowProxy(Number(url.port), bytesPerSecond);
  return {
    dir,
    env,
    flags: ['--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json')],
    host: proxy.host,
    image,
    close: async () => {
      await proxy.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

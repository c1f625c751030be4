/**
 * Shared ground for the fault tests: a real docker-registry seeded with a small image, a
 * fault proxy in front of it, a retry policy with short waits (the waits asked for are
 * recorded), and the checks every fault test ends with: an OCI layout whose blobs all hash
 * to their names, with no temp files and an `index.json` that names only complete images;
 * a registry image whose every blob is there and verifies.
 */
import { ErrorCode, GantryError } from '../../src/errors.js';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { RegistryClient } from '../../src/client/registry-client.js';
import { copy } from '../../src/image/transports.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { Digest } from '../../src/ref/digest.js';
import { Reference } from '../../src/ref/reference.js';
import type { RetryPolicy } from '../../src/transport/layers/retry.js';
import { Transport } from '../../src/transport/transport.js';
import { prngStream } from '../helpers/client-fixtures.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { startFaultProxy, type FaultProxy, type ProgrammedFault } from '../helpers/fault-proxy.js';

export const NO_CERTS = join(tmpdir(), 'gantry-faults-no-certs.d');
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Larger than MONOLITHIC_MAX_BYTES, so its upload is a streamed PATCH; big enough to cut anywhere. */
export const BIG_LAYER_BYTES = 3 * 1024 * 1024 + 123;
/** Uploaded in one PUT. */
export const SMALL_LAYER_BYTES = 96 * 1024;

export interface SeedImage {
  manifestDigest: Digest;
  config: { digest: Digest; size: number };
  small: { digest: Digest; size: number };
  big: { digest: Digest; size: number };
}

/** Writes `stream` into `file`, returning its sha256 digest and size. */
async function writeHashed(stream: NodeJS.ReadableStream, file: string): Promise<{ digest: Digest; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(stream, tap, createWriteStream(file));
  return { digest: Digest.parse(`sha256:${hash.digest('hex')}`), size };
}

/** An OCI layout at `dir` holding one image (a config, a small and a big layer of pseudo-random bytes) tagged `tag`. */
export async function writeSeedLayout(dir: string, tag: string, seed: number): Promise<SeedImage> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const tmp = join(dir, 'incoming');
  const put = async (stream: NodeJS.ReadableStream): Promise<{ digest: Digest; size: number }> => {
    const d = await writeHashed(stream, tmp);
    rmSync(join(blobs, d.digest.encoded), { force: true });
    writeFileSync(join(blobs, d.digest.encoded), readFileSync(tmp));
    rmSync(tmp);
    return d;
  };
  const small = await put(prngStream(SMALL_LAYER_BYTES, seed));
  const big = await put(prngStream(BIG_LAYER_BYTES, seed + 1));
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [small.digest.toString(), big.digest.toString()] }, seed }));
  const config = { digest: Digest.fromBytes(configBytes), size: configBytes.length };
  writeFileSync(join(blobs, config.digest.encoded), configBytes);
  const layer = (d: { digest: Digest; size: number }) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d.digest.toString(), size: d.size });
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...layer(config), mediaType: 'application/vnd.oci.image.config.v1+json' }, layers: [layer(small), layer(big)] }));
  const manifestDigest = Digest.fromBytes(manifest);
  writeFileSync(join(blobs, manifestDigest.encoded), manifest);
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: OCI_MANIFEST, digest: manifestDigest.toString(), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return { manifestDigest, config, small, big };
}

export interface FaultWorld {
  registry: RunningRegistry;
  proxy: FaultProxy;
  /** The seeded image at `faults/base:v1` on the registry. */
  image: SeedImage;
  /** A layout holding the same image, tagged `v1`. */
  layoutDir: string;
  /** A fresh temp dir, removed at the end. */
  tempDir(): string;
  close(): Promise<void>;
}

/**
 * The seed for a proxy's random cut offsets: `GANTRY_FAULT_SEED` when set (to explore other
 * offsets, or to replay a failing run), else the test's own.
 */
export function proxySeed(seed: number): number {
  const env = Number(process.env.GANTRY_FAULT_SEED);
  return Number.isInteger(env) && env > 0 ? env + seed : seed;
}

/** docker-registry with `faults/base:v1`, and a proxy in front of it. */
export async function startFaultWorld(seed: number): Promise<FaultWorld> {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'gantry-faults-'));
    dirs.push(d);
    return d;
  };
  const registry = await startDockerRegistry();
  try {
    const layoutDir = tempDir();
    const image = await writeSeedLayout(layoutDir, 'v1', seed);
    await copy(`oci:${layoutDir}:v1`, `docker://${registry.host}/faults/base:v1`, { destination: { certsDir: NO_CERTS } });
    const proxy = await startFaultProxy({ upstream: registry.url, seed: proxySeed(seed) });
    return {
      registry, proxy, image, layoutDir, tempDir,
      close: async () => {
        await proxy.close();
        await registry.stop();
        for (const d of dirs) rmSync(d, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await registry.stop();
    throw err;
  }
}

/** Short waits, recorded: retries in tests take milliseconds, yet what was asked for is visible. */
export function fastRetry(waits: number[] = [], maxAttempts = 4): RetryPolicy {
  return {
    maxAttempts,
    baseDelayMs: 5,
    maxDelayMs: 20,
    sleep: async (ms) => {
      waits.push(ms);
      await new Promise((r) => setTimeout(r, Math.min(ms, 20)));
    },
  };
}

/** Every file under `dir`, relative, with `/`. */
function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(join(dir, name)).isDirectory()) out.push(...walk(join(dir, name), rel));
    else out.push(rel);
  }
  return out;
}

/**
 * The layout invariants after any run, successful or not: no temp files; every blob hashes
 * to its name; `index.json`, if there, is valid and every image it names is complete.
 * Returns the manifest digests index.json names.
 */
export function assertLayoutSound(dir: string): string[] {
  const files = walk(dir);
  const temps = files.filter((f) => f.split('/').pop()?.startsWith('.tmp-'));
  assert.deepEqual(temps, [], `temp files left in ${dir}`);
  const blobs = new Set<string>();
  for (const f of files.filter((x) => x.startsWith('blobs/'))) {
    const [, alg, hex] = f.split('/');
    const bytes = readFileSync(join(dir, f));
    assert.equal(createHash(alg ?? 'sha256').update(bytes).digest('hex'), hex, `${f} does not hash to its name`);
    blobs.add(`${alg}:${hex}`);
  }
  if (!files.includes('index.json')) return [];
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const named = index.manifests.map((m) => m.digest);
  const complete = (digest: string): void => {
    assert.ok(blobs.has(digest), `index.json names ${digest}, which is not in blobs/`);
    const m = parseManifest(readFileSync(join(dir, 'blobs', ...digest.split(':'))));
    const children = m.kind === 'image' ? [m.config, ...m.layers] : m.kind === 'index' ? m.manifests : [];
    for (const c of children) {
      if (m.kind === 'index') complete(c.digest.toString());
      else assert.ok(blobs.has(c.digest.toString()), `image ${digest} lacks blob ${c.digest.toString()}`);
    }
  };
  named.forEach(complete);
  return named;
}

/**
 * Reads `repo:tag` straight from the registry (no proxy): the manifest digest, or undefined
 * when the tag is not there; every blob it names is fetched and verified by the client.
 */
export async function registryImage(registry: RunningRegistry, repoTag: string): Promise<Digest | undefined> {
  const transport = new Transport({ certsDir: NO_CERTS, retry: false });
  try {
    const client = RegistryClient.create({ host: registry.host, transport });
    const ref = Reference.parse(`${registry.host}/${repoTag}`);
    const repo = client.repositoryClient(ref);
    const head = await repo.headManifest(ref);
    if (!head) return undefined;
    const got = await repo.getManifest(ref);
    const m = parseManifest(got.bytes, { mediaType: got.mediaType });
    assert.equal(m.kind, 'image');
    if (m.kind === 'image') {
      for (const d of [m.config, ...m.layers]) {
        const stream = await repo.getBlob(d);
        for await (const _ of stream) void _; // verifies size and digest at the end
      }
    }
    return got.digest;
  } finally {
    await transport.close();
  }
}

/** The requests for a blob. */
export function blobRequests(proxy: FaultProxy, digest: Digest, method = 'GET'): FaultProxy['requests'] {
  return proxy.requests.filter((r) => r.method === method && r.url.includes(`/blobs/${digest.toString()}`));
}

/** A path pattern for one blob of one repository. */
export function blobPath(repo: string, digest: Digest): RegExp {
  return new RegExp(`^/v2/${repo}/blobs/${digest.toString()}`);
}

/**
 * The error a pull or copy ends with when the source's big blob answers 503 beyond the retry
 * budget: a REGISTRY error naming the blob URL and the registry's UNAVAILABLE.
 */
export function isBigBlobUnavailable(world: FaultWorld, repo: string) {
  return (err: unknown): true => {
    assert.ok(err instanceof GantryError);
    assert.equal(err.code, ErrorCode.REGISTRY);
    assert.match(err.message, new RegExp(`^GET http://${world.proxy.host}/v2/${repo}/blobs/${world.image.big.digest.toString()}: UNAVAILABLE: fault proxy: 503`));
    return true;
  };
}

/**
 * The fault fired: exactly `times` times when given, else at least once. A rule whose pattern
 * matches nothing leaves a fault test passing without testing anything.
 */
export function assertFired(fault: ProgrammedFault, times?: number): void {
  const what = `${fault.rule.method ?? 'any'} ${String(fault.rule.path)} (${fault.rule.fault.kind})`;
  if (times === undefined) assert.ok(fault.fired >= 1, `the fault never fired: ${what}`);
  else assert.equal(fault.fired, times, `the fault fired ${fault.fired} times, expected ${times}: ${what}`);
}

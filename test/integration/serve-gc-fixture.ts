/**
 * What the garbage-collection tests share: an embedded registry on a storage directory with a
 * gantry client in front of it, pushes of images, indexes and referrers, a pull that fetches
 * and verifies every manifest and blob a tag reaches, and tools to look at the directory.
 *
 * Run as a script (`serve-gc-fixture.ts loop <storage> <graceMs> <pauseMs> <stop-file>`), it
 * collects garbage over and over in its own process (every other round deleting untagged
 * manifests, pausing up to `pauseMs` between rounds) until the stop file appears, printing one
 * JSON line per collection (`started`: the clock just before it began): the other side of the
 * race test.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RegistryClient, type RepositoryClient } from '../../src/client/registry-client.js';
import { Digest } from '../../src/ref/digest.js';
import { collectGarbage } from '../../src/server/gc/collect.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { Transport } from '../../src/transport/transport.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

export interface Blob {
  digest: string;
  size: number;
}

export interface Registry {
  server: RegistryServer;
  client: RegistryClient;
  repo(name: string): RepositoryClient;
  close(): Promise<void>;
}

export async function startRegistry(storage: string): Promise<Registry> {
  const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage, uploadPurging: { enabled: false } });
  const transport = new Transport({ certsDir: join(tmpdir(), 'gantry-gc-no-certs.d'), retry: { maxAttempts: 1 } });
  const client = RegistryClient.create({ host: `127.0.0.1:${server.port}`, transport, purpose: 'push' });
  return {
    server,
    client,
    repo: (name) => client.repository(name),
    async close() {
      await transport.close();
      await server.close();
    },
  };
}

export function blobOf(bytes: Buffer): Blob {
  return { digest: Digest.fromBytes(bytes).toString(), size: bytes.length };
}

/** Uploads a blob unless the repository has it; `statuses` collects what the upload did (`exists`, `uploaded`, `mounted`). */
export async function pushBlob(repo: RepositoryClient, bytes: Buffer, statuses?: string[], mountFrom?: string): Promise<Blob> {
  const blob = blobOf(bytes);
  const r = await repo.uploadBlob({ digest: Digest.parse(blob.digest), size: blob.size }, () => Readable.from([bytes]), mountFrom ? { mountFrom } : {});
  statuses?.push(r.status);
  return blob;
}

export interface Pushed {
  digest: string;
  size: number;
  bytes: Buffer;
  /** The blobs it names (config first). */
  blobs: Blob[];
}

/**
 * Pushes an image: a random config, the given layers (random ones by default), under `tag` or
 * by digest; layers missing from the repository are mounted from `mountFrom` when it has them.
 * `statuses` collects what each blob's upload did, even when the manifest fails.
 */
export async function pushImage(
  repo: RepositoryClient,
  tag: string | undefined,
  options: { layers?: Buffer[]; extra?: Record<string, unknown>; statuses?: string[]; mountFrom?: string } = {},
): Promise<Pushed> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const layers = options.layers ?? [randomBytes(1024 + Math.floor(Math.random() * 4096))];
  const blobs = [await pushBlob(repo, config, options.statuses)];
  for (const layer of layers) blobs.push(await pushBlob(repo, layer, options.statuses, options.mountFrom));
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, ...blobs[0] },
    layers: blobs.slice(1).map((b) => ({ mediaType: OCI_LAYER, ...b })),
    ...options.extra,
  }));
  const put = await repo.putManifest(tag ?? Digest.fromBytes(bytes), bytes, OCI_MANIFEST);
  return { digest: put.digest.toString(), size: bytes.length, bytes, blobs };
}

/** Pushes an index of already pushed manifests. */
export async function pushIndex(repo: RepositoryClient, tag: string, children: Pushed[]): Promise<Pushed> {
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c, i) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.size, platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' } })),
  }));
  const put = await repo.putManifest(tag, bytes, OCI_INDEX);
  return { digest: put.digest.toString(), size: bytes.length, bytes, blobs: [] };
}

/** Pushes a signature-like artifact (one payload blob) whose subject is `subject`, by digest. */
export async function pushReferrer(repo: RepositoryClient, subject: Pushed): Promise<Pushed> {
  const empty = Buffer.from('{}');
  const payload = Buffer.from(JSON.stringify({ signed: subject.digest, nonce: randomBytes(8).toString('hex') }));
  const blobs = [await pushBlob(repo, empty), await pushBlob(repo, payload)];
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', ...blobs[0] },
    layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', ...blobs[1] }],
    subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.size },
  }));
  const put = await repo.putReferrer(bytes, OCI_MANIFEST);
  return { digest: put.digest.toString(), size: bytes.length, bytes, blobs };
}

/**
 * Pulls `reference` with the client and every manifest and blob it reaches, each verified
 * (the client checks digest and size while it streams); returns the digests met.
 */
export async function pullVerified(repo: RepositoryClient, reference: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (ref: string): Promise<void> => {
    const got = await repo.getManifest(ref);
    if (Digest.tryParse(ref)) assert.equal(got.digest.toString(), ref);
    seen.add(got.digest.toString());
    const doc = JSON.parse(got.bytes.toString('utf8')) as { config?: Blob; layers?: Blob[]; manifests?: Blob[] };
    for (const blob of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
      const stream = await repo.getBlob({ digest: Digest.parse(blob.digest), size: blob.size });
      for await (const _chunk of stream) {
        // drained: the stream fails at its end on a digest or size mismatch
      }
      seen.add(blob.digest);
    }
    for (const child of doc.manifests ?? []) await visit(child.digest);
  };
  await visit(reference);
  return seen;
}

/** Every file under `dir`, by path relative to it, with its size. */
export function snapshot(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), lstatSync(p).size);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** Sets the modification time of every file under the storage's blobs and repositories to `ms` ago. */
export function age(storage: string, ms: number, only?: string[]): void {
  const when = new Date(Date.now() - ms);
  for (const path of only ?? [...snapshot(storage).keys()].filter((p) => p.startsWith('blobs') || p.startsWith('repositories'))) {
    utimesSync(join(storage, path), when, when);
  }
}

export const blobPath = (storage: string, digest: string): string => {
  const [alg, hex] = digest.split(':') as [string, string];
  return join(storage, 'blobs', alg, hex.slice(0, 2), hex);
};
export const linkPath = (storage: string, repository: string, digest: string): string => {
  const [alg, hex] = digest.split(':') as [string, string];
  return join(storage, 'repositories', repository, '_layers', alg, hex);
};
export const revisionPath = (storage: string, repository: string, digest: string): string => {
  const [alg, hex] = digest.split(':') as [string, string];
  return join(storage, 'repositories', repository, '_manifests', 'revisions', alg, hex);
};

export const FIXTURE = fileURLToPath(import.meta.url);

if (process.argv[1] === FIXTURE && process.argv[2] === 'loop') {
  const [storage, grace, pause, stop] = process.argv.slice(3) as [string, string, string, string];
  for (let round = 0; !existsSync(stop); round++) {
    const started = Date.now();
    const r = await collectGarbage(storage, { graceMs: Number(grace), deleteUntagged: round % 2 === 1 });
    process.stdout.write(`${JSON.stringify({ round, started, ended: Date.now(), counts: r.counts, restored: r.restored, warnings: r.warnings })}\n`);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * Number(pause)));
  }
}

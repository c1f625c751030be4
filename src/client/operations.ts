/**
 * One-call registry operations behind the CLI: a manifest's digest, tags, the catalog,
 * delete. Each opens an authenticated client, does one job and closes it.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { ACCEPT_MANIFESTS } from '../oci/media-types.js';
import { parseRepository, Reference } from '../ref/reference.js';
import { connectRegistry, type RegistryAccessOptions } from './connect.js';
import type { ListOptions } from './pagination.js';
import type { RepositoryClient } from './registry-client.js';

async function withRepository<T>(ref: Reference, purpose: 'pull' | 'push', access: RegistryAccessOptions, work: (repo: RepositoryClient) => Promise<T>): Promise<T> {
  const registry = await connectRegistry(ref.repository.domain, purpose, access);
  try {
    return await work(registry.client.repositoryClient(ref));
  } finally {
    await registry.close();
  }
}

/** The digest a reference resolves to (HEAD, falling back to GET when HEAD does not say). */
export async function resolveDigest(reference: string | Reference, access: RegistryAccessOptions = {}): Promise<string> {
  const ref = (typeof reference === 'string' ? Reference.parse(reference) : reference).withDefaultTag();
  return withRepository(ref, 'pull', access, async (repo) => {
    const head = await repo.headManifest(ref, { accept: ACCEPT_MANIFESTS });
    if (head?.digest) return head.digest.toString();
    const got = await repo.getManifest(ref);
    return got.digest.toString();
  });
}

/** Every tag of a repository, in the registry's order, following pages. */
export async function listTags(repository: string, access: RegistryAccessOptions & ListOptions = {}): Promise<string[]> {
  const repo = parseRepository(repository);
  const ref = Reference.of(repo, {});
  return withRepository(ref, 'pull', access, async (client) => {
    const out: string[] = [];
    for await (const t of client.tags(access)) out.push(t);
    return out;
  });
}

/** Every repository of a registry (`GET /v2/_catalog`), following pages. */
export async function listCatalog(host: string, access: RegistryAccessOptions & ListOptions = {}): Promise<string[]> {
  if (!host || /[/\s]/.test(host)) throw new GantryError(ErrorCode.USAGE, `catalog needs a registry host (host[:port]), got "${host}"`);
  const registry = await connectRegistry(host, 'pull', access);
  try {
    const out: string[] = [];
    for await (const r of registry.client.catalog(access)) out.push(r);
    return out;
  } finally {
    await registry.close();
  }
}

/**
 * Deletes a manifest. A tag is resolved to its digest first: registries delete manifests
 * by digest (the spec's DELETE by tag is optional, and docker-registry 2.8 refuses it), and
 * the digest deleted is returned so the user knows what went.
 */
export async function deleteImage(reference: string | Reference, access: RegistryAccessOptions = {}): Promise<string> {
  const ref = typeof reference === 'string' ? Reference.parse(reference) : reference;
  if (!ref.tag && !ref.digest) throw new GantryError(ErrorCode.USAGE, `delete needs a tag or a digest: ${ref.familiar()}`);
  return withRepository(ref, 'push', access, async (repo) => {
    let digest = ref.digest;
    if (!digest) {
      const head = await repo.headManifest(ref, { accept: ACCEPT_MANIFESTS });
      digest = head?.digest ?? (await repo.getManifest(ref)).digest;
    }
    await repo.deleteManifest(digest);
    return digest.toString();
  });
}

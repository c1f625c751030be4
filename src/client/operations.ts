/**
 * One-call registry operations behind the CLI: a manifest's digest, tags, the catalog,
 * delete. Each opens an authenticated client, does one job and closes it. Listings come
 * twice: as pages, streamed (`listTagPages`), and collected into a capped array (`listTags`).
 */
import { ErrorCode, GantryError } from '../errors.js';
import { ACCEPT_MANIFESTS } from '../oci/media-types.js';
import { parseRepository, Reference } from '../ref/reference.js';
import { accessFor, connectRegistry, type RegistryAccessOptions } from './connect.js';
import { catalogPages, checkListOptions, collectItems, tagPages, type ListOptions, type ListPage } from './pagination.js';
import type { RepositoryClient } from './registry-client.js';

async function withRepository<T>(ref: Reference, purpose: 'pull' | 'push', access: RegistryAccessOptions, work: (repo: RepositoryClient) => Promise<T>): Promise<T> {
  const registry = await connectRegistry(ref.repository.domain, purpose, accessFor(ref, access));
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

/**
 * The tags of a repository as pages, in the registry's order, each requested only when the
 * iteration asks for it: memory holds one page however long the listing. Opens its own
 * connection on the first step and closes it when the iteration ends: finished, failed, or
 * left early (`break` calls the iterator's `return()`, and no further page is requested).
 * An endless listing ends at `maxPages` (TOO_LARGE) or at a repeated `Link` (INVALID_RESPONSE).
 * The options are checked at once (INVALID_OPTION).
 *
 * @example
 * for await (const page of listTagPages('localhost:5000/app', { n: 1000 })) {
 *   for (const tag of page.items) console.log(tag);
 * }
 */
export function listTagPages(repository: string, options: RegistryAccessOptions & ListOptions = {}): AsyncIterableIterator<ListPage> {
  return tagPagesOf('listTagPages', repository, options);
}

/**
 * Every tag of a repository in one array (see listTagPages). Capped: past
 * MAX_COLLECTED_LIST_ENTRIES names or MAX_COLLECTED_LIST_BYTES it fails with code TOO_LARGE;
 * iterate over listTagPages instead.
 */
export async function listTags(repository: string, options: RegistryAccessOptions & ListOptions = {}): Promise<string[]> {
  return collectItems(tagPagesOf('listTags', repository, options), 'listTags', `the tags of ${repository}`, 'listTagPages');
}

function tagPagesOf(where: string, repository: string, options: RegistryAccessOptions & ListOptions): AsyncGenerator<ListPage> {
  checkListOptions(where, options);
  const ref = Reference.of(parseRepository(repository), {});
  return (async function* () {
    const registry = await connectRegistry(ref.repository.domain, 'pull', accessFor(ref.repository.name, options));
    try {
      yield* tagPages(registry.client.repositoryClient(ref), options, where);
    } finally {
      await registry.close();
    }
  })();
}

/**
 * A registry's repositories (`GET /v2/_catalog`) as pages, fetched as the iteration asks;
 * its own connection, closed when the iteration ends, as listTagPages.
 */
export function listCatalogPages(host: string, options: RegistryAccessOptions & ListOptions = {}): AsyncIterableIterator<ListPage> {
  return catalogPagesOf('listCatalogPages', host, options);
}

/**
 * Every repository of a registry in one array (see listCatalogPages), capped as listTags:
 * TOO_LARGE past the cap; iterate over listCatalogPages instead.
 */
export async function listCatalog(host: string, options: RegistryAccessOptions & ListOptions = {}): Promise<string[]> {
  return collectItems(catalogPagesOf('listCatalog', host, options), 'listCatalog', `the repositories of ${host}`, 'listCatalogPages');
}

function catalogPagesOf(where: string, host: string, options: RegistryAccessOptions & ListOptions): AsyncGenerator<ListPage> {
  if (!host || /[/\s]/.test(host)) throw new GantryError(ErrorCode.USAGE, `catalog needs a registry host (host[:port]), got "${host}"`);
  checkListOptions(where, options);
  return (async function* () {
    const registry = await connectRegistry(host, 'pull', options);
    try {
      yield* catalogPages(registry.client, options, where);
    } finally {
      await registry.close();
    }
  })();
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

/**
 * The work of a sync, as a stream: for one source, its repositories (the listed ones, then the
 * catalog's, page by page), and for each the tags that pass its filters and belong to this
 * process's shard, one item per tag. Nothing is collected whole: the catalog and every tag
 * listing stream a page at a time; `newest: N` keeps at most N tags (MAX_NEWEST) while the
 * listing goes by; the listed repositories and tags are the configuration's own (a file of at
 * most MAX_SYNC_CONFIG_BYTES).
 */
import type { Readable } from 'node:stream';
import { parseImageConfig } from '../oci/config.js';
import { isImageManifest } from '../oci/media-types.js';
import { Repository } from '../ref/reference.js';
import type { RegistryClient, RepositoryClient } from '../client/registry-client.js';
import { ErrorCode, GantryError } from '../errors.js';
import { MAX_CONFIG_BYTES } from '../image/inspect.js';
import type { SyncRepository, SyncSource, SyncTagFilter } from './config.js';
import { immutableRule, NewestTags, repositoryFilter, tagPredicate, tagVersion } from './filters.js';
import { shardOf, type SyncShard } from './shard.js';
import type { SemVer } from 'semver';

/** One source tag to sync to each of the source's destinations. */
export interface WorkItem {
  /** The source it comes from (its destinations, platforms, referrers). */
  readonly source: SyncSource;
  /** The repository on the source registry. */
  readonly repository: Repository;
  /** The tag. */
  readonly tag: string;
  /** Whether the tag is immutable: skipped once a destination has it, on one HEAD there. */
  readonly immutable: boolean;
}

/** A listing that failed: the repository (or the whole source, for the catalog) could not be read. */
export interface WorkFailure {
  /** The source. */
  readonly source: SyncSource;
  /** The repository whose tags could not be listed; undefined when the catalog could not be. */
  readonly repository?: Repository;
  /** Why. */
  readonly error: unknown;
}

/** How the work is cut: the shard, how many created dates are fetched at once, the signal. */
export interface WorkOptions {
  /** This process's shard; undefined for all the work. */
  readonly shard?: SyncShard;
  /** Created dates fetched at once for `order: created`. */
  readonly jobs: number;
  /** Stops the listings. */
  readonly signal?: AbortSignal;
  /** Throws when a repository may not be read (registries.conf `blocked`); the repository is then one failure, unlisted. */
  readonly checkRepository?: (repository: Repository) => void;
}

/**
 * The image's creation time (its config's `created`, in ms), for `order: created`: one GET of
 * the manifest and one of the config blob (the first image of an index); -Infinity when the
 * image says none, so it sorts last.
 */
async function createdOf(repo: RepositoryClient, tag: string, signal: AbortSignal | undefined): Promise<number> {
  const opts = signal ? { signal } : {};
  let { manifest } = await repo.getManifest(tag, opts);
  if (manifest.kind === 'index') {
    const first = manifest.manifests.find((d) => isImageManifest(d.mediaType) && d.platform?.os !== 'unknown');
    if (!first) return -Infinity;
    manifest = (await repo.getManifest(first.digest, opts)).manifest;
  }
  if (manifest.kind !== 'image' || manifest.config.size > MAX_CONFIG_BYTES) return -Infinity;
  const stream: Readable = await repo.getBlob(manifest.config, opts);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  const created = parseImageConfig(Buffer.concat(chunks), `config of ${repo.repository.name}:${tag}`).created;
  const ms = created ? Date.parse(created) : NaN;
  return Number.isNaN(ms) ? -Infinity : ms;
}

/** The tags of `repo` that pass `filter`, streamed (or, with `newest`, the newest N once the listing is done). */
async function* selectedTags(repo: RepositoryClient, filter: SyncTagFilter, options: WorkOptions): AsyncGenerator<string> {
  const passes = tagPredicate(filter);
  const listed = async function* (): AsyncGenerator<string> {
    if (filter.names) {
      yield* filter.names;
      return;
    }
    for await (const page of repo.tagPages(options.signal ? { signal: options.signal } : {})) yield* page.items;
  };
  if (filter.newest === undefined) {
    for await (const tag of listed()) if (passes(tag)) yield tag;
    return;
  }
  if ((filter.order ?? 'semver') === 'semver') {
    const newest = new NewestTags<SemVer>(filter.newest, (a, b) => a.compare(b));
    for await (const tag of listed()) {
      const v = passes(tag) ? tagVersion(tag) : undefined;
      if (v) newest.add(tag, v);
    }
    yield* newest.tags();
    return;
  }
  const newest = new NewestTags<number>(filter.newest, (a, b) => (a === b ? 0 : a < b ? -1 : 1));
  let batch: string[] = [];
  const flush = async (): Promise<void> => {
    const dates = await Promise.all(batch.map((tag) => createdOf(repo, tag, options.signal)));
    batch.forEach((tag, i) => newest.add(tag, dates[i]!));
    batch = [];
  };
  for await (const tag of listed()) {
    if (!passes(tag)) continue;
    batch.push(tag);
    if (batch.length >= options.jobs) await flush();
  }
  await flush();
  yield* newest.tags();
}

function inShard(repository: Repository, tag: string, shard: SyncShard | undefined): boolean {
  return shard === undefined || shard.count === 1 || shardOf(`${repository.name}:${tag}`, shard.count) === shard.index;
}

/** The items of one repository, or one failure when its listing fails. */
async function* repositoryWork(source: SyncSource, client: RegistryClient, entry: SyncRepository, options: WorkOptions): AsyncGenerator<WorkItem | WorkFailure> {
  let repository: Repository;
  try {
    repository = Repository.from(source.registry, entry.name);
    options.checkRepository?.(repository);
  } catch (error) {
    yield { source, error };
    return;
  }
  const repo = client.repository(repository);
  const filter = entry.tags ?? source.tags ?? {};
  const immutable = immutableRule(entry.immutable ?? source.immutable);
  try {
    for await (const tag of selectedTags(repo, filter, options)) {
      if (inShard(repository, tag, options.shard)) yield { source, repository, tag, immutable: immutable(tag) };
    }
  } catch (error) {
    if (error instanceof GantryError && error.code === ErrorCode.ABORTED) throw error;
    yield { source, repository, error };
  }
}

/**
 * Every item of `source`, in order: the listed repositories, then those the catalog names
 * (not listed already, passing `include`/`exclude`). A repository whose tags cannot be listed,
 * or a catalog that cannot be read, is one WorkFailure; the rest goes on.
 */
export async function* sourceWork(source: SyncSource, client: RegistryClient, options: WorkOptions): AsyncGenerator<WorkItem | WorkFailure> {
  const listed = new Set<string>();
  for (const entry of source.repositories ?? []) {
    const r = typeof entry === 'string' ? { name: entry } : entry;
    listed.add(r.name);
    yield* repositoryWork(source, client, r, options);
  }
  if (!source.catalog) return;
  const keep = repositoryFilter(source.include, source.exclude);
  try {
    for await (const page of client.catalogPages(options.signal ? { signal: options.signal } : {})) {
      for (const name of page.items) {
        if (listed.has(name) || !keep(name)) continue;
        yield* repositoryWork(source, client, { name }, options);
      }
    }
  } catch (error) {
    if (error instanceof GantryError && error.code === ErrorCode.ABORTED) throw error;
    yield { source, error };
  }
}

/** Whether a work entry is a failure. */
export function isFailure(w: WorkItem | WorkFailure): w is WorkFailure {
  return 'error' in w;
}

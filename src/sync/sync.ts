/**
 * `sync(config, options)`: mirrors the configuration's sources to their destinations, cheap
 * when nothing changed. Per source tag:
 *
 *   1. an immutable tag: HEAD at each destination; one that has it is skipped, and when all
 *      have it the source is not asked at all;
 *   2. otherwise HEAD at the source and at each destination at once; equal digests: skipped
 *      (no GET of a manifest or a blob anywhere);
 *   3. else copied, on the run's shared connections: copy's own blob checks skip every blob
 *      the destination has, so a rerun after a kill moves only what is missing.
 *
 * Tags flow from the listings (work.ts) through a bounded queue to `jobs` workers, across
 * repositories and sources; each registry's gate bounds its requests in flight and keeps the
 * rate-limit budget (gate.ts). When a budget is spent the run stops: no new tag starts, the
 * tags under way at that registry are reported `interrupted`, the others finish, and the
 * report says where and why it stopped.
 */
import { accessFor, type RegistryAccessOptions } from '../client/connect.js';
import type { RegistryClient } from '../client/registry-client.js';
import type { ManifestHead } from '../client/manifests.js';
import { ErrorCode, GantryError, isGantryError } from '../errors.js';
import { checkOptions } from '../options.js';
import { ACCEPT_MANIFESTS } from '../oci/media-types.js';
import { Reference, Repository } from '../ref/reference.js';
import { checkConfigObject } from './config-file.js';
import { DEFAULT_REGISTRY_REQUESTS, DEFAULT_SYNC_BLOB_JOBS, DEFAULT_SYNC_JOBS, MAX_REGISTRY_REQUESTS, MAX_SYNC_JOBS, type SyncConfig, type SyncDestination } from './config.js';
import { MAX_SHARDS, type SyncShard } from './shard.js';
import type { RegistryGate } from './gate.js';
import { copyTag, expectedDigest } from './images.js';
import { WorkQueue } from './queue.js';
import { SyncRegistries } from './registries.js';
import { isAbort, isStop, itemError, ReportBuilder, type SyncItem, type SyncReport, type SyncStop } from './report.js';
import { isFailure, sourceWork, type WorkFailure, type WorkItem } from './work.js';

/** How a sync runs. Each option given here overrides the configuration's field of the same name. */
export interface SyncOptions {
  /**
   * Registry access for every registry of the run (insecure registries, `certsDir`,
   * registries.conf, `log`, `layers`, …); each source's and destination's own fields win.
   */
  readonly access?: RegistryAccessOptions;
  /** Tags in flight at once, 1 to 256. Default: the configuration's, else 8. */
  readonly jobs?: number;
  /** Requests in flight to one registry, 1 to 1024. Default: the configuration's, else 16. */
  readonly registryJobs?: number;
  /** Blobs of one image copied at once, 1 to 64. Default: the configuration's, else 4. */
  readonly blobJobs?: number;
  /**
   * Requests of a registry's announced rate limit (Docker Hub's `ratelimit-remaining`) to leave
   * unused: the run stops, with its report, rather than cross it. Default: the configuration's, else 0.
   */
  readonly rateLimitReserve?: number;
  /** Compare only: HEADs on both sides, nothing written; the report's `planned` items are what would be copied. */
  readonly dryRun?: boolean;
  /** Do only this shard of the tags (`{ index: 0, count: 4 }`); the N shards of a sync together do all of it, each tag once. */
  readonly shard?: SyncShard;
  /** Aborts the run (ABORTED); what was copied stays, a rerun goes on from there. */
  readonly signal?: AbortSignal;
  /** Told each item as it finishes (every one, also past the report's MAX_REPORT_ITEMS). */
  readonly onItem?: (item: SyncItem) => void;
}

function checkSyncOptions(options: SyncOptions): void {
  checkOptions('sync', options)
    .object('access')
    .integer('jobs', 1, MAX_SYNC_JOBS)
    .integer('registryJobs', 1, MAX_REGISTRY_REQUESTS)
    .integer('blobJobs', 1, 64)
    .integer('rateLimitReserve', 0)
    .boolean('dryRun')
    .check(
      'shard',
      (v) => {
        const s = v as Partial<SyncShard> | null;
        return typeof s === 'object' && s !== null && Number.isInteger(s.count) && Number.isInteger(s.index) && s.count! >= 1 && s.count! <= MAX_SHARDS && s.index! >= 0 && s.index! < s.count!;
      },
      `{ index, count } with 0 ≤ index < count ≤ ${MAX_SHARDS}`,
    )
    .signal('signal')
    .func('onItem');
}

/** One destination of an item: its reference, or why it has none (a rewritten name that is not valid). */
interface Target {
  readonly destination: SyncDestination;
  readonly reference?: Reference;
  readonly error?: unknown;
}

/** The destination path of `path` under `d`'s rewriting: basename, or `stripPrefix` removed; then `prefix` put in front. */
export function destinationPath(d: Pick<SyncDestination, 'prefix' | 'stripPrefix' | 'basename'>, path: string): string {
  let p = path;
  if (d.basename) p = p.slice(p.lastIndexOf('/') + 1);
  else if (d.stripPrefix && p.startsWith(`${d.stripPrefix}/`)) p = p.slice(d.stripPrefix.length + 1);
  return d.prefix ? `${d.prefix}/${p}` : p;
}

class SyncRun {
  private readonly report: ReportBuilder;
  private readonly registries: SyncRegistries;
  private readonly queue: WorkQueue<WorkItem | WorkFailure>;
  private readonly jobs: number;
  private readonly blobJobs: number;
  private readonly reserve: number;
  private readonly dryRun: boolean;
  private stop: SyncStop | undefined;

  constructor(
    private readonly config: SyncConfig,
    private readonly options: SyncOptions,
  ) {
    this.report = new ReportBuilder(options.onItem);
    this.jobs = options.jobs ?? config.jobs ?? DEFAULT_SYNC_JOBS;
    this.blobJobs = options.blobJobs ?? config.blobJobs ?? DEFAULT_SYNC_BLOB_JOBS;
    this.reserve = options.rateLimitReserve ?? config.rateLimitReserve ?? 0;
    this.dryRun = options.dryRun ?? false;
    const registryJobs = options.registryJobs ?? config.registryJobs ?? DEFAULT_REGISTRY_REQUESTS;
    this.registries = new SyncRegistries(config, options.access ?? {}, registryJobs, this.reserve, (gate) => this.stopAt(gate));
    // Listings run ahead of the workers by this much, no more.
    this.queue = new WorkQueue(this.jobs * 4);
  }

  private stopAt(gate: RegistryGate): void {
    if (this.stop || !gate.closed) return;
    this.stop = {
      reason: gate.closed.reason,
      registry: gate.registry,
      message: `${gate.registry}: ${gate.closed.message}`,
      ...(gate.lastRateLimit?.remaining !== undefined ? { remaining: gate.lastRateLimit.remaining } : {}),
      reserve: this.reserve,
    };
    this.queue.close(true);
  }

  private get halted(): boolean {
    return this.stop !== undefined || (this.options.signal?.aborted ?? false);
  }

  async run(): Promise<SyncReport> {
    const started = process.hrtime.bigint();
    try {
      await this.registries.loadCredentials(this.config);
      const producer = this.produce();
      await Promise.all([producer, ...Array.from({ length: this.jobs }, () => this.work())]);
    } finally {
      await this.registries.close();
    }
    if (this.options.signal?.aborted) throw new GantryError(ErrorCode.ABORTED, 'sync aborted', { cause: this.options.signal.reason });
    const r = this.report;
    return {
      dryRun: this.dryRun,
      ...(this.options.shard ? { shard: this.options.shard } : {}),
      tags: r.tags,
      copied: r.counts.copied,
      skipped: r.counts.skipped,
      planned: r.counts.planned,
      failed: r.counts.failed,
      interrupted: r.counts.interrupted,
      bytes: r.bytes,
      items: r.items,
      itemsOmitted: r.itemsOmitted,
      registries: this.registries.report(),
      ...(this.stop ? { stopped: this.stop } : {}),
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
  }

  /** Lists every source's work into the queue, one source after the other; closes the queue at the end. */
  private async produce(): Promise<void> {
    try {
      for (const source of this.config.sources) {
        if (this.halted) break;
        let client: RegistryClient;
        try {
          client = await this.registries.client(source.registry, 'pull', source);
        } catch (error) {
          if (isStop(error) || isAbort(error)) break;
          await this.queue.push({ source, error });
          continue;
        }
        const access = this.options.access;
        const work = sourceWork(source, client, {
          jobs: this.jobs,
          ...(this.options.shard ? { shard: this.options.shard } : {}),
          ...(this.options.signal ? { signal: this.options.signal } : {}),
          // registries.conf `blocked` applies to what is read, per repository.
          ...(access?.registriesConf ? { checkRepository: (r: Repository) => void accessFor(r.name, access) } : {}),
        });
        try {
          for await (const w of work) {
            if (this.halted || !(await this.queue.push(w))) break;
          }
        } catch (error) {
          // A listing stopped by the budget or an abort ends the producer; other failures are items (work.ts).
          if (!isStop(error) && !isAbort(error)) throw error;
          break;
        }
      }
    } finally {
      this.queue.close(this.halted);
    }
  }

  private async work(): Promise<void> {
    for (let w = await this.queue.pull(); w !== undefined; w = await this.queue.pull()) {
      if (this.halted) continue;
      if (isFailure(w)) {
        if (isStop(w.error)) continue;
        this.report.add({ action: 'failed', source: w.repository?.name ?? w.source.registry, error: itemError(w.error) });
        continue;
      }
      this.report.tags++;
      await this.syncTag(w);
    }
  }

  private targets(w: WorkItem): Target[] {
    return w.source.destinations.map((destination) => {
      try {
        const repository = Repository.from(destination.registry, destinationPath(destination, w.repository.path));
        const reference = Reference.of(repository, { tag: w.tag });
        // registries.conf `blocked` applies to what is written too.
        if (this.options.access?.registriesConf) accessFor(reference, this.options.access);
        return { destination, reference };
      } catch (error) {
        return { destination, error };
      }
    });
  }

  private async head(client: RegistryClient, ref: Reference, atDestination: boolean): Promise<ManifestHead | undefined> {
    try {
      return await client.repositoryClient(ref).headManifest(ref, { accept: ACCEPT_MANIFESTS, ...(this.options.signal ? { signal: this.options.signal } : {}) });
    } catch (err) {
      // A destination that answers 403 to a HEAD of what it lacks (JFrog) has not got it; the PUT says what is really wrong.
      if (atDestination && isGantryError(err, ErrorCode.DENIED)) return undefined;
      throw err;
    }
  }

  private fail(w: WorkItem, t: Target, err: unknown): void {
    const base = { source: `${w.repository.name}:${w.tag}`, tag: w.tag, ...(t.reference ? { destination: t.reference.name + ':' + w.tag } : {}) };
    this.report.add({ ...base, action: isStop(err) ? 'interrupted' : 'failed', error: itemError(err) });
  }

  /** One source tag to every destination of its source. */
  private async syncTag(w: WorkItem): Promise<void> {
    const source = `${w.repository.name}:${w.tag}`;
    const targets = this.targets(w);
    const live = targets.filter((t) => t.reference !== undefined);
    for (const t of targets) if (t.error !== undefined) this.fail(w, t, t.error);
    if (live.length === 0) return;
    const signal = this.options.signal;
    let src: RegistryClient;
    let clients: RegistryClient[];
    try {
      [src, ...clients] = await Promise.all([this.registries.client(w.source.registry, 'pull', w.source), ...live.map((t) => this.registries.client(t.destination.registry, 'push', t.destination))]);
    } catch (err) {
      for (const t of live) this.fail(w, t, err);
      return;
    }
    const srcRef = Reference.of(w.repository, { tag: w.tag });
    // A destination whose HEAD fails fails alone; the source's failing fails them all.
    const headAt = (i: number): Promise<ManifestHead | undefined | { error: unknown }> => this.head(clients[i]!, live[i]!.reference!, true).catch((error: unknown) => ({ error }));
    let heads: (ManifestHead | undefined | { error: unknown })[];
    let srcHead: ManifestHead | undefined;
    try {
      if (w.immutable) {
        heads = await Promise.all(live.map((_, i) => headAt(i)));
        if (heads.every((h) => h !== undefined && !('error' in h))) {
          for (const [i, t] of live.entries()) {
            const h = heads[i] as ManifestHead;
            this.report.add({ action: 'skipped', reason: 'immutable', source, destination: `${t.reference!.name}:${w.tag}`, tag: w.tag, ...(h.digest ? { digest: h.digest.toString() } : {}) });
          }
          return;
        }
        srcHead = await this.head(src, srcRef, false);
      } else {
        [srcHead, ...heads] = await Promise.all([this.head(src, srcRef, false), ...live.map((_, i) => headAt(i))]);
      }
    } catch (err) {
      for (const t of live) this.fail(w, t, err);
      return;
    }
    if (srcHead === undefined) {
      const missing = new GantryError(ErrorCode.NOT_FOUND, 'no such tag at the source');
      for (const t of live) this.fail(w, t, missing);
      return;
    }
    let expected;
    try {
      expected = await expectedDigest(src.repositoryClient(srcRef), srcRef, srcHead, w.source.platforms, signal);
    } catch (err) {
      for (const t of live) this.fail(w, t, err);
      return;
    }
    const digest = expected.digest.toString();
    for (const [i, t] of live.entries()) {
      const destination = `${t.reference!.name}:${w.tag}`;
      const got = heads[i];
      if (got !== undefined && 'error' in got) {
        this.fail(w, t, got.error);
        continue;
      }
      const head = got;
      if (w.immutable && head !== undefined) {
        this.report.add({ action: 'skipped', reason: 'immutable', source, destination, tag: w.tag, ...(head.digest ? { digest: head.digest.toString() } : {}) });
        continue;
      }
      const current = head?.digest?.equals(expected.digest) ?? false;
      // With referrers, an image up to date may still lack a signature added since: copy asks.
      if (current && (!w.source.referrers || this.dryRun)) {
        this.report.add({ action: 'skipped', reason: 'up-to-date', source, destination, tag: w.tag, digest });
        continue;
      }
      const reason = current ? 'referrers' : head === undefined ? 'missing' : 'changed';
      if (this.dryRun) {
        this.report.add({ action: 'planned', reason, source, destination, tag: w.tag, digest });
        continue;
      }
      try {
        const result = await copyTag({
          from: { client: src, reference: srcRef },
          to: { client: clients[i]!, reference: t.reference! },
          expected,
          platforms: w.source.platforms,
          referrers: w.source.referrers ?? false,
          upToDate: current,
          jobs: this.blobJobs,
          ...(signal ? { signal } : {}),
        });
        const { copied, existed, mounted } = result.blobs;
        if (current && result.referrers === 0) {
          this.report.add({ action: 'skipped', reason: 'up-to-date', source, destination, tag: w.tag, digest, referrers: 0 });
          continue;
        }
        this.report.add({ action: 'copied', reason, source, destination, tag: w.tag, digest: result.digest, bytes: result.bytes, blobs: { copied, existed, mounted }, ...(result.referrers !== undefined ? { referrers: result.referrers } : {}) });
      } catch (err) {
        if (isAbort(err) && signal?.aborted) return;
        this.fail(w, t, err);
      }
    }
  }
}

/**
 * Mirrors the configuration's sources to their destinations (see docs/sync.md): one HEAD per
 * tag on each side when nothing changed, copies on shared connections when something did,
 * bounded requests per registry, a rate-limit budget that stops the run with its report. The
 * configuration and the options are checked before any request (INVALID_OPTION naming the
 * key). Tags that fail are reported, not thrown; the promise rejects only when the run cannot
 * start (a `credsFile` that cannot be read: INVALID_CONFIG) or is aborted (ABORTED).
 *
 * @example
 * const report = await sync(await readSyncConfig('sync.yaml'), { jobs: 8, rateLimitReserve: 10 });
 * console.log(`${report.copied} copied, ${report.skipped} up to date, ${report.failed} failed`);
 */
export async function sync(config: SyncConfig, options: SyncOptions = {}): Promise<SyncReport> {
  checkSyncOptions(options);
  const checked = checkConfigObject('sync', config);
  return new SyncRun(checked, options).run();
}

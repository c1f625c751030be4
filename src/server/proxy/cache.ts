/**
 * The pull-through cache (`gantry serve --proxy-remote`, as the CNCF registry's proxy mode): what
 * a client asks for and storage lacks is fetched from one upstream, stored, and served from
 * storage afterwards.
 *
 * - Manifests by digest are immutable: once stored, never asked upstream again.
 * - A tag is trusted for `tagTtlMs` after it was last checked; then the next request asks the
 *   upstream with a HEAD (cheap, and not a pull on Docker Hub's rate limit). Same digest: the
 *   stored manifest is served; another: the new manifest is fetched and the tag moved; gone
 *   upstream (404): gone here too. When the upstream cannot answer, the stored manifest is
 *   served, marked stale (a `Warning: 110` header, RFC 7234 §5.5.1).
 * - Blobs are fetched by a {@link BlobFlight}: one upstream GET however many clients ask at
 *   once, each served from the spool while it fills.
 *
 * Concurrent requests for one manifest or tag share one upstream request as well. What is
 * known about tags lives in memory: after a restart every stored tag is checked once more.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Digest } from '../../ref/digest.js';
import { TAG_RE } from '../../ref/grammar.js';
import { MANIFEST_MAX_BYTES } from '../handlers/manifests.js';
import { checkManifest } from '../manifest-check.js';
import type { ManifestWrite, Storage, StoredManifest } from '../storage/types.js';
import { BlobFlight, type FlightStart } from './blob-flight.js';
import { upstreamFailure } from './errors.js';
import type { Upstream, UpstreamManifest } from './upstream.js';


/**
 * Trust nothing downloaded (as for blobs, which storage verifies as it commits them): a manifest
 * is stored and served by its digest only when its bytes hash to it, are no larger than a pushed
 * one may be, and are the manifest asked for (by digest). The upstream's client should have
 * checked all this already; one that did not must not put wrong bytes into the cache for good.
 */
function verified(fetched: UpstreamManifest, what: string, asked?: string): UpstreamManifest {
  const d = Digest.tryParse(fetched.digest);
  let problem: string | undefined;
  if (fetched.bytes.length > MANIFEST_MAX_BYTES) problem = `sent ${fetched.bytes.length} bytes, more than the ${MANIFEST_MAX_BYTES} of a manifest`;
  else if (!d) problem = `named the manifest by an invalid digest ${JSON.stringify(fetched.digest)}`;
  else if (!Digest.fromBytes(fetched.bytes, d.algorithm).equals(d)) problem = `sent bytes that do not hash to ${fetched.digest}`;
  else if (asked !== undefined && fetched.digest !== asked) problem = `was asked for ${asked}, and sent ${fetched.digest}`;
  if (problem) throw upstreamFailure(new Error(`the upstream ${problem}`), what);
  return fetched;
}

/**
 * After the upstream failed to confirm a tag, the stored manifest is served stale without asking
 * again for this long (at most the TTL): a fleet pulling while the upstream is down gets its
 * answers at once, instead of each waiting out the retries of its own HEAD.
 */
export const STALE_RECHECK_MS = 30_000;

export interface PullThroughCacheOptions {
  storage: Storage;
  upstream: Upstream;
  /** How long a tag is served without asking the upstream, in ms. */
  tagTtlMs: number;
  /** A directory of the cache's own for the spools of blobs in flight. */
  spoolDir: string;
  log?: (line: string) => void;
  /** The clock (ms); tests move it. Default `Date.now`. */
  now?: () => number;
}

/** A manifest to answer with; `stale` when the upstream could not confirm its tag. */
export interface CachedManifest {
  manifest: StoredManifest;
  stale: boolean;
}

/** A blob being fetched, as a request joins it. */
export interface BlobInFlight {
  flight: BlobFlight;
  size: number;
}

export class PullThroughCache {
  private readonly blobs = new Map<string, BlobFlight>();
  private readonly manifests = new Map<string, Promise<StoredManifest | undefined>>();
  private readonly tags = new Map<string, Promise<CachedManifest | undefined>>();
  /** When each tag was last confirmed upstream, and what it named then. */
  private readonly checked = new Map<string, { digest: string; at: number }>();
  /** When the upstream last failed to confirm a tag, and the digest served stale since. */
  private readonly unconfirmed = new Map<string, { digest: string; at: number }>();
  private readonly now: () => number;
  private closing = false;

  constructor(private readonly options: PullThroughCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The manifest `reference` (tag or digest) names in `repository`; undefined when neither storage nor the upstream has it. */
  async manifest(repository: string, reference: string): Promise<CachedManifest | undefined> {
    const { storage } = this.options;
    if (Digest.tryParse(reference)) {
      const stored = (await storage.getManifest(repository, reference)) ?? (await this.shared(this.manifests, `${repository}@${reference}`, () => this.fetchManifest(repository, reference)));
      return stored ? { manifest: stored, stale: false } : undefined;
    }
    if (!TAG_RE.test(reference)) return undefined;
    const key = `${repository}:${reference}`;
    const digest = await storage.resolveTag(repository, reference);
    const seen = this.checked.get(key);
    const failed = this.unconfirmed.get(key);
    const age = (at: number): number => this.now() - at;
    if (digest && seen?.digest === digest && age(seen.at) < this.options.tagTtlMs) {
      const stored = await storage.getManifest(repository, digest);
      if (stored) return { manifest: stored, stale: false };
    } else if (digest && failed?.digest === digest && age(failed.at) < Math.min(this.options.tagTtlMs, STALE_RECHECK_MS)) {
      const stored = await storage.getManifest(repository, digest);
      if (stored) return { manifest: stored, stale: true };
    }
    return this.shared(this.tags, key, () => this.revalidate(repository, reference));
  }

  /** A blob storage lacks: joins (or starts) its flight. `stored` when it turned out to be in storage. */
  async blob(repository: string, digest: string): Promise<BlobInFlight | 'stored'> {
    if (this.closing) throw upstreamFailure(new Error('the registry is closing'), `blob ${digest}`);
    const key = `${repository}@${digest}`;
    let flight = this.blobs.get(key);
    if (!flight || flight.failed) {
      const started = new BlobFlight({
        storage: this.options.storage,
        upstream: this.options.upstream,
        repository,
        digest,
        spoolPath: join(this.options.spoolDir, randomUUID()),
        ...(this.options.log ? { log: this.options.log } : {}),
      });
      flight = started;
      this.blobs.set(key, started);
      void started.done.then(() => {
        if (this.blobs.get(key) === started) this.blobs.delete(key);
        started.release();
      });
    }
    const start: FlightStart = await flight.started;
    return start.kind === 'stored' ? 'stored' : { flight, size: start.size };
  }

  /** A blob's size for a HEAD storage could not answer: from its flight, else from the upstream (nothing is fetched). */
  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    const flight = this.blobs.get(`${repository}@${digest}`);
    if (flight && !flight.failed) {
      const start = await flight.started.catch(() => undefined);
      if (start?.kind === 'fetching') return start.size;
    }
    try {
      return (await this.options.upstream.headBlob(repository, digest))?.size;
    } catch (err) {
      throw upstreamFailure(err, `blob ${digest}`);
    }
  }

  /** Cancels the blobs in flight and waits for them to settle. */
  async close(): Promise<void> {
    this.closing = true;
    const flights = [...this.blobs.values()];
    for (const f of flights) f.abort();
    await Promise.all(flights.map((f) => f.done));
  }

  /** One promise per key while it runs: concurrent callers share one upstream request. */
  private shared<T>(map: Map<string, Promise<T>>, key: string, work: () => Promise<T>): Promise<T> {
    let p = map.get(key);
    if (!p) {
      p = work().finally(() => map.delete(key));
      map.set(key, p);
    }
    return p;
  }

  /** A tag past its time (or never checked since start): ask the upstream, fall back on storage. */
  private async revalidate(repository: string, tag: string): Promise<CachedManifest | undefined> {
    const { storage, upstream, log } = this.options;
    const key = `${repository}:${tag}`;
    const digest = await storage.resolveTag(repository, tag);
    const stored = digest ? await storage.getManifest(repository, digest) : undefined;
    const confirm = (d: string): void => {
      this.checked.set(key, { digest: d, at: this.now() });
      this.unconfirmed.delete(key);
    };
    try {
      let target = tag;
      if (stored) {
        const head = await upstream.headManifest(repository, tag);
        if (!head) return await this.forget(repository, tag);
        if (head.digest === stored.digest) {
          confirm(stored.digest);
          return { manifest: stored, stale: false };
        }
        // Moved: fetch it by digest (unless that one is stored already); a HEAD without a digest, by tag.
        if (head.digest && Digest.tryParse(head.digest)) {
          const known = await storage.getManifest(repository, head.digest);
          if (known) {
            await storage.setTag(repository, tag, known.digest);
            confirm(known.digest);
            return { manifest: known, stale: false };
          }
          target = head.digest;
        }
      }
      let fetched = await upstream.getManifest(repository, target);
      if (!fetched && target !== tag) {
        // Gone by the HEAD's digest: the tag moved on (and its old manifest was deleted) in
        // between. Only the tag's own answer says whether it is gone.
        target = tag;
        fetched = await upstream.getManifest(repository, tag);
      }
      if (!fetched) return await this.forget(repository, tag);
      const { manifest, kept } = await this.store(repository, verified(fetched, `manifest ${repository}:${tag}`, target === tag ? undefined : target));
      if (kept && (await this.keep(() => storage.setTag(repository, tag, manifest.digest), `tag ${repository}:${tag}`))) confirm(manifest.digest);
      if (stored) log?.(`proxy: tag ${repository}:${tag} moved upstream from ${stored.digest} to ${manifest.digest}`);
      return { manifest, stale: false };
    } catch (err) {
      if (!stored) throw upstreamFailure(err, `manifest ${repository}:${tag}`);
      this.unconfirmed.set(key, { digest: stored.digest, at: this.now() });
      log?.(`proxy: serving ${repository}:${tag} stale (${stored.digest}): the upstream did not answer: ${(err as Error)?.message ?? String(err)}`);
      return { manifest: stored, stale: true };
    }
  }

  /** The upstream has no such tag (any more): neither has the cache. */
  private async forget(repository: string, tag: string): Promise<undefined> {
    this.checked.delete(`${repository}:${tag}`);
    this.unconfirmed.delete(`${repository}:${tag}`);
    await this.options.storage.deleteTag(repository, tag);
    return undefined;
  }

  private async fetchManifest(repository: string, digest: string): Promise<StoredManifest | undefined> {
    let fetched: UpstreamManifest | undefined;
    try {
      fetched = await this.options.upstream.getManifest(repository, digest);
    } catch (err) {
      throw upstreamFailure(err, `manifest ${repository}@${digest}`);
    }
    if (!fetched) return undefined;
    return (await this.store(repository, verified(fetched, `manifest ${repository}@${digest}`, digest))).manifest;
  }

  /** Runs a storage write; a failure is logged and the answer goes out uncached (the cache degrades to a pass-through). */
  private async keep(write: () => Promise<unknown>, what: string): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      this.options.log?.(`proxy: ${what} not cached: ${(err as Error)?.message ?? String(err)}`);
      return false;
    }
  }

  /**
   * Stores a manifest as the upstream sent it. Its blobs come later, when asked for, and an
   * index's children only for the platforms someone pulls: `pullThrough` tells the storage not to
   * require them (`ManifestWrite.pullThrough`).
   */
  private async store(repository: string, fetched: UpstreamManifest): Promise<{ manifest: StoredManifest; kept: boolean }> {
    const write: ManifestWrite = { digest: fetched.digest, mediaType: fetched.mediaType, bytes: fetched.bytes, pullThrough: true };
    try {
      const checked = checkManifest(fetched.bytes, fetched.mediaType);
      if (checked.subject) write.referrer = { subject: checked.subject, descriptor: checked.referrer(fetched.digest, fetched.bytes.length) };
    } catch {
      // Not a manifest the referrers API indexes (schema 1, an odd artifact): stored all the same.
    }
    const kept = await this.keep(() => this.options.storage.putManifest(repository, write), `manifest ${repository}@${write.digest}`);
    return { manifest: { digest: write.digest, mediaType: write.mediaType, bytes: write.bytes }, kept };
  }
}

/**
 * What a sync did: one SyncItem per source tag and destination (told to `onItem` as it
 * happens), the totals, and per registry the requests sent and the last rate limit seen.
 * The report holds at most MAX_REPORT_ITEMS items (the totals count every one), so a sync of
 * a million tags does not keep a million entries: `onItem` sees them all.
 */
import { ErrorCode, GantryError } from '../errors.js';
import type { RateLimit } from '../transport/rate-limit.js';
import { RateLimitReserveError, type SyncRequestCounts } from './gate.js';
import type { SyncShard } from './shard.js';

/** Items a report keeps; past it only the totals grow (`itemsOmitted` says how many were left out). */
export const MAX_REPORT_ITEMS = 10_000;

/**
 * What happened to one tag at one destination: `copied`; `skipped` (the destination had it);
 * `planned` (`dryRun`: it would be copied); `failed`; `interrupted` (the run stopped at the
 * rate-limit reserve while this tag was under way; a rerun finishes it).
 */
export type SyncAction = 'copied' | 'skipped' | 'planned' | 'failed' | 'interrupted';

/** One source tag at one destination, or a listing that failed (no `tag` then). */
export interface SyncItem {
  /** What happened. */
  readonly action: SyncAction;
  /** `registry/path:tag` at the source (`registry/path`, or the registry, for a failed listing). */
  readonly source: string;
  /** `registry/path:tag` at the destination; undefined for a failed listing. */
  readonly destination?: string;
  /** The tag; undefined for a failed listing. */
  readonly tag?: string;
  /**
   * Why: `up-to-date` (same digest on both sides; with `referrers`, no referrer missing either),
   * `immutable` (an immutable tag the destination has), `missing` (the destination had no such
   * tag), `changed` (it had another digest), `referrers` (same digest, but referrers the
   * destination lacked were copied: a signature added since the last run).
   */
  readonly reason?: 'up-to-date' | 'immutable' | 'missing' | 'changed' | 'referrers';
  /** The manifest digest at the source (for a copy, the one written). */
  readonly digest?: string;
  /** Bytes streamed by the copy (blobs that existed or were mounted are not counted). */
  readonly bytes?: number;
  /** The copy's blobs: streamed, already at the destination, mounted. */
  readonly blobs?: {
    /** Streamed from the source. */
    readonly copied: number;
    /** Already at the destination (a rerun after a kill finds its earlier work here). */
    readonly existed: number;
    /** Mounted from another repository of the destination registry. */
    readonly mounted: number;
  };
  /** With `referrers`: the referrer manifests the copy wrote (signatures, SBOMs, attestations). */
  readonly referrers?: number;
  /** Why it failed or was interrupted: the error's code and message (redacted where it was built). */
  readonly error?: {
    /** The GantryError code, or `ERROR`. */
    readonly code: string;
    /** The message. */
    readonly message: string;
  };
}

/** What one registry saw of the sync. */
export interface SyncRegistryReport {
  /** Requests sent to it, by kind. Pings and token requests of each connection are not counted (one of each per connection). */
  readonly requests: SyncRequestCounts;
  /** Connections opened to it (each pings once and fetches its tokens once per scope). */
  readonly connections: number;
  /** The rate limit it announced last (Docker Hub's `ratelimit-*` headers). */
  readonly rateLimit?: RateLimit;
}

/** Why a run stopped before the end of its work. */
export interface SyncStop {
  /** `rate-limit`: the next request would have crossed the reserve; `too-many-requests`: a 429 with the quota spent. */
  readonly reason: 'rate-limit' | 'too-many-requests';
  /** The registry whose budget is spent. */
  readonly registry: string;
  /** What to tell the user. */
  readonly message: string;
  /** The registry's last announced remaining requests. */
  readonly remaining?: number;
  /** The reserve the run kept. */
  readonly reserve: number;
}

/** What a sync did. */
export interface SyncReport {
  /** True when nothing was written (`dryRun`). */
  readonly dryRun: boolean;
  /** The shard this run did, when the work was split. */
  readonly shard?: SyncShard;
  /** Source tags considered (in this shard), each counted once however many destinations it has. */
  readonly tags: number;
  /** Items copied. */
  readonly copied: number;
  /** Items skipped: the destination had them. */
  readonly skipped: number;
  /** Items a dry run would copy. */
  readonly planned: number;
  /** Items (and listings) that failed. */
  readonly failed: number;
  /** Items interrupted by the rate-limit stop. */
  readonly interrupted: number;
  /** Bytes streamed by every copy. */
  readonly bytes: number;
  /** The items, in the order they finished, at most MAX_REPORT_ITEMS. */
  readonly items: readonly SyncItem[];
  /** Items left out of `items` past MAX_REPORT_ITEMS. */
  readonly itemsOmitted: number;
  /** Per registry (`host[:port]`): requests, connections, the last rate limit. */
  readonly registries: Readonly<Record<string, SyncRegistryReport>>;
  /** Set when the run stopped early at a registry's rate limit; the work not done is left for a rerun. */
  readonly stopped?: SyncStop;
  /** Wall time of the run, in seconds. */
  readonly seconds: number;
}

/** The report's totals and items, filled in as items finish. */
export class ReportBuilder {
  readonly items: SyncItem[] = [];
  itemsOmitted = 0;
  tags = 0;
  bytes = 0;
  readonly counts: Record<SyncAction, number> = { copied: 0, skipped: 0, planned: 0, failed: 0, interrupted: 0 };

  constructor(private readonly onItem: ((item: SyncItem) => void) | undefined) {}

  add(item: SyncItem): void {
    this.counts[item.action]++;
    this.bytes += item.bytes ?? 0;
    if (this.items.length < MAX_REPORT_ITEMS) this.items.push(item);
    else this.itemsOmitted++;
    this.onItem?.(item);
  }
}

/** The error of an item as the report shows it. */
export function itemError(err: unknown): { code: string; message: string } {
  if (err instanceof GantryError) return { code: err.code, message: err.message };
  return { code: 'ERROR', message: err instanceof Error ? err.message : String(err) };
}

/** Whether `err` (or a cause of it) is the rate-limit stop rather than a failure of the tag. */
export function isStop(err: unknown): boolean {
  for (let e = err, i = 0; e && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if (e instanceof RateLimitReserveError) return true;
  }
  return false;
}

/** Whether `err` is an abort (ABORTED). */
export function isAbort(err: unknown): boolean {
  return err instanceof GantryError && err.code === ErrorCode.ABORTED;
}

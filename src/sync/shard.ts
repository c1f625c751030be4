/**
 * Sharding a sync: `--shard I/N` and which shard a tag belongs to. A module of its own (no
 * semver, no YAML), so the CLI can check `--shard` as commander parses it without loading the
 * rest of sync (docs/startup.md).
 */
import { createHash } from 'node:crypto';
import { ErrorCode, GantryError } from '../errors.js';

/** One process's share of a sync: shard `index` (from 0) of `count`. */
export interface SyncShard {
  /** This process's shard, from 0 to count - 1 (a Kubernetes indexed Job's `JOB_COMPLETION_INDEX`). */
  readonly index: number;
  /** How many shards share the sync, 1 to 10 000. */
  readonly count: number;
}

/** The most shards a sync is split into. */
export const MAX_SHARDS = 10_000;

/** Reads `I/N` (`--shard 0/4`); USAGE when it is not two integers with 0 ≤ I < N ≤ 10 000. */
export function parseShard(text: string): SyncShard {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1 && count <= MAX_SHARDS) || !(index >= 0 && index < count)) {
    throw new GantryError(ErrorCode.USAGE, `--shard: expected I/N with 0 ≤ I < N ≤ ${MAX_SHARDS} (e.g. 0/4 for the first of four), got "${text}"`);
  }
  return { index, count };
}

/**
 * The shard of a source tag: the first 48 bits of sha256(`registry/path:tag`) mod `count`.
 * Deterministic across processes and machines, so N processes given the same configuration
 * split the tags between them with no coordinator, each tag in exactly one shard.
 */
export function shardOf(key: string, count: number): number {
  const h = createHash('sha256').update(key).digest();
  return h.readUIntBE(0, 6) % count;
}

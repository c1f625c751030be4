/**
 * The storage gauges of the metrics (metrics.ts), computed when Prometheus scrapes rather than
 * tracked on every write: nothing on the request path pays for them, and they are right after a
 * restart or a garbage collection run by another process.
 *
 * - A storage that reports its own usage (an optional `usage()`) is asked.
 * - Directory storage: a walk of `blobs/<alg>/<xx>/<hex>` (layout.ts), one directory open at a
 *   time, that stops after {@link MAX_WALK_ENTRIES} blobs; the answer is kept
 *   {@link USAGE_TTL_MS}, and concurrent scrapes share one walk.
 * - Memory storage: its maps.
 */
import type { Dirent } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageLayout } from './storage/layout.js';
import type { Storage } from './storage/types.js';

export interface StorageUsage {
  /** Bytes of the blobs counted. */
  bytes: number;
  /** Blobs counted. */
  blobs: number;
  /** False when the walk stopped at its bound: the real numbers are larger. */
  complete: boolean;
}

/** What a storage may offer to skip the walk (none does yet; memory.ts and filesystem.ts could). */
interface UsageReporting {
  usage?: () => Promise<StorageUsage>;
}

/** The parts of memory.ts read here (private there, but plain properties at run time). */
interface MemoryMaps {
  blobs?: Map<string, Buffer>;
  uploads?: Map<string, unknown>;
}

/**
 * The walk's bound: a million stats is seconds of I/O on a local disk, which a scrape every
 * 15 s can afford once a minute; a larger store reports `gantry_storage_walk_complete 0`.
 */
export const MAX_WALK_ENTRIES = 1_000_000;
/** How long a walk's answer is served before the next scrape walks again. */
export const USAGE_TTL_MS = 60_000;

const cached = new WeakMap<Storage, { at: number; usage: Promise<StorageUsage> }>();

export function storageUsage(storage: Storage, now = Date.now()): Promise<StorageUsage> {
  const hit = cached.get(storage);
  if (hit && now - hit.at < USAGE_TTL_MS) return hit.usage;
  const usage = measure(storage);
  cached.set(storage, { at: now, usage });
  // A failed walk is not kept: the next scrape tries again.
  usage.catch(() => cached.delete(storage));
  return usage;
}

async function measure(storage: Storage): Promise<StorageUsage> {
  const own = (storage as Storage & UsageReporting).usage;
  if (typeof own === 'function') return own.call(storage);
  if (storage.location === 'memory') {
    const blobs = (storage as unknown as MemoryMaps).blobs;
    let bytes = 0;
    for (const b of blobs?.values() ?? []) bytes += b.length;
    return { bytes, blobs: blobs?.size ?? 0, complete: true };
  }
  return walkBlobs(new StorageLayout(storage.location).blobs, MAX_WALK_ENTRIES);
}

/** Files three levels under `blobsDir` (`<alg>/<xx>/<hex>`), summed, at most `limit` of them. */
export async function walkBlobs(blobsDir: string, limit: number): Promise<StorageUsage> {
  const usage: StorageUsage = { bytes: 0, blobs: 0, complete: true };
  for (const algorithm of await names(blobsDir)) {
    for (const prefix of await names(join(blobsDir, algorithm))) {
      const dir = join(blobsDir, algorithm, prefix);
      const dirHandle = await open(dir);
      if (!dirHandle) continue;
      for await (const entry of dirHandle) {
        if (!entry.isFile()) continue;
        if (usage.blobs >= limit) {
          usage.complete = false;
          return usage;
        }
        const st = await stat(join(dir, entry.name)).catch(() => undefined);
        if (!st) continue; // swept meanwhile
        usage.bytes += st.size;
        usage.blobs += 1;
      }
    }
  }
  return usage;
}

/** Open upload sessions: `uploads/<id>/` directories, or the memory storage's map. */
export async function uploadSessions(storage: Storage): Promise<number> {
  if (storage.location === 'memory') return (storage as unknown as MemoryMaps).uploads?.size ?? 0;
  const dir = await open(new StorageLayout(storage.location).uploads);
  let n = 0;
  if (!dir) return 0;
  for await (const entry of dir) {
    if (entry.isDirectory()) n += 1;
    if (n >= MAX_WALK_ENTRIES) break;
  }
  return n;
}

async function open(dir: string): Promise<AsyncIterable<Dirent> | undefined> {
  try {
    return await opendir(dir, { bufferSize: 256 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The subdirectory names of a small directory (algorithms, two-hex-digit prefixes: at most 256). */
async function names(dir: string): Promise<string[]> {
  const handle = await open(dir);
  const out: string[] = [];
  if (handle) for await (const e of handle) if (e.isDirectory()) out.push(e.name);
  return out;
}

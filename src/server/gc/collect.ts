/**
 * `collectGarbage`: mark and sweep of a directory storage, safe while registries serve it
 * (in this process or others) — what `gantry serve gc` runs. The CNCF registry's
 * `garbage-collect` wants the registry read-only meanwhile; this one does not (docs/serve-gc.md).
 *
 *   lock (gc.lock: one collection at a time; its time is the start)
 *   → put back what a killed collection left in the trash
 *   → each repository: mark from its tags, sweep its links, manifests and referrers entries
 *   → the blob store: sweep what no repository keeps
 *   → empty the trash, release the lock
 *
 * Nothing modified within `graceMs` before the start, or after it, is removed. Memory: the
 * mark set (one digest per kept blob) and each repository's manifests; directories are read
 * a batch at a time and no blob is read, only manifests (capped at 4 MiB).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import { InvalidOptionError, OptionCheck } from '../../options.js';
import { StorageLayout } from '../storage/layout.js';
import { removeTrash, restoreTrash } from '../storage/trash.js';
import { sweepBlobs } from './blobs.js';
import { DEFAULT_GC_GRACE_MS } from './grace.js';
import { acquireLock } from './lock.js';
import { collectRepository } from './repository.js';
import type { GarbageItem, Sweep } from './sweep.js';
import { repositoryNames } from './walk.js';

export type { GarbageItem } from './sweep.js';
export { DEFAULT_GC_GRACE_MS };

/** Options of {@link collectGarbage}. */
export interface GarbageCollectionOptions {
  /** Only report what would be removed; nothing is written (no lock either). Default `false`. */
  dryRun?: boolean;
  /**
   * Also remove manifests no tag reaches — directly, as an index's child, or as a referrer of
   * a kept manifest, recursively — and what only they kept. Default `false`: every manifest
   * stays (pullable by digest), and only links and blobs no manifest names go.
   */
  deleteUntagged?: boolean;
  /**
   * Milliseconds: a blob, link, manifest or referrers entry whose file was modified less than
   * this long before the collection started (or after it) is never removed. Default
   * {@link DEFAULT_GC_GRACE_MS} (1 h). 0 still protects what is written during the collection.
   */
  graceMs?: number;
}

/** What {@link collectGarbage} did. */
export interface GarbageCollectionResult {
  /** The storage directory, absolute. */
  storage: string;
  /** Whether this was a dry run (nothing removed: `removed` says what would have been). */
  dryRun: boolean;
  /** Whether untagged manifests were collected too. */
  deleteUntagged: boolean;
  /** The grace period applied, in milliseconds. */
  graceMs: number;
  /** The repositories walked. */
  repositories: number;
  /** What was removed (in a dry run: what would be), in the order the sweep met it. */
  removed: GarbageItem[];
  /** How many of each kind `removed` holds. */
  counts: {
    /** Blobs removed from the blob store. */
    blobs: number;
    /** Repository links to blobs removed. */
    links: number;
    /** Manifests removed from their repositories. */
    manifests: number;
    /** Referrers index entries removed. */
    referrers: number;
  };
  /** The sizes of the removed blobs added up: the space reclaimed (links and manifest records, a few bytes each, not counted). */
  bytes: number;
  /** Why something was kept that might have gone: an unreadable manifest keeps its repository whole. */
  warnings: string[];
  /** Files a collection killed midway had left in the trash, put back before this one began. */
  restored: number;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Removes from the directory storage at `storageDir` what no tag keeps (see
 * {@link GarbageCollectionOptions}) and reports it. Safe while registries serve the
 * directory: what they write during the collection is kept (docs/serve-gc.md, "Guarantees").
 * Rejects with an `InvalidOptionError` for bad options (`memory` storage has nothing on disk to
 * collect), a `ConfigError` when the directory is not a registry storage or another collection
 * holds its lock, or the filesystem's error — after putting back whatever it had in its trash.
 */
export async function collectGarbage(storageDir: string, options: GarbageCollectionOptions = {}): Promise<GarbageCollectionResult> {
  const where = 'collectGarbage';
  new OptionCheck(where, options).boolean('dryRun').boolean('deleteUntagged').number('graceMs', 0);
  if (typeof storageDir !== 'string' || storageDir === '') throw new InvalidOptionError(where, 'storageDir', storageDir, 'a storage directory');
  if (storageDir === 'memory') {
    throw new InvalidOptionError(where, 'storageDir', storageDir, 'a storage directory: memory storage lives inside its server process and goes with it');
  }
  const root = resolve(storageDir);
  const layout = new StorageLayout(root);
  if (!(await isDirectory(layout.blobs)) || !(await isDirectory(layout.repositories))) {
    throw new ConfigError(`${root} is not a registry storage directory (it has no blobs/ and repositories/ directories)`);
  }
  const dryRun = options.dryRun ?? false;
  const deleteUntagged = options.deleteUntagged ?? false;
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;

  const result: GarbageCollectionResult = {
    storage: root,
    dryRun,
    deleteUntagged,
    graceMs,
    repositories: 0,
    removed: [],
    counts: { blobs: 0, links: 0, manifests: 0, referrers: 0 },
    bytes: 0,
    warnings: [],
    restored: 0,
  };
  const COUNTS = { blob: 'blobs', link: 'links', manifest: 'manifests', referrer: 'referrers' } as const;

  const lock = dryRun ? undefined : await acquireLock(root);
  try {
    const startedAt = lock?.startedAt ?? Date.now();
    if (!dryRun) result.restored = await restoreTrash(layout);
    const sweep: Sweep = {
      layout,
      cutoff: startedAt - graceMs,
      deleteUntagged,
      dryRun,
      marks: new Set(),
      removed(item) {
        result.removed.push(item);
        result.counts[COUNTS[item.kind]]++;
        if (item.kind === 'blob') result.bytes += item.size;
      },
      warn(message) {
        result.warnings.push(message);
      },
    };
    for await (const name of repositoryNames(layout.repositories)) {
      await collectRepository(sweep, name);
      result.repositories++;
    }
    await sweepBlobs(sweep);
  } finally {
    if (lock) {
      try {
        // On success the trash holds nothing but directories; after a failure, what it holds goes back.
        await removeTrash(layout);
      } finally {
        await lock.release();
      }
    }
  }
  return result;
}

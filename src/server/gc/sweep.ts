/**
 * What one collection shares between its repository sweeps and its blob sweep: where the
 * storage is, the cutoff, the mark set, and the report being built.
 */
import { lstat } from 'node:fs/promises';
import type { StorageLayout } from '../storage/layout.js';

/** Something a collection removed (or, in a dry run, would remove). */
export type GarbageItem =
  /** A blob's bytes in the blob store. */
  | {
      /** `blob` */
      kind: 'blob';
      /** The blob's digest. */
      digest: string;
      /** Its size in bytes: what removing it reclaims. */
      size: number;
    }
  /** A repository's link to a blob (the blob itself goes only when no repository keeps it). */
  | {
      /** `link` */
      kind: 'link';
      /** The repository the link was in. */
      repository: string;
      /** The blob it linked. */
      digest: string;
    }
  /** A manifest of a repository (with `deleteUntagged`); its bytes are a blob. */
  | {
      /** `manifest` */
      kind: 'manifest';
      /** The repository it was in. */
      repository: string;
      /** The manifest's digest. */
      digest: string;
    }
  /** An entry of a subject's referrers index whose manifest is removed or gone. */
  | {
      /** `referrer` */
      kind: 'referrer';
      /** The repository of the index. */
      repository: string;
      /** The subject whose referrers index listed it. */
      subject: string;
      /** The referrer's digest. */
      digest: string;
    };

export interface Sweep {
  readonly layout: StorageLayout;
  /** A file modified at or after this time (ms since the epoch) is young and never removed. */
  readonly cutoff: number;
  readonly deleteUntagged: boolean;
  readonly dryRun: boolean;
  /** Digests (`alg:hex`) some repository keeps: their blobs stay. */
  readonly marks: Set<string>;
  removed(item: GarbageItem): void;
  warn(message: string): void;
}

/** A file's modification time (ms), or undefined when it is not there (any more). */
export async function mtimeOf(path: string): Promise<number | undefined> {
  try {
    return (await lstat(path)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

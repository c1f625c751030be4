/**
 * What the two archive writers (docker-archive-writer.ts, oci-archive-writer.ts) share: the
 * archive is built under one temporary name beside its file, the temporaries killed runs left
 * are removed once before the first write, the writer's jobs run one after another (a tar is
 * written front to back), and it is open until committed or aborted. The rename into place is
 * the writers' own (fs/atomic-file.ts), once everything the archive names is in.
 */
import { basename, dirname, join } from 'node:path';
import { ErrorCode, GantryError } from '../errors.js';
import { OWNER_TAG_SOURCE, parseOwnerTag, removeStaleTemps, tempOwnerTag } from '../fs/stale-temp.js';

/** `.` `*` `+` … in a file name, escaped for a regular expression. */
function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Removes what killed writers of `file` left in its folder: `<base>.tmp-<owner>` (the
 * half-built archive) and `<base>.tmp-<owner>.spool` (a folder), stale by the rule of
 * `fs/stale-temp.ts`. Names of an older gantry (`<base>.tmp-<12 hex>`, no owner) go only by
 * age. Other files, other archives' temporaries and live writers' ones stay.
 */
export function removeStaleArchiveTemps(file: string): Promise<string[]> {
  const base = escapeRegExp(basename(file));
  const ours = new RegExp(`^${base}\\.tmp-${OWNER_TAG_SOURCE}(?:\\.spool)?$`);
  const older = new RegExp(`^${base}\\.tmp-[0-9a-f]{12}(?:\\.spool)?$`);
  return removeStaleTemps(dirname(file), (name) => {
    if (ours.test(name)) return { owner: parseOwnerTag(name.replace(/\.spool$/, '')) };
    return older.test(name) ? { owner: undefined } : undefined;
  });
}

/** One archive being written: its temporary, its job queue and its state. */
export class ArchiveTemp {
  /** The temporary the archive is built under: `<file>.tmp-<owner>`. */
  readonly path: string;
  state: 'open' | 'committed' | 'aborted' = 'open';
  private queue: Promise<unknown> = Promise.resolve();
  private prepared: Promise<unknown> | undefined;

  constructor(readonly file: string) {
    this.path = join(dirname(file), `${basename(file)}.tmp-${tempOwnerTag()}`);
  }

  /** Removes stale temporaries of the file before the first write (once). */
  prepare(): Promise<unknown> {
    this.prepared ??= removeStaleArchiveTemps(this.file);
    return this.prepared;
  }

  /** Runs `job` after the previous one. */
  serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job, job);
    this.queue = run.catch(() => {});
    return run;
  }

  /** Resolves once every job queued so far has ended, however it ended. */
  settled(): Promise<unknown> {
    return this.queue;
  }

  /** Throws USAGE, naming the destination, once the archive is committed or aborted. */
  checkOpen(name: string): void {
    if (this.state !== 'open') throw new GantryError(ErrorCode.USAGE, `${name}: already ${this.state}`);
  }
}

/**
 * One collection at a time per storage directory: `<root>/gc.lock`, created exclusively and
 * holding the owner's pid, host and start time. Two collections at once could each hide from
 * the other what it has in its trash, so a second one is refused. A lock left by a collection
 * that was killed (its pid no longer runs on this host) is taken over, by one collection only
 * however many start at once (`takeOver`).
 *
 * The lock file's modification time, set by the filesystem, is also the collection's start:
 * a file written or touched after it is "young" whatever the grace period.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { link, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';

export const LOCK_FILE = 'gc.lock';

export interface CollectionLock {
  /**
   * When the collection started (ms since the epoch): the earlier of the process clock and
   * the filesystem's time of the lock file, so both clocks' later writes compare as later.
   */
  readonly startedAt: number;
  release(): Promise<void>;
}

interface LockInfo {
  pid?: unknown;
  host?: unknown;
  started?: unknown;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Filesystems without hard links answer these (as in ../storage/trash.ts). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EXDEV']);

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

/** A lock gantry writes is about a hundred bytes; what is past this is not read (and the lock not judged stale). */
const LOCK_MAX_BYTES = 4096;

/** The lock file as it is now: its text (at most LOCK_MAX_BYTES) and inode, read through one handle; undefined when there is none. */
async function readHeld(path: string): Promise<{ text: string; ino: number } | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { ino } = await handle.stat();
    const buffer = Buffer.alloc(LOCK_MAX_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), ino };
  } finally {
    await handle.close();
  }
}

/**
 * Replaces the stale lock `held` with one holding `content`, unless another collection starting
 * at the same time does: of all that judged this lock stale, only the one that creates the claim
 * `gc.lock.takeover-<inode>` (a hard link to the stale file, so exclusive per stale lock) may
 * replace it, and it does so by renaming its own complete lock file over it. Removing the stale
 * file and creating a new one instead (check, then act) let two collections each remove the
 * other's lock and both run. `gone`: the lock was released meanwhile (try to create it again).
 */
async function takeOver(root: string, path: string, held: { text: string; ino: number }, content: string): Promise<'taken' | 'lost' | 'gone'> {
  const claim = join(root, `${LOCK_FILE}.takeover-${held.ino}`);
  try {
    await link(path, claim);
  } catch (err) {
    if (errno(err) === 'EEXIST') return 'lost';
    if (errno(err) === 'ENOENT') return 'gone';
    if (!NO_HARD_LINKS.has(errno(err) ?? '')) throw err;
    // No hard links: the old way, which two collections starting together can both win.
    await rm(path, { force: true });
    return 'gone';
  }
  const mine = join(root, `${LOCK_FILE}.${process.pid}-${randomUUID()}`);
  try {
    // The claim must be the very lock judged stale: not one a faster collection put there since.
    const claimed = await readHeld(claim);
    if (!claimed || claimed.ino !== held.ino || claimed.text !== held.text) return 'lost';
    await writeFile(mine, content, { flag: 'wx' });
    await rename(mine, path);
    return 'taken';
  } finally {
    await rm(mine, { force: true });
    await rm(claim, { force: true });
  }
}

export async function acquireLock(root: string): Promise<CollectionLock> {
  const path = join(root, LOCK_FILE);
  const before = Date.now();
  const content = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date(before).toISOString() });
  const owned = async (): Promise<CollectionLock> => {
    const { mtimeMs } = await stat(path);
    return { startedAt: Math.min(before, mtimeMs), release: () => rm(path, { force: true }) };
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      return await owned();
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    const held = await readHeld(path);
    let info: LockInfo = {};
    try {
      info = held ? (JSON.parse(held.text) as LockInfo) : {};
    } catch {
      // Unreadable: being written this instant, or garbage; judged by the fields below.
    }
    const stale = info.host === hostname() && typeof info.pid === 'number' && !running(info.pid);
    if (attempt === 0 && (!held || stale)) {
      const outcome = held ? await takeOver(root, path, held, content) : 'gone';
      if (outcome === 'taken') return await owned();
      if (outcome === 'gone') continue;
      const now = await readHeld(path).catch(() => undefined);
      try {
        info = now ? (JSON.parse(now.text) as LockInfo) : info;
      } catch {
        // The winner's lock is written whole (renamed into place); a garbage one keeps the stale fields.
      }
    }
    const owner = typeof info.pid === 'number' ? ` (pid ${info.pid} on ${String(info.host)}, started ${String(info.started)})` : '';
    throw new ConfigError(`another garbage collection is running on ${root}${owner}; if none is, remove ${path}`);
  }
}

/**
 * One collection at a time per storage directory: `<root>/gc.lock`, created exclusively and
 * holding the owner's pid, host and start time. Two collections at once could each hide from
 * the other what it has in its trash, so a second one is refused. A lock left by a collection
 * that was killed (its pid no longer runs on this host) is taken over.
 *
 * The lock file's modification time, set by the filesystem, is also the collection's start:
 * a file written or touched after it is "young" whatever the grace period.
 */
import { hostname } from 'node:os';
import { open, readFile, rm, stat } from 'node:fs/promises';
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

export async function acquireLock(root: string): Promise<CollectionLock> {
  const path = join(root, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    const before = Date.now();
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), started: new Date(before).toISOString() }));
      } finally {
        await handle.close();
      }
      const { mtimeMs } = await stat(path);
      return { startedAt: Math.min(before, mtimeMs), release: () => rm(path, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let info: LockInfo = {};
    try {
      info = JSON.parse(await readFile(path, 'utf8')) as LockInfo;
    } catch {
      // Unreadable: being written this instant, or garbage; judged by the fields below.
    }
    const stale = info.host === hostname() && typeof info.pid === 'number' && !running(info.pid);
    if (stale && attempt === 0) {
      await rm(path, { force: true });
      continue;
    }
    const owner = typeof info.pid === 'number' ? ` (pid ${info.pid} on ${String(info.host)}, started ${String(info.started)})` : '';
    throw new ConfigError(`another garbage collection is running on ${root}${owner}; if none is, remove ${path}`);
  }
}

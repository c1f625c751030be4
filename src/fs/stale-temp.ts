/**
 * Temporary files that killed writers leave behind, and the one rule for when a later writer
 * may remove them. A writer ends each temporary's name with an owner tag,
 * `<pid>-<host>-<random>`; a temporary is stale, and removed, when
 *   - it was last modified more than STALE_TEMP_MS ago (whoever wrote it), or
 *   - it was written on this host (same host tag) by a pid that no longer exists
 *     (`process.kill(pid, 0)` fails with ESRCH).
 * Short of a day, everything else stays: a live pid (ours, or another process's: EPERM counts
 * as alive), a name without an owner (an older gantry wrote it), another host's. The
 * host tag is what keeps one machine or container from judging pids of another one through
 * a shared folder (an NFS mount, a volume two containers write to): there the pid means
 * nothing, and only the age decides. The risk left is a shared folder between two pid
 * namespaces that also share a hostname; the age rule still holds there, and a writer that
 * loses its temporary fails its copy rather than committing something broken.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * A temporary untouched for this long is stale even if its pid runs (pids are reused; on
 * another host the pid says nothing). A writer touches its temporaries as bytes arrive, so
 * only a copy stalled for a day could lose one.
 */
export const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

/** Eight hex digits of the host name: short, fixed-width, no characters a file name cannot hold. */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Who wrote a temporary. `host` is undefined for names written before the tag carried one. */
export interface TempOwner {
  readonly pid: number;
  readonly host?: string;
}

/**
 * The owner tag at the end of a temporary's name (`-<pid>-<host>-<12 hex>`, or the older
 * `-<pid>-<12 hex>`), as a regular-expression source with the pid and host captured.
 */
export const OWNER_TAG_SOURCE = '(\\d+)(?:-([0-9a-f]{8}))?-[0-9a-f]{12}';

/** This process's owner tag, with a fresh random part: `<pid>-<host>-<12 hex>`. */
export function tempOwnerTag(): string {
  return `${process.pid}-${HOST_TAG}-${randomBytes(6).toString('hex')}`;
}

/** The owner named by the tag at the end of `name`, if there is one. */
export function parseOwnerTag(name: string): TempOwner | undefined {
  const match = new RegExp(`-${OWNER_TAG_SOURCE}$`).exec(name);
  if (!match) return undefined;
  return match[2] === undefined ? { pid: Number(match[1]) } : { pid: Number(match[1]), host: match[2] };
}

/** The newest modification time of `path` and, for a folder, of its entries. */
async function newestChange(path: string): Promise<number | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return undefined;
  let newest = info.mtimeMs;
  if (info.isDirectory()) {
    for (const entry of await readdir(path).catch(() => [] as string[])) {
      const child = await stat(join(path, entry)).catch(() => undefined);
      if (child && child.mtimeMs > newest) newest = child.mtimeMs;
    }
  }
  return newest;
}

function processGone(pid: number): boolean {
  // pid 0 and below would signal a process group; such a tag is not one this code writes.
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false; // it runs (and is ours to signal)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: it runs, as another user
  }
}

/** Whether the temporary at `path` (a file or a folder) is stale by the rule above. */
export async function isStaleTemp(path: string, owner: TempOwner | undefined): Promise<boolean> {
  const changed = await newestChange(path);
  if (changed === undefined) return false; // already gone
  if (Date.now() - changed > STALE_TEMP_MS) return true;
  if (!owner || (owner.host !== undefined && owner.host !== HOST_TAG)) return false;
  if (owner.pid === process.pid) return false;
  return processGone(owner.pid);
}

/** What a writer says about an entry of the folder: not its temporary (undefined), or its owner. */
export type TempRecognizer = (name: string) => { owner: TempOwner | undefined } | undefined;

/**
 * Removes the stale temporaries of `dir` that `recognize` claims (files, or folders with
 * what is in them), and returns their paths. Entries it does not claim are never touched. One
 * that cannot be removed (another user's) is left: it costs space, not correctness, and must
 * not fail the write that came across it.
 */
export async function removeStaleTemps(dir: string, recognize: TempRecognizer): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    const claim = recognize(entry);
    if (!claim) continue;
    const path = join(dir, entry);
    if (!(await isStaleTemp(path, claim.owner))) continue;
    try {
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // left for its owner, or an administrator
    }
  }
  return removed;
}

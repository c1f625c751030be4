/**
 * Crash-safe file writes: write a temporary file, fsync it, rename it over the target and
 * fsync the directory. A reader (or a restarted process) sees the old file or the new one,
 * never half of one. Temporary files must live on the same filesystem as their targets, so
 * that rename is atomic (the embedded registry keeps them in `<root>/tmp`). Shared by the
 * registry's storage, OCI layouts, docker archives and Docker's config.json.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

async function fsyncPath(path: string, flags: 'r' | 'r+'): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes the entries of `dir` (a rename into it) durable. */
export function fsyncDirectory(dir: string): Promise<void> {
  return fsyncPath(dir, 'r');
}

export function fsyncFile(path: string): Promise<void> {
  return fsyncPath(path, 'r+');
}

/** Moves a finished, fsynced file into place and makes the rename durable. */
export async function renameDurably(from: string, to: string): Promise<void> {
  const dir = dirname(to);
  await mkdir(dir, { recursive: true });
  await rename(from, to);
  await fsyncDirectory(dir);
}

/**
 * Writes `data` to the new file `temp` (an existing file is refused with EEXIST and left
 * alone), fsyncs it, renames it over `target` and fsyncs the target's directory. `temp` must
 * be on the target's filesystem; callers whose temporaries are cleaned up by name (OCI
 * layouts: `.tmp-…` with an owner tag, see stale-temp.ts) choose it themselves. On failure
 * the temporary is removed and `target` is left as it was. `options.mode`: the file's exact
 * permission bits (default: 0666 less the umask).
 */
export async function writeFileViaTemp(temp: string, target: string, data: string | Buffer, options: { mode?: number } = {}): Promise<void> {
  // A file that must stay private (credentials) is private from its first byte: created 0600
  // at most, then given its exact mode (the umask does not apply to chmod).
  const handle = await open(temp, 'wx', options.mode === undefined ? 0o666 : 0o600 & options.mode);
  try {
    try {
      if (options.mode !== undefined) await handle.chmod(options.mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await renameDurably(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** `writeFileViaTemp` with a temporary of a fresh random name in `tmpDir`. */
export function writeFileAtomic(tmpDir: string, target: string, data: string | Buffer): Promise<void> {
  return writeFileViaTemp(join(tmpDir, `${randomUUID()}.tmp`), target, data);
}

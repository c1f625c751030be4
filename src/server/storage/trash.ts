/**
 * The trash: where a garbage collection (src/server/gc/) moves a file before it decides, so
 * that removing one is never a check followed by an unlink that a writer could slip between.
 * A file is renamed to the same relative path under `<root>/trash/` (an atomic step on one
 * filesystem), the collector checks again, and then either links it back or unlinks it.
 *
 * Anyone who finds a file missing that they ask for by name (a blob behind a link, a link or
 * manifest a request names) takes it back from the trash with `restoreFromTrash`: it hard-links
 * the file to its place and leaves the trash entry, so the collector sees it back and keeps it.
 * Taking a file back is always safe. Trash entries are unlinked by the collector, holding its
 * lock, and by a client's DELETE of the file (`removeFile`), which must not come back.
 * docs/serve-gc.md ("Guarantees") has the whole protocol.
 */
import { link, lstat, mkdir, opendir, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { StorageLayout } from './layout.js';

const code = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return false;
    throw err;
  }
}

/** Filesystems without hard links answer these; the rename fallback replaces instead. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EXDEV']);

/**
 * Puts `path` back from the trash when it is there, without replacing a file that is already
 * at `path` (a newer write wins). True when `path` exists afterwards.
 */
export async function restoreFromTrash(layout: StorageLayout, path: string): Promise<boolean> {
  const trashed = layout.trashOf(path);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await link(trashed, path);
      return true;
    } catch (err) {
      if (code(err) === 'EEXIST') return true;
      if (NO_HARD_LINKS.has(code(err) ?? '')) {
        await rename(trashed, path).catch((e: unknown) => {
          if (code(e) !== 'ENOENT') throw e;
        });
        return pathExists(path);
      }
      if (code(err) !== 'ENOENT') throw err;
      // Either nothing is in the trash, or the target's directory is missing.
      if (!(await pathExists(trashed))) return pathExists(path);
      await mkdir(dirname(path), { recursive: true });
    }
  }
  return pathExists(path);
}

/**
 * Whether `path` exists, taking it back from the trash when a collection has it there: a file
 * in the trash is still found by whoever asks for it by name.
 */
export async function findFile(layout: StorageLayout, path: string): Promise<boolean> {
  return (await pathExists(path)) || restoreFromTrash(layout, path);
}

/**
 * Removes `path` and any copy of it in the trash (a client's DELETE), so that a collection
 * that has it there cannot bring it back; it then finds its copy gone and keeps nothing more.
 */
export async function removeFile(layout: StorageLayout, path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(layout.trashOf(path), { force: true });
}

/** Sets a file's times to now; false when it does not exist (it may be in the trash). */
export async function touch(path: string): Promise<boolean> {
  const now = new Date();
  try {
    await utimes(path, now, now);
    return true;
  } catch (err) {
    if (code(err) === 'ENOENT') return false;
    throw err;
  }
}

/** A file that must be there: touched, or taken back from the trash. False when it is gone. */
export async function keepFile(layout: StorageLayout, path: string): Promise<boolean> {
  if (await touch(path)) return true;
  if (!(await restoreFromTrash(layout, path))) return false;
  await touch(path);
  return true;
}

/** Moves `path` into the trash; false when it was not there (removed meanwhile). */
export async function moveToTrash(layout: StorageLayout, path: string): Promise<boolean> {
  const trashed = layout.trashOf(path);
  try {
    await rename(path, trashed);
    return true;
  } catch (err) {
    if (code(err) !== 'ENOENT') throw err;
    if (!(await pathExists(path))) return false;
    await mkdir(dirname(trashed), { recursive: true });
    try {
      await rename(path, trashed);
      return true;
    } catch (again) {
      if (code(again) === 'ENOENT') return false;
      throw again;
    }
  }
}

/** The modification time (ms) of a trashed file; undefined when someone took it back. */
export async function trashedMtime(layout: StorageLayout, path: string): Promise<number | undefined> {
  try {
    return (await lstat(layout.trashOf(path))).mtimeMs;
  } catch (err) {
    if (code(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Links a trashed file back to its place (a newer file there wins) and removes the trash entry. */
export async function putBack(layout: StorageLayout, path: string): Promise<void> {
  await restoreFromTrash(layout, path);
  await unlink(layout.trashOf(path)).catch((err: unknown) => {
    if (code(err) !== 'ENOENT') throw err;
  });
}

/**
 * Unlinks a trashed file. Returns whether it is really gone: false when the file is at its
 * place again (taken back, or written anew, before the unlink), so the caller keeps it.
 */
export async function discardTrashed(layout: StorageLayout, path: string): Promise<boolean> {
  await unlink(layout.trashOf(path)).catch((err: unknown) => {
    if (code(err) !== 'ENOENT') throw err;
  });
  return !(await pathExists(path));
}

/**
 * Puts back every file left in the trash (a collection that was killed midway) and returns how
 * many there were. Directories are left: a running collection may be filling them.
 */
export async function restoreTrash(layout: StorageLayout): Promise<number> {
  let restored = 0;
  const walk = async (dir: string): Promise<void> => {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (err) {
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return;
      throw err;
    }
    for await (const entry of handle) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
      } else {
        await putBack(layout, join(layout.root, relative(layout.trash, path)));
        restored++;
      }
    }
  };
  await walk(layout.trash);
  return restored;
}

/** Removes the (by then empty) trash directories; only the collector, under its lock, does. */
export async function removeTrash(layout: StorageLayout): Promise<void> {
  await restoreTrash(layout);
  await rm(layout.trash, { recursive: true, force: true });
}

/**
 * Where a pulled artifact's files may go. A title comes from the registry, so it is untrusted:
 * it must be a plain relative path (no absolute path, no `..`, `.` or empty component, no NUL,
 * no backslash), and it must not leave the pull directory through a symlink, an existing one
 * in the directory or in any parent component below it. Every title is checked, on paper and
 * then against the disk, before the first byte of any file is written (`planTargets`).
 *
 * A file is then written crash-safe (`writeTarget`): a temporary name in its own directory,
 * streamed, fsynced, and moved into place — with `link` when nothing may be overwritten, so a
 * file that appeared meanwhile is not replaced, and with `rename` otherwise (a rename replaces
 * a symlink at the target, it never follows one). Parent directories are made one component
 * at a time and checked again to be real directories as they are made.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { ErrorCode, GantryError } from '../errors.js';
import { fsyncDirectory, renameDurably } from '../fs/atomic-file.js';

/** The longest file-name component Linux and macOS accept (NAME_MAX, bytes). */
const NAME_MAX_BYTES = 255;

/** Why a title cannot name a file under the pull directory; undefined when it can. */
export function titleProblem(title: string): string | undefined {
  if (title === '') return 'it is empty';
  if (title.includes('\0')) return 'it contains a NUL byte';
  if (title.includes('\\')) return 'it contains a backslash';
  if (title.startsWith('/')) return 'it is an absolute path';
  const parts = title.split('/');
  if (parts.includes('..')) return 'it contains a ".." component';
  if (parts.some((p) => p === '' || p === '.')) return 'it has an empty or "." component';
  if (parts.some((p) => Buffer.byteLength(p) > NAME_MAX_BYTES)) return `a component is longer than ${NAME_MAX_BYTES} bytes`;
  return undefined;
}

/** A title refused: the artifact names a file gantry will not write. */
function refusedTitle(title: string, problem: string): GantryError {
  return new GantryError(ErrorCode.INVALID_RESPONSE, `refusing to write the artifact's file ${JSON.stringify(title)}: ${problem}; nothing was written`);
}

/** Checks the titles on paper: each a plain relative path, no two the same, none a directory of another. */
export function checkTitles(titles: readonly string[]): void {
  const seen = new Set<string>();
  for (const title of titles) {
    const problem = titleProblem(title);
    if (problem !== undefined) throw refusedTitle(title, problem);
    if (seen.has(title)) throw refusedTitle(title, 'two layers have this title');
    seen.add(title);
  }
  for (const title of titles) {
    const parts = title.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (seen.has(parent)) throw refusedTitle(title, `another layer is titled ${JSON.stringify(parent)}, which would have to be both a file and a directory`);
    }
  }
}

const codeOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Checks every title against the disk before anything is written: no component inside `root`
 * is a symlink or a non-directory where a directory is needed, and no target exists unless
 * `overwrite` (nor is one a directory). `root` itself may be a symlink (the caller chose it);
 * when it does not exist yet nothing below it does either.
 */
export async function planTargets(root: string, titles: readonly string[], overwrite: boolean): Promise<void> {
  checkTitles(titles);
  let rootStat;
  try {
    rootStat = await stat(root);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return;
    throw err;
  }
  if (!rootStat.isDirectory()) throw new GantryError(ErrorCode.USAGE, `${root} is not a directory`);
  for (const title of titles) {
    const parts = title.split('/');
    let path = root;
    for (const [i, part] of parts.entries()) {
      path = join(path, part);
      const st = await lstatOrUndefined(path);
      if (st === undefined) break;
      const last = i === parts.length - 1;
      if (st.isSymbolicLink()) {
        throw new GantryError(ErrorCode.USAGE, `refusing to write ${JSON.stringify(title)}: ${path} is a symlink, which could lead out of ${root}; nothing was written`);
      }
      if (!last && !st.isDirectory()) throw new GantryError(ErrorCode.USAGE, `cannot write ${JSON.stringify(title)}: ${path} is not a directory; nothing was written`);
      if (last && st.isDirectory()) throw new GantryError(ErrorCode.USAGE, `cannot write ${JSON.stringify(title)}: ${path} is a directory; nothing was written`);
      if (last && !overwrite) throw new GantryError(ErrorCode.USAGE, `${path} exists; pass overwrite (--overwrite) to replace it; nothing was written`);
    }
  }
}

/** Makes the parent directories of `title` under `root`, one at a time, each checked to be a real directory. */
async function makeParents(root: string, title: string): Promise<string> {
  let dir = root;
  for (const part of title.split('/').slice(0, -1)) {
    dir = join(dir, part);
    try {
      await mkdir(dir);
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') throw err;
    }
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new GantryError(ErrorCode.USAGE, `refusing to write ${JSON.stringify(title)}: ${dir} is not a directory (it changed during the pull)`);
  }
  return dir;
}

/** Filesystems without hard links: the no-overwrite move falls back to a checked rename. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Moves the finished temporary to `target` without replacing anything there. */
async function moveNoClobber(temp: string, target: string, dir: string): Promise<void> {
  try {
    await link(temp, target);
  } catch (err) {
    if (codeOf(err) === 'EEXIST') throw new GantryError(ErrorCode.USAGE, `${target} exists (it appeared during the pull); pass overwrite (--overwrite) to replace it`);
    if (!NO_LINKS.has(codeOf(err) ?? '')) throw err;
    if ((await lstatOrUndefined(target)) !== undefined) throw new GantryError(ErrorCode.USAGE, `${target} exists (it appeared during the pull); pass overwrite (--overwrite) to replace it`);
    await renameDurably(temp, target);
    return;
  }
  await rm(temp, { force: true });
  await fsyncDirectory(dir);
}

/**
 * Writes one file under `root` from the stream `open` gives (a verified blob: it fails before
 * its last chunk when the digest or size is wrong), crash-safe: a temporary in the target's
 * directory, fsynced, then moved into place. The temporary is removed on any failure, and the
 * target is left as it was. Returns the target's path.
 */
export async function writeTarget(root: string, title: string, openStream: () => Promise<Readable>, overwrite: boolean): Promise<string> {
  const dir = await makeParents(root, title);
  const target = join(root, title);
  const temp = join(dir, `.gantry-pull-${randomBytes(8).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx');
  try {
    try {
      const stream = await openStream();
      try {
        // One chunk in flight at a time: memory holds the stream's buffer and this chunk.
        for await (const chunk of stream) {
          const bytes = chunk as Buffer;
          for (let offset = 0; offset < bytes.length; ) offset += (await handle.write(bytes, offset, bytes.length - offset)).bytesWritten;
        }
      } finally {
        if (!stream.destroyed) stream.destroy();
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (overwrite) await renameDurably(temp, target);
    else await moveNoClobber(temp, target, dir);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return target;
}

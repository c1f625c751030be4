/**
 * Streaming walks of the directory storage (layout in ../storage/filesystem.ts). Every listing
 * is read a batch at a time with `opendir`, never whole, so a store of millions of blobs costs
 * the collector no more memory than its mark set; a walk holds one open directory per level.
 */
import type { Dirent } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { Digest } from '../../ref/digest.js';

/** The entries of `dir`, a batch at a time; none when it does not exist. */
export async function* entries(dir: string): AsyncGenerator<Dirent> {
  let handle;
  try {
    handle = await opendir(dir, { bufferSize: 256 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw err;
  }
  // The directory closes when the loop ends or the consumer stops early.
  yield* handle;
}

/** The digests stored as `<dir>/<alg>/<hex>` (links, revisions); other names are not ours and are skipped. */
export async function* digestsIn(dir: string): AsyncGenerator<Digest> {
  for await (const algorithm of entries(dir)) {
    if (!algorithm.isDirectory()) continue;
    for await (const entry of entries(join(dir, algorithm.name))) {
      const d = entry.isFile() ? Digest.tryParse(`${algorithm.name}:${entry.name}`) : undefined;
      if (d) yield d;
    }
  }
}

/** The blobs of the blob store, `blobs/<alg>/<hex[0:2]>/<hex>`. */
export async function* blobDigests(blobsDir: string): AsyncGenerator<Digest> {
  for await (const algorithm of entries(blobsDir)) {
    if (!algorithm.isDirectory()) continue;
    for await (const prefix of entries(join(blobsDir, algorithm.name))) {
      if (!prefix.isDirectory()) continue;
      for await (const entry of entries(join(blobsDir, algorithm.name, prefix.name))) {
        const d = entry.isFile() && entry.name.startsWith(prefix.name) ? Digest.tryParse(`${algorithm.name}:${entry.name}`) : undefined;
        if (d) yield d;
      }
    }
  }
}

/** The referrers index entries of a repository: `_referrers/<alg>/<subject hex>/<alg>-<hex>`. */
export async function* referrerEntries(referrersDir: string): AsyncGenerator<{ subject: Digest; referrer: Digest }> {
  for await (const algorithm of entries(referrersDir)) {
    if (!algorithm.isDirectory()) continue;
    for await (const subjectDir of entries(join(referrersDir, algorithm.name))) {
      const subject = subjectDir.isDirectory() ? Digest.tryParse(`${algorithm.name}:${subjectDir.name}`) : undefined;
      if (!subject) continue;
      for await (const referrer of referrersIn(join(referrersDir, algorithm.name, subjectDir.name))) yield { subject, referrer };
    }
  }
}

/** The referrers listed in one subject's directory. */
export async function* referrersIn(dir: string): AsyncGenerator<Digest> {
  for await (const entry of entries(dir)) {
    const dash = entry.name.indexOf('-');
    const d = entry.isFile() && dash > 0 ? Digest.tryParse(`${entry.name.slice(0, dash)}:${entry.name.slice(dash + 1)}`) : undefined;
    if (d) yield d;
  }
}

/**
 * The repository names under `repositories/`, depth first (a repository comes after those
 * nested in it: `a/b` after `a/b/c`). A directory is a repository when it holds `_manifests`,
 * `_layers` or `_referrers`.
 */
export async function* repositoryNames(repositoriesDir: string, prefix = ''): AsyncGenerator<string> {
  let isRepository = false;
  for await (const entry of entries(join(repositoriesDir, prefix))) {
    if (!entry.isDirectory()) continue;
    if (entry.name.startsWith('_')) {
      if (entry.name === '_manifests' || entry.name === '_layers' || entry.name === '_referrers') isRepository = true;
      continue;
    }
    yield* repositoryNames(repositoriesDir, prefix ? `${prefix}/${entry.name}` : entry.name);
  }
  if (isRepository && prefix) yield prefix;
}

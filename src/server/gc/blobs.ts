/**
 * The blob store's sweep, after every repository's: a blob no repository keeps (no link, no
 * manifest, nothing a kept manifest names) and older than the cutoff is moved to the trash.
 * Then every repository is walked again, and a trashed blob that some link or manifest names
 * by now (an upload committed, a mount, a manifest pushed during the sweep) goes back, as does
 * one touched before it was moved (a manifest being pushed again touches its bytes); the rest
 * are unlinked. A writer that links a blob after that walk passed its repository checks
 * the blob after linking it, and takes it back from the trash itself (../storage/filesystem.ts).
 */
import { lstat } from 'node:fs/promises';
import type { Digest } from '../../ref/digest.js';
import { discardTrashed, moveToTrash, putBack, trashedMtime } from '../storage/trash.js';
import type { Sweep } from './sweep.js';
import { blobDigests, digestsIn, repositoryNames } from './walk.js';

export async function sweepBlobs(sweep: Sweep): Promise<void> {
  const { layout, marks, cutoff } = sweep;
  const candidates = new Map<string, { digest: Digest; size: number }>();
  for await (const d of blobDigests(layout.blobs)) {
    const key = d.toString();
    if (marks.has(key)) continue;
    let stats;
    try {
      stats = await lstat(layout.blob(d));
    } catch {
      continue;
    }
    if (stats.mtimeMs < cutoff) candidates.set(key, { digest: d, size: stats.size });
  }
  if (sweep.dryRun) {
    for (const [key, { size }] of candidates) sweep.removed({ kind: 'blob', digest: key, size });
    return;
  }

  for (const [key, { digest }] of candidates) if (!(await moveToTrash(layout, layout.blob(digest)))) candidates.delete(key);
  if (candidates.size === 0) return;

  // Checked again, now that they are in the trash: named by a link or manifest made meanwhile?
  const named = new Set<string>();
  for await (const name of repositoryNames(layout.repositories)) {
    for (const dir of [layout.repository(name, '_layers'), layout.repository(name, '_manifests', 'revisions')]) {
      for await (const d of digestsIn(dir)) if (candidates.has(d.toString())) named.add(d.toString());
    }
  }
  for (const [key, { digest, size }] of candidates) {
    const path = layout.blob(digest);
    const mtime = await trashedMtime(layout, path);
    if (named.has(key) || mtime === undefined || mtime >= cutoff) await putBack(layout, path);
    else if (await discardTrashed(layout, path)) sweep.removed({ kind: 'blob', digest: key, size });
  }
}

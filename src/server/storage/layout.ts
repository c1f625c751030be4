/**
 * Where the directory storage keeps each thing (the layout is drawn in filesystem.ts), in one
 * place for the storage and the garbage collector (src/server/gc/), so both name a file alike.
 * Names and digests are validated before they get here, so no path climbs out of the root.
 */
import { join, relative } from 'node:path';
import type { Digest } from '../../ref/digest.js';

export class StorageLayout {
  readonly blobs: string;
  readonly repositories: string;
  readonly uploads: string;
  readonly tmp: string;
  /** Files a garbage collection has taken out while it decides about them (see trash.ts). */
  readonly trash: string;

  constructor(readonly root: string) {
    this.blobs = join(root, 'blobs');
    this.repositories = join(root, 'repositories');
    this.uploads = join(root, 'uploads');
    this.tmp = join(root, 'tmp');
    this.trash = join(root, 'trash');
  }

  blob(d: Digest): string {
    return join(this.blobs, d.algorithm, d.encoded.slice(0, 2), d.encoded);
  }
  repository(name: string, ...rest: string[]): string {
    return join(this.repositories, name, ...rest);
  }
  /** A blob linked into a repository (an empty file). */
  link(name: string, d: Digest): string {
    return this.repository(name, '_layers', d.algorithm, d.encoded);
  }
  /** A manifest of a repository: `{mediaType, subject?}`; the bytes are the blob. */
  revision(name: string, d: Digest): string {
    return this.repository(name, '_manifests', 'revisions', d.algorithm, d.encoded);
  }
  tag(name: string, tag: string): string {
    return this.repository(name, '_manifests', 'tags', tag);
  }
  /** The referrers index of one subject: a directory of descriptors. */
  referrers(name: string, subject: Digest): string {
    return this.repository(name, '_referrers', subject.algorithm, subject.encoded);
  }
  referrerEntry(name: string, subject: Digest, referrer: Digest): string {
    return join(this.referrers(name, subject), `${referrer.algorithm}-${referrer.encoded}`);
  }
  /** Where `path` (a file under the root) waits in the trash: the same relative path. */
  trashOf(path: string): string {
    return join(this.trash, relative(this.root, path));
  }
}

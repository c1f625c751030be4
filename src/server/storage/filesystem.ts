/**
 * Directory storage, laid out like the CNCF registry's so that it reads familiar:
 *
 *   blobs/<alg>/<hex[0:2]>/<hex>                           blob bytes (manifests too)
 *   repositories/<name>/_layers/<alg>/<hex>                 a blob linked into the repository
 *   repositories/<name>/_manifests/revisions/<alg>/<hex>    {mediaType, subject?}
 *   repositories/<name>/_manifests/tags/<tag>               the tag's digest
 *   repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>  a referrer's descriptor
 *   uploads/<uuid>/{data,info.json}                         sessions (see filesystem-uploads.ts)
 *   tmp/                                                    temporary files of atomic writes
 *   trash/…                                                 files a garbage collection is deciding about
 *
 * Names and digests are validated before they get here (grammar and hex only), so none of
 * them can climb out of the root. Every write is atomic (src/fs/atomic-file.ts).
 *
 * A garbage collection (src/server/gc/, `gantry serve gc`) may run at the same time, in this
 * process or another. Every write that makes a reference therefore makes it first and checks
 * afterwards that what it names is still there, taking back from the trash what a collection
 * has just moved there: a link before its blob, a revision before the links, manifests and
 * bytes it names (touched, so a collection that missed the revision sees them young; its own
 * bytes are touched before it), a tag before its manifest. The collector checks again after
 * moving a file to the trash; between the two, one of them sees the other (docs/serve-gc.md,
 * "Guarantees").
 */
import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { Digest } from '../../ref/digest.js';
import { manifestUnknown, RegistryErrorCode, RegistryRequestError } from '../errors.js';
import { checkManifest } from '../manifest-check.js';
import { renameDurably, writeFileAtomic } from '../../fs/atomic-file.js';
import { removeStaleTemps } from '../../fs/stale-temp.js';
import { pumpFile } from './file-pump.js';
import { FilesystemUploads } from './filesystem-uploads.js';
import { StorageLayout } from './layout.js';
import { findFile, keepFile, pathExists as exists, removeFile, restoreFromTrash, restoreTrash } from './trash.js';
import type { RangeResolver } from './upload-hash.js';
import type { ManifestWrite, OpenedBlob, ReferrerDescriptor, Storage, StoredManifest, UploadSession } from './types.js';

const READ_BUFFER = 1 << 20;

interface Revision {
  mediaType: string;
  subject?: string;
}

/**
 * Opens (creating) the directory storage. Upload sessions started `uploadMaxAgeMs` ago or more
 * are removed now (a restart cleans up after a kill); without it only crash leftovers are.
 */
export async function openFilesystemStorage(root: string, uploadMaxAgeMs?: number): Promise<Storage> {
  const dir = resolve(root);
  for (const sub of ['blobs', 'repositories', 'uploads', 'tmp']) await mkdir(join(dir, sub), { recursive: true });
  // Temporary files of writes that a crash interrupted are garbage; nothing refers to them. Only
  // stale ones go (a day old, the rule of ../../fs/stale-temp.ts): another registry serving the
  // directory has its writes in flight here, and emptying the folder failed them (and this open).
  await removeStaleTemps(join(dir, 'tmp'), () => ({ owner: undefined }));
  const storage = new FilesystemStorage(dir);
  // What a collection killed midway left in the trash goes back (taking back is always safe).
  await restoreTrash(storage.layout);
  await storage.uploads.purge(uploadMaxAgeMs, true);
  return storage;
}

function must(digest: string): Digest {
  const parsed = Digest.tryParse(digest);
  if (!parsed) throw new Error(`storage: invalid digest ${JSON.stringify(digest)}`);
  return parsed;
}

const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';

function manifestBlobUnknown(digest: string): RegistryRequestError {
  return new RegistryRequestError(400, RegistryErrorCode.MANIFEST_BLOB_UNKNOWN, 'manifest references a blob or manifest unknown to the repository', { digest });
}

class FilesystemStorage implements Storage {
  readonly uploads: FilesystemUploads;
  readonly layout: StorageLayout;
  private readonly tmp: string;

  constructor(readonly location: string) {
    this.layout = new StorageLayout(location);
    this.uploads = new FilesystemUploads(this.layout.uploads);
    this.tmp = this.layout.tmp;
  }

  /** Whether the blob store holds the blob, taking it back from a collection's trash if needed. */
  private hasBlob(d: Digest): Promise<boolean> {
    return findFile(this.layout, this.layout.blob(d));
  }

  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    const d = must(digest);
    if (!(await findFile(this.layout, this.layout.link(repository, d)))) return undefined;
    const path = this.layout.blob(d);
    try {
      return (await stat(path)).size;
    } catch (err) {
      if (!isMissing(err) || !(await restoreFromTrash(this.layout, path))) return undefined;
    }
    try {
      return (await stat(path)).size;
    } catch {
      return undefined;
    }
  }

  /** The blob's file, open; a blob a collection has just moved to its trash is taken back. */
  private async openBlobFile(d: Digest): Promise<FileHandle | undefined> {
    const path = this.layout.blob(d);
    try {
      return await open(path, 'r');
    } catch (err) {
      if (!isMissing(err) || !(await restoreFromTrash(this.layout, path))) return undefined;
    }
    try {
      return await open(path, 'r');
    } catch {
      return undefined;
    }
  }

  async openBlob(repository: string, digest: string, range?: RangeResolver): Promise<OpenedBlob | undefined> {
    const d = must(digest);
    if (!(await findFile(this.layout, this.layout.link(repository, d)))) return undefined;
    const handle = await this.openBlobFile(d);
    if (!handle) return undefined;
    try {
      const { size } = await handle.stat();
      const r = range?.(size);
      const start = r?.start ?? 0;
      const end = r ? r.end : size - 1;
      // The handle is read one way: the stream (made on first use, closed at its end) or writeTo (closed by the pump).
      let stream: Readable | undefined;
      return {
        size,
        get stream() {
          return (stream ??= handle.createReadStream({ start, end: Math.max(end, start), highWaterMark: READ_BUFFER }) as Readable);
        },
        writeTo: (dest) => pumpFile(handle, start, end, dest, READ_BUFFER),
      };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async linkBlob(repository: string, digest: string): Promise<boolean> {
    const d = must(digest);
    if (!(await this.hasBlob(d))) return false;
    await writeFileAtomic(this.tmp, this.layout.link(repository, d), '');
    // The link first, then the blob again: a collection that took the blob before the link
    // existed has it in its trash (taken back here) or has removed it (the mount fails, and the
    // link alone, naming no bytes, serves nothing).
    return this.hasBlob(d);
  }

  async deleteBlob(repository: string, digest: string): Promise<boolean> {
    const path = this.layout.link(repository, must(digest));
    if (!(await findFile(this.layout, path))) return false;
    await removeFile(this.layout, path);
    return true;
  }

  async putManifest(repository: string, m: ManifestWrite): Promise<void> {
    const d = must(m.digest);
    const blob = this.layout.blob(d);
    const revisionPath = this.layout.revision(repository, d);
    const existed = await exists(revisionPath);
    // The bytes first, touched when they are there already: young, a collection keeps them.
    if (!(await keepFile(this.layout, blob))) await writeFileAtomic(this.tmp, blob, m.bytes);
    let entry: { path: string; data: string } | undefined;
    if (m.referrer) {
      entry = { path: this.layout.referrerEntry(repository, must(m.referrer.subject), d), data: JSON.stringify(m.referrer.descriptor) };
      await writeFileAtomic(this.tmp, entry.path, entry.data);
    }
    const revision: Revision = { mediaType: m.mediaType, ...(m.referrer ? { subject: m.referrer.subject } : {}) };
    await writeFileAtomic(this.tmp, revisionPath, JSON.stringify(revision));
    // The revision exists: its bytes again at once (a collection that reads the revision in
    // between finds none and learns nothing from it, but then finds the touches below young),
    // then the blobs and child manifests it names, then its referrers entry.
    if (!(await this.hasBlob(d))) await writeFileAtomic(this.tmp, blob, m.bytes);
    const gone = await this.keepReferences(repository, m);
    if (gone) {
      if (!existed) {
        await rm(revisionPath, { force: true });
        if (entry) await rm(entry.path, { force: true });
      }
      throw manifestBlobUnknown(gone);
    }
    if (entry && !(await exists(entry.path))) await writeFileAtomic(this.tmp, entry.path, entry.data);
  }

  /**
   * Touches the link of every blob and the revision of every child manifest the manifest
   * needs (what the handler checked before the write), taking back from the trash what a
   * collection has just moved there, and checks their bytes. Returns a digest that is gone.
   * A pull-through cache's manifest needs nothing yet: what is there is touched, nothing fails.
   */
  private async keepReferences(repository: string, m: ManifestWrite): Promise<string | undefined> {
    let needed;
    try {
      needed = checkManifest(m.bytes, m.mediaType);
    } catch {
      return undefined;
    }
    const required = !m.pullThrough;
    for (const blob of new Set(needed.blobs)) {
      const b = must(blob);
      if (!(await keepFile(this.layout, this.layout.link(repository, b))) || !(await this.hasBlob(b))) {
        if (required) return blob;
      }
    }
    for (const child of new Set(needed.manifests)) {
      const c = must(child);
      if (!(await keepFile(this.layout, this.layout.revision(repository, c))) || !(await this.hasBlob(c))) {
        if (required) return child;
      }
    }
    return undefined;
  }

  /** A manifest's revision record; one a collection has in its trash is taken back. */
  private async readRevision(repository: string, d: Digest): Promise<Revision | undefined> {
    const path = this.layout.revision(repository, d);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return JSON.parse(await readFile(path, 'utf8')) as Revision;
      } catch (err) {
        if (attempt > 0 || !isMissing(err) || !(await restoreFromTrash(this.layout, path))) return undefined;
      }
    }
    return undefined;
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | undefined> {
    const d = must(digest);
    const revision = await this.readRevision(repository, d);
    if (!revision) return undefined;
    const handle = await this.openBlobFile(d);
    if (!handle) return undefined;
    try {
      return { digest, mediaType: revision.mediaType, bytes: await handle.readFile() };
    } finally {
      await handle.close();
    }
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const d = must(digest);
    const revision = await this.readRevision(repository, d);
    if (!revision) return false;
    await removeFile(this.layout, this.layout.revision(repository, d));
    for (const tag of (await this.listTags(repository)) ?? []) {
      if ((await this.resolveTag(repository, tag)) === digest) await rm(this.layout.tag(repository, tag), { force: true });
    }
    const subject = revision.subject ? Digest.tryParse(revision.subject) : undefined;
    if (subject) await removeFile(this.layout, this.layout.referrerEntry(repository, subject, d));
    return true;
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    try {
      const digest = (await readFile(this.layout.tag(repository, tag), 'utf8')).trim();
      return Digest.tryParse(digest) ? digest : undefined;
    } catch {
      return undefined;
    }
  }

  async setTag(repository: string, tag: string, digest: string): Promise<void> {
    const d = must(digest);
    const path = this.layout.tag(repository, tag);
    const before = await this.resolveTag(repository, tag);
    await writeFileAtomic(this.tmp, path, digest);
    // The tag first, then its manifest: an untagged manifest that a collection (deleting
    // untagged ones) took before the tag existed is taken back, or the tag is undone.
    if (await keepFile(this.layout, this.layout.revision(repository, d))) return;
    if (before) await writeFileAtomic(this.tmp, path, before);
    else await rm(path, { force: true });
    throw manifestUnknown(digest);
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const path = this.layout.tag(repository, tag);
    if (!(await exists(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  private async repositoryExists(repository: string): Promise<boolean> {
    return (await exists(this.layout.repository(repository, '_manifests'))) || (await exists(this.layout.repository(repository, '_layers')));
  }

  async listTags(repository: string): Promise<string[] | undefined> {
    if (!(await this.repositoryExists(repository))) return undefined;
    try {
      return await readdir(this.layout.repository(repository, '_manifests', 'tags'));
    } catch {
      return [];
    }
  }

  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.layout.repositories, prefix), { withFileTypes: true });
      } catch {
        return;
      }
      const names = new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name));
      if (prefix && (names.has('_manifests') || names.has('_layers'))) out.push(prefix);
      for (const name of names) if (!name.startsWith('_')) await walk(prefix ? `${prefix}/${name}` : name);
    };
    await walk('');
    return out;
  }

  async listReferrers(repository: string, subject: string): Promise<ReferrerDescriptor[]> {
    const dir = this.layout.referrers(repository, must(subject));
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const out: ReferrerDescriptor[] = [];
    for (const name of names) {
      try {
        const descriptor = JSON.parse(await readFile(join(dir, name), 'utf8')) as ReferrerDescriptor;
        // The entry is written before the revision and removed after it: only a manifest that
        // exists is a referrer, whatever a crash left in between.
        if (await findFile(this.layout, this.layout.revision(repository, must(descriptor.digest)))) out.push(descriptor);
      } catch {
        // Removed by a concurrent delete: not a referrer any more.
      }
    }
    return out;
  }

  startUpload(repository: string): Promise<UploadSession> {
    return this.uploads.start(repository);
  }
  getUpload(repository: string, id: string): Promise<UploadSession | undefined> {
    return this.uploads.get(repository, id);
  }
  appendUpload(repository: string, id: string, body: Readable, start?: number, sizeHint?: number): Promise<UploadSession> {
    return this.uploads.append(repository, id, body, start, sizeHint);
  }
  cancelUpload(repository: string, id: string): Promise<boolean> {
    return this.uploads.cancel(repository, id);
  }
  purgeUploads(maxAgeMs: number): Promise<number> {
    return this.uploads.purge(maxAgeMs);
  }

  async commitUpload(repository: string, id: string, digest: string): Promise<number> {
    const d = must(digest);
    const target = this.layout.blob(d);
    return this.uploads.commit(repository, id, d, async (path) => {
      // The link first, then the blob: a collection that moves the blob to its trash after the
      // check below finds the link when it checks again. A blob missing here (never uploaded,
      // or in a collection's trash) gets these verified bytes; concurrent uploads of the same
      // blob each rename identical bytes, and any one wins.
      await writeFileAtomic(this.tmp, this.layout.link(repository, d), '');
      if (!(await exists(target))) await renameDurably(path, target);
    });
  }

  async close(): Promise<void> {}
}

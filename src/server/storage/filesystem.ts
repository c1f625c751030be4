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
 *
 * Names and digests are validated before they get here (grammar and hex only), so none of
 * them can climb out of the root. Every write is atomic (src/fs/atomic-file.ts).
 */
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { Digest } from '../../ref/digest.js';
import { uploadUnknown } from '../errors.js';
import { renameDurably, writeFileAtomic } from '../../fs/atomic-file.js';
import { FilesystemUploads } from './filesystem-uploads.js';
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
  // Temporary files of writes that a crash interrupted are garbage; nothing refers to them.
  await rm(join(dir, 'tmp'), { recursive: true, force: true });
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const storage = new FilesystemStorage(dir);
  await storage.uploads.purge(uploadMaxAgeMs, true);
  return storage;
}

function must(digest: string): Digest {
  const parsed = Digest.tryParse(digest);
  if (!parsed) throw new Error(`storage: invalid digest ${JSON.stringify(digest)}`);
  return parsed;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

class FilesystemStorage implements Storage {
  readonly uploads: FilesystemUploads;
  private readonly tmp: string;

  constructor(readonly location: string) {
    this.uploads = new FilesystemUploads(join(location, 'uploads'));
    this.tmp = join(location, 'tmp');
  }

  private blobPath(d: Digest): string {
    return join(this.location, 'blobs', d.algorithm, d.encoded.slice(0, 2), d.encoded);
  }
  private repoPath(repository: string, ...rest: string[]): string {
    return join(this.location, 'repositories', repository, ...rest);
  }
  private linkPath(repository: string, d: Digest): string {
    return this.repoPath(repository, '_layers', d.algorithm, d.encoded);
  }
  private revisionPath(repository: string, d: Digest): string {
    return this.repoPath(repository, '_manifests', 'revisions', d.algorithm, d.encoded);
  }
  private tagPath(repository: string, tag: string): string {
    return this.repoPath(repository, '_manifests', 'tags', tag);
  }
  private referrersDir(repository: string, subject: Digest): string {
    return this.repoPath(repository, '_referrers', subject.algorithm, subject.encoded);
  }

  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    const d = must(digest);
    if (!(await exists(this.linkPath(repository, d)))) return undefined;
    try {
      return (await stat(this.blobPath(d))).size;
    } catch {
      return undefined;
    }
  }

  async openBlob(repository: string, digest: string, range?: RangeResolver): Promise<OpenedBlob | undefined> {
    const d = must(digest);
    if (!(await exists(this.linkPath(repository, d)))) return undefined;
    let handle;
    try {
      handle = await open(this.blobPath(d), 'r');
    } catch {
      return undefined;
    }
    try {
      const { size } = await handle.stat();
      const r = range?.(size);
      const stream = handle.createReadStream({ start: r?.start ?? 0, end: r ? r.end : Math.max(size - 1, 0), highWaterMark: READ_BUFFER });
      return { size, stream: stream as Readable };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async linkBlob(repository: string, digest: string): Promise<boolean> {
    const d = must(digest);
    if (!(await exists(this.blobPath(d)))) return false;
    await writeFileAtomic(this.tmp, this.linkPath(repository, d), '');
    return true;
  }

  async deleteBlob(repository: string, digest: string): Promise<boolean> {
    const path = this.linkPath(repository, must(digest));
    if (!(await exists(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  async putManifest(repository: string, m: ManifestWrite): Promise<void> {
    const d = must(m.digest);
    if (!(await exists(this.blobPath(d)))) await writeFileAtomic(this.tmp, this.blobPath(d), m.bytes);
    if (m.referrer) {
      const subject = must(m.referrer.subject);
      const entry = join(this.referrersDir(repository, subject), `${d.algorithm}-${d.encoded}`);
      await writeFileAtomic(this.tmp, entry, JSON.stringify(m.referrer.descriptor));
    }
    const revision: Revision = { mediaType: m.mediaType, ...(m.referrer ? { subject: m.referrer.subject } : {}) };
    await writeFileAtomic(this.tmp, this.revisionPath(repository, d), JSON.stringify(revision));
  }

  private async readRevision(repository: string, d: Digest): Promise<Revision | undefined> {
    try {
      return JSON.parse(await readFile(this.revisionPath(repository, d), 'utf8')) as Revision;
    } catch {
      return undefined;
    }
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | undefined> {
    const d = must(digest);
    const revision = await this.readRevision(repository, d);
    if (!revision) return undefined;
    try {
      return { digest, mediaType: revision.mediaType, bytes: await readFile(this.blobPath(d)) };
    } catch {
      return undefined;
    }
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const d = must(digest);
    const revision = await this.readRevision(repository, d);
    if (!revision) return false;
    await rm(this.revisionPath(repository, d), { force: true });
    for (const tag of (await this.listTags(repository)) ?? []) {
      if ((await this.resolveTag(repository, tag)) === digest) await rm(this.tagPath(repository, tag), { force: true });
    }
    const subject = revision.subject ? Digest.tryParse(revision.subject) : undefined;
    if (subject) await rm(join(this.referrersDir(repository, subject), `${d.algorithm}-${d.encoded}`), { force: true });
    return true;
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    try {
      const digest = (await readFile(this.tagPath(repository, tag), 'utf8')).trim();
      return Digest.tryParse(digest) ? digest : undefined;
    } catch {
      return undefined;
    }
  }

  async setTag(repository: string, tag: string, digest: string): Promise<void> {
    await writeFileAtomic(this.tmp, this.tagPath(repository, tag), digest);
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const path = this.tagPath(repository, tag);
    if (!(await exists(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  private async repositoryExists(repository: string): Promise<boolean> {
    return (await exists(this.repoPath(repository, '_manifests'))) || (await exists(this.repoPath(repository, '_layers')));
  }

  async listTags(repository: string): Promise<string[] | undefined> {
    if (!(await this.repositoryExists(repository))) return undefined;
    try {
      return await readdir(this.repoPath(repository, '_manifests', 'tags'));
    } catch {
      return [];
    }
  }

  async listRepositories(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.location, 'repositories', prefix), { withFileTypes: true });
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
    const dir = this.referrersDir(repository, must(subject));
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
        if (await exists(this.revisionPath(repository, must(descriptor.digest)))) out.push(descriptor);
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
    const target = this.blobPath(d);
    const size = await this.uploads.commit(repository, id, d, async (path) => {
      // Concurrent uploads of the same blob each rename identical, verified bytes: any one wins.
      if (!(await exists(target))) await renameDurably(path, target);
    });
    if (!(await this.linkBlob(repository, digest))) throw uploadUnknown(id);
    return size;
  }

  async close(): Promise<void> {}
}

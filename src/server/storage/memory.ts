/**
 * In-memory storage for tests and `--storage memory`: the same semantics as the directory
 * storage (links per repository, verified commits, sessions that only become blobs by
 * commit), gone when the process ends.
 */
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Digest } from '../../ref/digest.js';
import { digestInvalid, uploadUnknown } from '../errors.js';
import type { ManifestWrite, OpenedBlob, ReferrerDescriptor, Storage, StoredManifest, UploadSession } from './types.js';
import { LIVE_ALGORITHM, hashingCounter, newLiveHash, rangeInvalid, uploadBusy, type LiveHash, type RangeResolver } from './upload-hash.js';

interface Repository {
  blobs: Set<string>;
  manifests: Map<string, { mediaType: string; subject?: string }>;
  tags: Map<string, string>;
  referrers: Map<string, Map<string, ReferrerDescriptor>>;
}

interface MemoryUpload {
  repository: string;
  chunks: Buffer[];
  size: number;
  live: LiveHash;
  busy: boolean;
  /** When the session started (ms since the epoch). */
  started: number;
}

export function createMemoryStorage(): Storage {
  return new MemoryStorage();
}

class MemoryStorage implements Storage {
  readonly location = 'memory';
  private readonly blobs = new Map<string, Buffer>();
  private readonly repositories = new Map<string, Repository>();
  private readonly uploads = new Map<string, MemoryUpload>();

  private repo(name: string, create: true): Repository;
  private repo(name: string, create?: false): Repository | undefined;
  private repo(name: string, create = false): Repository | undefined {
    let r = this.repositories.get(name);
    if (!r && create) {
      r = { blobs: new Set(), manifests: new Map(), tags: new Map(), referrers: new Map() };
      this.repositories.set(name, r);
    }
    return r;
  }

  async blobSize(repository: string, digest: string): Promise<number | undefined> {
    return this.repo(repository)?.blobs.has(digest) ? this.blobs.get(digest)?.length : undefined;
  }

  async openBlob(repository: string, digest: string, range?: RangeResolver): Promise<OpenedBlob | undefined> {
    const bytes = this.repo(repository)?.blobs.has(digest) ? this.blobs.get(digest) : undefined;
    if (!bytes) return undefined;
    const r = range?.(bytes.length);
    const view = r ? bytes.subarray(r.start, r.end + 1) : bytes;
    return { size: bytes.length, stream: Readable.from([view]) };
  }

  async linkBlob(repository: string, digest: string): Promise<boolean> {
    if (!this.blobs.has(digest)) return false;
    this.repo(repository, true).blobs.add(digest);
    return true;
  }

  async deleteBlob(repository: string, digest: string): Promise<boolean> {
    return this.repo(repository)?.blobs.delete(digest) ?? false;
  }

  async putManifest(repository: string, m: ManifestWrite): Promise<void> {
    const r = this.repo(repository, true);
    this.blobs.set(m.digest, m.bytes);
    if (m.referrer) {
      let entries = r.referrers.get(m.referrer.subject);
      if (!entries) r.referrers.set(m.referrer.subject, (entries = new Map()));
      entries.set(m.digest, m.referrer.descriptor);
    }
    r.manifests.set(m.digest, { mediaType: m.mediaType, ...(m.referrer ? { subject: m.referrer.subject } : {}) });
  }

  async getManifest(repository: string, digest: string): Promise<StoredManifest | undefined> {
    const revision = this.repo(repository)?.manifests.get(digest);
    const bytes = this.blobs.get(digest);
    return revision && bytes ? { digest, mediaType: revision.mediaType, bytes } : undefined;
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const r = this.repo(repository);
    const revision = r?.manifests.get(digest);
    if (!r || !revision) return false;
    r.manifests.delete(digest);
    for (const [tag, target] of r.tags) if (target === digest) r.tags.delete(tag);
    if (revision.subject) r.referrers.get(revision.subject)?.delete(digest);
    return true;
  }

  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    return this.repo(repository)?.tags.get(tag);
  }

  async setTag(repository: string, tag: string, digest: string): Promise<void> {
    this.repo(repository, true).tags.set(tag, digest);
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.repo(repository)?.tags.delete(tag) ?? false;
  }

  async listTags(repository: string): Promise<string[] | undefined> {
    const r = this.repo(repository);
    return r ? [...r.tags.keys()] : undefined;
  }

  async listRepositories(): Promise<string[]> {
    return [...this.repositories.keys()];
  }

  async listReferrers(repository: string, subject: string): Promise<ReferrerDescriptor[]> {
    return [...(this.repo(repository)?.referrers.get(subject)?.values() ?? [])];
  }

  async startUpload(repository: string): Promise<UploadSession> {
    const id = randomUUID();
    // Inline hashing: a memory upload is held whole anyway, and small.
    this.uploads.set(id, { repository, chunks: [], size: 0, live: newLiveHash(0), busy: false, started: Date.now() });
    return { id, repository, size: 0 };
  }

  private session(repository: string, id: string): MemoryUpload | undefined {
    const u = this.uploads.get(id);
    return u && u.repository === repository ? u : undefined;
  }

  async getUpload(repository: string, id: string): Promise<UploadSession | undefined> {
    const u = this.session(repository, id);
    return u ? { id, repository, size: u.size } : undefined;
  }

  async appendUpload(repository: string, id: string, body: Readable, start?: number): Promise<UploadSession> {
    const u = this.session(repository, id);
    if (!u) throw uploadUnknown(id);
    if (u.busy) throw uploadBusy(id);
    if (start !== undefined && start !== u.size) throw rangeInvalid(u.size);
    u.busy = true;
    const before = u.live.hash.copy();
    const received: Buffer[] = [];
    const counter = hashingCounter(u.live.hash);
    try {
      await pipeline(body, counter.stream, new Writable({
        write(chunk: Buffer, _encoding, callback) {
          received.push(chunk);
          callback();
        },
      }));
      u.chunks.push(...received);
      u.size += counter.bytes();
      u.live.size = u.size;
      before.discard();
      return { id, repository, size: u.size };
    } catch (err) {
      u.live.hash.discard();
      u.live.hash = before;
      throw err;
    } finally {
      u.busy = false;
    }
  }

  async commitUpload(repository: string, id: string, digest: string): Promise<number> {
    const u = this.session(repository, id);
    if (!u) throw uploadUnknown(id);
    if (u.busy) throw uploadBusy(id);
    const d = Digest.tryParse(digest);
    if (!d) throw digestInvalid('invalid digest', { digest });
    const bytes = Buffer.concat(u.chunks);
    const actual = d.algorithm === LIVE_ALGORITHM ? await u.live.hash.copy().digest() : Digest.fromBytes(bytes, d.algorithm).encoded;
    this.uploads.delete(id);
    if (actual !== d.encoded) throw digestInvalid('provided digest did not match uploaded content', { digest });
    if (!this.blobs.has(digest)) this.blobs.set(digest, bytes);
    this.repo(repository, true).blobs.add(digest);
    return bytes.length;
  }

  async cancelUpload(repository: string, id: string): Promise<boolean> {
    return this.session(repository, id) ? this.uploads.delete(id) : false;
  }

  async purgeUploads(maxAgeMs: number): Promise<number> {
    const now = Date.now();
    let removed = 0;
    for (const [id, u] of this.uploads) {
      if (u.busy || now - u.started < maxAgeMs) continue;
      this.uploads.delete(id);
      u.live.hash.discard();
      removed++;
    }
    return removed;
  }

  async close(): Promise<void> {
    this.blobs.clear();
    this.repositories.clear();
    this.uploads.clear();
  }
}

/**
 * Upload sessions on disk: `uploads/<uuid>/data` holds the bytes received so far and
 * `uploads/<uuid>/info.json` the repository. Nothing under `uploads/` is ever served; a
 * session becomes a blob only by `commit`, which verifies the digest, fsyncs the data and
 * renames it into `blobs/`. A process killed mid-upload leaves at most a session that a
 * client can resume or that is simply never committed.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../../ref/digest.js';
import { digestInvalid, uploadUnknown } from '../errors.js';
import { fsyncFile } from '../../fs/atomic-file.js';
import type { UploadSession } from './types.js';
import { LIVE_ALGORITHM, newLiveHash, rangeInvalid, uploadBusy, type LiveHash } from './upload-hash.js';
import { createBlobHash } from '../../hashing/blob-hash.js';
import { batchedFileAppender, writerClosed, type BatchedWriter } from '../../fs/batched-file.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Reads of a session's bytes for a re-hash. */
const READ_BUFFER = 1 << 20;
/** An upload session whose info file cannot be read is left this long when the storage opens: another server on the same directory may be writing it. */
const UNREADABLE_SESSION_GRACE_MS = 60_000;

export class FilesystemUploads {
  /** Live hashes by session; a session has one from its first bytes, in this process only. */
  private readonly live = new Map<string, LiveHash>();
  private readonly busy = new Set<string>();
  private readonly owners = new Map<string, string>();

  constructor(private readonly dir: string) {}

  private dataPath(id: string): string {
    return join(this.dir, id, 'data');
  }

  /**
   * Removes sessions nobody will resume: those started `maxAgeMs` or longer ago (when given;
   * docker-registry's `uploadpurging.age`), and entries that are not sessions. A session whose
   * info file is unreadable goes when the storage opens if its directory is a minute old (a
   * crash left it; a younger one may be another server's, creating it this instant); while the
   * server runs it may be one being created, and goes once its directory is `maxAgeMs` old. A session
   * receiving a request is skipped, and one being removed is marked busy, so a request racing
   * the purge gets a clean 416 or 404. Returns how many were removed.
   */
  async purge(maxAgeMs: number | undefined, opening = false): Promise<number> {
    const now = Date.now();
    const old = (time: number): boolean => maxAgeMs !== undefined && now - time >= maxAgeMs;
    let removed = 0;
    for (const id of await readdir(this.dir)) {
      if (!UUID_RE.test(id)) {
        await rm(join(this.dir, id), { recursive: true, force: true });
        removed++;
        continue;
      }
      if (this.busy.has(id)) continue;
      const started = await this.startedAt(id);
      let abandoned = old(started);
      if (Number.isNaN(started)) {
        const made = await stat(join(this.dir, id)).then((s) => s.mtimeMs, () => 0);
        abandoned = (opening && now - made >= UNREADABLE_SESSION_GRACE_MS) || old(made);
      }
      // Checked again: a request may have arrived while the info file was read.
      if (!abandoned || this.busy.has(id)) continue;
      this.busy.add(id);
      try {
        await this.discard(id);
        removed++;
      } finally {
        this.busy.delete(id);
      }
    }
    return removed;
  }

  /** When the session started (ms since the epoch); NaN when its info file is unreadable. */
  private async startedAt(id: string): Promise<number> {
    try {
      const info = JSON.parse(await readFile(join(this.dir, id, 'info.json'), 'utf8')) as { repository?: unknown; started?: unknown };
      return typeof info.repository === 'string' && typeof info.started === 'string' ? Date.parse(info.started) : Number.NaN;
    } catch {
      return Number.NaN;
    }
  }

  async start(repository: string): Promise<UploadSession> {
    const id = randomUUID();
    await mkdir(join(this.dir, id), { recursive: true });
    await writeFile(join(this.dir, id, 'info.json'), JSON.stringify({ repository, started: new Date().toISOString() }));
    await writeFile(this.dataPath(id), '');
    this.owners.set(id, repository);
    return { id, repository, size: 0 };
  }

  async get(repository: string, id: string): Promise<UploadSession | undefined> {
    if (!UUID_RE.test(id)) return undefined;
    let owner = this.owners.get(id);
    try {
      if (owner === undefined) {
        owner = (JSON.parse(await readFile(join(this.dir, id, 'info.json'), 'utf8')) as { repository: string }).repository;
        this.owners.set(id, owner);
      }
      if (owner !== repository) return undefined;
      const { size } = await stat(this.dataPath(id));
      return { id, repository, size };
    } catch {
      return undefined;
    }
  }

  /** Appends `body`; `sizeHint` is its Content-Length when the request has one. */
  async append(repository: string, id: string, body: Readable, start?: number, sizeHint?: number): Promise<UploadSession> {
    const session = await this.get(repository, id);
    if (!session) throw uploadUnknown(id);
    if (this.busy.has(id)) throw uploadBusy(id);
    if (start !== undefined && start !== session.size) throw rangeInvalid(session.size);
    this.busy.add(id);
    let live = this.live.get(id);
    if (live && live.size !== session.size) {
      live.hash.discard();
      this.live.delete(id);
      live = undefined;
    }
    if (!live && session.size === 0) {
      live = newLiveHash(sizeHint);
      this.live.set(id, live);
    }
    const before = live?.hash.copy();
    const hash = live?.hash;
    let handle;
    let sink: BatchedWriter | undefined;
    try {
      handle = await open(this.dataPath(id), 'r+').catch((err: NodeJS.ErrnoException) => {
        // Purged between the lookup and the open: gone, as for any later request.
        throw err.code === 'ENOENT' ? uploadUnknown(id) : err;
      });
      sink = batchedFileAppender(handle, session.size, hash && ((chunk) => hash.update(chunk)));
      await pipeline(body, sink);
      const size = session.size + sink.bytesAccepted;
      if (live) live.size = size;
      before?.discard();
      return { ...session, size };
    } catch (err) {
      // A body cut short must not leave half a chunk behind: the client resumes from `Range`.
      if (sink) await writerClosed(sink);
      await truncate(this.dataPath(id), session.size).catch(() => undefined);
      if (live && before) {
        live.hash.discard();
        live.hash = before;
        live.size = session.size;
      }
      throw err;
    } finally {
      await handle?.close().catch(() => undefined);
      this.busy.delete(id);
    }
  }

  /**
   * Verifies the session's bytes against `digest`, fsyncs them, and hands the data file to
   * `place` (which renames it into the blob store). The session stays busy throughout, so no
   * PATCH can write into a file that is becoming a blob. A mismatch discards the session.
   */
  async commit(repository: string, id: string, digest: Digest, place: (path: string) => Promise<void>): Promise<number> {
    const session = await this.get(repository, id);
    if (!session) throw uploadUnknown(id);
    if (this.busy.has(id)) throw uploadBusy(id);
    this.busy.add(id);
    try {
      const live = this.live.get(id);
      const actual =
        digest.algorithm === LIVE_ALGORITHM && live && live.size === session.size
          ? await live.hash.copy().digest()
          : await hashFile(this.dataPath(id), digest.algorithm, session.size);
      if (actual !== digest.encoded) {
        await this.discard(id);
        throw digestInvalid('provided digest did not match uploaded content', { digest: digest.toString() });
      }
      await fsyncFile(this.dataPath(id));
      await place(this.dataPath(id));
      await this.discard(id);
      return session.size;
    } finally {
      this.busy.delete(id);
    }
  }

  async cancel(repository: string, id: string): Promise<boolean> {
    const session = await this.get(repository, id);
    if (!session) return false;
    if (this.busy.has(id)) throw uploadBusy(id);
    await this.discard(id);
    return true;
  }

  async discard(id: string): Promise<void> {
    this.live.get(id)?.hash.discard();
    this.live.delete(id);
    this.owners.delete(id);
    await rm(join(this.dir, id), { recursive: true, force: true });
  }
}

async function hashFile(path: string, algorithm: string, size: number): Promise<string> {
  const hash = createBlobHash(algorithm, size, 'worker');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: READ_BUFFER })) await hash.update(chunk as Buffer);
  } catch (err) {
    hash.discard();
    throw err;
  }
  return hash.digest();
}

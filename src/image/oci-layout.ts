/**
 * OCI image layout directories (`oci:DIR[:TAG]`, image-spec `image-layout.md`).
 *
 * Writing is crash-safe: a blob is streamed to `blobs/<alg>/.tmp-<hex>-<pid>-<random>`,
 * hashed on the way, fsynced and renamed to its content address only when size and digest
 * match; `index.json`, the one file that makes an image visible, is replaced last (temp file,
 * fsync, rename). A run killed at any point leaves the old layout plus unreferenced blobs and
 * temp files; readers never look at `.tmp-*` names and the next writer removes the stale ones.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { manifestDescriptor } from '../oci/manifest.js';
import type { Digest } from '../ref/digest.js';
import {
  INDEX_JSON,
  OCI_LAYOUT_CONTENT,
  OCI_LAYOUT_FILE,
  blobPath,
  readLayoutIndex,
  readLayoutManifest,
  selectLayoutImage,
  updatedIndexJson,
} from './layout-index.js';
import type { LayoutFiles, LayoutSelector } from './layout-index.js';
import type { BlobOptions, ImageDestination, ImageSource, PutManifestOptions, RawManifest } from './types.js';
import { verifyingStream } from './verify.js';
import { batchedFileWriter } from '../fs/batched-file.js';
import { fsyncDirectory } from '../fs/atomic-file.js';

const TEMP_PREFIX = '.tmp-';
/** A temp file older than this is stale even if its pid is alive again (pid reuse, other hosts on NFS). */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** A layout directory as `LayoutFiles`. */
export class DirectoryFiles implements LayoutFiles {
  constructor(private readonly dir: string) {}

  async readFile(path: string, maxBytes: number): Promise<Buffer | undefined> {
    let handle;
    try {
      handle = await open(join(this.dir, path), 'r');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) throw new GantryError(ErrorCode.TOO_LARGE, `${path} is ${size} bytes, more than the ${maxBytes} gantry reads into memory`);
      return await handle.readFile();
    } finally {
      await handle.close();
    }
  }

  async openStream(path: string, signal?: AbortSignal): Promise<Readable> {
    const handle = await open(join(this.dir, path), 'r').catch((err: unknown) => {
      if (isNotFound(err)) throw new GantryError(ErrorCode.NOT_FOUND, `${path} not found in ${this.dir}`);
      throw err;
    });
    const stream = handle.createReadStream({ highWaterMark: 256 * 1024 });
    return signal ? addAbortSignal(signal, stream) : stream;
  }
}

export interface OciLayoutSourceOptions {
  /** The image's ref name in `index.json`. */
  tag?: string;
  /** The image's manifest digest in `index.json`. */
  digest?: Digest;
}

/** Reads one image (or index) of a layout. Blobs may be read in parallel. */
export class OciLayoutSource implements ImageSource {
  readonly name: string;
  private readonly files: DirectoryFiles;
  private top: Promise<Descriptor> | undefined;

  constructor(
    readonly dir: string,
    private readonly options: OciLayoutSourceOptions = {},
  ) {
    if (options.tag !== undefined && options.digest !== undefined) {
      throw new GantryError(ErrorCode.USAGE, `oci:${dir}: give a tag or a digest, not both`);
    }
    this.name = `oci:${dir}${options.tag !== undefined ? `:${options.tag}` : options.digest ? `@${options.digest.toString()}` : ''}`;
    this.files = new DirectoryFiles(dir);
  }

  /** The descriptor `index.json` has for the selected image. */
  topDescriptor(): Promise<Descriptor> {
    this.top ??= readLayoutIndex(this.files, this.name).then((index) => selectLayoutImage(index, this.options as LayoutSelector, this.name));
    return this.top;
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    if (digest) return readLayoutManifest(this.files, digest, this.name);
    const top = await this.topDescriptor();
    return readLayoutManifest(this.files, top.digest, this.name, top.mediaType);
  }

  async getBlob(desc: Descriptor, options: BlobOptions = {}): Promise<Readable> {
    return this.files.openStream(blobPath(desc.digest), options.signal).catch((err: unknown) => {
      if (err instanceof GantryError && err.code === ErrorCode.NOT_FOUND) {
        throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: blob ${desc.digest.toString()} not found`, { cause: err });
      }
      throw err;
    });
  }

  async close(): Promise<void> {}
}

export interface OciLayoutDestinationOptions {
  /** The ref name given to the top-level manifest in `index.json`. */
  tag?: string;
}

/** Writes into a layout directory (created if missing); nothing is named before `commit()`. */
export class OciLayoutDestination implements ImageDestination {
  readonly name: string;
  readonly parallelBlobs = true;
  private readonly temps = new Set<string>();
  /** Blob streams being written, destroyed by `abort()`. */
  private readonly inflight = new Set<Readable>();
  private readonly writes = new Set<Promise<void>>();
  private top: { desc: Descriptor; tag: string | undefined } | undefined;
  private prepared: Promise<void> | undefined;
  private finished = false;

  constructor(
    readonly dir: string,
    private readonly options: OciLayoutDestinationOptions = {},
  ) {
    if (options.tag !== undefined && (options.tag === '' || /[\s]/.test(options.tag))) {
      throw new GantryError(ErrorCode.USAGE, `oci:${dir}: invalid tag ${JSON.stringify(options.tag)}`);
    }
    this.name = `oci:${dir}${options.tag !== undefined ? `:${options.tag}` : ''}`;
  }

  private path(rel: string): string {
    return join(this.dir, rel);
  }

  private tempName(dir: string, label: string): string {
    return join(dir, `${TEMP_PREFIX}${label}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Creates `blobs/` and removes temp files a killed writer left behind (once per destination). */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      await mkdir(this.path('blobs/sha256'), { recursive: true });
      const dirs = [this.dir, ...(await readdir(this.path('blobs'))).map((alg) => this.path(`blobs/${alg}`))];
      for (const dir of dirs) {
        for (const entry of await readdir(dir).catch(() => [] as string[])) {
          if (entry.startsWith(TEMP_PREFIX) && (await isStaleTemp(join(dir, entry)))) await rm(join(dir, entry), { force: true });
        }
      }
    })();
    return this.prepared;
  }

  private checkOpen(): void {
    if (this.finished) throw new GantryError(ErrorCode.USAGE, `${this.name}: already committed or aborted`);
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    try {
      return (await stat(this.path(blobPath(desc.digest)))).size === desc.size;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  hasManifest(digest: Digest): Promise<boolean> {
    return stat(this.path(blobPath(digest))).then(
      () => true,
      (err: unknown) => (isNotFound(err) ? false : Promise.reject(err as Error)),
    );
  }

  /**
   * Streams `data` into the layout. A blob already present is kept and `data` is destroyed
   * unread (the caller hands the stream over; `hasBlob` lets it skip opening one).
   */
  putBlob(desc: Descriptor, data: Readable, options: BlobOptions = {}): Promise<void> {
    const writing = this.writeBlob(desc, data, options);
    this.writes.add(writing);
    const forget = (): void => void this.writes.delete(writing);
    writing.then(forget, forget);
    return writing;
  }

  private async writeBlob(desc: Descriptor, data: Readable, options: BlobOptions): Promise<void> {
    this.checkOpen();
    await this.prepare();
    if (await this.hasBlob(desc)) {
      data.destroy();
      return;
    }
    const final = this.path(blobPath(desc.digest));
    const dir = this.path(`blobs/${desc.digest.algorithm}`);
    await mkdir(dir, { recursive: true });
    const temp = this.tempName(dir, desc.digest.encoded);
    this.temps.add(temp);
    this.inflight.add(data);
    try {
      const opts = options.signal ? { signal: options.signal } : {};
      await pipeline(data, verifyingStream(desc, `${this.name}: blob ${desc.digest.toString()}`), batchedFileWriter(temp), opts);
      if (await this.hasBlob(desc)) {
        await rm(temp, { force: true }); // a parallel writer won; its copy is identical
      } else {
        await rename(temp, final);
        await fsyncDirectory(dir);
      }
    } catch (err) {
      data.destroy();
      await rm(temp, { force: true });
      throw err;
    } finally {
      this.temps.delete(temp);
      this.inflight.delete(data);
    }
  }

  private async writeFileDurably(rel: string, content: string | Buffer): Promise<void> {
    const target = this.path(rel);
    const temp = this.tempName(this.dir, rel.replaceAll('/', '_'));
    this.temps.add(temp);
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(content);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
      await fsyncDirectory(this.dir);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    } finally {
      this.temps.delete(temp);
    }
  }

  /** Stores the manifest as a blob; the top-level one is what `commit()` names in index.json. */
  async putManifest(m: RawManifest, options: PutManifestOptions): Promise<void> {
    this.checkOpen();
    await this.prepare();
    const desc = manifestDescriptor(m);
    if (!(await this.hasBlob(desc))) {
      await this.putBlob(desc, Readable.from([m.bytes]));
    }
    if (options.isTop) this.top = { desc, tag: options.tag ?? this.options.tag };
  }

  /** Writes `oci-layout` if missing, then replaces `index.json`: the image becomes visible. */
  async commit(): Promise<void> {
    this.checkOpen();
    if (!this.top) throw new GantryError(ErrorCode.USAGE, `${this.name}: nothing to commit: no top-level manifest was put`);
    await this.prepare();
    const layoutFile = await stat(this.path(OCI_LAYOUT_FILE)).catch(() => undefined);
    if (!layoutFile) await this.writeFileDurably(OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT);
    const existing = await new DirectoryFiles(this.dir).readFile(INDEX_JSON, 64 * 1024 * 1024);
    let text: string;
    try {
      text = updatedIndexJson(existing, this.top.desc, this.top.tag);
    } catch (err) {
      throw new GantryError(ErrorCode.INVALID_RESPONSE, `${this.name}: the existing ${INDEX_JSON} is not valid JSON`, { cause: err });
    }
    await this.writeFileDurably(INDEX_JSON, text);
    this.finished = true;
  }

  /**
   * Stops blob writes in flight and removes this writer's temp files. Blobs already renamed
   * stay: unreferenced by index.json, reusable by the next copy, harmless.
   */
  async abort(): Promise<void> {
    this.finished = true;
    for (const data of this.inflight) data.destroy(new GantryError(ErrorCode.ABORTED, `${this.name}: aborted`));
    await Promise.allSettled([...this.writes]);
    await Promise.all([...this.temps].map((t) => rm(t, { force: true })));
  }
}

/** A `.tmp-<label>-<pid>-<random>` file whose writer is gone (or that is older than a day). */
async function isStaleTemp(path: string): Promise<boolean> {
  const match = /-(\d+)-[0-9a-f]+$/.exec(path);
  const pid = match ? Number(match[1]) : undefined;
  const info = await stat(path).catch(() => undefined);
  if (!info) return false;
  if (Date.now() - info.mtimeMs > STALE_TEMP_MS) return true;
  if (pid === undefined || pid === process.pid) return pid === undefined;
  try {
    process.kill(pid, 0);
    return false; // its writer still runs
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

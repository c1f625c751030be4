/**
 * OCI image layout directories (`oci:DIR[:TAG]`, image-spec `image-layout.md`).
 *
 * Writing is crash-safe: a blob is streamed to `blobs/<alg>/.tmp-<hex>-<pid>-<random>`,
 * hashed on the way, fsynced and renamed to its content address only when size and digest
 * match; `index.json`, the one file that makes an image visible, is replaced last (temp file,
 * fsync, rename, directory fsync; both through `fs/atomic-file.ts`). A run killed at any
 * point leaves the old layout plus unreferenced blobs and temp files; readers never look at
 * `.tmp-*` names and the next writer removes the stale ones (the rule is in
 * `fs/stale-temp.ts`). `commit()` names the image only once every blob its
 * manifests reach is in the layout (`commit-check.ts`).
 *
 * Referrers (`copy --referrers`) are kept as the image-spec leaves them to a layout: their
 * manifests are blobs, listed in `index.json` without a ref name, and found by their
 * `subject` (docs/referrers.md); cosign's `sha256-<hex>.sig` tags are ref names.
 */
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, GantryError } from '../errors.js';
import { ANNOTATION_REF_NAME, type Descriptor } from '../oci/descriptor.js';
import { manifestDescriptor } from '../oci/manifest.js';
import { Digest } from '../ref/digest.js';
import { checkOptions } from '../options.js';
import { assertComplete, missingBlobs, type CommitContents } from './commit-check.js';
import {
  INDEX_JSON,
  LayoutReferrers,
  OCI_LAYOUT_CONTENT,
  OCI_LAYOUT_FILE,
  blobPath,
  isValidRefName,
  readLayoutIndex,
  readLayoutManifest,
  referrerEntry,
  selectLayoutSubject,
  updatedIndexJson,
} from './layout-index.js';
import type { LayoutEntry, LayoutFiles, LayoutSelector } from './layout-index.js';
import type { BlobOptions, PutManifestOptions, RawManifest, ReferrerDestination, ReferrerQuery, ReferrerSource } from './types.js';
import { parseManifest } from '../oci/manifest.js';
import type { IndexManifest } from '../oci/manifest.js';
import { verifyingStream } from '../hashing/verify.js';
import { batchedFileWriter } from '../fs/batched-file.js';
import { renameDurably, writeFileViaTemp } from '../fs/atomic-file.js';
import { parseOwnerTag, removeStaleTemps, tempOwnerTag } from '../fs/stale-temp.js';

const TEMP_PREFIX = '.tmp-';

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

/** Reads one image (or index) of a layout, and the referrers the layout holds. Blobs may be read in parallel. */
export class OciLayoutSource implements ReferrerSource {
  readonly name: string;
  private readonly files: DirectoryFiles;
  private top: Promise<Descriptor> | undefined;
  private index: Promise<IndexManifest> | undefined;
  private readonly attached: LayoutReferrers;

  constructor(
    readonly dir: string,
    private readonly options: OciLayoutSourceOptions = {},
  ) {
    checkOptions('OciLayoutSource', options).string('tag').check('digest', (v) => v instanceof Digest, 'a Digest');
    if (options.tag !== undefined && options.digest !== undefined) {
      throw new GantryError(ErrorCode.USAGE, `oci:${dir}: give a tag or a digest, not both`);
    }
    this.name = `oci:${dir}${options.tag !== undefined ? `:${options.tag}` : options.digest ? `@${options.digest.toString()}` : ''}`;
    this.files = new DirectoryFiles(dir);
    this.attached = new LayoutReferrers(this.files, () => this.layoutIndex(), this.name);
  }

  /** `index.json`, read once. */
  private layoutIndex(): Promise<IndexManifest> {
    this.index ??= readLayoutIndex(this.files, this.name);
    return this.index;
  }

  /** The descriptor `index.json` has for the selected image (without a tag: the one entry that is not a referrer or an attachment tag). */
  topDescriptor(): Promise<Descriptor> {
    this.top ??= this.layoutIndex().then((index) => selectLayoutSubject(this.files, index, this.options as LayoutSelector, this.name));
    return this.top;
  }

  /** The manifests of the layout whose `subject` is `digest` (layout-index.ts `LayoutReferrers`). */
  referrers(digest: Digest, query: ReferrerQuery = {}): Promise<Descriptor[]> {
    query.signal?.throwIfAborted();
    return this.attached.referrers(digest, query.artifactType);
  }

  /** The manifest `index.json` names by the ref name `tag`; undefined when none has it. */
  taggedManifest(tag: string): Promise<RawManifest | undefined> {
    return this.attached.tagged(tag);
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
export class OciLayoutDestination implements ReferrerDestination {
  readonly name: string;
  readonly parallelBlobs = true;
  /** OCI tools read only OCI manifests here: Docker-format images are converted unless digests are preserved. */
  readonly manifestFormat = 'oci' as const;
  private readonly temps = new Set<string>();
  /** Blob streams being written, destroyed by `abort()`. */
  private readonly inflight = new Set<Readable>();
  private readonly writes = new Set<Promise<void>>();
  private top: { desc: Descriptor; tag: string | undefined } | undefined;
  /** Referrers (untagged) and cosign's tagged manifests, named in `index.json` by `commit()` after the top one. */
  private readonly attached: LayoutEntry[] = [];
  private prepared: Promise<void> | undefined;
  private finished = false;

  constructor(
    readonly dir: string,
    private readonly options: OciLayoutDestinationOptions = {},
  ) {
    checkOptions('OciLayoutDestination', options).string('tag');
    if (options.tag !== undefined && !isValidRefName(options.tag)) {
      throw new GantryError(ErrorCode.USAGE, `oci:${dir}: invalid tag ${JSON.stringify(options.tag)}`);
    }
    this.name = `oci:${dir}${options.tag !== undefined ? `:${options.tag}` : ''}`;
  }

  private path(rel: string): string {
    return join(this.dir, rel);
  }

  private tempName(dir: string, label: string): string {
    return join(dir, `${TEMP_PREFIX}${label}-${tempOwnerTag()}`);
  }

  /** Creates `blobs/` and removes temp files a killed writer left behind (once per destination). */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      await mkdir(this.path('blobs/sha256'), { recursive: true });
      const dirs = [this.dir, ...(await readdir(this.path('blobs'))).map((alg) => this.path(`blobs/${alg}`))];
      for (const dir of dirs) await removeStaleTemps(dir, (name) => (name.startsWith(TEMP_PREFIX) ? { owner: parseOwnerTag(name) } : undefined));
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

  /**
   * Whether the image is there already as the copy would leave it: the manifest and everything
   * it reaches, named in `index.json` by the tag asked for (`tag`, else this destination's).
   * A manifest whose layers went missing, or one the tag does not name yet, is not "already
   * there": copy then writes it (its blobs are skipped as present) and the tag is added, instead
   * of a no-op that would report the image up to date.
   */
  async hasManifest(digest: Digest, tag?: string): Promise<boolean> {
    const files = new DirectoryFiles(this.dir);
    let raw: RawManifest;
    try {
      raw = await readLayoutManifest(files, digest, this.name);
    } catch (err) {
      if (err instanceof GantryError) return false; // absent, or not a manifest of that digest
      throw err;
    }
    if ((await missingBlobs(manifestDescriptor(raw), this.contents())).length > 0) return false;
    const wanted = tag ?? this.options.tag;
    const index = await readLayoutIndex(files, this.name).catch(() => undefined);
    return (index?.manifests ?? []).some(
      (m) => m.digest.equals(digest) && (wanted === undefined || m.annotations?.[ANNOTATION_REF_NAME] === wanted),
    );
  }

  /** The layout's blobs as the commit check sees them: present with their size. */
  private contents(): CommitContents {
    const files = new DirectoryFiles(this.dir);
    return {
      name: this.name,
      // Blobs written in this session were verified before their rename; older ones are
      // trusted by size (hashing every layer of the layout on each commit would cost a copy).
      holds: (desc) => this.hasBlob(desc),
      manifest: (desc) => readLayoutManifest(files, desc.digest, this.name),
    };
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
        await renameDurably(temp, final);
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

  /** Replaces a top-level file (temp file, fsync, rename, directory fsync), under a temp name `abort()` and stale-temp cleanup know. */
  private async writeFileDurably(rel: string, content: string | Buffer): Promise<void> {
    const temp = this.tempName(this.dir, rel.replaceAll('/', '_'));
    this.temps.add(temp);
    try {
      await writeFileViaTemp(temp, this.path(rel), content);
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

  /**
   * Stores a referrer's manifest and names it in `index.json` at `commit()`, untagged, with its
   * `artifactType`: a layout's readers find referrers by their `subject` (docs/referrers.md).
   */
  async putReferrer(m: RawManifest): Promise<void> {
    const manifest = parseManifest(m.bytes, { mediaType: m.mediaType, expectedDigest: m.digest });
    if (manifest.kind === 'schema1' || manifest.subject === undefined) {
      throw new GantryError(ErrorCode.USAGE, `${this.name}: manifest ${m.digest.toString()} has no subject: it cannot be stored as a referrer`);
    }
    await this.putManifest(m, { isTop: false });
    this.attached.push({ desc: referrerEntry(manifest) });
  }

  /** Stores a manifest and names it in `index.json` by the ref name `tag` at `commit()` (cosign's `sha256-<hex>.sig`). */
  async putTaggedManifest(m: RawManifest, tag: string): Promise<void> {
    if (!isValidRefName(tag)) throw new GantryError(ErrorCode.USAGE, `${this.name}: invalid tag ${JSON.stringify(tag)}`);
    await this.putManifest(m, { isTop: false });
    this.attached.push({ desc: manifestDescriptor(m), tag });
  }

  /**
   * Checks that every blob the top manifest (and each referrer put) reaches is in the layout,
   * writes `oci-layout` if missing, then replaces `index.json`: the image becomes visible. A missing blob fails with
   * IncompleteImageError (NOT_FOUND) naming it, and the old `index.json` stays.
   */
  async commit(): Promise<void> {
    this.checkOpen();
    if (!this.top) throw new GantryError(ErrorCode.USAGE, `${this.name}: nothing to commit: no top-level manifest was put`);
    await this.prepare();
    // A blob still being written is not there yet: let it finish (or fail) first.
    await Promise.allSettled([...this.writes]);
    await assertComplete(this.top.desc, this.contents());
    for (const entry of this.attached) await assertComplete(entry.desc, this.contents());
    const layoutFile = await stat(this.path(OCI_LAYOUT_FILE)).catch(() => undefined);
    if (!layoutFile) await this.writeFileDurably(OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT);
    const existing = await new DirectoryFiles(this.dir).readFile(INDEX_JSON, 64 * 1024 * 1024);
    let text: string;
    try {
      text = updatedIndexJson(existing, this.top.desc, this.top.tag, this.attached);
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

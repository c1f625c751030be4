/**
 * Writing OCI-layout tarballs (`oci-archive:FILE[:TAG]`), which skopeo, podman and gantry's
 * own `oci-archive:` reader accept. The tar holds `oci-layout`, then `blobs/<alg>/<hex>` as
 * they arrive (stored as sent: an OCI layout keeps a blob's bytes, so no digest changes),
 * then `index.json` naming the one top-level manifest, with TAG as its
 * `org.opencontainers.image.ref.name` (and, after `copy --referrers`, its referrers untagged
 * and cosign's tags, as `oci:` names them: docs/referrers.md).
 *
 * A blob's size is in its descriptor, so its tar header can be written before its bytes and
 * the bytes streamed straight in, verified on the way (`hashing/verify.ts`): nothing is
 * spooled and nothing is held whole. Each entry is packed on its own from a known offset, so
 * an entry that fails part-way (a source that breaks, a digest that does not match) is cut
 * off again (the file is truncated back to where it began) and the tar stays whole for the
 * next blob.
 *
 * Crash-safe as `docker-archive:` is: the tar is built under `<file>.tmp-<owner>` beside the
 * target (`fs/stale-temp.ts`, cleaned by the same rule and the same code as docker
 * archives' temporaries), fsynced and renamed over FILE only on `commit()`, once every blob
 * the index names is in it (`commit-check.ts`). A failed or aborted write removes the
 * temporary; a killed one leaves it for the next writer of FILE to remove.
 *
 * An existing FILE is replaced, not added to, as skopeo's `oci-archive:` destination does:
 * the archive holds exactly the image copied. (To keep several images, tag them into an
 * `oci:` layout directory and tar that.)
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { manifestDescriptor, parseManifest } from '../oci/manifest.js';
import { checkOptions } from '../options.js';
import { verifyingStream } from '../hashing/verify.js';
import { renameDurably } from '../fs/atomic-file.js';
import { batchedFileAppender, writerClosed } from '../fs/batched-file.js';
import { VerifiedBlobs, assertComplete, type CommitContents } from './commit-check.js';
import { INDEX_JSON, OCI_LAYOUT_CONTENT, OCI_LAYOUT_FILE, blobPath, isValidRefName, referrerEntry, updatedIndexJson } from './layout-index.js';
import type { LayoutEntry } from './layout-index.js';
import type { BlobOptions, PutManifestOptions, RawManifest, ReferrerDestination } from './types.js';
import { ArchiveTemp } from './archive-temp.js';
import { drainedOrClosed } from '../fs/drained.js';

/** Options for writing an `oci-archive:` tarball. */
export interface OciArchiveDestinationOptions {
  /** The ref name (`org.opencontainers.image.ref.name`) given to the image in `index.json`; default: none. */
  tag?: string;
}

/** A tar ends with two zero blocks (POSIX ustar). */
const END_OF_ARCHIVE = Buffer.alloc(1024);
/** Entries carry a fixed time, so that the same image makes the same archive. */
const ENTRY_MTIME = new Date(0);

/** Writes one image (or index), and its referrers, into a new OCI-layout tarball; blobs are written one at a time. */
export class OciArchiveDestination implements ReferrerDestination {
  readonly name: string;
  readonly parallelBlobs = false;
  /** OCI tools read only OCI manifests here: Docker-format images are converted unless digests are preserved. */
  readonly manifestFormat = 'oci' as const;
  private readonly tmp: ArchiveTemp;
  private handle: FileHandle | undefined;
  /** Where the next entry starts: the end of the last whole one. */
  private position = 0;
  /** The `blobs/…` folders that have their directory entry. */
  private readonly folders = new Set<string>();
  /** Blobs (and manifests) whose size and digest were verified as they were appended. */
  private readonly verified = new VerifiedBlobs();
  private readonly manifests = new Map<string, RawManifest>();
  private top: { desc: Descriptor; tag: string | undefined } | undefined;
  /** Referrers (untagged) and cosign's tagged manifests, named in `index.json` after the top one. */
  private readonly attached: LayoutEntry[] = [];
  /** The blob stream being read, destroyed by `abort()` so that it cannot hang. */
  private reading: Readable | undefined;

  constructor(
    readonly file: string,
    private readonly options: OciArchiveDestinationOptions = {},
  ) {
    checkOptions('OciArchiveDestination', options).string('tag');
    if (options.tag !== undefined && !isValidRefName(options.tag)) {
      throw new GantryError(ErrorCode.USAGE, `oci-archive:${file}: invalid tag ${JSON.stringify(options.tag)}`);
    }
    this.name = `oci-archive:${file}${options.tag !== undefined ? `:${options.tag}` : ''}`;
    this.tmp = new ArchiveTemp(file);
  }

  /** The temporary tar, created (never reused: `wx`) with `oci-layout` as its first entry. */
  private async archive(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    await this.tmp.prepare();
    this.handle = await open(this.tmp.path, 'wx');
    const content = Buffer.from(OCI_LAYOUT_CONTENT);
    await this.append(OCI_LAYOUT_FILE, content.length, Readable.from([content]));
    return this.handle;
  }

  /**
   * Appends one entry (a file of `size` bytes from `content`, or a directory) at the end of
   * the last whole one, through a tar packer of its own: nothing of the archive so far
   * depends on it, so if it fails the file is truncated back to where it began.
   */
  private async append(path: string, size: number, content?: Readable): Promise<void> {
    const handle = this.handle as FileHandle;
    const start = this.position;
    const pack = tarPack();
    const out = batchedFileAppender(handle, start);
    const header = content ? { name: path, size, mode: 0o644, mtime: ENTRY_MTIME } : { name: `${path}/`, type: 'directory' as const, mode: 0o755, mtime: ENTRY_MTIME };
    let entry: ReturnType<typeof pack.entry> | undefined;
    const packed = new Promise<void>((resolve, reject) => {
      entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
    // The packer's errors reach us through `packed` and `writing`; an 'error' event with no
    // listener would also be thrown at the process.
    const ignore = (): void => {};
    pack.on('error', ignore);
    entry?.on('error', ignore);
    const writing = pipeline(pack, out);
    const filling = (async () => {
      if (!content) return;
      const sink = entry as NonNullable<typeof entry>;
      for await (const chunk of content as AsyncIterable<Buffer>) {
        if (sink.destroyed) return; // the packer failed; `packed` says why
        if (!sink.write(chunk)) await drainedOrClosed(sink as unknown as NodeJS.EventEmitter);
      }
      sink.end(undefined);
    })();
    // Each is awaited below or settled in the catch; none may reject unobserved meanwhile.
    for (const p of [writing, packed, filling]) p.catch(() => {});
    try {
      await Promise.all([filling, packed]);
      // One entry per packer: end its output here, without the end-of-archive blocks a
      // finalize() would add (commit writes those once, after the last entry).
      pack.push(null);
      await writing;
      this.position = start + out.bytesAccepted;
    } catch (err) {
      entry?.destroy();
      pack.destroy();
      content?.destroy();
      out.destroy();
      await Promise.allSettled([writing, packed, filling]);
      await writerClosed(out);
      await handle.truncate(start);
      throw err;
    }
  }

  /** Appends the directory entries `blobs/` and `blobs/<alg>/` the first time they are needed. */
  private async folder(path: string): Promise<void> {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (this.folders.has(dir)) continue;
      await this.append(dir, 0);
      this.folders.add(dir);
    }
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.verified.has(desc);
  }

  /** Streams the blob into the tar; a blob already in it is kept and `data` destroyed unread. */
  putBlob(desc: Descriptor, data: Readable, options: BlobOptions = {}): Promise<void> {
    return this.tmp.serial(() => this.writeBlob(desc, data, options));
  }

  private async writeBlob(desc: Descriptor, data: Readable, options: BlobOptions): Promise<void> {
    this.reading = data;
    try {
      this.tmp.checkOpen(this.name);
      options.signal?.throwIfAborted();
      if (this.verified.has(desc)) {
        data.destroy();
        return;
      }
      await this.archive();
      const path = blobPath(desc.digest);
      await this.folder(path);
      const verified = verifyingStream(desc, `${this.name}: blob ${desc.digest.toString()}`);
      // pipeline() ties the source to the verifier (and the signal to both); append() reads the verifier.
      const flowing = options.signal ? pipeline(data, verified, { signal: options.signal }) : pipeline(data, verified);
      flowing.catch(() => {}); // its error reaches append() through `verified`
      await this.append(path, desc.size, verified);
      await flowing;
      this.verified.add(desc);
    } catch (err) {
      data.destroy();
      throw err;
    } finally {
      this.reading = undefined;
    }
  }

  /** Stores the manifest as a blob; the top-level one is what `commit()` names in `index.json`. */
  putManifest(m: RawManifest, options: PutManifestOptions): Promise<void> {
    return this.tmp.serial(async () => {
      const desc = await this.storeManifest(m);
      if (options.isTop) this.top = { desc, tag: options.tag ?? this.options.tag };
    });
  }

  /** Appends a manifest blob (once); inside `serial`. */
  private async storeManifest(m: RawManifest): Promise<Descriptor> {
    this.tmp.checkOpen(this.name);
    parseManifest(m.bytes, { mediaType: m.mediaType, expectedDigest: m.digest });
    const desc = manifestDescriptor(m);
    if (!this.verified.has(desc)) {
      await this.archive();
      const path = blobPath(desc.digest);
      await this.folder(path);
      await this.append(path, m.bytes.length, Readable.from([m.bytes]));
      this.verified.add(desc);
    }
    this.manifests.set(m.digest.toString(), m);
    return desc;
  }

  /** Stores a referrer's manifest, named in `index.json` untagged with its `artifactType` (as `oci:` does; docs/referrers.md). */
  putReferrer(m: RawManifest): Promise<void> {
    return this.tmp.serial(async () => {
      const manifest = parseManifest(m.bytes, { mediaType: m.mediaType, expectedDigest: m.digest });
      if (manifest.kind === 'schema1' || manifest.subject === undefined) {
        throw new GantryError(ErrorCode.USAGE, `${this.name}: manifest ${m.digest.toString()} has no subject: it cannot be stored as a referrer`);
      }
      await this.storeManifest(m);
      this.attached.push({ desc: referrerEntry(manifest) });
    });
  }

  /** Stores a manifest named in `index.json` by the ref name `tag` (cosign's `sha256-<hex>.sig`). */
  putTaggedManifest(m: RawManifest, tag: string): Promise<void> {
    return this.tmp.serial(async () => {
      if (!isValidRefName(tag)) throw new GantryError(ErrorCode.USAGE, `${this.name}: invalid tag ${JSON.stringify(tag)}`);
      this.attached.push({ desc: await this.storeManifest(m), tag });
    });
  }

  /** The archive's contents as the commit check sees them: what was verified as it was appended. */
  private contents(): CommitContents {
    return {
      name: this.name,
      holds: async (desc) => this.verified.has(desc),
      manifest: async (desc) => {
        const m = this.manifests.get(desc.digest.toString());
        if (!m) throw new GantryError(ErrorCode.NOT_FOUND, `${this.name}: manifest ${desc.digest.toString()} was not put`);
        return m;
      },
    };
  }

  /**
   * Checks that every blob the top manifest reaches is in the tar, appends `index.json` and
   * the end of the archive, fsyncs it and renames it over FILE. A commit that fails (a
   * missing blob is IncompleteImageError, NOT_FOUND, naming it) removes the temporary: FILE
   * is either replaced whole or not touched.
   */
  commit(): Promise<void> {
    return this.tmp.serial(async () => {
      this.tmp.checkOpen(this.name);
      if (!this.top) throw new GantryError(ErrorCode.USAGE, `${this.name}: nothing to commit: no top-level manifest was put`);
      try {
        await assertComplete(this.top.desc, this.contents());
        for (const entry of this.attached) await assertComplete(entry.desc, this.contents());
        const handle = await this.archive();
        const index = Buffer.from(updatedIndexJson(undefined, this.top.desc, this.top.tag, this.attached));
        await this.append(INDEX_JSON, index.length, Readable.from([index]));
        await handle.write(END_OF_ARCHIVE, 0, END_OF_ARCHIVE.length, this.position);
        await handle.sync();
        await this.closeArchive();
        await renameDurably(this.tmp.path, this.file);
        this.tmp.state = 'committed';
      } catch (err) {
        this.tmp.state = 'aborted';
        await this.discard();
        throw err;
      }
    });
  }

  /** Stops the blob being written and removes the temporary. */
  async abort(): Promise<void> {
    if (this.tmp.state !== 'open') return;
    this.tmp.state = 'aborted';
    this.reading?.destroy(new GantryError(ErrorCode.ABORTED, `${this.name}: aborted`));
    await this.tmp.settled();
    await this.discard();
  }

  private async closeArchive(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  private async discard(): Promise<void> {
    await this.closeArchive().catch(() => {});
    await rm(this.tmp.path, { force: true });
  }
}

/**
 * Random access into a tarball. A tar is a sequence of 512-byte headers and padded data, with
 * no table of contents, so a first pass streams the file once through tar-stream, recording
 * where each entry's data starts (tar-stream's `offset` is the header's position; the data
 * follows the 512-byte header, after any pax/GNU long-name entries, which get their own
 * offset) and hashing it. Reading an entry afterwards is one `createReadStream(file, {start,
 * end})`: O(1) per blob, and blobs can be read in parallel.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable, addAbortSignal } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { ErrorCode, GantryError } from '../errors.js';
import type { LayoutFiles } from './layout-index.js';

const TAR_BLOCK = 512;
/** How many symlinks/hardlinks a path may pass through (as Linux's MAXSYMLINKS-ish bound). */
const MAX_LINK_HOPS = 16;

export interface TarEntry {
  name: string;
  type: string;
  /** Byte offset of the entry's data in the file. */
  offset: number;
  size: number;
  linkname?: string;
  /** `sha256:<hex>` of the data (regular files only). */
  sha256?: string;
  /** The first bytes of the data, to tell gzip/zstd layers apart (regular files only). */
  head?: Buffer;
}

/** `./a//b/` → `a/b`. */
export function cleanTarPath(name: string): string {
  const p = posix.normalize(name.replace(/^\/+/, ''));
  return p === '.' ? '' : p.replace(/^\.\//, '').replace(/\/$/, '');
}

const HEAD_BYTES = 8;

export function isGzip(head: Buffer | undefined): boolean {
  return head !== undefined && head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

export function isZstd(head: Buffer | undefined): boolean {
  return head !== undefined && head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528;
}

/** The entries of a tarball, indexed in one streaming pass. */
export class TarIndex {
  private constructor(
    readonly file: string,
    readonly entries: ReadonlyMap<string, TarEntry>,
  ) {}

  static async scan(file: string, name = file, signal?: AbortSignal): Promise<TarIndex> {
    await rejectCompressedArchive(file, name);
    const entries = new Map<string, TarEntry>();
    const ex = extract();
    const reading = pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), ex, signal ? { signal } : {});
    reading.catch(() => {}); // surfaced by the loop below or awaited after it
    try {
      for await (const entry of ex) {
        const h = entry.header;
        const record: TarEntry = { name: cleanTarPath(h.name), type: h.type, offset: entry.offset + TAR_BLOCK, size: h.size ?? 0 };
        if (h.linkname) record.linkname = h.linkname;
        if (h.type === 'file' || h.type === 'contiguous-file') {
          const hash = createHash('sha256');
          const head: Buffer[] = [];
          let headLength = 0;
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            if (headLength < HEAD_BYTES) {
              head.push(chunk.subarray(0, HEAD_BYTES - headLength));
              headLength += Math.min(chunk.length, HEAD_BYTES - headLength);
            }
            hash.update(chunk);
          }
          record.sha256 = `sha256:${hash.digest('hex')}`;
          record.head = Buffer.concat(head);
        } else {
          entry.resume();
        }
        entries.set(record.name, record);
      }
      await reading;
    } catch (err) {
      if (err instanceof GantryError) throw err;
      throw new GantryError(ErrorCode.INVALID_RESPONSE, `${name}: not a readable tar archive: ${(err as Error).message}`, { cause: err });
    }
    return new TarIndex(file, entries);
  }

  /** The regular file at `path`, following symlinks and hardlinks; undefined when absent. */
  resolve(path: string): TarEntry | undefined {
    let current = cleanTarPath(path);
    for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
      const e = this.entries.get(current);
      if (!e) return undefined;
      if (e.type === 'symlink' && e.linkname !== undefined) {
        current = cleanTarPath(posix.join(posix.dirname(current), e.linkname));
      } else if (e.type === 'link' && e.linkname !== undefined) {
        current = cleanTarPath(e.linkname);
      } else {
        return e.type === 'file' || e.type === 'contiguous-file' ? e : undefined;
      }
    }
    return undefined;
  }

  /** A stream of one entry's data. */
  openEntry(entry: TarEntry, signal?: AbortSignal): Readable {
    const stream =
      entry.size === 0
        ? Readable.from([])
        : createReadStream(this.file, { start: entry.offset, end: entry.offset + entry.size - 1, highWaterMark: 256 * 1024 });
    return signal ? addAbortSignal(signal, stream) : stream;
  }

  /** One entry's data, whole; for small files (manifest.json, configs). */
  async readEntry(entry: TarEntry, maxBytes: number): Promise<Buffer> {
    if (entry.size > maxBytes) {
      throw new GantryError(ErrorCode.TOO_LARGE, `${entry.name} is ${entry.size} bytes, more than the ${maxBytes} gantry reads into memory`);
    }
    const handle = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(entry.size);
      const { bytesRead } = await handle.read(buf, 0, entry.size, entry.offset);
      if (bytesRead !== entry.size) throw new GantryError(ErrorCode.INVALID_RESPONSE, `${this.file}: ${entry.name} is truncated`);
      return buf;
    } finally {
      await handle.close();
    }
  }

  /** The archive's entries as an OCI layout's files (for OCI-layout tarballs). */
  asLayoutFiles(name: string): LayoutFiles {
    return {
      readFile: async (path, maxBytes) => {
        const entry = this.resolve(path);
        return entry ? this.readEntry(entry, maxBytes) : undefined;
      },
      openStream: async (path, signal) => {
        const entry = this.resolve(path);
        if (!entry) throw new GantryError(ErrorCode.NOT_FOUND, `${name}: ${path} not found in the archive`);
        return this.openEntry(entry, signal);
      },
    };
  }
}

/** `docker save | gzip` output is accepted by `docker load`, but gantry needs offsets into a plain tar. */
async function rejectCompressedArchive(file: string, name: string): Promise<void> {
  const handle = await open(file, 'r').catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new GantryError(ErrorCode.NOT_FOUND, `${name}: no such file`);
    throw err;
  });
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    const h = head.subarray(0, bytesRead);
    if (isGzip(h) || isZstd(h)) {
      throw new GantryError(ErrorCode.USAGE, `${name}: the archive is compressed; decompress it first (gunzip/zstd -d), gantry reads plain tar files`);
    }
  } finally {
    await handle.close();
  }
}

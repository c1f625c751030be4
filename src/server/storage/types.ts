/**
 * What the registry needs from its storage. Two implementations: `filesystem.ts` (the
 * default, crash-safe, survives restarts) and `memory.ts` (tests, `--storage memory`).
 *
 * Blobs are content-addressed and shared by all repositories; a repository sees a blob only
 * through its link, so deleting a blob from one repository never affects another. A blob
 * becomes visible only once its upload is committed with a verified digest.
 */
import type { Readable, Writable } from 'node:stream';

/** A descriptor of a manifest that names another as its `subject` (the referrers API). */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface ManifestWrite extends StoredManifest {
  /** The digest in the manifest's `subject`, with the descriptor to list under it. */
  referrer?: { subject: string; descriptor: ReferrerDescriptor };
  /**
   * Written by a pull-through cache (src/server/proxy/cache.ts): the blobs and child manifests
   * it names may come later, or never (an index's platforms nobody pulls), so they are not required.
   */
  pullThrough?: true;
}

/** An upload session: the bytes received so far live in storage, not in memory. */
export interface UploadSession {
  id: string;
  repository: string;
  /** Bytes received so far. */
  size: number;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface OpenedBlob {
  size: number;
  /** The whole blob or the range asked for. */
  readonly stream: Readable;
  /**
   * Writes the same bytes into `dest` and ends it, instead of `stream` (use one or the other):
   * the filesystem storage reuses its read buffers this way (src/server/storage/file-pump.ts).
   */
  writeTo?(dest: Writable): Promise<void>;
}

export interface Storage {
  /** A directory path, or `memory`. */
  readonly location: string;

  /** Size of a blob in the repository, undefined when the repository has no such blob. */
  blobSize(repository: string, digest: string): Promise<number | undefined>;
  /** Opens a blob of the repository; undefined when it has none. */
  openBlob(repository: string, digest: string, range?: (size: number) => ByteRange | undefined): Promise<OpenedBlob | undefined>;
  /** Links a blob the registry already holds into a repository (cross-repository mount). */
  linkBlob(repository: string, digest: string): Promise<boolean>;
  /** Removes a blob from one repository; false when it had none. */
  deleteBlob(repository: string, digest: string): Promise<boolean>;

  putManifest(repository: string, manifest: ManifestWrite): Promise<void>;
  getManifest(repository: string, digest: string): Promise<StoredManifest | undefined>;
  /** Deletes a manifest revision, the tags that point at it and its referrer entry. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  resolveTag(repository: string, tag: string): Promise<string | undefined>;
  setTag(repository: string, tag: string, digest: string): Promise<void>;
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** Tags in no particular order; undefined when the repository does not exist. */
  listTags(repository: string): Promise<string[] | undefined>;
  /** Repository names in no particular order. */
  listRepositories(): Promise<string[]>;
  listReferrers(repository: string, subject: string): Promise<ReferrerDescriptor[]>;

  startUpload(repository: string): Promise<UploadSession>;
  getUpload(repository: string, id: string): Promise<UploadSession | undefined>;
  /**
   * Appends a request body to an upload. `start`, when given, must equal the bytes received
   * so far (chunked upload with `Content-Range`); otherwise RANGE_INVALID (416). A body cut
   * short leaves the session as it was before the call.
   */
  /** `sizeHint`: the body's Content-Length when the request has one (large bodies are hashed off the main thread). */
  appendUpload(repository: string, id: string, body: Readable, start?: number, sizeHint?: number): Promise<UploadSession>;
  /**
   * Verifies the upload against `digest` and makes it a blob of the repository. On a mismatch
   * the upload is discarded and DIGEST_INVALID is thrown.
   */
  commitUpload(repository: string, id: string, digest: string): Promise<number>;
  cancelUpload(repository: string, id: string): Promise<boolean>;
  /**
   * Removes upload sessions started `maxAgeMs` or longer ago (abandoned pushes, as
   * docker-registry's upload purging counts them) and returns how many went. A session
   * receiving or committing a request is never removed.
   */
  purgeUploads(maxAgeMs: number): Promise<number>;

  close(): Promise<void>;
}

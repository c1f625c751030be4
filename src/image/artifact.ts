/**
 * OCI artifacts as oras pushes them (image-spec 1.1, "Guidelines for Artifact Usage"): an
 * image manifest with an `artifactType`, the empty config (`{}`), one layer per file named by
 * its `org.opencontainers.image.title` annotation, and `org.opencontainers.image.created`.
 * With a `subject` the manifest is a referrer of another manifest of the same repository and is
 * pushed by digest through `putReferrer` (the referrers tag is kept for registries without the
 * referrers API).
 *
 * Files are never read whole: each is hashed while it streams from disk, then uploaded from
 * disk again by the client, which hashes the bytes on their way out once more, so a file that
 * changes between the two reads fails with DIGEST_MISMATCH before the registry commits it.
 * Pulling is in artifact-pull.ts; the path rules of a pull in artifact-paths.ts.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { accessFor, connectRegistry, type RegistryAccessOptions } from '../client/connect.js';
import type { RepositoryClient } from '../client/registry-client.js';
import { ErrorCode, GantryError } from '../errors.js';
import { createBlobHash } from '../hashing/blob-hash.js';
import type { Descriptor } from '../oci/descriptor.js';
import { ACCEPT_MANIFESTS, EMPTY_JSON, isManifest, MediaType } from '../oci/media-types.js';
import { checkOptions, InvalidOptionError } from '../options.js';
import { Digest } from '../ref/digest.js';
import { Reference } from '../ref/reference.js';
import { titleProblem } from './artifact-paths.js';

/** The `artifactType` oras gives an artifact when none is named (`oras push` without `--artifact-type`). */
export const ARTIFACT_TYPE_UNKNOWN = 'application/vnd.unknown.artifact.v1';
/** The media type of a file pushed without one, as oras uses: an uncompressed OCI layer. */
export const ARTIFACT_FILE_MEDIA_TYPE: string = MediaType.OCI_LAYER;
/** The layer annotation that names a file: its name under the pull directory. */
export const ANNOTATION_TITLE = 'org.opencontainers.image.title';
/** The manifest annotation with the time of the push (RFC 3339), as oras adds it. */
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';

/** The empty descriptor of image-spec 1.1: the two-byte blob `{}`, the config of an artifact. */
export const EMPTY_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({ mediaType: MediaType.OCI_EMPTY, digest: Digest.fromBytes(EMPTY_JSON), size: EMPTY_JSON.length });

/** Bytes read from a file at a time while hashing or uploading it. */
const READ_CHUNK = 256 * 1024;

/** RFC 6838 `type/subtype`, as a manifest's media types and `artifactType` must be. */
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
/** RFC 3339 date-time (`2024-05-01T12:00:00Z`), the form `org.opencontainers.image.created` takes. */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** Whether `s` is a media type (`type/subtype`, RFC 6838's characters). */
function isMediaType(s: unknown): s is string {
  return typeof s === 'string' && MEDIA_TYPE_RE.test(s);
}

/** A file to push: its path and, optionally, its layer media type (default `application/vnd.oci.image.layer.v1.tar`, as oras). */
export interface ArtifactFile {
  /** The file's path; its base name becomes the layer's `org.opencontainers.image.title`. */
  readonly path: string;
  /** The layer's media type; default `application/vnd.oci.image.layer.v1.tar`. */
  readonly mediaType?: string;
}

/** One file of an artifact, as its layer descriptor names it. */
export interface ArtifactLayer {
  /** The `org.opencontainers.image.title` annotation: the file's name. */
  readonly title: string;
  /** The layer blob's digest, `sha256:…`. */
  readonly digest: string;
  /** The layer blob's size in bytes. */
  readonly size: number;
  /** The layer's media type. */
  readonly mediaType: string;
}

/** A file of a pushed artifact, and how its blob reached the registry. */
export interface PushedArtifactLayer extends ArtifactLayer {
  /** `uploaded`: its bytes were sent; `exists`: the repository had the blob already; `mounted`: mounted from another repository. */
  readonly status: 'exists' | 'mounted' | 'uploaded';
}

/** Options of {@link pushArtifact}. Every one is optional. */
export interface PushArtifactOptions {
  /** The manifest's `artifactType`. Default `application/vnd.unknown.artifact.v1`, as oras. */
  readonly artifactType?: string;
  /**
   * Manifest annotations. `org.opencontainers.image.created` is added with the current time
   * (RFC 3339, seconds, UTC) unless given here, where it must be RFC 3339.
   */
  readonly annotations?: Readonly<Record<string, string>>;
  /**
   * The manifest this artifact refers to (`subject`): a reference or a bare digest
   * (`sha256:…`), in the same repository as the artifact (referrers are listed per repository,
   * and oras attaches only there). Resolved at the registry for its digest, size and media
   * type. The artifact is then pushed by digest with `putReferrer`; the reference's tag, if it
   * has one, is set afterwards.
   */
  readonly subject?: string | Reference;
  /** Called once per file when its blob is in the registry. */
  readonly onFile?: (layer: PushedArtifactLayer) => void;
  /** Cancels the push. */
  readonly signal?: AbortSignal;
  /** How to reach the registry (TLS, credentials); registries.conf `blocked` and `insecure` apply. */
  readonly access?: RegistryAccessOptions;
}

/** What {@link pushArtifact} pushed. */
export interface PushArtifactResult {
  /** Where it is: `repository:tag` when a tag was set, else `repository@digest`. */
  readonly reference: string;
  /** The tag set, when the reference had one. */
  readonly tag?: string;
  /** The manifest's digest. */
  readonly digest: string;
  /** The manifest's media type: `application/vnd.oci.image.manifest.v1+json`. */
  readonly mediaType: string;
  /** The manifest's size in bytes. */
  readonly size: number;
  /** The manifest's `artifactType`. */
  readonly artifactType: string;
  /** The manifest's annotations, `org.opencontainers.image.created` included. */
  readonly annotations: Readonly<Record<string, string>>;
  /** The subject, when there is one, and how the registry learnt of the referrer (`api`: it indexed it; `tag`: the referrers tag was written). */
  readonly subject?: {
    /** The subject manifest's digest. */
    readonly digest: string;
    /** The subject manifest's media type. */
    readonly mediaType: string;
    /** The subject manifest's size in bytes. */
    readonly size: number;
    /** `api` or `tag`, as {@link RepositoryClient.putReferrer} reports. */
    readonly indexedBy: 'api' | 'tag';
  };
  /** The files, in the manifest's order. */
  readonly layers: readonly PushedArtifactLayer[];
}

/** A file checked and hashed, ready to upload. */
interface PreparedFile {
  readonly path: string;
  readonly title: string;
  readonly mediaType: string;
  readonly size: number;
  digest?: Digest;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkPushOptions(reference: unknown, files: unknown, options: PushArtifactOptions): void {
  const where = 'pushArtifact';
  if (!(reference instanceof Reference) && (typeof reference !== 'string' || reference === '')) throw new InvalidOptionError(where, 'reference', reference, 'a reference string or a Reference');
  if (!Array.isArray(files)) throw new InvalidOptionError(where, 'files', files, 'an array of paths or { path, mediaType }');
  files.forEach((f: unknown, i) => {
    const path = typeof f === 'string' ? f : isPlainObject(f) ? f.path : undefined;
    if (typeof path !== 'string' || path === '' || path.includes('\0')) throw new InvalidOptionError(where, `files[${i}]`, f, 'a path or { path, mediaType }');
    const mediaType = isPlainObject(f) ? f.mediaType : undefined;
    if (mediaType !== undefined && !isMediaType(mediaType)) throw new InvalidOptionError(where, `files[${i}].mediaType`, mediaType, 'a media type, type/subtype');
  });
  checkOptions(where, options)
    .check('artifactType', isMediaType, 'a media type, type/subtype')
    .check('annotations', (a) => isPlainObject(a) && Object.entries(a).every(([k, v]) => k !== '' && typeof v === 'string'), 'an object of annotation names to strings')
    .check('subject', (s) => s instanceof Reference || (typeof s === 'string' && s !== ''), 'a reference or a digest')
    .func('onFile')
    .signal('signal')
    .object('access');
  const created = options.annotations?.[ANNOTATION_CREATED];
  if (created !== undefined && !(RFC3339_RE.test(created) && !Number.isNaN(Date.parse(created)))) {
    throw new InvalidOptionError(where, `annotations["${ANNOTATION_CREATED}"]`, created, 'an RFC 3339 date-time, e.g. 2024-05-01T12:00:00Z');
  }
}

/** The destination: a repository with an optional tag (a digest cannot be pushed to). */
function destinationOf(reference: string | Reference): Reference {
  const ref = typeof reference === 'string' ? Reference.parse(reference) : reference;
  if (ref.digest !== undefined) throw new InvalidOptionError('pushArtifact', 'reference', ref.familiar(), 'a repository with an optional tag, not a digest: the digest is that of the manifest pushed');
  return ref;
}

/** The subject as a reference in the artifact's repository, or INVALID_OPTION when it is in another. */
function subjectOf(subject: string | Reference, repository: Reference['repository']): Reference {
  let ref: Reference;
  if (typeof subject === 'string') {
    const digest = Digest.tryParse(subject.replace(/^@/, ''));
    ref = digest ? Reference.of(repository, { digest }) : Reference.parse(subject);
  } else {
    ref = subject;
  }
  if (!ref.repository.equals(repository)) {
    throw new InvalidOptionError(
      'pushArtifact',
      'subject',
      typeof subject === 'string' ? subject : subject.familiar(),
      `a manifest in ${repository.familiar}: a referrer lives in its subject's repository (the referrers API and the referrers tag list only that repository's manifests; oras attaches there too)`,
    );
  }
  return ref.withDefaultTag();
}

/** Checks every file before anything is sent: a regular file, and no two with one base name. */
async function prepareFiles(files: readonly (string | ArtifactFile)[]): Promise<PreparedFile[]> {
  const byTitle = new Map<string, string>();
  const out: PreparedFile[] = [];
  for (const [i, f] of files.entries()) {
    const path = typeof f === 'string' ? f : f.path;
    const title = basename(path);
    if (title === '' || title === '.' || title === '..') throw new InvalidOptionError('pushArtifact', `files[${i}]`, path, 'a path that ends with a file name');
    // A name a pull would refuse to write (a backslash, an overlong name) is refused here already.
    const problem = titleProblem(title);
    if (problem !== undefined) throw new InvalidOptionError('pushArtifact', `files[${i}]`, path, `a file whose name can be a title (${problem})`);
    const other = byTitle.get(title);
    if (other !== undefined) throw new InvalidOptionError('pushArtifact', `files[${i}]`, path, `a file whose base name is not already taken (${other} is also "${title}"; a pull would write both to one name)`);
    byTitle.set(title, path);
    let size: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new InvalidOptionError('pushArtifact', `files[${i}]`, path, st.isDirectory() ? 'a regular file, not a directory (pack a directory into a tar first)' : 'a regular file');
      size = st.size;
    } catch (err) {
      if (err instanceof GantryError) throw err;
      throw new InvalidOptionError('pushArtifact', `files[${i}]`, path, `a readable regular file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    out.push({ path, title, size, mediaType: (typeof f === 'string' ? undefined : f.mediaType) ?? ARTIFACT_FILE_MEDIA_TYPE });
  }
  return out;
}

/** The sha256 of a file, streamed from disk; DIGEST_MISMATCH when its size changed since it was checked. */
async function hashFile(file: PreparedFile, signal: AbortSignal | undefined): Promise<Digest> {
  const hash = createBlobHash('sha256', file.size);
  let seen = 0;
  try {
    for await (const chunk of createReadStream(file.path, { highWaterMark: READ_CHUNK, ...(signal ? { signal } : {}) })) {
      seen += (chunk as Buffer).length;
      await hash.update(chunk as Buffer);
    }
  } catch (err) {
    hash.discard();
    throw err;
  }
  const hex = await hash.digest();
  if (seen !== file.size) throw new GantryError(ErrorCode.DIGEST_MISMATCH, `${file.path}: the file changed while it was read (${file.size} bytes when checked, ${seen} read)`);
  return Digest.parse(`sha256:${hex}`);
}

/** The subject's descriptor, from a HEAD (a GET when the HEAD does not say all of it). */
async function resolveSubject(repo: RepositoryClient, ref: Reference, signal: AbortSignal | undefined): Promise<Descriptor> {
  const withSignal = signal ? { signal } : {};
  const head = await repo.headManifest(ref, { accept: ACCEPT_MANIFESTS, ...withSignal });
  if (head === undefined) throw new GantryError(ErrorCode.NOT_FOUND, `subject ${ref.familiar()} not found`);
  if (head.digest !== undefined && head.size !== undefined && head.mediaType !== undefined && isManifest(head.mediaType)) {
    return { mediaType: head.mediaType, digest: head.digest, size: head.size };
  }
  const got = await repo.getManifest(ref, withSignal);
  return { mediaType: got.mediaType, digest: got.digest, size: got.bytes.length };
}

/** `2024-05-01T12:00:00Z`: Go's time.RFC3339 of now in UTC, as oras writes it. */
function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const descriptorJson = (d: Pick<Descriptor, 'mediaType' | 'digest' | 'size'>): Record<string, unknown> => ({ mediaType: d.mediaType, digest: d.digest.toString(), size: d.size });

/**
 * The manifest's bytes, fields in oras' order. No layer (an artifact of annotations only) is
 * one empty-descriptor layer, as image-spec 1.1 advises and oras does.
 */
function manifestBytes(artifactType: string, layers: readonly PreparedFile[], subject: Descriptor | undefined, annotations: Record<string, string>): Buffer {
  const empty = descriptorJson(EMPTY_DESCRIPTOR);
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType,
      config: empty,
      layers: layers.length === 0 ? [empty] : layers.map((l) => ({ ...descriptorJson({ mediaType: l.mediaType, digest: l.digest as Digest, size: l.size }), annotations: { [ANNOTATION_TITLE]: l.title } })),
      ...(subject ? { subject: descriptorJson(subject) } : {}),
      annotations,
    }),
  );
}

/**
 * Pushes files as an OCI artifact, as `oras push` does: an image manifest with `artifactType`
 * (default `application/vnd.unknown.artifact.v1`), the empty config, one layer per file
 * (media type as given, default `application/vnd.oci.image.layer.v1.tar`) titled by the
 * file's base name, and `org.opencontainers.image.created`. Every option and file is checked
 * before anything is sent: INVALID_OPTION naming it (two files with one base name, a
 * directory, a missing file, a subject in another repository). Files are streamed, never read
 * whole. The manifest is tagged with the reference's tag; a reference without one is pushed
 * by digest only. With `subject`, see {@link PushArtifactOptions.subject}.
 *
 * @example
 * const pushed = await pushArtifact('localhost:5000/team/docs:1', ['README.md', { path: 'sbom.json', mediaType: 'application/spdx+json' }], {
 *   artifactType: 'application/vnd.example.docs.v1',
 * });
 * console.log(pushed.digest);
 */
export async function pushArtifact(reference: string | Reference, files: readonly (string | ArtifactFile)[], options: PushArtifactOptions = {}): Promise<PushArtifactResult> {
  checkPushOptions(reference, files, options);
  const ref = destinationOf(reference);
  const subjectRef = options.subject === undefined ? undefined : subjectOf(options.subject, ref.repository);
  const prepared = await prepareFiles(files);
  const artifactType = options.artifactType ?? ARTIFACT_TYPE_UNKNOWN;
  const annotations: Record<string, string> = { ...options.annotations };
  annotations[ANNOTATION_CREATED] ??= nowRfc3339();
  const signal = options.signal;
  const withSignal = signal ? { signal } : {};

  const registry = await connectRegistry(ref.repository.domain, 'push', accessFor(ref, options.access ?? {}));
  try {
    const repo = registry.client.repositoryClient(ref);
    const subject = subjectRef ? await resolveSubject(repo, subjectRef, signal) : undefined;
    await repo.uploadBlob(EMPTY_DESCRIPTOR, () => Readable.from([EMPTY_JSON]), withSignal);
    const layers: PushedArtifactLayer[] = [];
    for (const file of prepared) {
      signal?.throwIfAborted();
      file.digest = await hashFile(file, signal);
      const desc = { digest: file.digest, size: file.size };
      const open = (offset: number): Readable => createReadStream(file.path, { start: offset, highWaterMark: READ_CHUNK });
      const uploaded = await repo.uploadBlob(desc, open, withSignal);
      const layer: PushedArtifactLayer = { title: file.title, digest: file.digest.toString(), size: file.size, mediaType: file.mediaType, status: uploaded.status };
      layers.push(layer);
      options.onFile?.(layer);
    }
    signal?.throwIfAborted();
    const bytes = manifestBytes(artifactType, prepared, subject, annotations);
    const digest = Digest.fromBytes(bytes);
    let indexedBy: 'api' | 'tag' | undefined;
    if (subject) {
      indexedBy = (await repo.putReferrer(bytes, MediaType.OCI_MANIFEST, withSignal)).indexedBy;
      if (ref.tag !== undefined) await repo.putManifest(ref.tag, bytes, MediaType.OCI_MANIFEST, withSignal);
    } else {
      await repo.putManifest(ref.tag ?? digest, bytes, MediaType.OCI_MANIFEST, withSignal);
    }
    return {
      reference: ref.tag !== undefined ? ref.canonical() : Reference.of(ref.repository, { digest }).canonical(),
      ...(ref.tag !== undefined ? { tag: ref.tag } : {}),
      digest: digest.toString(),
      mediaType: MediaType.OCI_MANIFEST,
      size: bytes.length,
      artifactType,
      annotations,
      ...(subject && indexedBy ? { subject: { digest: subject.digest.toString(), mediaType: subject.mediaType, size: subject.size, indexedBy } } : {}),
      layers,
    };
  } finally {
    await registry.close();
  }
}

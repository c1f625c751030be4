/**
 * Pulling an OCI artifact into a directory, as `oras pull` does: every layer with an
 * `org.opencontainers.image.title` becomes the file of that name under the directory. The
 * titles are checked first, all of them, on paper and against the disk (artifact-paths.ts);
 * only then is the directory made and the first byte written. Each file is streamed from the
 * registry through the client's verification (size and digest) into a temporary file beside
 * its target, fsynced and moved into place: memory holds a chunk or two whatever the size, and
 * a file is either absent, as it was, or complete.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { accessFor, connectRegistry, type RegistryAccessOptions } from '../client/connect.js';
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { MediaType } from '../oci/media-types.js';
import { checkOptions, InvalidOptionError } from '../options.js';
import { Reference } from '../ref/reference.js';
import { ANNOTATION_TITLE, type ArtifactLayer } from './artifact.js';
import { planTargets, writeTarget } from './artifact-paths.js';

/** oras' annotation for a layer that is a packed directory (a tar+gzip to unpack), which gantry does not unpack. */
export const ANNOTATION_ORAS_UNPACK = 'io.deis.oras.content.unpack';

/** Options of {@link pullArtifact}. Every one is optional. */
export interface PullArtifactOptions {
  /** Replace files that exist already (default false: an existing file fails the pull before anything is written). */
  readonly overwrite?: boolean;
  /** Called once per file when it is in place. */
  readonly onFile?: (file: PulledArtifactFile) => void;
  /** Cancels the pull; files already in place stay, the one being written is removed. */
  readonly signal?: AbortSignal;
  /** How to reach the registry (TLS, credentials); registries.conf `blocked` and `insecure` apply. */
  readonly access?: RegistryAccessOptions;
}

/** A file written by {@link pullArtifact}. */
export interface PulledArtifactFile extends ArtifactLayer {
  /** Where it was written: the directory joined with the title. */
  readonly path: string;
}

/** A layer {@link pullArtifact} did not write, and why. */
export interface SkippedArtifactLayer {
  /** The layer's digest. */
  readonly digest: string;
  /** The layer's size in bytes. */
  readonly size: number;
  /** The layer's media type. */
  readonly mediaType: string;
  /** Its title, when it has one. */
  readonly title?: string;
  /** `untitled`: no `org.opencontainers.image.title`; `directory`: an oras directory (`io.deis.oras.content.unpack`), which gantry does not unpack. */
  readonly reason: 'untitled' | 'directory';
}

/** What {@link pullArtifact} wrote. */
export interface PullArtifactResult {
  /** The reference pulled, fully qualified (`latest` added when it named no tag or digest). */
  readonly reference: string;
  /** The manifest's digest. */
  readonly digest: string;
  /** The manifest's media type. */
  readonly mediaType: string;
  /** The manifest's `artifactType`, else its config's media type (the distribution spec's rule); undefined for a Docker manifest without one. */
  readonly artifactType?: string;
  /** The directory written to, absolute. */
  readonly directory: string;
  /** The files written, in the manifest's order. */
  readonly files: readonly PulledArtifactFile[];
  /** The layers not written. */
  readonly skipped: readonly SkippedArtifactLayer[];
}

function checkPullOptions(reference: unknown, dir: unknown, options: PullArtifactOptions): void {
  const where = 'pullArtifact';
  if (!(reference instanceof Reference) && (typeof reference !== 'string' || reference === '')) throw new InvalidOptionError(where, 'reference', reference, 'a reference string or a Reference');
  if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) throw new InvalidOptionError(where, 'dir', dir, 'a directory path');
  checkOptions(where, options).boolean('overwrite').func('onFile').signal('signal').object('access');
}

/**
 * Pulls an artifact into `dir` (made when missing), as `oras pull`: each layer titled
 * `org.opencontainers.image.title` is written to `dir/<title>`; layers without a title are
 * skipped and listed in `skipped`. A title that is absolute, has a `..` component, a NUL or a
 * backslash is refused (INVALID_RESPONSE), and so is one that would pass through a symlink
 * inside `dir` or replace an existing file without `overwrite` (USAGE): checked for every
 * layer before any byte is written. Each file is verified (size and digest) as it streams,
 * and written crash-safe (temporary name beside it, fsync, rename). A failure part-way leaves
 * the files already in place and no partial one.
 *
 * @example
 * const pulled = await pullArtifact('localhost:5000/team/docs:1', './docs');
 * for (const f of pulled.files) console.log(f.path, f.size);
 */
export async function pullArtifact(reference: string | Reference, dir: string, options: PullArtifactOptions = {}): Promise<PullArtifactResult> {
  checkPullOptions(reference, dir, options);
  const ref = (typeof reference === 'string' ? Reference.parse(reference) : reference).withDefaultTag();
  const root = resolve(dir);
  const overwrite = options.overwrite ?? false;
  const signal = options.signal;
  const withSignal = signal ? { signal } : {};
  const registry = await connectRegistry(ref.repository.domain, 'pull', accessFor(ref, options.access ?? {}));
  try {
    const repo = registry.client.repositoryClient(ref);
    const got = await repo.getManifest(ref, { accept: [MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST], ...withSignal });
    const manifest = got.manifest;
    if (manifest.kind !== 'image') {
      throw new GantryError(ErrorCode.USAGE, `${ref.familiar()} is ${manifest.kind === 'index' ? 'an index' : 'a schema 1 manifest'} (${got.mediaType}), not an artifact: pull one of its manifests by digest`);
    }
    const wanted: { desc: Descriptor; title: string }[] = [];
    const skipped: SkippedArtifactLayer[] = [];
    for (const desc of manifest.layers) {
      const title = desc.annotations?.[ANNOTATION_TITLE];
      const base = { digest: desc.digest.toString(), size: desc.size, mediaType: desc.mediaType };
      if (title === undefined) skipped.push({ ...base, reason: 'untitled' });
      else if (desc.annotations?.[ANNOTATION_ORAS_UNPACK] === 'true') skipped.push({ ...base, title, reason: 'directory' });
      else wanted.push({ desc, title });
    }
    await planTargets(root, wanted.map((w) => w.title), overwrite);
    await mkdir(root, { recursive: true });
    const files: PulledArtifactFile[] = [];
    for (const { desc, title } of wanted) {
      signal?.throwIfAborted();
      const path = await writeTarget(root, title, () => repo.getBlob(desc, withSignal), overwrite);
      const file: PulledArtifactFile = { title, path, digest: desc.digest.toString(), size: desc.size, mediaType: desc.mediaType };
      files.push(file);
      options.onFile?.(file);
    }
    const artifactType = manifest.artifactType ?? (manifest.mediaType === MediaType.OCI_MANIFEST ? manifest.config.mediaType : undefined);
    return {
      reference: ref.canonical(),
      digest: got.digest.toString(),
      mediaType: got.mediaType,
      ...(artifactType !== undefined ? { artifactType } : {}),
      directory: root,
      files,
      skipped,
    };
  } finally {
    await registry.close();
  }
}

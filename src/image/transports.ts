/**
 * Where an image lives, in skopeo's spelling: `docker://REF` (or a bare REF), `oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]` and `docker-archive:FILE:@N`. Parsed
 * once into an ImageLocation; opened into an ImageSource or ImageDestination; and `copy`
 * between any two of them. As in skopeo (containers/image `internal.SplitPathAndImage` and
 * `docker/archive.ParseReference`), the path ends at the first `:`.
 */
import { accessFor, connectRegistry, type ConnectedRegistry, type RegistryAccessOptions } from '../client/connect.js';
import type { PullSource } from '../config/registries-conf.js';
import { ACCEPT_MANIFESTS } from '../oci/media-types.js';
import { RegistryImageDestination, RegistryImageSource } from './registry.js';
import { ErrorCode, GantryError } from '../errors.js';
import { Reference } from '../ref/reference.js';
import { checkCopyOptions, copyImage, type CopyOptions, type CopyResult } from './copy.js';
import { DockerArchiveDestination, DockerArchiveSource } from './docker-archive.js';
import { OciArchiveDestination, OciArchiveSource } from './oci-archive.js';
import { OciLayoutDestination, OciLayoutSource } from './oci-layout.js';
import type { ImageDestination, ImageSource, RawManifest } from './types.js';
import type { Digest } from '../ref/digest.js';

/**
 * Where an image lives, as {@link parseImageLocation} reads it: an image in a registry, an OCI
 * image layout directory, a tarball of one, or a `docker save` tarball. Switch on `transport`.
 */
export type ImageLocation =
  | {
      /** `docker`: an image in a registry. */
      readonly transport: 'docker';
      /** The image's reference; `latest` is added when it is opened if it names neither tag nor digest. */
      readonly reference: Reference
    }
  | {
      /** `oci`: an OCI image layout directory. */
      readonly transport: 'oci';
      /** The layout's directory, as written. */
      readonly dir: string;
      /** The image's tag in the layout; undefined when none was given. */
      readonly tag?: string
    }
  | {
      /** `oci-archive`: a tarball of an OCI image layout (`podman save --format oci-archive`). */
      readonly transport: 'oci-archive';
      /** The tarball's path, as written. */
      readonly file: string;
      /** The image's tag in the layout's `index.json`; undefined when none was given. */
      readonly tag?: string
    }
  | {
      /** `docker-archive`: a `docker save` tarball. */
      readonly transport: 'docker-archive';
      /** The tarball's path, as written. */
      readonly file: string;
      /** The image's reference in the archive, as written (not parsed); undefined when none was given. At most one of `reference` and `index` is set. */
      readonly reference?: string;
      /**
       * The image at this position (0-based) of the archive's `manifest.json` (`FILE:@N`);
       * undefined when none was given. It selects an image to read: a destination with one is
       * refused (USAGE), as skopeo refuses it.
       */
      readonly index?: number
    };

/** `@N` after `docker-archive:FILE:`: a decimal, non-negative position in `manifest.json`. */
const ARCHIVE_INDEX = /^@(\d+)$/;

/** Splits `PATH[:REST]` at the first colon, as skopeo does; `rest` is undefined without one. */
function splitPath(rest: string): { path: string; rest: string | undefined } {
  const i = rest.indexOf(':');
  return i < 0 ? { path: rest, rest: undefined } : { path: rest.slice(0, i), rest: rest.slice(i + 1) };
}

function parseArchiveIndex(spec: string, suffix: string): number | undefined {
  if (!suffix.startsWith('@')) return undefined;
  const match = ARCHIVE_INDEX.exec(suffix);
  const n = match ? Number(match[1]) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new GantryError(ErrorCode.USAGE, `invalid image location "${spec}": ${JSON.stringify(suffix)} is not an image index; write @N with N a number from 0 (docker-archive:FILE:@N)`);
  }
  return n;
}

/**
 * Parses `docker://REF`, `REF`, `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
 * `docker-archive:FILE[:REF]` or `docker-archive:FILE:@N` (the N-th image, from 0, of the
 * archive's `manifest.json`; for reading only). A malformed location is USAGE.
 */
export function parseImageLocation(spec: string): ImageLocation {
  for (const transport of ['oci', 'oci-archive'] as const) {
    if (!spec.startsWith(`${transport}:`)) continue;
    const { path, rest: tag } = splitPath(spec.slice(transport.length + 1));
    const what = transport === 'oci' ? 'a directory (oci:DIR[:TAG])' : 'a file (oci-archive:FILE[:TAG])';
    if (!path) throw new GantryError(ErrorCode.USAGE, `invalid image location "${spec}": ${transport}: needs ${what}`);
    if (tag === '') throw new GantryError(ErrorCode.USAGE, `invalid image location "${spec}": empty tag after the ${transport === 'oci' ? 'directory' : 'file'}`);
    const tagged = tag !== undefined ? { tag } : {};
    return transport === 'oci' ? { transport, dir: path, ...tagged } : { transport, file: path, ...tagged };
  }
  if (spec.startsWith('docker-archive:')) {
    const { path: file, rest: reference } = splitPath(spec.slice('docker-archive:'.length));
    if (!file) throw new GantryError(ErrorCode.USAGE, `invalid image location "${spec}": docker-archive: needs a file (docker-archive:FILE[:REF] or docker-archive:FILE:@N)`);
    const index = reference ? parseArchiveIndex(spec, reference) : undefined;
    if (index !== undefined) return { transport: 'docker-archive', file, index };
    return { transport: 'docker-archive', file, ...(reference ? { reference } : {}) };
  }
  const ref = spec.startsWith('docker://') ? spec.slice('docker://'.length) : spec;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || /^(dir|containers-storage|docker-daemon):/.test(ref)) {
    throw new GantryError(ErrorCode.USAGE, `unsupported image location "${spec}": use docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF|:@N]`);
  }
  return { transport: 'docker', reference: Reference.parse(ref) };
}

/**
 * The location in skopeo's spelling: `docker://` and the familiar reference (e.g.
 * `docker://ubuntu:22.04`), `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
 * `docker-archive:FILE[:REF]` or `docker-archive:FILE:@N`. {@link parseImageLocation} reads
 * it back to the same location.
 */
export function formatImageLocation(loc: ImageLocation): string {
  if (loc.transport === 'docker') return `docker://${loc.reference.familiar()}`;
  if (loc.transport === 'oci') return `oci:${loc.dir}${loc.tag ? `:${loc.tag}` : ''}`;
  if (loc.transport === 'oci-archive') return `oci-archive:${loc.file}${loc.tag ? `:${loc.tag}` : ''}`;
  if (loc.index !== undefined) return `docker-archive:${loc.file}:@${loc.index}`;
  return `docker-archive:${loc.file}${loc.reference ? `:${loc.reference}` : ''}`;
}

/**
 * Why `loc` cannot be written to, or undefined: `docker-archive:FILE:@N` picks an image that
 * is there, and a destination has none yet (skopeo: "Destination reference must not contain
 * a manifest index @N").
 */
function destinationProblem(loc: ImageLocation): string | undefined {
  if (loc.transport !== 'docker-archive' || loc.index === undefined) return undefined;
  return `${formatImageLocation(loc)}: @${loc.index} selects an image to read from an archive; a destination cannot have one (name the image by reference: docker-archive:${loc.file}:REF, or give none)`;
}

export interface Opened<T> {
  readonly value: T;
  /** The registry connection when the location is a registry. */
  readonly registry?: ConnectedRegistry;
  close(): Promise<void>;
}

/** Opens a location to read from. Registry access uses `access` (TLS, credentials). */
export async function openSource(loc: ImageLocation, access: RegistryAccessOptions = {}): Promise<Opened<ImageSource>> {
  if (loc.transport === 'oci') {
    const value = new OciLayoutSource(loc.dir, loc.tag !== undefined ? { tag: loc.tag } : {});
    return { value, close: () => value.close() };
  }
  if (loc.transport === 'oci-archive') {
    const value = new OciArchiveSource(loc.file, loc.tag !== undefined ? { tag: loc.tag } : {});
    return { value, close: () => value.close() };
  }
  if (loc.transport === 'docker-archive') {
    const value = new DockerArchiveSource(loc.file, loc.index !== undefined ? { index: loc.index } : loc.reference ? { ref: loc.reference } : {});
    return { value, close: () => value.close() };
  }
  return openRegistrySource(loc.reference.withDefaultTag(), access);
}

/**
 * An image in a registry, to read. Under registries.conf the image may live elsewhere: the
 * table's mirrors are tried first (each asked with one HEAD whether it has the image; a mirror
 * that fails or lacks it is passed over), then its `location`. Mirrors get no credentials the
 * caller gave for the image (`credentials`, `certDir`): only what is stored for their own host.
 */
async function openRegistrySource(reference: Reference, access: RegistryAccessOptions): Promise<Opened<ImageSource>> {
  const conf = access.registriesConf;
  conf?.checkNotBlocked(reference);
  const sources: PullSource[] = conf ? conf.pullSources(reference) : [{ reference, insecure: false, mirror: false }];
  const failures: string[] = [];
  for (const [i, source] of sources.entries()) {
    const last = i === sources.length - 1;
    const registry = await connectRegistry(source.reference.repository.domain, 'pull', sourceAccess(source, access)).catch((err: unknown) => {
      if (last || !(err instanceof GantryError) || err.code === ErrorCode.ABORTED) throw err;
      failures.push(`${source.reference.familiar()}: ${err.message}`);
      return undefined;
    });
    if (registry === undefined) continue;
    if (!last) {
      const missing = await mirrorLacks(registry, source.reference);
      if (missing !== undefined) {
        failures.push(`${source.reference.familiar()}: ${missing}`);
        await registry.close();
        continue;
      }
    }
    access.log?.(`registries.conf: reading ${reference.familiar()} from ${source.mirror ? 'mirror ' : ''}${source.reference.familiar()}${failures.length ? ` (passed over: ${failures.join('; ')})` : ''}`);
    const value = failures.length > 0 ? new PrimaryAfterMirrors(registry.client, source.reference, failures) : new RegistryImageSource(registry.client, source.reference);
    return { value, registry, close: () => registry.close() };
  }
  throw new GantryError(ErrorCode.NO_ENDPOINT, `${reference.familiar()}: no pull source`);
}

/**
 * Why a mirror cannot serve `reference` (`not found`, or its error), or undefined when it has
 * it. One HEAD, which Docker Hub does not count against the rate limit. An abort, or a failure
 * that is not gantry's, closes the connection and is thrown.
 */
async function mirrorLacks(registry: ConnectedRegistry, reference: Reference): Promise<string | undefined> {
  try {
    const head = await registry.client.repositoryClient(reference).headManifest(reference, { accept: ACCEPT_MANIFESTS });
    return head === undefined ? 'not found' : undefined;
  } catch (err) {
    if (err instanceof GantryError && err.code !== ErrorCode.ABORTED) return err.message;
    await registry.close();
    throw err;
  }
}

/** The primary location after mirrors were passed over: its failure to give the image also says why the mirrors did not. */
class PrimaryAfterMirrors extends RegistryImageSource {
  constructor(
    client: ConnectedRegistry['client'],
    reference: Reference,
    private readonly mirrorFailures: readonly string[],
  ) {
    super(client, reference);
  }

  override async getManifest(digest?: Digest): Promise<RawManifest> {
    try {
      return await super.getManifest(digest);
    } catch (err) {
      if (digest === undefined && err instanceof GantryError) err.message += ` (mirrors also failed: ${this.mirrorFailures.join('; ')})`;
      throw err;
    }
  }
}

/** One pull source's access: its own insecure flag; the caller's credentials and cert folder for the primary location only. */
function sourceAccess(source: PullSource, access: RegistryAccessOptions): RegistryAccessOptions {
  const { registriesConf, credentials: _c, certDir: _d, ...forMirror } = access;
  const base: RegistryAccessOptions = source.mirror ? { ...forMirror, ...(registriesConf ? { registriesConf } : {}) } : access;
  const decided = accessFor(source.reference, base);
  return source.insecure && decided.tlsVerify === undefined ? { ...decided, tlsVerify: false } : decided;
}

/** Opens a location to write to; `docker-archive:FILE:@N` is USAGE (an index selects what to read). */
export async function openDestination(loc: ImageLocation, access: RegistryAccessOptions = {}): Promise<Opened<ImageDestination>> {
  const problem = destinationProblem(loc);
  if (problem) throw new GantryError(ErrorCode.USAGE, problem);
  if (loc.transport === 'oci') {
    const value = new OciLayoutDestination(loc.dir, loc.tag !== undefined ? { tag: loc.tag } : {});
    return { value, close: async () => undefined };
  }
  if (loc.transport === 'oci-archive') {
    const value = new OciArchiveDestination(loc.file, loc.tag !== undefined ? { tag: loc.tag } : {});
    return { value, close: async () => undefined };
  }
  if (loc.transport === 'docker-archive') {
    const value = new DockerArchiveDestination(loc.file, loc.reference ? { ref: loc.reference } : {});
    return { value, close: async () => undefined };
  }
  const registry = await connectRegistry(loc.reference.repository.domain, 'push', accessFor(loc.reference, access));
  // A destination named by digest gets the manifest by digest; otherwise by tag (default `latest`).
  const value = new RegistryImageDestination(registry.client, loc.reference.digest ? loc.reference : loc.reference.withDefaultTag());
  return { value, registry, close: () => registry.close() };
}

/** Options for {@link copy}: the {@link CopyOptions} of the copy itself, plus registry access for each side. */
export interface CopyImagesOptions extends CopyOptions {
  /** Registry access for the source side. */
  readonly source?: RegistryAccessOptions;
  /** Registry access for the destination side. */
  readonly destination?: RegistryAccessOptions;
}

/**
 * Copies an image between any two locations: `copy('docker://a/b:1', 'oci:out:1')`. The
 * library call behind `gantry copy`, `pull` and `push`. Options are checked before either
 * location is opened: a bad one is INVALID_OPTION and nothing is read or written. (`source`
 * and `destination` are checked to be objects here, their fields where they are used.)
 */
export async function copy(from: string | ImageLocation, to: string | ImageLocation, options: CopyImagesOptions = {}): Promise<CopyResult> {
  checkCopyOptions('copy', options).object('source').object('destination');
  const src = typeof from === 'string' ? parseImageLocation(from) : from;
  const dst = typeof to === 'string' ? parseImageLocation(to) : to;
  // Before the source is opened (a registry is connected to): nothing is read for a copy that cannot be written.
  const problem = destinationProblem(dst);
  if (problem) throw new GantryError(ErrorCode.USAGE, problem);
  const source = await openSource(src, options.source);
  try {
    const destination = await openDestination(dst, options.destination);
    try {
      return await copyImage(source.value, destination.value, options);
    } finally {
      await destination.close();
    }
  } finally {
    await source.close();
  }
}

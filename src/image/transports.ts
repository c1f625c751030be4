/**
 * Where an image lives, in skopeo's spelling: `docker://REF` (or a bare REF), `oci:DIR[:TAG]`,
 * `docker-archive:FILE[:REF]`. Parsed once into an ImageLocation; opened into an ImageSource
 * or ImageDestination; and `copy` between any two of them.
 */
import { connectRegistry, type ConnectedRegistry, type RegistryAccessOptions } from '../client/connect.js';
import { RegistryImageDestination, RegistryImageSource } from './registry.js';
import { ErrorCode, GantryError } from '../errors.js';
import { Reference } from '../ref/reference.js';
import { checkCopyOptions, copyImage, type CopyOptions, type CopyResult } from './copy.js';
import { DockerArchiveDestination, DockerArchiveSource } from './docker-archive.js';
import { OciLayoutDestination, OciLayoutSource } from './oci-layout.js';
import type { ImageDestination, ImageSource } from './types.js';

/**
 * Where an image lives, as {@link parseImageLocation} reads it: an image in a registry, an OCI
 * image layout directory, or a `docker save` tarball. Switch on `transport`.
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
      /** `docker-archive`: a `docker save` tarball. */
      readonly transport: 'docker-archive';
      /** The tarball's path, as written. */
      readonly file: string;
      /** The image's reference in the archive, as written (not parsed); undefined when none was given. */
      readonly reference?: string
    };

/** Parses `docker://REF`, `REF`, `oci:DIR[:TAG]` or `docker-archive:FILE[:REF]`. */
export function parseImageLocation(spec: string): ImageLocation {
  if (spec.startsWith('oci:')) {
    const rest = spec.slice(4);
    const i = rest.indexOf(':');
    const dir = i < 0 ? rest : rest.slice(0, i);
    const tag = i < 0 ? undefined : rest.slice(i + 1);
    if (!dir) throw new GantryError(ErrorCode.USAGE, `invalid image location "${spec}": oci: needs a directory (oci:DIR[:TAG])`);
    if (tag === '') throw new GantryError(ErrorCode.USAGE, `invalid image location "${spec}": empty tag after the directory`);
    return { transport: 'oci', dir, ...(tag !== undefined ? { tag } : {}) };
  }
  if (spec.startsWith('docker-archive:')) {
    const rest = spec.slice('docker-archive:'.length);
    const i = rest.indexOf(':');
    const file = i < 0 ? rest : rest.slice(0, i);
    const reference = i < 0 ? undefined : rest.slice(i + 1);
    if (!file) throw new GantryError(ErrorCode.USAGE, `invalid image location "${spec}": docker-archive: needs a file (docker-archive:FILE[:REF])`);
    return { transport: 'docker-archive', file, ...(reference ? { reference } : {}) };
  }
  const ref = spec.startsWith('docker://') ? spec.slice('docker://'.length) : spec;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref) || /^(dir|containers-storage|docker-daemon|oci-archive):/.test(ref)) {
    throw new GantryError(ErrorCode.USAGE, `unsupported image location "${spec}": use docker://REF, oci:DIR[:TAG] or docker-archive:FILE[:REF]`);
  }
  return { transport: 'docker', reference: Reference.parse(ref) };
}

/** The location in skopeo's spelling: `docker://` and the familiar reference (e.g. `docker://ubuntu:22.04`), `oci:DIR[:TAG]` or `docker-archive:FILE[:REF]`. */
export function formatImageLocation(loc: ImageLocation): string {
  if (loc.transport === 'docker') return `docker://${loc.reference.familiar()}`;
  if (loc.transport === 'oci') return `oci:${loc.dir}${loc.tag ? `:${loc.tag}` : ''}`;
  return `docker-archive:${loc.file}${loc.reference ? `:${loc.reference}` : ''}`;
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
  if (loc.transport === 'docker-archive') {
    const value = new DockerArchiveSource(loc.file, loc.reference ? { ref: loc.reference } : {});
    return { value, close: () => value.close() };
  }
  const registry = await connectRegistry(loc.reference.repository.domain, 'pull', access);
  const value = new RegistryImageSource(registry.client, loc.reference.withDefaultTag());
  return { value, registry, close: () => registry.close() };
}

/** Opens a location to write to. */
export async function openDestination(loc: ImageLocation, access: RegistryAccessOptions = {}): Promise<Opened<ImageDestination>> {
  if (loc.transport === 'oci') {
    const value = new OciLayoutDestination(loc.dir, loc.tag !== undefined ? { tag: loc.tag } : {});
    return { value, close: async () => undefined };
  }
  if (loc.transport === 'docker-archive') {
    const value = new DockerArchiveDestination(loc.file, loc.reference ? { ref: loc.reference } : {});
    return { value, close: async () => undefined };
  }
  const registry = await connectRegistry(loc.reference.repository.domain, 'push', access);
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

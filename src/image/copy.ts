/**
 * Copy: an image (or a whole multi-platform index) from any ImageSource to any
 * ImageDestination.
 *
 * The order of work:
 *   1. the top manifest is read; with `platform`, an index is narrowed to one image, which
 *      becomes the destination's top manifest;
 *   2. if the destination already has the top manifest, nothing else moves (a no-op copy);
 *   3. child manifests are read, and the distinct blobs of all of them collected: a layer
 *      shared by several platforms is copied once;
 *   4. blobs move `jobs` at a time (one at a time into a sequential destination such as a
 *      tar): skipped when present, mounted when the destination can, streamed otherwise;
 *   5. manifests are written children first, then the top one; `commit` makes it visible.
 * With `referrers`, the referrers graph of every manifest copied (signatures, SBOMs, cosign's
 * tags; referrers.ts) is read in step 1 as well, its blobs join step 4, and its manifests are
 * written after the top one (a subject before what refers to it), before `commit`.
 * Nothing is held whole in memory: a blob flows from the source stream into the
 * destination, which verifies size and digest on the client before it becomes visible (the
 * contract in types.ts): every byte copied is hashed once, a source that serves wrong bytes
 * fails the copy with DIGEST_MISMATCH naming it, and the top manifest is never written.
 *
 * Options are checked before any of it (`checkCopyOptions`): `jobs: NaN` once started no
 * worker and committed an image none of whose blobs were there.
 */
import { setMaxListeners } from 'node:events';
import { Transform, type Readable } from 'node:stream';
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { DigestMismatchError } from '../oci/errors.js';
import { parseManifest, type ImageManifest, type Manifest } from '../oci/manifest.js';
import { formatPlatform, parsePlatform, selectManifest, type Platform } from '../oci/platform.js';
import type { Digest } from '../ref/digest.js';
import { checkOptions, type OptionCheck } from '../options.js';
import { imageToOci, indexToOci, isDockerFormat } from './convert.js';
import { isValidRefName } from './layout-index.js';
import { planReferrers, writeReferrers, type ReferrerCopy } from './referrers.js';
import { isReferrerDestination, type ImageDestination, type ImageSource, type RawManifest } from './types.js';

/**
 * Blobs copied at once. Set from the benchmark (bench/results): loopback registries and
 * disks saturate around 4–8 parallel streams on a 2-core machine; more only adds contention.
 */
export const DEFAULT_COPY_JOBS = 6;

/** The most blobs copied at once (`--jobs` has the same bound): past it, streams only contend. */
export const MAX_COPY_JOBS = 64;

/**
 * Tries per blob when the destination fails retryably: the same number of upload sessions a
 * re-readable source gets from the client (UPLOAD_MAX_ATTEMPTS).
 */
export const COPY_BLOB_ATTEMPTS = 3;

/** A destination that can take a blob from another repository of the same registry without moving bytes. */
export interface MountingDestination extends ImageDestination {
  mountBlob(desc: Descriptor, source: ImageSource): Promise<boolean>;
}

function canMount(d: ImageDestination): d is MountingDestination {
  return typeof (d as Partial<MountingDestination>).mountBlob === 'function';
}

/** The copy of an image begins: what is copied from where to where. */
export interface ImageStartEvent {
  /** An image event. */
  kind: 'image';
  /** The copy begins. */
  phase: 'start';
  /** The source location, as skopeo writes it (`docker://…`, `oci:…`). */
  source: string;
  /** The destination location. */
  destination: string;
  /** The digest of the top manifest. */
  digest: string;
  /** The top manifest's media type. */
  mediaType: string;
  /** The platforms copied (`linux/arm64/v8`); empty for a single image. */
  platforms: string[];
}

/** The image was there already (`exists`: nothing moves) or is copied whole (`done`). */
export interface ImageEndEvent {
  /** An image event. */
  kind: 'image';
  /** `exists` or `done`. */
  phase: 'exists' | 'done';
  /** The digest of the top manifest. */
  digest: string;
  /** The top manifest's media type. */
  mediaType: string;
}

/** A manifest is written to the destination (an index's children first, the top one last). */
export interface ManifestEvent {
  /** A manifest event. */
  kind: 'manifest';
  /** Written. */
  phase: 'written';
  /** The manifest's digest. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** The platform of an index's child manifest. */
  platform?: string;
  /** For a referrer (`referrers`): the digest of the manifest it refers to. */
  subject?: string;
  /** For a referrer attached by cosign's tag: that tag (`sha256-<hex>.sig`). */
  tag?: string;
  /** For a referrer: its `artifactType`, when known. */
  artifactType?: string;
}

/** A blob was there already (`exists`), was mounted from another repository (`mounted`) or is copied (`done`). */
export interface BlobEvent {
  /** A blob event. */
  kind: 'blob';
  /** `exists`, `mounted` or `done`. */
  phase: 'exists' | 'mounted' | 'done';
  /** The blob's digest. */
  digest: string;
  /** The blob's size in bytes. */
  size: number;
  /** The blob's media type (a layer's, or the config's). */
  mediaType: string;
}

/** Bytes of a blob moved so far, sent as the blob streams. */
export interface BlobProgressEvent {
  /** A blob event. */
  kind: 'blob';
  /** The blob is streaming. */
  phase: 'copying';
  /** The blob's digest. */
  digest: string;
  /** The blob's size in bytes. */
  size: number;
  /** The blob's media type. */
  mediaType: string;
  /** Bytes of it moved so far. */
  bytes: number;
}

/** What `onProgress` is told while a copy runs, in order per image, manifest and blob. */
export type CopyEvent = ImageStartEvent | ImageEndEvent | ManifestEvent | BlobEvent | BlobProgressEvent;

/** How to copy: one platform or all, how many blobs at once, the destination's tag, progress. */
export interface CopyOptions {
  /** One platform of an index (`linux/arm64/v8`); the destination then gets that image's manifest. Default: the whole index. */
  readonly platform?: string | Platform;
  /** Blobs copied at once, 1 to 64. Default 6. */
  readonly jobs?: number;
  /** The tag the destination gives the top manifest (layouts, archives; a registry destination is named by its reference). */
  readonly tag?: string;
  /** Aborts the copy (code ABORTED); nothing is committed at the destination. */
  readonly signal?: AbortSignal;
  /** Told each {@link CopyEvent} as the copy goes (render progress with it). */
  readonly onProgress?: (event: CopyEvent) => void;
  /**
   * Keep every manifest's bytes, and so its digest (crane's behaviour). By default an image in
   * Docker's format copied to an OCI layout or OCI archive is converted to OCI's (as skopeo
   * does), because OCI tools (umoci, skopeo) read only that there. With `preserveDigests` the
   * layout keeps Docker's format, which only gantry and crane read; a destination that cannot
   * keep a manifest at all (a docker archive) fails with USAGE before any blob moves.
   * Registries keep every format as it is, with or without it. Default false.
   */
  readonly preserveDigests?: boolean;
  /**
   * Also copy the referrers of every manifest copied, recursively (a signature of an SBOM of
   * a platform image): the manifests whose `subject` is one of them (the referrers API, else the
   * `sha256-<hex>` tag index; in an OCI layout, its `index.json` entries) and cosign's
   * `sha256-<hex>.sig`, `.att`, `.sbom` tags, which keep their tag. With `platform`, the
   * referrers of the chosen platform's image and of the index it was chosen from (the index
   * itself is not copied). A docker archive cannot hold
   * referrers: such a destination fails with USAGE before any manifest is read. A copy that would
   * convert a manifest that has referrers to OCI's format (new digest) fails the same way:
   * add `preserveDigests`. See docs/referrers.md. Default false.
   */
  readonly referrers?: boolean;
}

/** What a copy did. */
export interface CopyResult {
  /** The digest of the top manifest written (the source's, unless a platform was selected). */
  readonly digest: string;
  /** The top manifest's media type. */
  readonly mediaType: string;
  /**
   * The source's top manifest digest, when the manifests were converted to OCI's format on the
   * way (then `digest` is the converted one's); undefined when the bytes were kept.
   */
  readonly convertedFrom?: string;
  /** True when the destination already had the image and nothing of it moved (with `referrers`, the referrers it lacked were still copied). */
  readonly upToDate: boolean;
  /** Manifests written (an index and its children count one each). */
  readonly manifests: number;
  /** The distinct blobs of the image and what happened to each. */
  readonly blobs: {
    /** Distinct blobs (a layer shared by platforms counts once). */
    readonly total: number;
    /** Streamed from the source. */
    readonly copied: number;
    /** Already at the destination. */
    readonly existed: number;
    /** Mounted from the source repository (same registry), no byte moved. */
    readonly mounted: number;
  };
  /** Bytes streamed (mounted and existing blobs not counted). */
  readonly bytes: number;
  /**
   * With `referrers`: the referrer manifests written (cosign's tagged ones included; their
   * blobs are counted in `blobs` and `bytes`), also when the image itself was up to date;
   * then only those the destination lacked (0 on a rerun with nothing new). Undefined
   * without `referrers`.
   */
  readonly referrers?: number;
}

const PLATFORM_PARTS = ['os', 'architecture', 'variant', 'osVersion'] as const;

/** A platform option: `os/arch[/variant]` that parses, or a Platform object with string parts. */
export function isPlatformOption(v: unknown): boolean {
  if (typeof v === 'string') {
    try {
      parsePlatform(v);
      return true;
    } catch {
      return false;
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const p = v as Record<string, unknown>;
  if (typeof p.os !== 'string' || p.os === '' || typeof p.architecture !== 'string' || p.architecture === '') return false;
  if (PLATFORM_PARTS.some((k) => p[k] !== undefined && typeof p[k] !== 'string')) return false;
  return p.osFeatures === undefined || (Array.isArray(p.osFeatures) && p.osFeatures.every((f) => typeof f === 'string'));
}

export const PLATFORM_EXPECTED = 'os/architecture[/variant] such as "linux/arm64/v8", or a Platform object';

/**
 * Checks every CopyOptions field for the entry point `where` (INVALID_OPTION naming the
 * option and its value); returns the check so that a wider entry point chains its own.
 */
export function checkCopyOptions(where: string, options: CopyOptions | undefined): OptionCheck {
  return checkOptions(where, options)
    .check('platform', isPlatformOption, PLATFORM_EXPECTED)
    .integer('jobs', 1, MAX_COPY_JOBS)
    .string('tag')
    .check('tag', (v) => isValidRefName(v as string), 'a tag without whitespace')
    .signal('signal')
    .func('onProgress')
    .boolean('preserveDigests')
    .boolean('referrers');
}

interface Plan {
  top: RawManifest;
  /** With `platform`: the digest of the index the image was chosen from (not copied; its referrers are). */
  index?: Digest;
  /** Child manifests of an index, in document order. */
  children: { raw: RawManifest; platform?: string }[];
  blobs: Descriptor[];
}

function toRaw(m: Manifest): RawManifest {
  return { bytes: m.bytes, mediaType: m.mediaType, digest: m.digest };
}

function blobsOf(m: ImageManifest, into: Map<string, Descriptor>): void {
  for (const d of [m.config, ...m.layers]) if (!into.has(d.digest.toString())) into.set(d.digest.toString(), d);
}

async function readManifest(source: ImageSource, digest?: Digest): Promise<Manifest> {
  const raw = await source.getManifest(digest);
  return parseManifest(raw.bytes, { mediaType: raw.mediaType, ...(digest ? { expectedDigest: digest } : {}) });
}

async function plan(source: ImageSource, platform: Platform | undefined): Promise<Plan> {
  let top = await readManifest(source);
  let index: Digest | undefined;
  if (top.kind === 'index' && platform) {
    index = top.digest;
    top = await readManifest(source, selectManifest(top, platform).digest);
  }
  if (top.kind === 'schema1') {
    throw new GantryError(ErrorCode.INVALID_RESPONSE, `${source.name}: Docker schema 1 manifests cannot be copied (convert the image to schema 2 first)`);
  }
  const blobs = new Map<string, Descriptor>();
  const children: Plan['children'] = [];
  if (top.kind === 'image') blobsOf(top, blobs);
  else {
    for (const desc of top.manifests) {
      const child = await readManifest(source, desc.digest);
      if (child.kind === 'index') throw new GantryError(ErrorCode.INVALID_RESPONSE, `${source.name}: nested index ${desc.digest.toString()} is not supported`);
      if (child.kind === 'image') blobsOf(child, blobs);
      children.push({ raw: toRaw(child), ...(desc.platform ? { platform: formatPlatform(desc.platform) } : {}) });
    }
  }
  return { top: toRaw(top), children, blobs: [...blobs.values()], ...(index ? { index } : {}) };
}

/**
 * The plan with Docker-format manifests converted to OCI's (convert.ts): each Docker child,
 * then the top (an image, or an index naming the converted children). The blobs stay.
 */
function toOci(p: Plan, where: string): Plan & { convertedFrom?: string } {
  const converted = new Map<string, RawManifest>();
  const children = p.children.map((c) => {
    if (!isDockerFormat(c.raw.mediaType)) return c;
    const raw = imageToOci(c.raw, where);
    converted.set(c.raw.digest.toString(), raw);
    return { ...c, raw };
  });
  const top = p.top;
  let next = top;
  if (p.children.length === 0) {
    if (isDockerFormat(top.mediaType)) next = imageToOci(top, where);
  } else if (isDockerFormat(top.mediaType) || converted.size > 0) {
    next = indexToOci(top, converted, where);
  }
  return next === top ? p : { top: next, children, blobs: p.blobs, convertedFrom: top.digest.toString() };
}

/**
 * Runs `work` over `items` with at most `limit` at once; the first failure stops new work and
 * is reported to `onFailure` (which stops the work in flight).
 */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, onFailure: () => void = () => undefined): Promise<void> {
  let next = 0;
  // A flag, not `failed === undefined`: a stream may fail with no reason at all, and that must
  // still fail the copy rather than let it commit without the blob.
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (err) {
        if (!failure) {
          failure = { error: err ?? new GantryError(ErrorCode.CONNECTION, 'a blob transfer failed without a reason') };
          try {
            onFailure();
          } catch {
            // A listener of the stop signal threw (undici may rethrow the abort reason
            // synchronously). The copy has failed already; report the first failure, not that.
          }
        }
      }
    }
  };
  // `limit` is a checked integer in [1, MAX_COPY_JOBS] (checkCopyOptions); no items, no workers.
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/**
 * Copies one blob. A DIGEST_MISMATCH (found by the destination's verification, or by the
 * source itself) is the source's fault, and the error names it: which registry or file served
 * bytes that are not the blob. It is not retried (DigestMismatchError is not retryable): a
 * source that served the wrong bytes once is not asked again.
 */
async function copyBlob(source: ImageSource, destination: ImageDestination, desc: Descriptor, options: CopyOptions, progress: (bytes: number) => void): Promise<void> {
  try {
    await streamBlob(source, destination, desc, options, progress);
  } catch (err) {
    if (!(err instanceof DigestMismatchError)) throw err;
    throw new DigestMismatchError(`${source.name}: ${err.message}`, err.expected, err.actual, { cause: err });
  }
}

/**
 * Streams one blob from `source` into `destination`. A destination that fails in a way a
 * retry can help (a registry upload whose session broke) gets the blob again from a fresh
 * source stream, up to COPY_BLOB_ATTEMPTS times: a registry destination cannot restart an
 * upload session itself, because the stream it was handed can be read only once. A failure
 * of the source stream is not retried here: the source already resumed and retried it.
 */
async function streamBlob(source: ImageSource, destination: ImageDestination, desc: Descriptor, options: CopyOptions, progress: (bytes: number) => void): Promise<void> {
  const blobOptions = options.signal ? { signal: options.signal } : {};
  for (let attempt = 1; ; attempt++) {
    const stream: Readable = await source.getBlob(desc, blobOptions);
    let done = 0;
    let sourceFailed = false;
    let sourceError: unknown;
    const counted = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        done += chunk.length;
        progress(done);
        cb(null, chunk);
      },
    });
    stream.once('error', (err) => {
      sourceFailed = true;
      sourceError = err;
      counted.destroy(err);
    });
    // The destination gave up on `counted`: stop reading the source, without blaming it. An
    // error arriving after the destination stopped listening is the copy's, already reported.
    counted.once('close', () => stream.destroy());
    counted.on('error', () => undefined);
    stream.pipe(counted);
    try {
      // The engine asked hasBlob just before the first attempt; a retry lets the destination ask again.
      await destination.putBlob(desc, counted, attempt === 1 ? { ...blobOptions, absent: true } : blobOptions);
      return;
    } catch (err) {
      stream.destroy();
      // The source's own error says more than the destination's report of a broken stream.
      if (sourceFailed) throw sourceError ?? err;
      const retryable = err instanceof GantryError && err.retryable;
      if (!retryable || attempt >= COPY_BLOB_ATTEMPTS || options.signal?.aborted) throw err ?? new GantryError(ErrorCode.CONNECTION, `${destination.name}: blob ${desc.digest.toString()} failed without a reason`);
    }
  }
}

/**
 * The manifests whose referrers are copied: the top one and, for an index, its children (the
 * source's digests); with `platform`, also the index the image was chosen from (a signature of
 * the whole index still vouches for the image taken from it).
 */
function referrerRoots(p: Plan): Digest[] {
  return [p.top.digest, ...p.children.map((c) => c.raw.digest), ...(p.index ? [p.index] : [])];
}

/**
 * Refuses referrers whose subject the copy converts to OCI's format: the converted manifest has
 * a new digest, which they do not name (a signature would no longer sign what is there).
 */
function checkNotConverted(read: Plan, converted: Plan, attached: readonly ReferrerCopy[], destination: ImageDestination): void {
  if (read === converted) return;
  const changed = new Set<string>();
  if (!read.top.digest.equals(converted.top.digest)) changed.add(read.top.digest.toString());
  read.children.forEach((c, i) => {
    if (!c.raw.digest.equals(converted.children[i]?.raw.digest ?? c.raw.digest)) changed.add(c.raw.digest.toString());
  });
  const hit = attached.find((r) => r.link.depth === 1 && changed.has(r.link.subject.toString()));
  if (hit) {
    throw new GantryError(
      ErrorCode.USAGE,
      `${destination.name}: --referrers: manifest ${hit.link.subject.toString()} has referrers (${hit.link.raw.digest.toString()}), and copying it here converts it to OCI's format, with a new digest they do not name: add --preserve-digests to keep the manifests as they are`,
    );
  }
}

/**
 * The planned referrers a destination that has the image lacks, in the walk's order (all of
 * them when it cannot tell). Asked at once: they are independent questions.
 */
async function missingReferrers(destination: ImageDestination, planned: readonly ReferrerCopy[], signal: AbortSignal | undefined): Promise<readonly ReferrerCopy[]> {
  if (planned.length === 0 || !isReferrerDestination(destination) || destination.holdsReferrer === undefined) return planned;
  const opts = signal ? { signal } : {};
  const held = await Promise.all(planned.map((r) => destination.holdsReferrer!(r.link.raw, r.link.subject, r.link.tag, opts)));
  return planned.filter((_, i) => !held[i]);
}

/** The distinct blobs of `lists`, in first-seen order. */
function distinctBlobs(...lists: readonly (readonly Descriptor[])[]): Descriptor[] {
  const out = new Map<string, Descriptor>();
  for (const list of lists) for (const d of list) if (!out.has(d.digest.toString())) out.set(d.digest.toString(), d);
  return [...out.values()];
}

/** Copies the image `source` names to `destination`. Bad options are INVALID_OPTION, before any work. */
export async function copyImage(source: ImageSource, destination: ImageDestination, options: CopyOptions = {}): Promise<CopyResult> {
  checkCopyOptions('copyImage', options);
  if (options.referrers && !isReferrerDestination(destination)) {
    throw new GantryError(ErrorCode.USAGE, `${destination.name}: --referrers: this destination cannot hold referrers (a docker archive keeps no manifests): drop --referrers, or copy to a registry, oci: or oci-archive:`);
  }
  const emit = options.onProgress ?? (() => undefined);
  const jobs = destination.parallelBlobs ? (options.jobs ?? DEFAULT_COPY_JOBS) : 1;
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  const read = await plan(source, platform);
  const format = destination.manifestFormat ?? 'any';
  if (options.preserveDigests && format === 'rewritten') {
    throw new GantryError(ErrorCode.USAGE, `${destination.name}: this destination cannot keep the manifest's bytes (a docker archive stores no manifest): drop --preserve-digests, or copy to a registry, oci: or oci-archive:`);
  }
  const p: Plan & { convertedFrom?: string } = format === 'oci' && !options.preserveDigests ? toOci(read, source.name) : read;
  // The referrers of what is copied; with --platform, the chosen image's and the index's.
  const attached = options.referrers ? await planReferrers(source, referrerRoots(read), options.signal ? { signal: options.signal } : {}) : [];
  checkNotConverted(read, p, attached, destination);
  const referrerBlobs = distinctBlobs(...attached.map((r) => r.blobs));
  const converted = p.convertedFrom ? { convertedFrom: p.convertedFrom } : {};
  const digest = p.top.digest.toString();
  emit({ kind: 'image', phase: 'start', source: source.name, destination: destination.name, digest, mediaType: p.top.mediaType, platforms: p.children.flatMap((c) => (c.platform ? [c.platform] : [])) });
  const put = { ...(options.tag ? { tag: options.tag } : {}) };
  try {
    const upToDate = destination.hasManifest !== undefined && (await destination.hasManifest(p.top.digest, options.tag));
    if (upToDate && !options.referrers) {
      await destination.putManifest(p.top, { ...put, isTop: true });
      await destination.commit();
      emit({ kind: 'image', phase: 'exists', digest, mediaType: p.top.mediaType });
      return { digest, mediaType: p.top.mediaType, ...converted, upToDate: true, manifests: 0, blobs: { total: p.blobs.length, copied: 0, existed: p.blobs.length, mounted: 0 }, bytes: 0 };
    }
    // An image up to date has its blobs, and maybe its referrers: only the missing ones are written.
    const missing = upToDate ? await missingReferrers(destination, attached, options.signal) : attached;
    const imageBlobs = new Set(p.blobs.map((d) => d.digest.toString()));
    const pending = upToDate ? distinctBlobs(...missing.map((r) => r.blobs)).filter((d) => !imageBlobs.has(d.digest.toString())) : distinctBlobs(p.blobs, referrerBlobs);
    let copied = 0;
    let existed = upToDate ? p.blobs.length : 0;
    let mounted = 0;
    let bytes = 0;
    // The first blob that fails stops the others in flight: the copy reports at once instead of
    // after the slowest download, and the destination's abort removes their partial writes.
    const stopBlobs = new AbortController();
    const blobSignal = options.signal ? AbortSignal.any([options.signal, stopBlobs.signal]) : stopBlobs.signal;
    // Every request in flight listens to it (undici adds one 'abort' listener per request and
    // removes it at the end): more than Node's warning threshold of 10 with `jobs` above 5.
    setMaxListeners(0, stopBlobs.signal, blobSignal);
    const blobOptions = { ...options, signal: blobSignal };
    await pool(pending, jobs, async (desc) => {
      options.signal?.throwIfAborted();
      const base = { digest: desc.digest.toString(), size: desc.size, mediaType: desc.mediaType };
      if (await destination.hasBlob(desc)) {
        existed++;
        emit({ kind: 'blob', phase: 'exists', ...base });
        return;
      }
      if (canMount(destination) && (await destination.mountBlob(desc, source))) {
        mounted++;
        emit({ kind: 'blob', phase: 'mounted', ...base });
        return;
      }
      await copyBlob(source, destination, desc, blobOptions, (bytes) => emit({ kind: 'blob', phase: 'copying', ...base, bytes }));
      copied++;
      bytes += desc.size;
      emit({ kind: 'blob', phase: 'done', ...base });
    }, () => stopBlobs.abort(new GantryError(ErrorCode.ABORTED, 'another blob of the copy failed')));
    if (!upToDate) {
      for (const child of p.children) {
        options.signal?.throwIfAborted();
        await destination.putManifest(child.raw, { isTop: false });
        emit({ kind: 'manifest', phase: 'written', digest: child.raw.digest.toString(), mediaType: child.raw.mediaType, ...(child.platform ? { platform: child.platform } : {}) });
      }
    }
    await destination.putManifest(p.top, { ...put, isTop: true });
    if (!upToDate) emit({ kind: 'manifest', phase: 'written', digest, mediaType: p.top.mediaType });
    // After the image: a referrer is written once its subject is at the destination.
    const referrers = options.referrers && isReferrerDestination(destination)
      ? await writeReferrers(destination, missing, ({ link }) => emit({
          kind: 'manifest',
          phase: 'written',
          digest: link.raw.digest.toString(),
          mediaType: link.raw.mediaType,
          subject: link.subject.toString(),
          ...(link.tag !== undefined ? { tag: link.tag } : {}),
          ...(link.descriptor.artifactType !== undefined ? { artifactType: link.descriptor.artifactType } : {}),
        }), options.signal ? { signal: options.signal } : {})
      : undefined;
    await destination.commit();
    emit({ kind: 'image', phase: upToDate ? 'exists' : 'done', digest, mediaType: p.top.mediaType });
    const total = (upToDate ? p.blobs.length : 0) + pending.length;
    return {
      digest,
      mediaType: p.top.mediaType,
      ...converted,
      upToDate,
      manifests: upToDate ? 0 : p.children.length + 1,
      blobs: { total, copied, existed, mounted },
      bytes,
      ...(referrers !== undefined ? { referrers } : {}),
    };
  } catch (err) {
    await destination.abort().catch(() => undefined);
    throw err;
  }
}

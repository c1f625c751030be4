/**
 * Referrers: the manifests attached to an image (signatures, SBOMs, attestations), walked as a
 * graph, for `copy --referrers` and `gantry referrers`. A manifest is attached to another in
 * two ways, and both are followed:
 *
 *   - by its `subject` (OCI 1.1): a registry lists them through the referrers API, else
 *     through the `sha256-<hex>` tag index (client/referrers.ts); an OCI layout by the
 *     `index.json` entries whose manifest names the subject (layout-index.ts);
 *   - by cosign's tags in the same repository or layout: `sha256-<hex>.sig`, `.att`, `.sbom`,
 *     where `sha256-<hex>` is the digest of the manifest signed.
 *
 * The walk is breadth first from the manifests copied (or inspected), so a subject always
 * comes before what refers to it: a signature of an SBOM of an image is found at depth 2. Each
 * manifest's referrers are asked for once. The walk is bounded (MAX_REFERRER_DEPTH levels,
 * MAX_REFERRERS links, MAX_REFERRER_BYTES of manifests held): a graph past a bound fails with
 * TOO_LARGE instead of walking a loop or an attack. What gantry writes and reads, and how
 * `--platform` narrows it, is in docs/referrers.md.
 */
import { ErrorCode, GantryError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { manifestDescriptor, parseManifest } from '../oci/manifest.js';
import { formatPlatform } from '../oci/platform.js';
import type { Digest } from '../ref/digest.js';
import { checkOptions } from '../options.js';
import { referrersTag } from '../client/referrers.js';
import type { RegistryAccessOptions } from '../client/connect.js';
import { referrerEntry } from './layout-index.js';
import { isReferrerSource, type ImageSource, type RawManifest, type ReferrerDestination, type ReferrerSource } from './types.js';
import type { ImageLocation } from './transports.js';

/** Levels of referrers followed below a manifest: a signature (1) of an SBOM (2) of an image is usual; deeper than this is a loop or an attack. */
export const MAX_REFERRER_DEPTH = 8;
/** Referrers (cosign tags included) one walk follows at most, all levels together. */
export const MAX_REFERRERS = 1000;
/** Bytes of referrer manifests a copy holds at most (each is at most 4 MiB; real ones are a few KiB). */
export const MAX_REFERRER_BYTES = 64 * 1024 * 1024;
/** cosign's tag suffixes: `sha256-<hex>.sig` (signatures), `.att` (attestations), `.sbom`. */
export const COSIGN_TAG_SUFFIXES = ['sig', 'att', 'sbom'] as const;

/** One referrer found by the walk: the manifest, what it refers to, and how it is attached. */
export interface ReferrerLink {
  /** The referrer's descriptor: media type, digest, size, and `artifactType` when known. */
  readonly descriptor: Descriptor;
  /** The digest of the manifest it refers to. */
  readonly subject: Digest;
  /** cosign's tag it was found under (`sha256-<hex>.sig`); undefined for a referrer found by its `subject`. */
  readonly tag?: string;
  /** 1 for a referrer of a manifest walked from, 2 for a referrer of that referrer, and so on. */
  readonly depth: number;
  /** The referrer's manifest, when the walk was asked to read it (or found it by tag). */
  readonly raw?: RawManifest;
}

interface WalkOptions {
  readonly artifactType?: string;
  readonly signal?: AbortSignal;
  /** Read every referrer's manifest (a copy needs them; a tree does not). */
  readonly read: boolean;
}

type Found = Pick<ReferrerLink, 'descriptor' | 'tag' | 'raw'>;

/** What refers to `digest` in `source`: by subject, and by cosign's tags (the four questions asked at once). */
async function attachedTo(source: ReferrerSource, digest: Digest, options: WalkOptions): Promise<Found[]> {
  const signal = options.signal ? { signal: options.signal } : {};
  const [listed, ...tagged] = await Promise.all([
    source.referrers(digest, { ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}), ...signal }),
    ...COSIGN_TAG_SUFFIXES.map(async (suffix) => {
      const tag = `${referrersTag(digest)}.${suffix}`;
      const raw = await source.taggedManifest(tag, signal);
      return raw === undefined ? undefined : { tag, raw };
    }),
  ]);
  const found: Found[] = listed.map((descriptor) => ({ descriptor }));
  for (const t of tagged) {
    if (t === undefined) continue;
    const m = parseManifest(t.raw.bytes, { mediaType: t.raw.mediaType, expectedDigest: t.raw.digest });
    const descriptor = m.kind === 'schema1' ? manifestDescriptor(m) : referrerEntry(m);
    if (options.artifactType !== undefined && descriptor.artifactType !== options.artifactType) continue;
    found.push({ descriptor, tag: t.tag, raw: t.raw });
  }
  return found;
}

function tooLarge(what: string): GantryError {
  return new GantryError(ErrorCode.TOO_LARGE, `referrers: ${what}`);
}

/**
 * Walks the referrers graph of `roots` in `source`, breadth first: every link, in an order
 * where a subject comes before what refers to it. A manifest reached twice (a cosign tag on a
 * referrer) is one more link, and its own referrers are asked for once. A source that cannot
 * hold referrers (a docker archive) has none.
 */
export async function walkReferrers(source: ImageSource, roots: readonly Digest[], options: WalkOptions): Promise<ReferrerLink[]> {
  if (!isReferrerSource(source)) return [];
  const seen = new Set(roots.map((d) => d.toString()));
  const links: ReferrerLink[] = [];
  const keys = new Set<string>();
  const read = new Map<string, RawManifest>();
  let bytes = 0;
  let level: Digest[] = [...roots];
  for (let depth = 1; level.length > 0; depth++) {
    const next: Digest[] = [];
    for (const subject of level) {
      options.signal?.throwIfAborted();
      for (const found of await attachedTo(source, subject, options)) {
        const digest = found.descriptor.digest;
        const key = `${subject.toString()} ${digest.toString()} ${found.tag ?? ''}`;
        if (keys.has(key)) continue; // listed twice (a tag index and the API disagree on nothing else)
        keys.add(key);
        if (depth > MAX_REFERRER_DEPTH) throw tooLarge(`${digest.toString()} is ${depth} levels of referrers below ${roots[0]?.toString() ?? 'the image'}, more than the ${MAX_REFERRER_DEPTH} gantry follows`);
        if (links.length >= MAX_REFERRERS) throw tooLarge(`more than ${MAX_REFERRERS} referrers below ${roots[0]?.toString() ?? 'the image'}`);
        let raw = found.raw ?? read.get(digest.toString());
        if (options.read && raw === undefined) raw = await source.getManifest(digest);
        if (raw !== undefined && !read.has(digest.toString())) {
          read.set(digest.toString(), raw);
          bytes += raw.bytes.length;
          if (bytes > MAX_REFERRER_BYTES) throw tooLarge(`the referrer manifests below ${roots[0]?.toString() ?? 'the image'} are more than ${MAX_REFERRER_BYTES} bytes`);
        }
        links.push({ descriptor: found.descriptor, subject, depth, ...(found.tag !== undefined ? { tag: found.tag } : {}), ...(raw !== undefined ? { raw } : {}) });
        if (!seen.has(digest.toString())) {
          seen.add(digest.toString());
          next.push(digest);
        }
      }
    }
    level = next;
  }
  return links;
}

/** One referrer to copy: its manifest, an index's child manifests (written before it), and the blobs they name. */
export interface ReferrerCopy {
  /** How it was found; `link.raw` is its manifest. */
  readonly link: ReferrerLink & { readonly raw: RawManifest };
  /** A referrer that is an index: its child manifests, in order. */
  readonly children: readonly RawManifest[];
  /** The config and layers of the manifest (of an index's children), in order; not deduplicated. */
  readonly blobs: readonly Descriptor[];
}

/**
 * The referrers graph of `roots`, read for a copy: every referrer's manifest, an index
 * referrer's children, and the blobs of each. Manifests only: blobs are streamed by the copy.
 */
export async function planReferrers(source: ImageSource, roots: readonly Digest[], options: { signal?: AbortSignal } = {}): Promise<ReferrerCopy[]> {
  const links = await walkReferrers(source, roots, { read: true, ...(options.signal ? { signal: options.signal } : {}) });
  const out: ReferrerCopy[] = [];
  let bytes = 0;
  for (const link of links) {
    const raw = link.raw as RawManifest;
    const m = parseManifest(raw.bytes, { mediaType: raw.mediaType, expectedDigest: raw.digest });
    if (m.kind === 'schema1') throw new GantryError(ErrorCode.INVALID_RESPONSE, `${source.name}: referrer ${raw.digest.toString()} is a Docker schema 1 manifest, which cannot be copied`);
    if (link.tag === undefined && !m.subject?.digest.equals(link.subject)) {
      const says = m.subject ? `its subject is ${m.subject.digest.toString()}` : 'it has no subject';
      throw new GantryError(ErrorCode.INVALID_RESPONSE, `${source.name}: ${raw.digest.toString()} is listed as a referrer of ${link.subject.toString()}, but ${says}`);
    }
    const children: RawManifest[] = [];
    const blobs: Descriptor[] = m.kind === 'image' ? [m.config, ...m.layers] : [];
    if (m.kind === 'index') {
      for (const desc of m.manifests) {
        const child = await source.getManifest(desc.digest);
        const cm = parseManifest(child.bytes, { mediaType: child.mediaType, expectedDigest: desc.digest });
        if (cm.kind !== 'image') throw new GantryError(ErrorCode.INVALID_RESPONSE, `${source.name}: referrer ${raw.digest.toString()} is an index naming ${desc.digest.toString()}, which is not an image manifest`);
        bytes += child.bytes.length;
        if (bytes > MAX_REFERRER_BYTES) throw tooLarge(`the referrer manifests below ${roots[0]?.toString() ?? 'the image'} are more than ${MAX_REFERRER_BYTES} bytes`);
        children.push(child);
        blobs.push(cm.config, ...cm.layers);
      }
    }
    out.push({ link: { ...link, raw }, children, blobs });
  }
  return out;
}

/** A referrer in a {@link ReferrerTree}, with its own referrers below it. */
export interface ReferrerNode {
  /** The referrer's manifest digest. */
  readonly digest: string;
  /** Its media type. */
  readonly mediaType: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Its `artifactType` (an image manifest without one: its config's media type); undefined when unknown. */
  readonly artifactType?: string;
  /** cosign's tag it is attached by (`sha256-<hex>.sig`); undefined for a referrer found by its `subject`. */
  readonly tag?: string;
  /** Its annotations as the referrers list gave them; undefined when none. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** What refers to it, in the same form. */
  readonly referrers: readonly ReferrerNode[];
}

/** A platform manifest of an index, with its referrers. */
export interface ReferrerTreeManifest {
  /** The platform manifest's digest. */
  readonly digest: string;
  /** Its media type. */
  readonly mediaType: string;
  /** `os/arch[/variant]`; undefined when the index names none. */
  readonly platform?: string;
  /** Its referrers. */
  readonly referrers: readonly ReferrerNode[];
}

/** What {@link referrerTree} found: the manifest a location names and what refers to it, recursively. */
export interface ReferrerTree {
  /** The location as gantry names it (`docker://host/repo:tag`, `oci:DIR:TAG`). */
  readonly name: string;
  /** The digest of the manifest the location names. */
  readonly digest: string;
  /** Its media type. */
  readonly mediaType: string;
  /** Its referrers. */
  readonly referrers: readonly ReferrerNode[];
  /** For an index: each platform manifest with its referrers, in the index's order. */
  readonly manifests?: readonly ReferrerTreeManifest[];
  /** Referrers in the whole tree, every level and cosign tags included. */
  readonly count: number;
}

/** Options for {@link referrerTree}: an `artifactType` filter, registry access and a signal. */
export interface ReferrerTreeOptions {
  /** Only referrers of this `artifactType`, at every level of the tree. Default: all. */
  readonly artifactType?: string;
  /** How to reach the registry (TLS, credentials) when the location is one; unused for `oci:` and `oci-archive:`. */
  readonly access?: RegistryAccessOptions;
  /** Cancels the walk (code ABORTED). */
  readonly signal?: AbortSignal;
}

/** The tree of `links` below `digest` at `depth` (each link hangs under its subject, one level down). */
function nodesBelow(byParent: Map<string, ReferrerLink[]>, digest: Digest, depth: number): ReferrerNode[] {
  return (byParent.get(`${depth} ${digest.toString()}`) ?? []).map((l) => {
    const d = l.descriptor;
    return {
      digest: d.digest.toString(),
      mediaType: d.mediaType,
      size: d.size,
      ...(d.artifactType !== undefined ? { artifactType: d.artifactType } : {}),
      ...(l.tag !== undefined ? { tag: l.tag } : {}),
      ...(d.annotations !== undefined && Object.keys(d.annotations).length > 0 ? { annotations: d.annotations } : {}),
      referrers: nodesBelow(byParent, d.digest, depth + 1),
    };
  });
}

/**
 * The referrers tree of the image at `location` (a registry reference, `oci:DIR[:TAG]` or
 * `oci-archive:FILE[:TAG]`), as `regctl artifact tree` shows it: the manifest's referrers and
 * theirs, recursively, and for an index each platform manifest's too. The library call behind
 * `gantry referrers`. Bounded as a copy's walk is (MAX_REFERRER_DEPTH, MAX_REFERRERS: TOO_LARGE).
 */
export async function referrerTree(location: string | ImageLocation, options: ReferrerTreeOptions = {}): Promise<ReferrerTree> {
  checkOptions('referrerTree', options).string('artifactType').object('access').signal('signal');
  // transports.ts imports copy.ts, which imports this file: the location is opened through a
  // lazy import, so that neither module needs the other while it loads.
  const { openSource, parseImageLocation } = await import('./transports.js');
  const loc = typeof location === 'string' ? parseImageLocation(location) : location;
  const opened = await openSource(loc, options.access);
  try {
    const source = opened.value;
    const top = await source.getManifest();
    const m = parseManifest(top.bytes, { mediaType: top.mediaType, expectedDigest: top.digest });
    const children = m.kind === 'index' ? m.manifests : [];
    const walk = { read: false, ...(options.artifactType !== undefined ? { artifactType: options.artifactType } : {}), ...(options.signal ? { signal: options.signal } : {}) };
    const links = await walkReferrers(source, [top.digest, ...children.map((c) => c.digest)], walk);
    const byParent = new Map<string, ReferrerLink[]>();
    for (const l of links) {
      const key = `${l.depth} ${l.subject.toString()}`;
      byParent.set(key, [...(byParent.get(key) ?? []), l]);
    }
    return {
      name: source.name,
      digest: top.digest.toString(),
      mediaType: top.mediaType,
      referrers: nodesBelow(byParent, top.digest, 1),
      ...(m.kind === 'index'
        ? {
            manifests: children.map((c) => ({
              digest: c.digest.toString(),
              mediaType: c.mediaType,
              ...(c.platform ? { platform: formatPlatform(c.platform) } : {}),
              referrers: nodesBelow(byParent, c.digest, 1),
            })),
          }
        : {}),
      count: links.length,
    };
  } finally {
    await opened.close();
  }
}

/**
 * Writes planned referrers to `destination`, in the walk's order (a subject before what refers
 * to it): an index referrer's children first, then the referrer itself, through
 * `putReferrer`, or under its cosign tag through `putTaggedManifest`. The blobs must be there
 * already. `written` is told each manifest written. Returns the distinct manifests written.
 */
export async function writeReferrers(
  destination: ReferrerDestination,
  planned: readonly ReferrerCopy[],
  written: (r: ReferrerCopy) => void,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const signal = options.signal ? { signal: options.signal } : {};
  const digests = new Set<string>();
  for (const r of planned) {
    options.signal?.throwIfAborted();
    for (const child of r.children) await destination.putManifest(child, { isTop: false });
    if (r.link.tag !== undefined) await destination.putTaggedManifest(r.link.raw, r.link.tag, signal);
    else await destination.putReferrer(r.link.raw, signal);
    digests.add(r.link.raw.digest.toString());
    written(r);
  }
  return digests.size;
}

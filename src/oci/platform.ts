/**
 * Platforms (`os/architecture/variant`) and the choice of one image from an index, with
 * containerd's normalisation (`platforms/database.go`) and Docker's matching order
 * (`platforms.Only`: the exact variant first, then older variants the CPU can run).
 *
 * Unlike `platforms.Only`, an architecture never falls back to another one (amd64 to 386,
 * arm64 to 32-bit arm): a copy does not run the image, and silently copying a 32-bit image for
 * an arm64 request is a surprise, not a convenience.
 */
import { ConfigError, ErrorCode, GantryError } from '../errors.js';
import type { Descriptor, Platform } from './descriptor.js';

export type { Platform } from './descriptor.js';

/** The part of an index `selectManifest` needs. */
export interface PlatformIndex {
  digest?: { toString(): string };
  manifests: readonly Descriptor[];
}

const PART_RE = /^[A-Za-z0-9_.-]+$/;
const PARTS = ['os', 'architecture', 'variant'] as const;

/** Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`) and normalises it. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3) {
    throw new ConfigError(`invalid platform ${JSON.stringify(s)}: must be os/architecture[/variant], e.g. linux/arm64/v8`);
  }
  parts.forEach((part, i) => {
    const name = PARTS[i] ?? 'part';
    if (part === '') throw new ConfigError(`invalid platform ${JSON.stringify(s)}: ${name} is empty`);
    if (!PART_RE.test(part)) {
      throw new ConfigError(`invalid platform ${JSON.stringify(s)}: ${name} ${JSON.stringify(part)} has characters other than letters, digits, '_', '.', '-'`);
    }
  });
  const [os = '', architecture = '', variant] = parts;
  return normalizePlatform(variant === undefined ? { os, architecture } : { os, architecture, variant });
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** containerd's `normalizeArch`, except that arm64's implied variant is spelled out (`v8`). */
function normalizeArch(arch: string, variant: string): [string, string] {
  arch = arch.toLowerCase();
  variant = variant.toLowerCase();
  switch (arch) {
    case 'i386':
    case 'x86':
    case '386':
      return ['386', ''];
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return ['amd64', variant === 'v1' || variant === '1' ? '' : variant];
    case 'aarch64':
    case 'arm64':
      if (variant === '' || variant === '8' || variant === 'v8.0') return ['arm64', 'v8'];
      if (variant === '9' || variant === '9.0' || variant === 'v9.0') return ['arm64', 'v9'];
      return ['arm64', /^\d/.test(variant) ? `v${variant}` : variant];
    case 'armhf':
      return ['arm', 'v7'];
    case 'armel':
      return ['arm', 'v6'];
    case 'arm':
      if (variant === '' || variant === '7') return ['arm', 'v7'];
      return ['arm', /^\d+$/.test(variant) ? `v${variant}` : variant];
    default:
      return [arch, variant];
  }
}

/** Lower-cases and applies containerd's aliases (`aarch64`→`arm64/v8`, `armhf`→`arm/v7`, ...). */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (p.osVersion) out.osVersion = p.osVersion;
  if (p.osFeatures) out.osFeatures = p.osFeatures;
  return out;
}

/** `v7` → 7, `v8.2` → 8.2, `` → 1 (amd64's baseline); NaN when not a version. */
function variantLevel(variant: string | undefined): number {
  if (!variant) return 1;
  return /^v\d+(\.\d+)?$/.test(variant) ? Number(variant.slice(1)) : Number.NaN;
}

/**
 * How well `candidate` suits `wanted`: 0 is an exact match, higher numbers are older variants
 * the wanted CPU still runs (arm/v7 takes v6 then v5; amd64/v3 takes v2 then v1), undefined is
 * no match. The os always has to match.
 */
export function platformDistance(wanted: Platform, candidate: Platform): number | undefined {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return undefined;
  if (!osVersionMatches(w, c)) return undefined;
  if ((w.variant ?? '') === (c.variant ?? '')) return 0;
  if (w.architecture !== 'arm' && w.architecture !== 'amd64' && w.architecture !== 'arm64') return undefined;
  const wl = variantLevel(w.variant);
  const cl = variantLevel(c.variant);
  if (Number.isNaN(wl) || Number.isNaN(cl) || cl > wl) return undefined;
  if (w.architecture === 'arm' && cl < 5) return undefined;
  return Math.round((wl - cl) * 10);
}

/** Windows images only run on a host of the same major.minor.build; elsewhere os.version is free. */
function osVersionMatches(w: Platform, c: Platform): boolean {
  if (w.os !== 'windows' || !w.osVersion || !c.osVersion) return true;
  const prefix = (v: string): string => v.split('.').slice(0, 3).join('.');
  return prefix(w.osVersion) === prefix(c.osVersion);
}

/** Whether an image for `candidate` is acceptable where `wanted` was asked for. */
export function matchPlatform(wanted: Platform, candidate: Platform): boolean {
  return platformDistance(wanted, candidate) !== undefined;
}

/**
 * The best child of an index for `wanted`: the closest variant, the first in document order
 * among equals (Docker's order). Children without a platform (attestations, artifacts) never
 * match. Throws NOT_FOUND listing the platforms the index has.
 */
export function selectManifest(index: PlatformIndex, wanted: Platform): Descriptor {
  let best: Descriptor | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const m of index.manifests) {
    if (!m.platform) continue;
    const d = platformDistance(wanted, m.platform);
    if (d !== undefined && d < bestDistance) {
      best = m;
      bestDistance = d;
    }
  }
  if (best) return best;
  const available = index.manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform as Platform));
  const where = index.digest ? ` in index ${index.digest.toString()}` : '';
  throw new GantryError(
    ErrorCode.NOT_FOUND,
    `no image for platform ${formatPlatform(normalizePlatform(wanted))}${where}; available: ${available.length > 0 ? [...new Set(available)].join(', ') : 'none'}`,
  );
}

const NODE_ARCH: Readonly<Record<string, [string, string?]>> = {
  x64: ['amd64'],
  arm64: ['arm64', 'v8'],
  ia32: ['386'],
  ppc64: ['ppc64le'],
  s390x: ['s390x'],
  riscv64: ['riscv64'],
  loong64: ['loong64'],
  mips: ['mips'],
  mipsel: ['mipsle'],
};

/** The platform of the running Node process, in OCI words. */
export function hostPlatform(): Platform {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  if (process.arch === 'arm') {
    const armVersion = (process.config.variables as Record<string, unknown>)['arm_version'];
    return { os, architecture: 'arm', variant: `v${typeof armVersion === 'string' && armVersion ? armVersion : '7'}` };
  }
  const [architecture, variant] = NODE_ARCH[process.arch] ?? [process.arch];
  return variant ? { os, architecture, variant } : { os, architecture };
}

/**
 * What `gantry sync` mirrors: the configuration's shape, and its one checker. The same rules
 * read a YAML file (`config-file.ts`, kebab-case keys such as `tls-verify`, errors naming the
 * file, line and key path) and check a configuration handed to `sync()` in code (camelCase
 * keys, INVALID_OPTION naming the key path). Unknown keys are errors in both: a misspelt
 * `exclude-regex` must not silently mirror every tag.
 *
 * Secrets never live in the configuration: a registry's credentials come from a file
 * (`creds-file`, `authfile`) or Docker's stores, so the file can be committed and the report
 * printed. A key that looks like an inline secret (`password`, `credentials`) is refused with
 * the way to do it, and no error ever shows an unknown key's value.
 */
import semver from 'semver';
import { parsePlatform } from '../oci/platform.js';
import { parseRepository } from '../ref/reference.js';
import { DOMAIN_RE, TAG_RE } from '../ref/grammar.js';

/** Tags in flight at once (HEADs compared, images copied), by default. */
export const DEFAULT_SYNC_JOBS = 8;
/** The most tags in flight at once. */
export const MAX_SYNC_JOBS = 256;
/**
 * Requests in flight to one registry at once, by default: enough to keep 8 tags' HEADs and
 * their copies' blob requests moving on loopback, few enough not to look like a flood to a
 * hosted registry.
 */
export const DEFAULT_REGISTRY_REQUESTS = 16;
/** The most requests in flight to one registry. */
export const MAX_REGISTRY_REQUESTS = 1024;
/** Blobs of one image copied at once, by default (`copy`'s `jobs`; several images copy at once too). */
export const DEFAULT_SYNC_BLOB_JOBS = 4;
/** The largest `newest` (tags kept in memory while a repository's listing streams by). */
export const MAX_NEWEST = 10_000;

/** How to reach one registry: TLS and where the credentials are. Every field is optional. */
export interface SyncAccess {
  /** `true`: https with verification only; `false`: insecure (https unverified, then http). Default: the insecure-registry rules. */
  readonly tlsVerify?: boolean;
  /** The certs.d root for this registry (`<dir>/<host>/`). Default: the run's (`--certs-dir`, else Docker's). */
  readonly certsDir?: string;
  /** skopeo's `--cert-dir`: a folder holding this registry's own `*.crt`, `*.cert`/`*.key`. */
  readonly certDir?: string;
  /** A containers-auth.json to read this registry's credentials from. */
  readonly authFile?: string;
  /** A file holding `USER:PASS` on its first line (mode 0600 advised); read once, never printed. */
  readonly credsFile?: string;
  /** Library only (a YAML file names a `credsFile`): credentials for this registry. */
  readonly credentials?: {
    /** The user name. */
    readonly username: string;
    /** The password or token. */
    readonly password: string;
  };
  /** Send no credentials to this registry. */
  readonly anonymous?: boolean;
  /** Requests in flight to this registry at most (the lowest wins when a registry is named twice). Default: the run's `registryJobs`. */
  readonly maxRequests?: number;
}

/** Which tags of a repository are synced. Filters apply in the order listed here. */
export interface SyncTagFilter {
  /** Exactly these tags (no listing is requested). Default: every tag of the listing. */
  readonly names?: readonly string[];
  /** Keep tags this regular expression matches (unanchored, as skopeo's `images-by-tag-regex`). */
  readonly regex?: string;
  /** Drop tags this regular expression matches. */
  readonly excludeRegex?: string;
  /**
   * Keep tags that are versions in this semver range (`>=1.2 <2`, `^3`, `~1.4.2`). A tag is a
   * version when it reads `[v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`; missing parts are 0.
   */
  readonly semver?: string;
  /** Count prerelease versions (`1.2.0-rc1`) in `semver` and `newest`. Default false. */
  readonly prerelease?: boolean;
  /** Keep only the newest N tags (at most 10 000), by `order`. */
  readonly newest?: number;
  /**
   * What `newest` orders by: `semver` (tags that are not versions are dropped) or `created`
   * (the image config's `created`: one manifest GET and one config GET per candidate tag).
   * Default `semver`.
   */
  readonly order?: 'semver' | 'created';
}

/** A repository of a source, by name, with optional filters of its own. */
export interface SyncRepository {
  /** The path in the source registry (`team/app`; `alpine` on Docker Hub is `library/alpine`). */
  readonly name: string;
  /** Tag filter for this repository, instead of the source's. */
  readonly tags?: SyncTagFilter;
  /** Immutable tags for this repository, instead of the source's. */
  readonly immutable?: boolean | string;
}

/** Where a source's repositories go, and how their names are rewritten there. */
export interface SyncDestination extends SyncAccess {
  /** The destination registry, `host[:port]`. */
  readonly registry: string;
  /** Put every repository under this path (`mirror` makes `team/app` `mirror/team/app`). Default: none. */
  readonly prefix?: string;
  /** Remove this leading path first when the name starts with it (`library` makes `library/alpine` `alpine`). Default: none. */
  readonly stripPrefix?: string;
  /** Keep only the last path component (skopeo sync's naming without `--scoped`: `team/app` becomes `app`). Default false. */
  readonly basename?: boolean;
}

/** One source registry: its repositories (listed, or discovered from the catalog), filters and destinations. */
export interface SyncSource extends SyncAccess {
  /** The source registry, `host[:port]` (`docker.io` for Docker Hub). */
  readonly registry: string;
  /** Repositories to sync, by name or with filters of their own. */
  readonly repositories?: readonly (string | SyncRepository)[];
  /** Discover repositories from the registry's catalog (`GET /v2/_catalog`). Default: true when `repositories` is absent. */
  readonly catalog?: boolean;
  /** Discovered repositories to keep: globs (`team/*`, `**`) or regular expressions written `/…/`. Default: all. */
  readonly include?: readonly string[];
  /** Discovered repositories to drop, as `include`. */
  readonly exclude?: readonly string[];
  /** Which tags to sync. Default: every tag. */
  readonly tags?: SyncTagFilter;
  /**
   * Tags that never change once pushed: `true` for all, or a regular expression. Such a tag
   * is skipped when the destination has it, on one HEAD there and none at the source.
   */
  readonly immutable?: boolean | string;
  /**
   * Platforms to copy (`linux/amd64`). One: the destination gets that platform's image. Several:
   * a new index listing only those (its digest differs from the source's). Default: every platform, digests kept.
   */
  readonly platforms?: readonly string[];
  /** Copy each image's referrers too (signatures, SBOMs, attestations): copy()'s `referrers`. */
  readonly referrers?: boolean;
  /** Where the repositories go (one or more). */
  readonly destinations: readonly SyncDestination[];
}

/** A whole `gantry sync` configuration. The run's options (`jobs`, …) override the fields here. */
export interface SyncConfig {
  /** The source registries, synced in order (the work of one overlaps the next only at the seam). */
  readonly sources: readonly SyncSource[];
  /** Tags in flight at once, 1 to 256. Default 8. */
  readonly jobs?: number;
  /** Requests in flight to one registry at once, 1 to 1024. Default 16. */
  readonly registryJobs?: number;
  /** Blobs of one image copied at once, 1 to 64. Default 4. */
  readonly blobJobs?: number;
  /** Requests to leave of a registry's announced rate limit (Docker Hub's `ratelimit-remaining`). Default 0. */
  readonly rateLimitReserve?: number;
}

/** A key path in the configuration: object keys and list positions. */
export type KeyPath = readonly (string | number)[];

/** Writes `sources[0].tags.semver`. */
export function formatKeyPath(path: KeyPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** How a problem in the configuration is reported: the key path (in the spelling read), the value and what was expected. */
export type ConfigFail = (path: KeyPath, expected: string, value: unknown, options?: { key?: boolean; hide?: boolean }) => never;

/** Which spelling of the keys is read: the YAML file's (kebab-case) or the library's (camelCase). */
export type KeySpelling = 'yaml' | 'library';

type Read = (v: unknown, path: KeyPath, fail: ConfigFail, spelling: KeySpelling) => unknown;

interface Field {
  readonly yaml: string;
  readonly lib: string;
  readonly read: Read;
  readonly required?: boolean;
  /** Only a configuration object in code may have it (inline credentials). */
  readonly libraryOnly?: boolean;
}

const field = (lib: string, read: Read, extra: Partial<Field> = {}): Field => ({ lib, yaml: lib.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), read, ...extra });

/** Keys someone may write to put a secret inline; refused with the way to do it. */
const SECRET_KEYS = new Set(['password', 'username', 'credentials', 'creds', 'token', 'auth', 'secret']);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bool(v: unknown, path: KeyPath, fail: ConfigFail): boolean {
  if (typeof v !== 'boolean') fail(path, 'true or false', v);
  return v;
}

function str(v: unknown, path: KeyPath, fail: ConfigFail): string {
  if (typeof v === 'number') fail(path, `a string (quote it: "${String(v)}" reads as a number in YAML)`, v);
  if (typeof v !== 'string' || v === '') fail(path, 'a non-empty string', v);
  return v;
}

const int = (min: number, max: number): Read => (v: unknown, path: KeyPath, fail: ConfigFail) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `an integer from ${min} to ${max}`, v);
  return v;
};

function list(item: Read): Read {
  return (v: unknown, path: KeyPath, fail: ConfigFail, spelling: KeySpelling) => {
    if (!Array.isArray(v)) fail(path, 'a list', v);
    return v.map((x, i) => item(x, [...path, i], fail, spelling));
  };
}

function regex(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail);
  try {
    new RegExp(s);
  } catch (err) {
    fail(path, `a regular expression (${(err as Error).message})`, s);
  }
  return s;
}

function semverRange(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail);
  if (semver.validRange(s) === null) fail(path, 'a semver range such as ">=1.2 <2", "^3" or "~1.4.2"', s);
  return s;
}

function tagName(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail);
  if (!TAG_RE.test(s)) fail(path, 'a tag (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")', s);
  return s;
}

function platform(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail);
  try {
    parsePlatform(s);
  } catch {
    fail(path, 'a platform os/architecture[/variant] such as "linux/arm64/v8"', s);
  }
  return s;
}

function immutable(v: unknown, path: KeyPath, fail: ConfigFail): boolean | string {
  if (typeof v === 'boolean') return v;
  if (typeof v !== 'string') fail(path, 'true, false or a regular expression of the tags that never change', v);
  return regex(v, path, fail);
}

/** A repository path: no leading or trailing `/`, lower case, as a reference's path reads. */
function pathPart(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail).replace(/^\/+|\/+$/g, '');
  if (s === '' || !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(s)) {
    fail(path, 'a repository path such as "mirror" or "team/apps" (lower case, "/"-separated)', v);
  }
  return s;
}

/**
 * `host[:port]` of a registry, normalised as references spell it (`index.docker.io` is
 * `docker.io`). A bare word is refused: in a reference it would be a Docker Hub namespace.
 */
export function registryHost(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail);
  const hostLike = DOMAIN_RE.test(s) && (s.includes('.') || s.includes(':') || s === 'localhost' || s.startsWith('['));
  if (!hostLike) fail(path, 'a registry host[:port] such as "docker.io" or "localhost:5000" (a host needs a "." or ":port", or is "localhost")', s);
  try {
    return parseRepository(`${s}/x`).domain;
  } catch {
    return fail(path, 'a registry host[:port]', s);
  }
}

function credentials(v: unknown, path: KeyPath, fail: ConfigFail): { username: string; password: string } {
  if (!isPlainObject(v) || typeof v.username !== 'string' || typeof v.password !== 'string' || Object.keys(v).some((k) => k !== 'username' && k !== 'password')) {
    fail(path, '{ username, password }', v, { hide: true });
  }
  return { username: v.username, password: v.password };
}

const ACCESS: readonly Field[] = [
  field('tlsVerify', bool),
  field('certsDir', str),
  field('certDir', str),
  { ...field('authFile', str), yaml: 'authfile' },
  field('credsFile', str),
  field('credentials', credentials, { libraryOnly: true }),
  field('anonymous', bool),
  field('maxRequests', int(1, MAX_REGISTRY_REQUESTS)),
];

const TAG_FILTER: readonly Field[] = [
  field('names', list(tagName)),
  field('regex', regex),
  field('excludeRegex', regex),
  field('semver', semverRange),
  field('prerelease', bool),
  field('newest', int(1, MAX_NEWEST)),
  field('order', (v, path, fail) => (v === 'semver' || v === 'created' ? v : fail(path, '"semver" or "created"', v))),
];

/** Reads an object of `fields`: every key known (in the spelling read), every required one there. */
function object(fields: readonly Field[]): Read {
  return (v: unknown, path: KeyPath, fail: ConfigFail, spelling: KeySpelling) => {
    if (!isPlainObject(v)) fail(path, 'a mapping of keys to values', v);
    const known = fields.filter((f) => spelling === 'library' || !f.libraryOnly);
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(v)) {
      const f = known.find((k) => (spelling === 'yaml' ? k.yaml : k.lib) === key);
      if (!f) {
        const inline = SECRET_KEYS.has(key.toLowerCase());
        const names = known.map((k) => (spelling === 'yaml' ? k.yaml : k.lib)).join(', ');
        fail(
          [...path, key],
          inline
            ? `secrets are not accepted inline: name a file holding USER:PASS with ${spelling === 'yaml' ? 'creds-file' : 'credsFile'}, or a containers-auth.json with ${spelling === 'yaml' ? 'authfile' : 'authFile'}`
            : `the known keys are ${names}`,
          undefined,
          { key: true },
        );
      }
      if (value === undefined) continue;
      out[f.lib] = f.read(value, [...path, key], fail, spelling);
    }
    for (const f of known) {
      if (f.required && out[f.lib] === undefined) fail([...path, spelling === 'yaml' ? f.yaml : f.lib], 'a value: the key is required', undefined, { hide: true });
    }
    return out;
  };
}

/** A repository entry: a name, or `{ name, tags, immutable }`; the name is checked against the source's registry later. */
const repositoryEntry: Read = (v, path, fail, spelling) => {
  if (typeof v === 'string') return { name: repositoryName(v, path, fail) };
  const r = object([field('name', (x, p, f) => repositoryName(x, p, f), { required: true }), field('tags', object(TAG_FILTER)), field('immutable', immutable)])(v, path, fail, spelling);
  return r;
};

function repositoryName(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail);
  if (s.includes('@') || /:[^/]*$/.test(s)) fail(path, 'a repository name without tag or digest (list tags under tags.names)', s);
  return s;
}

const DESTINATION = object([
  field('registry', registryHost, { required: true }),
  field('prefix', pathPart),
  field('stripPrefix', pathPart),
  field('basename', bool),
  ...ACCESS,
]);

const SOURCE = object([
  field('registry', registryHost, { required: true }),
  field('repositories', list(repositoryEntry)),
  field('catalog', bool),
  field('include', list((v, p, f) => pattern(v, p, f))),
  field('exclude', list((v, p, f) => pattern(v, p, f))),
  field('tags', object(TAG_FILTER)),
  field('immutable', immutable),
  field('platforms', list(platform)),
  field('referrers', bool),
  field('destinations', list(DESTINATION), { required: true }),
  ...ACCESS,
]);

function pattern(v: unknown, path: KeyPath, fail: ConfigFail): string {
  const s = str(v, path, fail);
  if (s.length > 1 && s.startsWith('/') && s.endsWith('/')) regex(s.slice(1, -1), path, fail);
  return s;
}

const CONFIG = object([
  field('sources', list(SOURCE), { required: true }),
  field('jobs', int(1, MAX_SYNC_JOBS)),
  field('registryJobs', int(1, MAX_REGISTRY_REQUESTS)),
  field('blobJobs', int(1, 64)),
  field('rateLimitReserve', int(0, Number.MAX_SAFE_INTEGER)),
]);

/** What a source must make sense of beyond each key's own type: names on its registry, at least one destination. */
function checkSource(s: SyncSource, path: KeyPath, fail: ConfigFail): SyncSource {
  if (s.destinations.length === 0) fail([...path, 'destinations'], 'at least one destination', s.destinations, { hide: true });
  const repositories = (s.repositories ?? []).map((entry, i) => {
    const r = typeof entry === 'string' ? { name: entry } : entry;
    const at: KeyPath = typeof entry === 'string' ? [...path, 'repositories', i] : [...path, 'repositories', i, 'name'];
    let repo;
    try {
      repo = parseRepository(`${s.registry}/${r.name.replace(/^\/+/, '')}`);
    } catch (err) {
      return fail(at, `a repository name (${(err as Error).message})`, r.name);
    }
    if (repo.domain !== s.registry) fail(at, `a repository path on ${s.registry} (without the registry)`, r.name);
    return { ...r, name: repo.path };
  });
  const catalog = s.catalog ?? s.repositories === undefined;
  if (!catalog && repositories.length === 0) {
    fail([...path, 'repositories'], 'at least one repository, or catalog: true to discover them', s.repositories, { hide: true });
  }
  if (!catalog && (s.include !== undefined || s.exclude !== undefined)) {
    fail([...path, s.include !== undefined ? 'include' : 'exclude'], 'catalog: true beside it (include and exclude filter the repositories the catalog lists)', undefined, { hide: true });
  }
  return { ...s, repositories, catalog };
}

/**
 * Checks a configuration read in `spelling` and returns it normalised: repositories as
 * objects with their paths on the source registry (`alpine` on Docker Hub is
 * `library/alpine`), `catalog` decided. `fail` says where a problem is; it never returns.
 */
export function checkSyncConfig(value: unknown, fail: ConfigFail, spelling: KeySpelling): SyncConfig {
  const raw = CONFIG(value, [], fail, spelling) as { sources: SyncSource[] } & Omit<SyncConfig, 'sources'>;
  if (raw.sources.length === 0) fail(['sources'], 'at least one source', raw.sources, { hide: true });
  const sources = raw.sources.map((s, i) => checkSource(s, ['sources', i], fail));
  return { ...raw, sources };
}

/** A value as an error may show it: never an unknown key's, never a secret's. */
export function showValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/**
 * containers-registries.conf(5): the registry configuration podman, buildah and skopeo read
 * (TOML, version 2, and the deprecated version 1 lists). gantry reads what decides how to
 * reach an image: `[[registry]]` tables chosen by longest `prefix`, their `insecure` and
 * `blocked` flags, `location` rewriting, and `[[registry.mirror]]` pull mirrors with
 * `pull-from-mirror` / `mirror-by-digest-only`. Short-name settings (`unqualified-search-
 * registries`, `short-name-mode`, `[aliases]`) and `credential-helpers` are accepted and
 * not used: gantry names images as Docker does (`alpine` is `docker.io/library/alpine`).
 * The rules are written out in docs/registries-conf.md.
 */
import { open, readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { ConfigError, ErrorCode, GantryError } from '../errors.js';
import { Reference } from '../ref/reference.js';

/** Where podman reads the system file. */
export const SYSTEM_REGISTRIES_CONF = '/etc/containers/registries.conf';
/** The system drop-in folder (`*.conf`, alphabetical order). */
export const SYSTEM_REGISTRIES_CONF_DIR = '/etc/containers/registries.conf.d';
/** A registries.conf larger than this is refused rather than read into memory. */
export const MAX_REGISTRIES_CONF_BYTES = 1024 * 1024;

/** When a mirror is used: for every pull, only by digest, or only by tag. */
export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

/** A place the images of a `[[registry]]` table live: its `location`, or one mirror's. */
export interface RegistryEndpointConf {
  /** `host[:port][/namespace…]`, without a scheme or trailing `/`; empty only for a `*.` prefix (no rewriting). */
  readonly location: string;
  /** Plain http and unverified TLS allowed. */
  readonly insecure: boolean;
  /** For a mirror: when it is used (default `all`). */
  readonly pullFromMirror?: PullFromMirror;
}

/** One `[[registry]]` table, validated. */
export interface RegistryConf extends RegistryEndpointConf {
  /** The image-name prefix this table applies to (`host[:port][/namespace…]`, or `*.example.com`). */
  readonly prefix: string;
  /** Every access to matching images is refused before any request. */
  readonly blocked: boolean;
  /** Mirrors only for references with a digest. */
  readonly mirrorByDigestOnly: boolean;
  /** The pull mirrors, in the order they are tried. */
  readonly mirrors: readonly RegistryEndpointConf[];
  /** The file the table was read from, for messages. */
  readonly file: string;
}

/** Where a pull of one image is tried: a mirror or the primary location, with the reference rewritten for it. */
export interface PullSource {
  /** The reference to ask that registry for. */
  readonly reference: Reference;
  /** Plain http and unverified TLS allowed for this source (its own `insecure`). */
  readonly insecure: boolean;
  /** A mirror (tried before the primary location, with no credentials given for the image). */
  readonly mirror: boolean;
}

/** Where to look for registries.conf files. */
export interface RegistriesConfOptions {
  /**
   * The main file (`--registries-conf`); it must exist. Default `$CONTAINERS_REGISTRIES_CONF`,
   * else `~/.config/containers/registries.conf` when it exists, else `/etc/containers/registries.conf`
   * (a missing default file is no configuration).
   */
  readonly file?: string;
  /** The environment to read `CONTAINERS_REGISTRIES_CONF` and `HOME` from. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

const PULL_FROM_MIRROR: readonly string[] = ['all', 'digest-only', 'tag-only'];
const REGISTRY_KEYS = new Set(['prefix', 'location', 'insecure', 'blocked', 'mirror-by-digest-only', 'mirror', 'pull-from-mirror']);
const MIRROR_KEYS = new Set(['location', 'insecure', 'pull-from-mirror']);
const TOP_KEYS = new Set(['unqualified-search-registries', 'short-name-mode', 'credential-helpers', 'aliases', 'registry', 'registries', 'additional-layer-store-auth-helper']);

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * The length of `prefix` matched at the start of `ref` (a reference string), or -1. A match
 * must end where the name does or at `/`, `:` or `@`; `*.example.com` matches any number of
 * subdomains of the host, never text after a `/`.
 */
export function matchPrefix(ref: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const suffix = prefix.slice(1);
    const at = ref.indexOf(suffix);
    if (at < 0 || ref.slice(0, at).includes('/')) return -1;
    const end = at + suffix.length;
    return end === ref.length || ':/@'.includes(ref[end] as string) ? end : -1;
  }
  if (!ref.startsWith(prefix)) return -1;
  if (ref.length === prefix.length) return prefix.length;
  return ':/@'.includes(ref[prefix.length] as string) ? prefix.length : -1;
}

/** The registries.conf files read and what they say; {@link RegistriesConf.load} finds and reads them. */
export class RegistriesConf {
  /** The files read, in the order they were merged. */
  readonly files: readonly string[];
  /** The `[[registry]]` tables after merging, sorted by prefix. */
  readonly registries: readonly RegistryConf[];
  /** Keys gantry does not know (podman ignores them too); the CLI prints them under `--debug`. */
  readonly warnings: readonly string[];

  private constructor(files: readonly string[], registries: readonly RegistryConf[], warnings: readonly string[]) {
    this.files = Object.freeze([...files]);
    this.registries = Object.freeze([...registries]);
    this.warnings = Object.freeze([...warnings]);
    Object.freeze(this);
  }

  /** No configuration: every image is reached as named. */
  static empty(): RegistriesConf {
    return new RegistriesConf([], [], []);
  }

  /**
   * Parses one file's text (`file` names it in errors and on its tables). A syntax error, a
   * value of the wrong type or a rule containers-registries.conf(5) forbids is INVALID_CONFIG
   * naming the file and the key.
   */
  static parse(text: string, file: string): RegistriesConf {
    const parsed = parseFile(text, file, { dropIn: false });
    return new RegistriesConf([file], sortByPrefix(parsed.registries), parsed.warnings);
  }

  /**
   * Finds and reads the main file and the drop-ins, as podman does: the main file named by
   * `file`, `$CONTAINERS_REGISTRIES_CONF`, `~/.config/containers/registries.conf` (when it
   * exists; then only the user's drop-ins are read) or `/etc/containers/registries.conf`; then
   * `*.conf` in `/etc/containers/registries.conf.d` and `~/.config/containers/registries.conf.d`
   * in alphabetical order. A drop-in's table replaces the one with the same prefix.
   */
  static async load(options: RegistriesConfOptions = {}): Promise<RegistriesConf> {
    const env = options.env ?? process.env;
    const home = env.HOME || homedir();
    const userFile = join(home, '.config/containers/registries.conf');
    const userDir = join(home, '.config/containers/registries.conf.d');
    const named = options.file ?? (env.CONTAINERS_REGISTRIES_CONF || undefined);
    let main: { path: string; required: boolean };
    let dirs: string[];
    if (named !== undefined) {
      main = { path: named, required: true };
      dirs = [SYSTEM_REGISTRIES_CONF_DIR, userDir];
    } else if ((await readCapped(userFile, false)) !== undefined) {
      main = { path: userFile, required: true };
      dirs = [userDir];
    } else {
      main = { path: SYSTEM_REGISTRIES_CONF, required: false };
      dirs = [SYSTEM_REGISTRIES_CONF_DIR, userDir];
    }
    const files: string[] = [];
    const warnings: string[] = [];
    const byPrefix = new Map<string, RegistryConf>();
    const take = (text: string, path: string, dropIn: boolean): void => {
      const parsed = parseFile(text, path, { dropIn });
      files.push(path);
      warnings.push(...parsed.warnings);
      if (!dropIn) {
        for (const r of parsed.registries) if (!byPrefix.has(r.prefix)) byPrefix.set(r.prefix, r);
        return;
      }
      for (const r of parsed.registries) byPrefix.set(r.prefix, r);
    };
    const mainText = await readCapped(main.path, main.required);
    if (mainText !== undefined) take(mainText, main.path, false);
    for (const dir of dirs) {
      for (const path of await dropIns(dir)) {
        const text = await readCapped(path, false);
        if (text !== undefined) take(text, path, true);
      }
    }
    return new RegistriesConf(files, sortByPrefix([...byPrefix.values()]), warnings);
  }

  /** The table for an image (the longest matching prefix; the first of equals), or undefined. */
  find(reference: Reference | string): RegistryConf | undefined {
    const ref = typeof reference === 'string' ? reference : reference.canonical();
    let best: RegistryConf | undefined;
    for (const r of this.registries) {
      if (matchPrefix(ref, r.prefix) >= 0 && (best === undefined || r.prefix.length > best.prefix.length)) best = r;
    }
    return best;
  }

  /**
   * Refuses a blocked image before any request: BLOCKED, naming the prefix and the file.
   * `what` is the image or repository, as the user wrote it.
   */
  checkNotBlocked(reference: Reference | string): void {
    const r = this.find(reference);
    if (r?.blocked) {
      const name = typeof reference === 'string' ? reference : reference.familiar();
      throw new GantryError(ErrorCode.BLOCKED, `${name}: registry ${r.prefix} is blocked in ${r.file}`);
    }
  }

  /**
   * Where a pull of `reference` is tried, in order: the mirrors that apply (by `pull-from-
   * mirror` and `mirror-by-digest-only`), then the primary location; each with the reference
   * rewritten (the matched prefix replaced by the location). Without a matching table, the
   * reference itself. Push, tags, delete and catalog use the reference as named (podman's
   * rule: "redirection and mirrors are processed only when reading images").
   */
  pullSources(reference: Reference): PullSource[] {
    const r = this.find(reference);
    if (r === undefined) return [{ reference, insecure: false, mirror: false }];
    const digested = reference.digest !== undefined;
    const mirrors = r.mirrors.filter((m) => {
      if (r.mirrorByDigestOnly) return digested;
      if (m.pullFromMirror === 'digest-only') return digested;
      if (m.pullFromMirror === 'tag-only') return !digested;
      return true;
    });
    return [
      ...mirrors.map((m) => ({ reference: rewrite(reference, r, m.location), insecure: m.insecure, mirror: true })),
      { reference: rewrite(reference, r, r.location), insecure: r.insecure, mirror: false },
    ];
  }
}

/** The reference with the table's prefix replaced by `location` (unchanged for an empty location). */
function rewrite(reference: Reference, table: RegistryConf, location: string): Reference {
  if (location === '') return reference;
  const ref = reference.canonical();
  const end = matchPrefix(ref, table.prefix);
  const rewritten = location + ref.slice(end);
  let out: Reference;
  try {
    out = Reference.parse(rewritten);
  } catch (err) {
    throw new ConfigError(`${table.file}: rewriting ${reference.familiar()} with location "${location}" gives "${rewritten}", which is not a valid reference`, { cause: err });
  }
  if (out.canonical() !== rewritten) {
    throw new ConfigError(`${table.file}: rewriting ${reference.familiar()} with location "${location}" gives "${rewritten}", which is not fully qualified (a location starts with the registry host)`);
  }
  return out;
}

function sortByPrefix(list: readonly RegistryConf[]): RegistryConf[] {
  return [...list].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
}

async function dropIns(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith('.conf')).map((e) => e.name);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw new ConfigError(`registries.conf.d ${dir}: ${code ?? 'cannot read'}`, { cause: err });
  }
  return names.sort().map((n) => join(dir, n));
}

/** The file's text, at most MAX_REGISTRIES_CONF_BYTES; undefined when it does not exist and is not required. */
async function readCapped(path: string, required: boolean): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return undefined;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'cannot read');
    throw new ConfigError(`registries.conf ${path}: ${why}`, { cause: err });
  }
  try {
    const { size } = await handle.stat();
    if (size > MAX_REGISTRIES_CONF_BYTES) throw new ConfigError(`registries.conf ${path}: ${size} bytes, more than the ${MAX_REGISTRIES_CONF_BYTES} gantry reads`);
    const buf = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buf, 0, size, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } catch (err) {
    if (err instanceof GantryError) throw err;
    throw new ConfigError(`registries.conf ${path}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read'}`, { cause: err });
  } finally {
    await handle.close();
  }
}

interface ParsedFile {
  registries: RegistryConf[];
  warnings: string[];
}

function parseFile(text: string, file: string, { dropIn }: { dropIn: boolean }): ParsedFile {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    const where = err instanceof TomlError ? `line ${err.line}, column ${err.column}: ` : '';
    const first = ((err as Error).message.split('\n')[0] ?? '').trim();
    throw new ConfigError(`registries.conf ${file}: ${where}${first}`, { cause: err });
  }
  const warnings: string[] = [];
  for (const key of Object.keys(doc)) if (!TOP_KEYS.has(key)) warnings.push(`${file}: unknown key "${key}" ignored`);
  const fail = (msg: string): never => {
    throw new ConfigError(`registries.conf ${file}: ${msg}`);
  };
  const v1 = doc.registries;
  const v2 = doc.registry;
  const hasV2 = v2 !== undefined || doc['unqualified-search-registries'] !== undefined;
  const registries: RegistryConf[] = [];
  if (v1 !== undefined) {
    if (hasV2) fail('mixes the version 1 [registries.*] tables with version 2 keys; use one format');
    if (dropIn) fail('a drop-in file must use the version 2 format ([[registry]] tables)');
    registries.push(...fromV1(v1, file, fail));
  }
  if (v2 !== undefined) {
    if (!Array.isArray(v2)) fail('"registry" must be an array of tables ([[registry]])');
    (v2 as unknown[]).forEach((t, i) => registries.push(fromTable(t, i, file, fail, warnings)));
  }
  checkConflicts(registries, fail);
  return { registries, warnings };
}

/** Version 1: `[registries.insecure]` / `[registries.block]` lists become tables for those hosts. */
function fromV1(v1: unknown, file: string, fail: (msg: string) => never): RegistryConf[] {
  if (!isTable(v1)) fail('"registries" must be a table');
  const byLocation = new Map<string, { insecure: boolean; blocked: boolean }>();
  const list = (section: string): string[] => {
    const t = (v1 as Table)[section];
    if (t === undefined) return [];
    if (!isTable(t)) fail(`[registries.${section}] must be a table`);
    const regs = (t as Table).registries ?? [];
    if (!Array.isArray(regs) || !regs.every((r) => typeof r === 'string')) fail(`registries.${section}.registries must be an array of strings`);
    return (regs as string[]).map((r) => parseLocation(r, `registries.${section}.registries`, fail));
  };
  const entry = (location: string) => {
    let e = byLocation.get(location);
    if (!e) byLocation.set(location, (e = { insecure: false, blocked: false }));
    return e;
  };
  for (const l of list('block')) entry(l).blocked = true;
  for (const l of list('insecure')) entry(l).insecure = true;
  list('search');
  return [...byLocation].map(([location, e]) => Object.freeze({ prefix: location, location, insecure: e.insecure, blocked: e.blocked, mirrorByDigestOnly: false, mirrors: Object.freeze([]), file }));
}

function fromTable(t: unknown, i: number, file: string, fail: (msg: string) => never, warnings: string[]): RegistryConf {
  const where = `[[registry]] #${i + 1}`;
  if (!isTable(t)) fail(`${where} must be a table`);
  const table = t as Table;
  for (const key of Object.keys(table)) if (!REGISTRY_KEYS.has(key)) warnings.push(`${file}: ${where}: unknown key "${key}" ignored`);
  const location = parseLocation(stringKey(table, 'location', where, fail) ?? '', `${where} location`, fail);
  const rawPrefix = stringKey(table, 'prefix', where, fail);
  let prefix: string;
  if (rawPrefix === undefined || rawPrefix === '') {
    if (location === '') fail(`${where}: both location and prefix are unset`);
    prefix = location;
  } else {
    prefix = parseLocation(rawPrefix, `${where} prefix`, fail);
    if (location === '' && !prefix.startsWith('*.')) fail(`${where}: location is unset and prefix "${prefix}" is not in the format *.example.com`);
  }
  if (prefix.includes('*') && !/^\*\.[^*/:@]+$/.test(prefix)) fail(`${where}: prefix "${prefix}": a wildcard is allowed only as *.example.com (no port, path, tag or digest)`);
  if (table['pull-from-mirror'] !== undefined) fail(`${where} (${prefix}): pull-from-mirror must not be set on a registry, only on its mirrors`);
  const mirrorByDigestOnly = boolKey(table, 'mirror-by-digest-only', where, fail);
  const rawMirrors = table.mirror ?? [];
  if (!Array.isArray(rawMirrors)) fail(`${where}: "mirror" must be an array of tables ([[registry.mirror]])`);
  const mirrors = (rawMirrors as unknown[]).map((m, j): RegistryEndpointConf => {
    const mwhere = `${where} mirror #${j + 1}`;
    if (!isTable(m)) fail(`${mwhere} must be a table`);
    for (const key of Object.keys(m as Table)) if (!MIRROR_KEYS.has(key)) warnings.push(`${file}: ${mwhere}: unknown key "${key}" ignored`);
    const mlocation = parseLocation(stringKey(m as Table, 'location', mwhere, fail) ?? '', `${mwhere} location`, fail);
    if (mlocation === '') fail(`${mwhere}: the mirror location is unset`);
    const pull = stringKey(m as Table, 'pull-from-mirror', mwhere, fail);
    if (pull !== undefined && pull !== '') {
      if (!PULL_FROM_MIRROR.includes(pull)) fail(`${mwhere}: unsupported pull-from-mirror value "${pull}" (all, digest-only or tag-only)`);
      if (mirrorByDigestOnly) fail(`${where}: mirror-by-digest-only on the registry and pull-from-mirror on its mirror ${mlocation} cannot both be set`);
    }
    return Object.freeze({ location: mlocation, insecure: boolKey(m as Table, 'insecure', mwhere, fail), ...(pull ? { pullFromMirror: pull as PullFromMirror } : {}) });
  });
  return Object.freeze({
    prefix,
    location,
    insecure: boolKey(table, 'insecure', where, fail),
    blocked: boolKey(table, 'blocked', where, fail),
    mirrorByDigestOnly,
    mirrors: Object.freeze(mirrors),
    file,
  });
}

/** A table named several times by location must agree on insecure and blocked (as podman checks). */
function checkConflicts(registries: readonly RegistryConf[], fail: (msg: string) => never): void {
  const seen = new Map<string, RegistryConf>();
  for (const r of registries) {
    if (r.location === '') continue;
    const other = seen.get(r.location);
    if (other === undefined) {
      seen.set(r.location, r);
      continue;
    }
    if (other.insecure !== r.insecure) fail(`registry "${r.location}" is defined several times with conflicting "insecure" settings`);
    if (other.blocked !== r.blocked) fail(`registry "${r.location}" is defined several times with conflicting "blocked" settings`);
  }
}

/** podman's `parseLocation`: trailing `/` dropped; a URL scheme refused. */
function parseLocation(input: string, key: string, fail: (msg: string) => never): string {
  const trimmed = input.replace(/\/+$/, '');
  if (/^https?:\/\//.test(trimmed)) fail(`${key} "${input}": URI schemes are not supported (write host[:port][/path]; set insecure = true for plain http)`);
  if (/\s/.test(trimmed)) fail(`${key} "${input}": contains white space`);
  return trimmed;
}

function stringKey(t: Table, key: string, where: string, fail: (msg: string) => never): string | undefined {
  const v = t[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(`${where}: "${key}" must be a string`);
  return v as string;
}

function boolKey(t: Table, key: string, where: string, fail: (msg: string) => never): boolean {
  const v = t[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') fail(`${where}: "${key}" must be true or false`);
  return v as boolean;
}

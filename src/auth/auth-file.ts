/**
 * The containers-tools credentials file, `auth.json` (containers-auth.json(5), as podman,
 * skopeo and buildah use it: <https://github.com/containers/image/blob/main/docs/containers-auth.json.5.md>;
 * the code is containers/image `pkg/docker/config/config.go`). Same `auths` format as Docker's
 * config.json, but keyed by `host[:port]` with Docker Hub as `docker.io`, or by
 * `host/namespace[/repo]` for one repository's credentials (looked up most specific first,
 * {@link authFileLookupKeys}), and written the way containers/image writes it: Go's
 * `json.MarshalIndent(…, "", "\t")` (tab-indented, map keys sorted), mode 0600, replaced
 * atomically. Which file is read is decided by
 * {@link authFileLocation}; docs/docker-rules.md#containers-tools-credentials-and-certsd has the
 * precedence.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { writeFileViaTemp } from '../fs/atomic-file.js';
import { ErrorCode, GantryError } from '../errors.js';
import { DOMAIN_RE, NAME_TOTAL_LENGTH_MAX, REMOTE_NAME_RE } from '../ref/grammar.js';
import { type AuthEntry, CredentialsError, decodeAuth, encodeAuth } from './docker-config.js';
import { DOCKER_HUB_AUTH_KEY, isDockerHub, loginKey } from './hostname.js';

/** The variable podman and skopeo read the default auth file from. */
export const AUTH_FILE_ENV = 'REGISTRY_AUTH_FILE';

/** Where an auth file came from: the caller (`--authfile`), `REGISTRY_AUTH_FILE`, or `$XDG_RUNTIME_DIR`. */
export type AuthFileSource = 'option' | 'REGISTRY_AUTH_FILE' | 'XDG_RUNTIME_DIR';

/** The auth file to use and why; a named one (option or variable) is the only credentials file read. */
export interface AuthFileLocation {
  /** The file's path. */
  readonly path: string;
  /** Where the path came from. */
  readonly source: AuthFileSource;
}

/**
 * containers/image's choice (`getPathToAuth`): the caller's file, else `REGISTRY_AUTH_FILE`,
 * else `$XDG_RUNTIME_DIR/containers/auth.json` (read only when it exists, before Docker's
 * config.json). Undefined when none applies.
 */
export function authFileLocation(options: { authFile?: string; env?: NodeJS.ProcessEnv }): AuthFileLocation | undefined {
  const env = options.env ?? process.env;
  if (options.authFile) return { path: options.authFile, source: 'option' };
  if (env[AUTH_FILE_ENV]) return { path: env[AUTH_FILE_ENV], source: 'REGISTRY_AUTH_FILE' };
  if (env.XDG_RUNTIME_DIR) return { path: join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'), source: 'XDG_RUNTIME_DIR' };
  return undefined;
}

/** The key podman's login writes: `docker.io` for Docker Hub, else the registry `host[:port]`. */
export function authFileKey(registryHost: string): string {
  return isDockerHub(registryHost) || registryHost === DOCKER_HUB_AUTH_KEY ? 'docker.io' : registryHost;
}

/** containers/image `normalizeRegistry`: Docker Hub's names are one registry. */
function normalizeRegistry(host: string): string {
  return host === 'registry-1.docker.io' || host === 'docker.io' ? 'index.docker.io' : host;
}

/**
 * containers/image `normalizeAuthFileKey`: an `http(s)://` key is cut to its host (legacy and
 * Docker-written keys such as `https://index.docker.io/v1/`); a key without a scheme is kept
 * whole, so a `host/namespace/repo` key matches only as itself, never as its host.
 */
function normalizeAuthFileKey(key: string): string {
  const stripped = key.replace(/^https?:\/\//, '');
  return normalizeRegistry(stripped !== key ? (stripped.split('/', 1)[0] ?? '') : stripped);
}

/**
 * containers/image `authKeyLookupOrder`: the keys an image's credentials may be stored under,
 * most specific first — `host/ns/sub/repo`, `host/ns/sub`, `host/ns`, then `host`. Whole path
 * components only: `host/ns` is never a key for `host/nsx/repo`.
 */
export function authFileLookupKeys(registryHost: string, repository?: string): string[] {
  const host = authFileKey(registryHost);
  const keys: string[] = [];
  if (repository) {
    for (let key = `${host}/${repository}`; key.length > host.length; key = key.slice(0, key.lastIndexOf('/'))) keys.push(key);
  }
  keys.push(host);
  return keys;
}

/**
 * The key `login --authfile` writes for a server address, as podman's `parseCredentialsKey`
 * computes it: `http(s)://…` is cut to its host (legacy form, no repository); `host[:port]`
 * alone is the host key (`docker.io` for Docker Hub); `host/namespace[/repo]` is kept as a
 * repository key, its host written as lookups spell it (`docker.io/…` for any of Docker Hub's
 * names, where podman refuses `index.docker.io/…`), its path a repository name without tag or
 * digest (kept as typed: `docker.io/alpine` is not `docker.io/library/alpine`). A malformed
 * one is `INVALID_CONFIG`.
 */
export function authFileLoginKey(serverAddress: string): string {
  if (/^https?:\/\//i.test(serverAddress) || !serverAddress.includes('/')) return authFileKey(loginKey(serverAddress));
  const slash = serverAddress.indexOf('/');
  const host = serverAddress.slice(0, slash);
  const path = serverAddress.slice(slash + 1);
  const bad = (why: string): GantryError => new GantryError(ErrorCode.INVALID_CONFIG, `invalid credentials key ${JSON.stringify(serverAddress)}: ${why}`);
  if (!DOMAIN_RE.test(host)) throw bad('the part before the first "/" must be a registry host[:port]');
  if (/[:@]/.test(path)) throw bad('a namespace or repository must not have a tag or digest');
  if (!REMOTE_NAME_RE.test(path)) throw bad('the path must be a repository name (lowercase components separated by "/")');
  // Docker Hub under any of its names is `docker.io` in keys (what lookups ask for).
  const key = `${normalizeRegistry(host) === 'index.docker.io' ? 'docker.io' : host}/${path}`;
  if (key.length > NAME_TOTAL_LENGTH_MAX) throw bad(`longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  return key;
}

type Json = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Go's `json.MarshalIndent(…, "", "\t")` of a map: keys sorted, at every level (unknown fields kept as they were read). */
function serialise(doc: Json): string {
  const sortKeys = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, sortKeys(x)]));
  };
  return JSON.stringify(sortKeys(doc), null, '\t');
}

/** A loaded auth.json; the raw document is kept, so a rewrite keeps fields gantry does not know. */
export class ContainersAuthFile {
  /** The file's path. */
  readonly path: string;
  /** False when the file did not exist (an empty file is then written by `save`). */
  readonly exists: boolean;
  readonly #doc: Json;

  private constructor(path: string, doc: Json, exists: boolean) {
    this.path = path;
    this.#doc = doc;
    this.exists = exists;
    const auths = doc.auths;
    if (auths !== undefined && (typeof auths !== 'object' || auths === null || Array.isArray(auths))) {
      throw new CredentialsError(`parsing auth file (${path}): "auths" is not an object`);
    }
    // Decode every entry now: a malformed one is an error naming the file, not a silent anonymous pull.
    for (const key of Object.keys(this.#auths())) this.entry(key);
  }

  /** Reads the file; a missing file is an empty one (`exists` false), a malformed one an error naming it. */
  static async load(path: string): Promise<ContainersAuthFile> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new ContainersAuthFile(path, { auths: {} }, false);
      throw new CredentialsError(`reading auth file ${path}: ${(err as Error).message}`, { cause: err });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      // V8 quotes the start of the input in its message; that may be a secret, so cut it.
      const detail = (err as Error).message.replace(/, ".*is not valid JSON$/s, ' (not valid JSON)');
      throw new CredentialsError(`parsing auth file (${path}): ${detail}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CredentialsError(`parsing auth file (${path}): not a JSON object`);
    return new ContainersAuthFile(path, doc as Json, true);
  }

  #auths(): Json {
    if (typeof this.#doc.auths !== 'object' || this.#doc.auths === null) this.#doc.auths = {};
    return this.#doc.auths as Json;
  }

  /** The keys of `auths`, in file order. */
  keys(): string[] {
    return Object.keys(this.#auths());
  }

  /** The entry stored under exactly `key`: `auth` (base64 of `user:password`) and `identitytoken`. */
  entry(key: string): AuthEntry | undefined {
    const raw = this.#auths()[key];
    if (raw === undefined) return undefined;
    const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Json;
    const out: AuthEntry = { serverAddress: key };
    const auth = str(e.auth);
    if (auth) {
      try {
        Object.assign(out, decodeAuth(auth));
      } catch (err) {
        throw new CredentialsError(`parsing auth file (${this.path}): entry "${key}": ${(err as Error).message}`);
      }
    }
    if (str(e.identitytoken)) out.identityToken = str(e.identitytoken);
    return out;
  }

  /**
   * The entry for an image's credentials, as containers/image's `findCredentialsInFile` finds
   * it: the first key of {@link authFileLookupKeys} present in the file (`host/ns/repo`, …,
   * `host`; `docker.io` for Docker Hub), else the first key (file order) whose normalised host
   * is the registry's (`https://index.docker.io/v1/`, `https://host/v1/`: legacy keys match by
   * host only). Without `repository` (a `/v2/` ping, the catalog) only host keys are asked.
   */
  lookup(registryHost: string, repository?: string): AuthEntry | undefined {
    for (const key of authFileLookupKeys(registryHost, repository)) {
      const found = this.entry(key);
      if (found) return found;
    }
    const wanted = normalizeRegistry(authFileKey(registryHost));
    const found = this.keys().find((k) => normalizeAuthFileKey(k) === wanted);
    return found === undefined ? undefined : this.entry(found);
  }

  /** Sets `key` as podman's login does (`auth`, and `identitytoken` when one is given); other fields of the entry stay. */
  set(key: string, creds: { username?: string; password?: string; identityToken?: string }): void {
    const auths = this.#auths();
    const old = auths[key];
    const raw: Json = { ...(typeof old === 'object' && old !== null ? (old as Json) : {}) };
    delete raw.auth;
    delete raw.identitytoken;
    const auth = encodeAuth(creds.username ?? '', creds.password ?? '');
    if (auth) raw.auth = auth;
    if (creds.identityToken) raw.identitytoken = creds.identityToken;
    auths[key] = raw;
  }

  /** Removes the keys present; returns those removed. */
  delete(keys: readonly string[]): string[] {
    const auths = this.#auths();
    const removed = keys.filter((k) => k in auths);
    for (const k of removed) delete auths[k];
    return removed;
  }

  /** The document as `save` writes it. */
  serialise(): string {
    return serialise(this.#doc);
  }

  /**
   * Writes the file as containers/image does: its folder created 0700 when missing, mode 0600,
   * via a temporary file in the same folder that is fsynced and renamed into place.
   */
  async save(): Promise<void> {
    const dir = dirname(this.path);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileViaTemp(join(dir, `.${basename(this.path)}.${randomBytes(6).toString('hex')}.tmp`), this.path, this.serialise(), { mode: 0o600 });
    } catch (err) {
      throw new CredentialsError(`writing auth file ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

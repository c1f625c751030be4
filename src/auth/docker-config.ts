/**
 * Docker's `config.json` (docker/cli `cli/config/configfile/file.go`; the rules gantry follows
 * are in docs/docker-rules.md#credentials): where it lives, its `auths` entries, and safe
 * rewrites. Unlike Docker, fields gantry does not know (top-level or inside an entry) are kept
 * when the file is rewritten, so gantry never destroys another tool's settings.
 */
import { lstat, mkdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ErrorCode, GantryError } from '../errors.js';
import { writeFileViaTemp } from '../fs/atomic-file.js';

export const CONFIG_FILE_NAME = 'config.json';

/** Where Docker's config.json is: `configDir`, else `$DOCKER_CONFIG`, else `~/.docker`. */
export interface ConfigLocationOptions {
  /** `--config`; wins over `DOCKER_CONFIG`. */
  configDir?: string;
  /** Environment to read `DOCKER_CONFIG` / `DOCKER_AUTH_CONFIG` from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** An `auths` entry as gantry sees it; `serverAddress` is the key it was found under. */
export interface AuthEntry {
  serverAddress: string;
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}

export class CredentialsError extends GantryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.CREDENTIALS, message, options);
    this.name = 'CredentialsError';
  }
}

/** `--config` > `$DOCKER_CONFIG` > `~/.docker`. */
export function configDirectory(options: ConfigLocationOptions = {}): string {
  const env = options.env ?? process.env;
  return options.configDir || env.DOCKER_CONFIG || join(homedir(), '.docker');
}

type Json = Record<string, unknown>;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Docker's `decodeAuth`: base64 of `user:password`, user non-empty, trailing NULs trimmed. */
export function decodeAuth(auth: string): { username: string; password: string } {
  if (!BASE64.test(auth)) throw new Error('invalid auth configuration file');
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new Error('invalid auth configuration file');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/^\0+|\0+$/g, '') };
}

export function encodeAuth(username: string, password: string): string {
  return username === '' && password === '' ? '' : Buffer.from(`${username}:${password}`).toString('base64');
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function entryFromJson(key: string, raw: unknown): AuthEntry {
  const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Json;
  const out: AuthEntry = { serverAddress: key };
  const auth = str(e.auth);
  const decoded = auth ? decodeAuth(auth) : undefined;
  const username = decoded?.username ?? str(e.username);
  const password = decoded?.password || str(e.password);
  if (username) out.username = username;
  if (password) out.password = password;
  if (str(e.identitytoken)) out.identityToken = str(e.identitytoken);
  if (str(e.registrytoken)) out.registryToken = str(e.registrytoken);
  return out;
}

/** Go `json.MarshalIndent(…, "", "\t")` with map keys sorted, as Docker writes the file. */
function serialise(doc: Json): string {
  const out: Json = { ...doc };
  for (const mapField of ['auths', 'credHelpers']) {
    const m = out[mapField];
    if (typeof m === 'object' && m !== null && !Array.isArray(m)) {
      out[mapField] = Object.fromEntries(Object.entries(m as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
  }
  return JSON.stringify(out, null, '\t');
}

/** A loaded `config.json`. The raw document is kept so a rewrite preserves unknown fields. */
export class DockerConfigFile {
  readonly path: string;
  #doc: Json;
  readonly #auths: Map<string, AuthEntry>;

  private constructor(path: string, doc: Json) {
    this.path = path;
    this.#doc = doc;
    this.#auths = new Map();
    const auths = doc.auths;
    if (auths !== undefined && (typeof auths !== 'object' || auths === null || Array.isArray(auths))) {
      throw new CredentialsError(`parsing config file (${path}): "auths" is not an object`);
    }
    for (const [key, raw] of Object.entries((auths ?? {}) as Json)) {
      try {
        this.#auths.set(key, entryFromJson(key, raw));
      } catch (err) {
        throw new CredentialsError(`parsing config file (${path}): ${(err as Error).message}`);
      }
    }
  }

  /** Reads `<dir>/config.json`; a missing file is an empty config, a malformed one an error. */
  static async load(options: ConfigLocationOptions = {}): Promise<DockerConfigFile> {
    const path = join(configDirectory(options), CONFIG_FILE_NAME);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new DockerConfigFile(path, { auths: {} });
      throw new CredentialsError(`loading config file: ${(err as Error).message}`, { cause: err });
    }
    return DockerConfigFile.parse(path, text);
  }

  static parse(path: string, text: string): DockerConfigFile {
    let doc: unknown;
    try {
      doc = text.trim() === '' ? {} : JSON.parse(text);
    } catch (err) {
      // V8 quotes the start of the input in its message; that may be a secret, so cut it.
      const detail = (err as Error).message.replace(/, ".*is not valid JSON$/s, ' (not valid JSON)');
      throw new CredentialsError(`parsing config file (${path}): ${detail}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new CredentialsError(`parsing config file (${path}): not a JSON object`);
    }
    return new DockerConfigFile(path, doc as Json);
  }

  get credsStore(): string | undefined {
    return str(this.#doc.credsStore);
  }

  /** True when the file names no `credsStore`, no `credHelpers` and no `auths` entries. */
  get isUnconfigured(): boolean {
    const helpers = this.#doc.credHelpers;
    const noHelpers = typeof helpers !== 'object' || helpers === null || Object.keys(helpers).length === 0;
    return this.credsStore === undefined && noHelpers && this.#auths.size === 0;
  }

  /** Sets `credsStore` (Docker persists a detected default store the same way). Returns whether it changed. */
  setCredsStore(name: string): boolean {
    if (this.#doc.credsStore === name) return false;
    this.#doc.credsStore = name;
    return true;
  }

  get credHelpers(): Record<string, string> {
    const h = this.#doc.credHelpers;
    if (typeof h !== 'object' || h === null) return {};
    return Object.fromEntries(Object.entries(h as Json).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }

  /** The keys of `auths`, in file order. */
  authKeys(): string[] {
    return [...this.#auths.keys()];
  }

  auth(key: string): AuthEntry | undefined {
    const e = this.#auths.get(key);
    return e ? { ...e } : undefined;
  }

  /** The document as it would be written now. */
  serialise(): string {
    return serialise(this.#doc);
  }

  /**
   * Sets an entry the way Docker saves one: `auth` = base64(user:password) (absent when both are
   * empty), tokens as given, the plain `username`/`password`/`serveraddress` fields dropped.
   * Other fields of the entry stay. Returns whether the document changed.
   */
  setAuth(entry: AuthEntry): boolean {
    const before = this.serialise();
    const auths = this.#authsObject();
    const old = auths[entry.serverAddress];
    const raw: Json = { ...(typeof old === 'object' && old !== null ? (old as Json) : {}) };
    for (const f of ['auth', 'username', 'password', 'serveraddress', 'identitytoken', 'registrytoken']) delete raw[f];
    const auth = encodeAuth(entry.username ?? '', entry.password ?? '');
    const ordered: Json = {};
    if (auth) ordered.auth = auth;
    if (entry.identityToken) ordered.identitytoken = entry.identityToken;
    if (entry.registryToken) ordered.registrytoken = entry.registryToken;
    auths[entry.serverAddress] = { ...ordered, ...raw };
    this.#auths.set(entry.serverAddress, { ...entry });
    return this.serialise() !== before;
  }

  /** Removes an entry; returns whether it existed. */
  deleteAuth(key: string): boolean {
    const auths = this.#authsObject();
    if (!(key in auths)) return false;
    delete auths[key];
    this.#auths.delete(key);
    return true;
  }

  #authsObject(): Json {
    const auths = this.#doc.auths;
    if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) {
      // Docker writes `auths` first; keep that for a file that had none.
      const rest = { ...this.#doc };
      delete rest.auths;
      this.#doc = { auths: {}, ...rest };
    }
    return this.#doc.auths as Json;
  }

  /**
   * Writes the file as Docker does: `User-Agent` dropped from `HttpHeaders`, tab-indented JSON,
   * a temp file in the same directory (created 0700) with the old file's mode (default 0600),
   * then an atomic rename. A symlinked config is written through to its target.
   */
  async save(): Promise<void> {
    const headers = this.#doc.HttpHeaders;
    if (typeof headers === 'object' && headers !== null) {
      for (const k of Object.keys(headers)) if (k.toLowerCase() === 'user-agent') delete (headers as Json)[k];
    }
    const target = await resolveSymlink(this.path);
    const dir = dirname(target);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let mode = 0o600;
    try {
      mode = (await stat(target)).mode & 0o777;
    } catch {
      // new file: 0600
    }
    const tmp = join(dir, `.${CONFIG_FILE_NAME}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFileViaTemp(tmp, target, this.serialise(), { mode });
    } catch (err) {
      throw new CredentialsError(`saving config file (${target}): ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Follows a symlinked config file to its target; a dangling link is allowed (Docker does too). */
async function resolveSymlink(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    try {
      if ((await lstat(path)).isSymbolicLink()) {
        const link = await readlink(path);
        return isAbsolute(link) ? link : resolve(dirname(path), link);
      }
    } catch {
      // missing: write the path itself
    }
    return path;
  }
}

/**
 * `DOCKER_AUTH_CONFIG`: `{"auths":{"host":{"auth":"…"}}}` and nothing else (docker/cli
 * `cli/config/configfile/file.go`; docs/docker-rules.md#credentials). Returns the entries, or
 * the error text Docker prints before falling back to the file.
 */
export function parseEnvAuthConfig(value: string): { auths: Map<string, AuthEntry> } | { error: string } {
  const first = firstJsonValue(value);
  let doc: unknown;
  try {
    doc = JSON.parse(first.text);
  } catch (err) {
    return { error: (err as Error).message.replace(/, ".*is not valid JSON$/s, ' (not valid JSON)') };
  }
  if (first.rest.trim() !== '') return { error: 'DOCKER_AUTH_CONFIG does not support more than one JSON object' };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { error: 'json: cannot unmarshal into configEnv' };
  for (const k of Object.keys(doc)) if (k.toLowerCase() !== 'auths') return { error: `json: unknown field "${k}"` };
  const auths = new Map<string, AuthEntry>();
  const raw = ((doc as Json).auths ?? {}) as Json;
  for (const [host, e] of Object.entries(raw)) {
    const entry = (typeof e === 'object' && e !== null ? e : {}) as Json;
    for (const k of Object.keys(entry)) if (k.toLowerCase() !== 'auth') return { error: `json: unknown field "${k}"` };
    const auth = str(entry.auth);
    if (!auth) return { error: `DOCKER_AUTH_CONFIG environment variable is missing key \`auth\` for ${host}` };
    try {
      auths.set(host, { serverAddress: host, ...decodeAuth(auth) });
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  return { auths };
}

/** Splits off the first JSON value (object) so a second document can be detected like Go's `decoder.More()`. */
function firstJsonValue(text: string): { text: string; rest: string } {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return { text: text.slice(0, i + 1), rest: text.slice(i + 1) };
    }
  }
  return { text, rest: '' };
}

/**
 * Which credentials a registry gets, by Docker's rules (docs/docker-rules.md#credentials):
 * `DOCKER_AUTH_CONFIG` first, then the store Docker would pick for the host —
 * `credHelpers[key]`, else `credsStore`, else the `auths` of config.json (legacy keys like
 * `https://host/v1/` matched by host name).
 *
 * Beside Docker's, the containers tools' auth.json (src/auth/auth-file.ts): a file named by
 * `authFile` or `REGISTRY_AUTH_FILE` is the only credentials file, read and written; otherwise
 * `$XDG_RUNTIME_DIR/containers/auth.json`, when it exists, is asked before Docker's stores.
 * Only auth.json has per-repository keys (`host/namespace[/repo]`, containers-auth.json(5)):
 * asked with the repository a request is for, its most specific key wins. Docker's stores
 * have none and are asked by host.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { authFileLocation, authFileLoginKey, ContainersAuthFile, type AuthFileLocation } from './auth-file.js';
import { CredentialHelper, IDENTITY_TOKEN_USERNAME } from './credential-helper.js';
import type { AuthEntry, ConfigLocationOptions } from './docker-config.js';
import { CredentialsError, DockerConfigFile, parseEnvAuthConfig } from './docker-config.js';
import { authConfigKey, convertToHostname, convertToHostnameDaemon, DOCKER_HUB_AUTH_KEY, isDockerHub, loginKey } from './hostname.js';

/** The credentials for one registry, as Docker stores them; any field but `serverAddress` may be absent. */
export interface Credentials {
  /** The user name; undefined when the entry has none (an identity or registry token alone). */
  username?: string;
  /** The password (or access token); undefined when an identity token is stored instead. */
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`); sent to the token server instead of a password. */
  identityToken?: string;
  /** A bearer token sent to the registry as is (`registrytoken`). */
  registryToken?: string;
  /**
   * The key they are stored under: `https://index.docker.io/v1/` for Docker Hub, else the
   * registry `host[:port]`; for an auth.json entry its key (`docker.io`, `host/team` for a
   * repository key).
   */
  serverAddress: string;
}

/**
 * Anything that can answer "which credentials for this registry host (and this repository)?".
 * The auth layer asks once per registry host and repository, and never sends the answer to
 * another host. An implementation that takes only `registryHost` keeps working: it gives the
 * same credentials for every repository of a host.
 */
export interface CredentialSource {
  /**
   * The credentials for `registryHost` (`docker.io`, `localhost:5000`), or undefined for
   * anonymous access. `repository` is the repository path the request is for, as the
   * registry names it (`team/app`; `library/alpine` for Docker Hub's official images), so a
   * source can hold per-repository credentials — a {@link Keychain} looks up containers'
   * auth.json keys `host/team/app`, `host/team`, then `host`. It is undefined for requests
   * that name no repository (the `/v2/` ping, login, the catalog): then the host's
   * credentials are meant.
   */
  resolve(registryHost: string, repository?: string): Promise<Credentials | undefined>;
}

/** Where `Keychain.store` put the credentials. */
export interface StoreResult {
  /** The key the credentials were stored under. */
  key: string;
  /** `helper` when a credential helper holds the secret, else `file`. */
  storedIn: 'helper' | 'file';
  /** Set when a password went into config.json in clear: the CLI prints Docker's warning. */
  unencryptedFile?: string;
}

/** What `Keychain.erase` removed, and the keys it could not remove. */
export interface EraseResult {
  /** The keys whose credentials were removed (file entry or helper). */
  removed: string[];
  /** Per-key failures; the CLI warns only when nothing could be removed (Docker's rule). */
  failures: {
    /** The key a credential helper failed to erase. */
    key: string;
    /** The helper's error message. */
    message: string
  }[];
}

/** Options for `Keychain.load`: where config.json or an auth.json is, and the credential-helper time limit. */
export interface KeychainOptions extends ConfigLocationOptions {
  /** Timeout for each credential-helper call, in ms. Default 30 000 ms. */
  helperTimeoutMs?: number;
  /**
   * A containers-auth.json file (podman's and skopeo's `--authfile`): the only credentials
   * file read, and the one `store` / `erase` write, instead of Docker's config.json. Default:
   * `$REGISTRY_AUTH_FILE` when set (the same rule); else `$XDG_RUNTIME_DIR/containers/auth.json`,
   * when it exists, is read first and Docker's config.json for registries it has no entry for.
   */
  authFile?: string;
}

function hasAny(c: Credentials | AuthEntry | undefined): boolean {
  return !!c && !!(c.username || c.password || c.identityToken || c.registryToken);
}

/** The warning Docker prints when a password is written to config.json. */
export function unencryptedWarning(file: string): string {
  return `WARNING! Your credentials are stored unencrypted in '${file}'.`;
}

/**
 * Docker's credential store as the local Docker sees it: `DOCKER_AUTH_CONFIG`, config.json and
 * its credential helpers, picked per registry by Docker's rules. Made by `Keychain.load`;
 * failures have code `CREDENTIALS`.
 */
export class Keychain implements CredentialSource {
  readonly #options: KeychainOptions;
  #config: DockerConfigFile;
  readonly #envAuths: Map<string, AuthEntry>;
  /** The auth.json in use, if any: named (`authFile`, `REGISTRY_AUTH_FILE`) or `$XDG_RUNTIME_DIR`'s. */
  readonly #authLocation: AuthFileLocation | undefined;
  #authFile: ContainersAuthFile | undefined;
  /** Why `DOCKER_AUTH_CONFIG` was ignored, for the CLI to print (Docker prints it to stderr). */
  readonly envWarning: string | undefined;

  private constructor(options: KeychainOptions, config: DockerConfigFile, envAuths: Map<string, AuthEntry>, auth: { location?: AuthFileLocation; file?: ContainersAuthFile }, envWarning?: string) {
    this.#options = options;
    this.#config = config;
    this.#envAuths = envAuths;
    this.#authLocation = auth.location;
    this.#authFile = auth.file;
    this.envWarning = envWarning;
  }

  /**
   * Loads config.json (malformed → `parsing config file (<path>): …`) and `DOCKER_AUTH_CONFIG`;
   * or, with a named auth file, that file alone (malformed → `parsing auth file (<path>): …`; a
   * missing one is empty here, for `store`, and refused by {@link Keychain.requireAuthFile}).
   */
  static async load(options: KeychainOptions = {}): Promise<Keychain> {
    const location = authFileLocation(options);
    if (location && location.source !== 'XDG_RUNTIME_DIR') {
      // The named file is the only store: config.json is not read (a broken one cannot fail this).
      const file = await ContainersAuthFile.load(location.path);
      return new Keychain(options, DockerConfigFile.parse(location.path, '{}'), new Map(), { location, file });
    }
    const runtimeFile = location ? await ContainersAuthFile.load(location.path) : undefined;
    const auth = runtimeFile?.exists ? { location: location as AuthFileLocation, file: runtimeFile } : {};
    const config = await DockerConfigFile.load(options);
    const envValue = (options.env ?? process.env).DOCKER_AUTH_CONFIG;
    let envAuths = new Map<string, AuthEntry>();
    let warning: string | undefined;
    if (envValue) {
      const parsed = parseEnvAuthConfig(envValue);
      if ('error' in parsed) warning = `Failed to create credential store from DOCKER_AUTH_CONFIG: ${parsed.error}`;
      else envAuths = parsed.auths;
    }
    return new Keychain(options, config, envAuths, auth, warning);
  }

  /** The config file this keychain reads and writes: the named auth file, else Docker's config.json. */
  get configFile(): string {
    return this.#named ? this.#authLocation!.path : this.#config.path;
  }

  /** The auth.json this keychain reads first, and where its path came from; undefined when none is used. */
  get authFile():
    | {
        /** The file's path. */
        readonly path: string;
        /** Where the path came from: the `authFile` option, `REGISTRY_AUTH_FILE`, or `$XDG_RUNTIME_DIR`. */
        readonly source: 'option' | 'REGISTRY_AUTH_FILE' | 'XDG_RUNTIME_DIR';
      }
    | undefined {
    return this.#authLocation;
  }

  /** True when an auth file was named (`authFile`, `REGISTRY_AUTH_FILE`): it is the only store. */
  get #named(): boolean {
    return this.#authLocation !== undefined && this.#authLocation.source !== 'XDG_RUNTIME_DIR';
  }

  /**
   * Throws `CREDENTIALS` naming the file when a named auth file does not exist: a typo must not
   * turn into anonymous access. Commands that read credentials call it; `store` creates the file.
   */
  requireAuthFile(): void {
    if (!this.#named || this.#authFile?.exists) return;
    const from = this.#authLocation!.source === 'REGISTRY_AUTH_FILE' ? ' (named by REGISTRY_AUTH_FILE)' : '';
    throw new CredentialsError(`auth file ${this.#authLocation!.path}${from} does not exist`);
  }

  /**
   * Docker's platform default store (docker/cli `cli/config/credentials/default_store*.go`):
   * only for a config with no credsStore, credHelpers or auths, and only when its helper is on
   * PATH. Docker then saves it as `credsStore`; so does `store`, or the next load (which sees an
   * `auths` entry) would stop asking the helper.
   */
  #defaultStore(): string | undefined {
    if (!this.#config.isUnconfigured) return undefined;
    const env = this.#options.env ?? process.env;
    const onPath = (program: string): boolean =>
      (env.PATH ?? '').split(delimiter).some((dir) => {
        if (!dir) return false;
        try {
          accessSync(join(dir, program), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      });
    const name = process.platform === 'darwin' ? 'osxkeychain' : process.platform === 'win32' ? 'wincred' : onPath('pass') ? 'pass' : 'secretservice';
    return onPath(`docker-credential-${name}${process.platform === 'win32' ? '.exe' : ''}`) ? name : undefined;
  }

  #helperFor(key: string): CredentialHelper | undefined {
    const name = this.#config.credHelpers[key] ?? this.#config.credsStore ?? this.#defaultStore();
    if (!name) return undefined;
    const opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {};
    if (this.#options.env) opts.env = this.#options.env;
    if (this.#options.helperTimeoutMs !== undefined) opts.timeoutMs = this.#options.helperTimeoutMs;
    return new CredentialHelper(name, opts);
  }

  /** The file entry for `key`, falling back to legacy keys with the same host (the daemon's rule). */
  #fileEntry(key: string): AuthEntry | undefined {
    const exact = this.#config.auth(key);
    if (exact) return exact;
    if (key === DOCKER_HUB_AUTH_KEY) return undefined;
    for (const k of this.#config.authKeys()) {
      if (convertToHostnameDaemon(k) === key) return this.#config.auth(k);
    }
    return undefined;
  }

  /**
   * Credentials for a registry host (`docker.io`, `localhost:5000`) and, optionally, the
   * repository a request is for (`team/app`, `library/alpine`), or undefined for anonymous
   * access. Helper failures are errors; "not found" from a helper is not.
   */
  async resolve(registryHost: string, repository?: string): Promise<Credentials | undefined> {
    // auth.json first, most specific key first (`host/team/app`, `host/team`, `host`, legacy
    // `http(s)://host/…` keys by host), as containers/image's `GetCredentialsForRef` does.
    // Docker's stores have no repository keys: asked by host (docs/docker-rules.md).
    const fromAuthFile = this.#authFile?.lookup(registryHost, repository);
    if (hasAny(fromAuthFile)) return { ...(fromAuthFile as AuthEntry) };
    if (this.#named) return undefined;
    const key = authConfigKey(registryHost);
    const fromEnv = this.#envAuths.get(key);
    if (hasAny(fromEnv)) return { ...(fromEnv as AuthEntry) };
    const base = this.#fileEntry(key);
    const helper = this.#helperFor(key);
    if (!helper) return hasAny(base) ? { ...(base as AuthEntry), serverAddress: key } : undefined;
    const out: Credentials = { ...(base ?? {}), serverAddress: key };
    const got = await helper.get(key);
    if (got && (got.username || got.secret)) {
      delete out.username;
      delete out.password;
      delete out.identityToken;
      if (got.username === IDENTITY_TOKEN_USERNAME) out.identityToken = got.secret;
      else {
        if (got.username) out.username = got.username;
        if (got.secret) out.password = got.secret;
      }
    }
    return hasAny(out) ? out : undefined;
  }

  /**
   * The credentials `gantry login <server>` would try before asking for new ones: with a named
   * auth file, the lookup of the key login writes (`host/team` for a server `host/team`, most
   * specific first); otherwise the server's host, as Docker does.
   */
  storedFor(serverAddress: string | undefined): Promise<Credentials | undefined> {
    const key = loginKey(serverAddress);
    const host = key === DOCKER_HUB_AUTH_KEY ? 'docker.io' : key;
    if (!this.#named || serverAddress === undefined) return this.resolve(host);
    const authKey = authFileLoginKey(serverAddress);
    const slash = authKey.indexOf('/');
    // A repository key's host is spelt as lookups spell it (`docker.io` for any Hub name).
    return slash === -1 ? this.resolve(host) : this.resolve(authKey.slice(0, slash), authKey.slice(slash + 1));
  }

  /**
   * Stores credentials for a server (`gantry login`) under Docker's login key (`loginKey`), or
   * in a named auth file under podman's key: the host, or `host/namespace[/repo]` when the
   * server names a path. With an identity token, the token is stored
   * and the password is not. A helper gets the secret and config.json keeps only an empty entry;
   * nothing is written when nothing changes.
   */
  async store(serverAddress: string | undefined, creds: Omit<Credentials, 'serverAddress'>): Promise<StoreResult> {
    if (this.#named) return this.#storeInAuthFile(authFileLoginKey(serverAddress ?? DOCKER_HUB_AUTH_KEY), creds);
    const key = loginKey(serverAddress);
    // Re-read: never overwrite changes made since load, and never overwrite a malformed file.
    this.#config = await DockerConfigFile.load(this.#options);
    const detected = this.#defaultStore();
    if (detected) this.#config.setCredsStore(detected);
    const helper = this.#helperFor(key);
    const entry: AuthEntry = { serverAddress: key };
    if (creds.username) entry.username = creds.username;
    if (creds.identityToken) entry.identityToken = creds.identityToken;
    else if (creds.password) entry.password = creds.password;
    if (creds.registryToken) entry.registryToken = creds.registryToken;
    if (this.#envAuths.has(key)) this.#envAuths.set(key, { ...entry });
    if (helper) {
      const secret = entry.identityToken ?? entry.password ?? '';
      await helper.store({ serverURL: key, username: entry.identityToken ? IDENTITY_TOKEN_USERNAME : (entry.username ?? ''), secret });
      const fileEntry: AuthEntry = { serverAddress: key };
      if (entry.registryToken) fileEntry.registryToken = entry.registryToken;
      if (this.#config.setAuth(fileEntry)) await this.#config.save();
      return { key, storedIn: 'helper' };
    }
    const changed = this.#config.setAuth(entry);
    if (changed) await this.#config.save();
    const result: StoreResult = { key, storedIn: 'file' };
    if (entry.password) result.unencryptedFile = this.#config.path;
    return result;
  }

  /**
   * Removes credentials (`gantry logout`): Docker Hub by its key; any other server under every
   * form Docker may have used — as given, host name, `http://host`, `https://host` (docker/cli
   * `logout.go`). From a named auth file, a server with a path (`host/team`) removes that
   * repository key alone, as podman's logout does; the host's own entry stays.
   */
  async erase(serverAddress: string | undefined): Promise<EraseResult> {
    if (this.#named && serverAddress !== undefined) {
      const authKey = authFileLoginKey(serverAddress);
      if (authKey.includes('/')) return this.#eraseFromAuthFile([authKey]);
    }
    let keys: string[];
    if (!serverAddress || isDockerHub(serverAddress) || serverAddress === DOCKER_HUB_AUTH_KEY || loginKey(serverAddress) === DOCKER_HUB_AUTH_KEY) {
      keys = [DOCKER_HUB_AUTH_KEY];
    } else {
      const host = convertToHostname(serverAddress);
      keys = [...new Set([serverAddress, host, `http://${host}`, `https://${host}`])];
    }
    if (this.#named) return this.#eraseFromAuthFile(keys);
    this.#config = await DockerConfigFile.load(this.#options);
    const result: EraseResult = { removed: [], failures: [] };
    let changed = false;
    for (const key of keys) {
      const helper = this.#helperFor(key);
      let removed = false;
      if (helper && (await this.#helperHas(helper, key))) {
        try {
          await helper.erase(key);
          removed = true;
        } catch (err) {
          result.failures.push({ key, message: (err as Error).message });
        }
      }
      if (this.#config.deleteAuth(key)) {
        changed = true;
        removed = true;
      }
      this.#envAuths.delete(key);
      if (removed) result.removed.push(key);
    }
    if (changed) await this.#config.save();
    return result;
  }

  /** podman's login into a named auth file: `auth` (or the identity token), re-read first so nothing else is lost. */
  async #storeInAuthFile(key: string, creds: Omit<Credentials, 'serverAddress'>): Promise<StoreResult> {
    const file = await ContainersAuthFile.load(this.#authLocation!.path);
    file.set(key, creds.identityToken ? { ...(creds.username ? { username: creds.username } : {}), identityToken: creds.identityToken } : creds);
    await file.save();
    this.#authFile = await ContainersAuthFile.load(file.path);
    return { key, storedIn: 'file' };
  }

  /** Logout from a named auth file: Docker's key forms, plus `docker.io` for Docker Hub (podman's key). */
  async #eraseFromAuthFile(dockerKeys: readonly string[]): Promise<EraseResult> {
    const file = await ContainersAuthFile.load(this.#authLocation!.path);
    const keys = dockerKeys.includes(DOCKER_HUB_AUTH_KEY) ? ['docker.io', 'index.docker.io', DOCKER_HUB_AUTH_KEY] : dockerKeys;
    const removed = file.delete(keys);
    if (removed.length > 0) {
      await file.save();
      this.#authFile = file;
    }
    return { removed, failures: [] };
  }

  async #helperHas(helper: CredentialHelper, key: string): Promise<boolean> {
    try {
      return (await helper.get(key)) !== undefined;
    } catch {
      // Let erase report the helper's own error.
      return true;
    }
  }
}

/** Fixed credentials for every registry (`--creds user:pass`, `--username/--password`). */
export class StaticKeychain implements CredentialSource {
  readonly #creds: Omit<Credentials, 'serverAddress'>;

  constructor(creds: Omit<Credentials, 'serverAddress'>) {
    this.#creds = { ...creds };
  }

  /** `user:password` (split at the first colon; the password may contain colons). */
  static parse(text: string): StaticKeychain {
    const colon = text.indexOf(':');
    const username = colon === -1 ? text : text.slice(0, colon);
    if (!username) throw new CredentialsError('invalid credentials: the user name before ":" is empty');
    return new StaticKeychain(colon === -1 ? { username } : { username, password: text.slice(colon + 1) });
  }

  resolve(registryHost: string): Promise<Credentials | undefined> {
    return Promise.resolve({ ...this.#creds, serverAddress: authConfigKey(registryHost) });
  }
}

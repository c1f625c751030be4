/**
 * Login and logout (docs/docker-rules.md#login-and-logout): credentials are verified
 * against the registry before anything is stored — ping `/v2/`, then `GET /v2/` answering
 * its challenge (Basic, or a token exchange asking for a refresh token) — and stored under
 * Docker's key; an identity token from the token server is stored instead of the password.
 * Mirrors are never used. Into a named auth file (`authFile`, `REGISTRY_AUTH_FILE`) a server
 * `host/namespace[/repo]` is stored under that repository key, as podman's login does; the
 * credentials are verified against the host. Docker's config.json has no such keys: there the
 * path is dropped, as Docker drops it.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { checkOptions, InvalidOptionError } from '../options.js';
import { negotiate } from '../transport/endpoint.js';
import { errorFromResponse, statusText } from '../transport/errors.js';
import { RegistriesConf } from '../config/registries-conf.js';
import { Transport, type TransportOptions } from '../transport/transport.js';
import { authFileLocation, authFileLoginKey } from '../auth/auth-file.js';
import { Authorizer } from '../auth/authorizer.js';
import { AuthError } from '../auth/errors.js';
import { Keychain, StaticKeychain, type EraseResult, type StoreResult } from '../auth/keychain.js';
import { DOCKER_HUB_AUTH_KEY, loginKey } from '../auth/hostname.js';

export const LOGIN_SUCCEEDED = 'Login Succeeded';

/** The user name and password {@link login} verifies and stores. */
export interface LoginCredentials {
  /** The user name; must be a non-empty string. */
  readonly username: string;
  /** The password or access token. */
  readonly password: string;
}

/** Options for {@link login}: the {@link TransportOptions} of its own transport, and where to store. */
export interface LoginOptions extends TransportOptions {
  /** Docker config directory (`--config`); default `$DOCKER_CONFIG` or `~/.docker`. */
  readonly configDir?: string;
  /**
   * A containers-auth.json file to store in instead of Docker's config.json (podman's
   * `--authfile`; created 0600 when missing). Default: `$REGISTRY_AUTH_FILE` when set. A server
   * `host/namespace[/repo]` is stored there under that key (per-repository credentials).
   */
  readonly authFile?: string;
  /** Verify only; store nothing. */
  readonly noStore?: boolean;
  /** registries.conf: a blocked registry is refused (BLOCKED) before any request; an insecure one is reached as with `tlsVerify: false` unless `tlsVerify` is given. */
  readonly registriesConf?: RegistriesConf;
}

/** What a successful {@link login} verified and where it stored the credentials. */
export interface LoginResult {
  /** Always `Login Succeeded`, Docker's message; a failed login throws instead. */
  readonly status: typeof LOGIN_SUCCEEDED;
  /** The registry host logged in to (`docker.io` for Docker Hub). */
  readonly registry: string;
  /** The endpoint verified, e.g. `https://registry.example.com/v2/`. */
  readonly url: string;
  /** True when the token server issued a refresh token, stored instead of the password. */
  readonly identityToken: boolean;
  /** Where the credentials were stored; undefined with `noStore`. */
  readonly stored?: StoreResult;
}

/**
 * The registry host of a login server address: none or `docker.io` is Docker Hub; otherwise
 * `https://` is assumed, and only the host is kept (`registry-1.docker.io/bork/test` →
 * `registry-1.docker.io`).
 */
export function loginRegistryHost(server: string | undefined): string {
  if (!server || server === DOCKER_HUB_AUTH_KEY || server === 'docker.io' || server === 'index.docker.io') return 'docker.io';
  const withScheme = /^https?:\/\//i.test(server) ? server : `https://${server}`;
  let host: string;
  try {
    host = new URL(withScheme).host;
  } catch (err) {
    throw new GantryError(ErrorCode.INVALID_CONFIG, `unable to parse server address: ${server}`, { cause: err });
  }
  if (!host) throw new GantryError(ErrorCode.INVALID_CONFIG, `unable to parse server address: ${server}`);
  return host === 'index.docker.io' ? 'docker.io' : host;
}

/** The key a login stores under when a named auth file is in use (`host` or `host/namespace[/repo]`); undefined for Docker's config.json. */
function namedAuthFileKey(server: string | undefined, options: { authFile?: string; env?: NodeJS.ProcessEnv }): string | undefined {
  const location = authFileLocation(options);
  if (!location || location.source === 'XDG_RUNTIME_DIR') return undefined;
  return authFileLoginKey(server ?? DOCKER_HUB_AUTH_KEY);
}

/**
 * Verifies `credentials` against `server` and stores them. With a named auth file, `server`
 * may be `host/namespace[/repo]`: the key podman's login writes; a malformed one is refused
 * (`INVALID_CONFIG`) before any request.
 */
export async function login(server: string | undefined, credentials: LoginCredentials, options: LoginOptions = {}): Promise<LoginResult> {
  if (server !== undefined && typeof server !== 'string') throw new InvalidOptionError('login', 'server', server, 'a registry address or undefined for Docker Hub');
  checkOptions('login', credentials).string('username').check('password', (v) => typeof v === 'string', 'a string');
  if (typeof credentials?.username !== 'string') throw new InvalidOptionError('login', 'username', credentials?.username, 'a non-empty string');
  if (typeof credentials.password !== 'string') throw new InvalidOptionError('login', 'password', credentials.password, 'a string');
  checkOptions('login', options)
    .string('configDir')
    .string('authFile')
    .boolean('noStore')
    .check('registriesConf', (c) => c instanceof RegistriesConf, 'a RegistriesConf (RegistriesConf.load())');
  const registry = loginRegistryHost(server);
  const { registriesConf, ...transportOptions } = options;
  registriesConf?.checkNotBlocked(registry);
  const insecure = registriesConf?.find(registry)?.insecure === true && options.tlsVerify === undefined;
  // Checked before any request: a key podman would refuse must not cost a verification.
  if (!options.noStore) namedAuthFileKey(server, options);
  let refreshToken: string | undefined;
  const authorizer = new Authorizer({
    credentials: new StaticKeychain({ username: credentials.username, password: credentials.password }),
    offlineAccess: true,
    onRefreshToken: (_host, token) => {
      refreshToken = token;
    },
  });
  const transport = new Transport({ ...transportOptions, ...(insecure ? { tlsVerify: false } : {}), layers: [authorizer.layer()] });
  try {
    const ping = await negotiate(transport, registry, 'login');
    const url = new URL(ping.url);
    authorizer.learn(url, ping.challenges);
    // Login asks for no scope: the token only proves the credentials (and brings a refresh token).
    const res = await transport.send({ method: 'GET', url, scopes: [], timeout: 'ping' }).catch((err: unknown) => {
      // A token server's refusal reads as Docker's: `GET https://host/v2/: unauthorized: …`.
      if (err instanceof AuthError && !err.message.startsWith('GET ')) throw new GantryError(err.code, `GET ${url.href}: ${err.message}`, { cause: err });
      throw err;
    });
    if (res.status !== 200) {
      const err = await errorFromResponse({ method: 'GET', url }, res);
      throw new GantryError(res.status === 401 ? ErrorCode.UNAUTHORIZED : err.code, `login attempt to ${url.href} failed with status: ${res.status} ${statusText(res.status)}`, { cause: err });
    }
    await res.body.dump();
    let stored: StoreResult | undefined;
    if (!options.noStore) {
      // The same environment as the requests: DOCKER_CONFIG and credential helpers' PATH from `options.env`.
      const keychain = await Keychain.load({
        ...(options.configDir ? { configDir: options.configDir } : {}),
        ...(options.authFile ? { authFile: options.authFile } : {}),
        ...(options.env ? { env: options.env } : {}),
      });
      stored = await keychain.store(server ?? DOCKER_HUB_AUTH_KEY, refreshToken ? { username: credentials.username, identityToken: refreshToken } : { username: credentials.username, password: credentials.password });
    }
    return { status: LOGIN_SUCCEEDED, registry, url: url.href, identityToken: refreshToken !== undefined, ...(stored ? { stored } : {}) };
  } finally {
    await transport.close();
  }
}

/** What {@link logout} removed, and the host to name in the message. */
export interface LogoutResult extends EraseResult {
  /**
   * What is named in Docker's message `Removing login credentials for <registry>`: the host
   * (Docker's login key), or the repository key (`host/team`) logged out of a named auth file.
   */
  readonly registry: string;
}

/**
 * Erases stored credentials for `server` under every key form Docker (or podman, in an auth
 * file) may have used; from a named auth file, `host/namespace[/repo]` erases that key alone.
 */
export async function logout(
  server: string | undefined,
  options: {
    /** Docker config directory (`--config`); default `$DOCKER_CONFIG` or `~/.docker`. */
    readonly configDir?: string;
    /** A containers-auth.json file to erase from instead (podman's `--authfile`). Default: `$REGISTRY_AUTH_FILE` when set. */
    readonly authFile?: string;
    /** Environment for `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE` and credential helpers. Default `process.env`. */
    readonly env?: NodeJS.ProcessEnv;
  } = {},
): Promise<LogoutResult> {
  checkOptions('logout', options).string('configDir').string('authFile').object('env');
  const keychain = await Keychain.load({
    ...(options.configDir ? { configDir: options.configDir } : {}),
    ...(options.authFile ? { authFile: options.authFile } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const repositoryKey = namedAuthFileKey(server, options);
  const result = await keychain.erase(server);
  return { ...result, registry: repositoryKey?.includes('/') ? repositoryKey : loginKey(server) };
}

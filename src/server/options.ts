/**
 * The options of `createRegistryServer`, their defaults, and their validation at the
 * boundary: a value that makes no sense is an `InvalidOptionError` (code INVALID_OPTION) naming
 * the option, nested ones dotted (`listen.port`); a PEM file that cannot be read is a
 * `ConfigError` naming the option and the path.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';
import { InvalidOptionError, checkOptions } from '../options.js';
import type { AuthAttemptGuard, AuthThrottleLimits } from './auth-throttle.js';
import type { UpstreamConnector, UpstreamRemote } from './proxy/upstream.js';

/** What a token grants, as the token issuer's `verify` reports it. */
export interface TokenAccess {
  /** The kind of resource: `repository`, or `registry` for the catalog. */
  type: string;
  /** The resource, matched exactly: a repository name (`team/app`), or `catalog`. */
  name: string;
  /** The actions granted on it (`pull`, `push`, `delete`); `*` grants every action. */
  actions: string[];
}

/**
 * The part of the project's token issuer (`token/issuer.ts`) the registry uses: verifying a
 * bearer token, and answering the token endpoint when the registry serves it itself.
 */
export interface RegistryTokenIssuer {
  /**
   * Checks the token of a request's `Authorization: Bearer` header (directly or as a promise):
   * who it was issued to and what it grants, or undefined when it is not valid, which the
   * registry answers 401 with `error="invalid_token"`.
   */
  verify(token: string):
    | {
        /** Who the token was issued to (`''` for an anonymous token). */
        subject: string;
        /** What the token grants: a request passes when an entry for its resource lists every action it needs, or `*`. */
        access: TokenAccess[];
      }
    | undefined
    | Promise<
        | {
            /** Who the token was issued to (`''` for an anonymous token). */
            subject: string;
            /** What the token grants: a request passes when an entry for its resource lists every action it needs, or `*`. */
            access: TokenAccess[];
          }
        | undefined
      >;
  /** `guard`: the registry's failed-authentication throttle, for the password checks. */
  handle(req: IncomingMessage, res: ServerResponse, guard?: AuthAttemptGuard): unknown;
}

/**
 * How the registry authenticates requests: not at all (the default), Basic auth against an
 * htpasswd file, or bearer tokens from a token issuer. A missing or invalid field is an
 * `InvalidOptionError` (code `INVALID_OPTION`) naming it, e.g. `auth.file`.
 */
export type RegistryAuthOptions =
  | {
      /** No authentication: every request may do everything. */
      type: 'none';
    }
  /** Basic auth against an htpasswd file with bcrypt entries, as the CNCF registry reads it. */
  | {
      /** Basic auth: any user in `file` with the right password may do everything. */
      type: 'htpasswd';
      /**
       * Path of the htpasswd file, read once when the server starts; a file that cannot be read, or
       * has a line other than `user:bcrypt-hash`, a comment or a blank, is a `ConfigError` (code `INVALID_CONFIG`).
       */
      file: string;
      /** The realm of the `Basic` challenge: no quotes, backslashes or control characters. Default `gantry`. */
      realm?: string;
    }
  /**
   * Bearer tokens from `issuer`. Without `realm`, the issuer's endpoint is served by this
   * registry at `/token` and the challenge points there.
   */
  | {
      /** Bearer tokens: each request is allowed what its token's access list grants. */
      type: 'token';
      /** Verifies the tokens and, without `realm`, answers the token endpoint; a {@link TokenIssuer} fits. */
      issuer: RegistryTokenIssuer;
      /** The http(s) URL of the token endpoint the challenge names. Default: this registry's `/token`, served by `issuer`. */
      realm?: string;
      /**
       * The `service` the challenge names, which clients send on to the token endpoint: the
       * issuer's audience (a {@link TokenIssuer}'s `service`). No quotes, backslashes or control characters.
       */
      service: string;
    };

/**
 * HTTPS for the registry: its certificate and key and, for mutual TLS, the CA client certificates
 * must chain to. Each value is PEM text (used as is when it contains `-----BEGIN`) or the path of
 * a PEM file read when the server starts; one that cannot be read is a `ConfigError` (code `INVALID_CONFIG`).
 */
export interface RegistryTlsOptions {
  /** Server certificate chain: PEM text, or the path of a PEM file. */
  cert: string;
  /** Server private key: PEM text, or the path of a PEM file. */
  key: string;
  /** CA bundle client certificates must chain to (mutual TLS): PEM text or a file path. */
  clientCa?: string;
}

/**
 * Failed-authentication throttling per client address: after `maxFailures` failed password
 * checks within `windowMs`, the address's attempts are answered 429 with Retry-After for
 * `backoffMs`, without running bcrypt. Requests without credentials are not attempts.
 */
export interface RegistryAuthThrottleOptions {
  /** Default true. */
  enabled?: boolean;
  /** Default `DEFAULT_AUTH_MAX_FAILURES` (10). */
  maxFailures?: number;
  /** Default `DEFAULT_AUTH_FAILURE_WINDOW_MS` (one minute). */
  windowMs?: number;
  /** Default `DEFAULT_AUTH_BACKOFF_MS` (one minute). */
  backoffMs?: number;
}

/**
 * Removal of abandoned upload sessions while the server runs and when it starts
 * (docker-registry's `storage.maintenance.uploadpurging`, with its defaults): every
 * `intervalMs`, sessions started `ageMs` or longer ago are removed, as distribution counts
 * them; a session in the middle of a request is left for the next round.
 */
export interface RegistryUploadPurgingOptions {
  /** Default true. */
  enabled?: boolean;
  /** Default `DEFAULT_UPLOAD_PURGE_AGE_MS` (168 h). */
  ageMs?: number;
  /** How often to look; default `DEFAULT_UPLOAD_PURGE_INTERVAL_MS` (24 h). */
  intervalMs?: number;
}

/**
 * Proxy mode: the registry becomes a read-through cache of one upstream registry (Docker Hub or
 * any other), as the CNCF registry's `proxy` section makes it. What a client asks for and storage
 * lacks is fetched from the upstream, streamed to the client while it is stored, and served from
 * storage afterwards; tags are checked again upstream after `tagTtlMs`. Pushes, uploads and
 * deletes are refused with UNSUPPORTED (405). See docs/serve-proxy.md.
 */
export interface RegistryProxyOptions {
  /**
   * The upstream's root URL, `http://` or `https://`, no path, query or credentials (the CNCF
   * registry's `remoteurl` rule): `https://registry-1.docker.io` for Docker Hub.
   */
  remoteUrl: string;
  /** The user name at the upstream; default anonymous. Needs `password` or `passwordFile`. */
  username?: string;
  /** The password or access token at the upstream, with `username`. */
  password?: string;
  /** A file holding the password (a trailing line break is dropped), read when the server starts; instead of `password`. */
  passwordFile?: string;
  /**
   * How long a cached tag is served without asking the upstream, in ms; after it, the next request
   * for the tag sends the upstream a HEAD. 0 asks every time. Default 10 minutes.
   * Manifests by digest and blobs never expire.
   */
  tagTtlMs?: number;
  /**
   * Builds the upstream client from the remote's URL and credentials (the registry itself makes no
   * outgoing requests): `connectUpstream` from `gantry`, which uses gantry's client (certs.d, proxies,
   * token auth, retries, verification), or your own {@link Upstream}.
   */
  connect: UpstreamConnector;
  /**
   * A directory for the spool files of blobs being fetched (each as large as its blob, removed
   * once served). Default: `<storage>/proxy-spool` for directory storage, the system's temporary
   * directory for memory storage.
   */
  spoolDir?: string;
}

/**
 * The options of {@link createRegistryServer}, all optional. A value of the wrong type or out of
 * range is an `InvalidOptionError` (code `INVALID_OPTION`) naming the option, nested ones dotted (`listen.port`).
 */
export interface RegistryServerOptions {
  /** Where to listen. Default `{ host: '127.0.0.1', port: 5000 }`; port 0 picks a free port. */
  listen?: {
    /** The address to bind. Default {@link DEFAULT_HOST} (`127.0.0.1`). */
    host?: string;
    /** The TCP port, an integer from 0 to 65535; 0 picks a free port. Default {@link DEFAULT_PORT} (5000). */
    port?: number;
  };
  /** A directory (created if missing) or `'memory'`. Default `./gantry-registry`. */
  storage?: string;
  /** Serve HTTPS (and require client certificates when `clientCa` is given). Default plain HTTP. */
  tls?: RegistryTlsOptions;
  /** Default `{ type: 'none' }`. */
  auth?: RegistryAuthOptions;
  /** Receives one line per request, secrets redacted. Default: no logging. */
  log?: (line: string) => void;
  /** Whether DELETE of manifests, tags and blobs is allowed. Default true. */
  deleteEnabled?: boolean;
  /** Default: enabled, 10 failures a minute, then a minute of 429s. */
  authThrottle?: RegistryAuthThrottleOptions;
  /** Default: enabled, sessions older than 168 h, looked for every 24 h. */
  uploadPurging?: RegistryUploadPurgingOptions;
  /** Run as a pull-through cache of another registry. Default: a registry of its own. */
  proxy?: RegistryProxyOptions;
  /**
   * Prometheus metrics at `/metrics` (docs/serve-operations.md): `true` serves them on the
   * registry's own address, behind its auth; `{ listen }` on a separate plain-HTTP address
   * without auth, as the CNCF registry's debug server. Default: no metrics. `/healthz` and
   * `/readyz` are served either way.
   */
  metrics?: boolean | RegistryMetricsOptions;
  /**
   * On `close()`, how long requests in progress may take to finish (while `/readyz` answers 503)
   * before their connections are cut. Default 0: cut at once.
   */
  drainTimeoutMs?: number;
  /** Serve the web view at `/ui/`, read-only, behind the same auth as the API (docs/serve-ui.md). Default false. */
  ui?: boolean;
}

/** Where the metrics are served; see {@link RegistryServerOptions.metrics}. */
export interface RegistryMetricsOptions {
  /** Default true. */
  enabled?: boolean;
  /**
   * A separate address for `/metrics`, `/healthz` and `/readyz`, plain HTTP and unauthenticated
   * (bind it to loopback or an internal network); port 0 picks a free one. Default: the registry's own address.
   */
  listen?: {
    /** Default {@link DEFAULT_HOST}. */
    host?: string;
    /** An integer from 0 to 65535. */
    port: number;
  };
}

/** The address the registry binds when `listen.host` is not given: loopback only. */
export const DEFAULT_HOST = '127.0.0.1';
/** The port the registry listens on when `listen.port` is not given. */
export const DEFAULT_PORT = 5000;
/** The storage directory when `storage` is not given, relative to the working directory. */
export const DEFAULT_STORAGE = './gantry-registry';
/**
 * Failed authentications from one address before it backs off: a person mistypes a few times
 * and a client with a stale credential retries a handful; ten within the window is a script.
 */
export const DEFAULT_AUTH_MAX_FAILURES = 10;
/** The window the failures are counted in. */
export const DEFAULT_AUTH_FAILURE_WINDOW_MS = 60_000;
/**
 * How long a throttled address is refused: guessing drops to ten tries a minute, and a user who
 * fixed a wrong password is let in again within a minute.
 */
export const DEFAULT_AUTH_BACKOFF_MS = 60_000;
const HOUR_MS = 60 * 60 * 1000;
/** docker-registry's default: a week covers any push paused over a weekend. */
export const DEFAULT_UPLOAD_PURGE_AGE_MS = 168 * HOUR_MS;
/** docker-registry's default: daily is often enough for sessions that may live a week. */
export const DEFAULT_UPLOAD_PURGE_INTERVAL_MS = 24 * HOUR_MS;
/** The longest delay `setInterval` keeps (a larger one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * How long a pull-through cache trusts a tag before asking its upstream again: short enough that
 * a pushed `latest` reaches the cache's clients within minutes, long enough that a fleet pulling
 * one image costs the upstream one HEAD per tag every ten minutes, not one per pull.
 */
export const DEFAULT_PROXY_TAG_TTL_MS = 10 * 60 * 1000;

export interface ResolvedOptions {
  host: string;
  port: number;
  storage: string;
  tls?: { cert: string; key: string; clientCa?: string };
  auth: RegistryAuthOptions;
  log?: (line: string) => void;
  deleteEnabled: boolean;
  /** Undefined when throttling is disabled. */
  authThrottle: AuthThrottleLimits | undefined;
  uploadPurging: Required<RegistryUploadPurgingOptions>;
  proxy?: ResolvedProxyOptions;
  /** Undefined: no metrics. `listen` undefined: on the registry's own address. */
  metrics?: { listen?: { host: string; port: number } };
  drainTimeoutMs: number;
  ui: boolean;
}

export interface ResolvedProxyOptions {
  remote: UpstreamRemote;
  tagTtlMs: number;
  connect: UpstreamConnector;
  spoolDir?: string;
}

const WHERE = 'createRegistryServer';

/** The fields of a nested option group named in full (`listen.port`), for `checkOptions`. */
function within(group: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object') return {};
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [`${group}.${k}`, v]));
}

function required(group: Record<string, unknown>, name: string, expected: string): void {
  if (group[name] === undefined) throw new InvalidOptionError(WHERE, name, undefined, expected);
}

/** Goes between the quotes of a `WWW-Authenticate` parameter as is. */
function headerSafe(v: unknown): boolean {
  if (typeof v !== 'string' || v === '') return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x22 /* " */ || c === 0x5c /* \ */) return false;
  }
  return true;
}

function httpUrl(v: unknown): boolean {
  if (!headerSafe(v)) return false;
  try {
    return /^https?:$/.test(new URL(v as string).protocol);
  } catch {
    return false;
  }
}

/** PEM text is used as is; anything else is read as a file path. */
async function pem(option: string, value: string): Promise<string> {
  if (value.includes('-----BEGIN')) return value;
  try {
    return await readFile(value, 'utf8');
  } catch (err) {
    throw new ConfigError(`${option}: cannot read ${value}: ${(err as Error).message}`, { cause: err });
  }
}

function checkAuth(auth: RegistryAuthOptions): void {
  const group = within('auth', auth);
  required(group, 'auth.type', "'none', 'htpasswd' or 'token'");
  const check = checkOptions(WHERE, group).oneOf('auth.type', ['none', 'htpasswd', 'token']);
  if (auth.type === 'htpasswd') {
    required(group, 'auth.file', 'the path of an htpasswd file');
    check.string('auth.file').check('auth.realm', headerSafe, 'a realm name without quotes, backslashes or control characters');
  } else if (auth.type === 'token') {
    required(group, 'auth.issuer', 'a token issuer with verify() and handle()');
    required(group, 'auth.service', 'the service tokens are issued for');
    check
      .check('auth.issuer', (v) => typeof (v as RegistryTokenIssuer | null)?.verify === 'function' && typeof (v as RegistryTokenIssuer).handle === 'function', 'a token issuer with verify() and handle()')
      .check('auth.service', headerSafe, 'a service name without quotes, backslashes or control characters')
      .check('auth.realm', httpUrl, 'an http(s) URL');
  }
}

/** The CNCF registry's rule for `remoteurl`: the root of a host, nothing else in it. */
function remoteUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return /^https?:$/.test(u.protocol) && u.hostname !== '' && (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '' && u.username === '' && u.password === '' && !v.includes('?') && !v.includes('#');
  } catch {
    return false;
  }
}

async function resolveProxy(proxy: RegistryProxyOptions): Promise<ResolvedProxyOptions> {
  const group = within('proxy', proxy);
  required(group, 'proxy.remoteUrl', 'the upstream registry\'s URL, e.g. https://registry-1.docker.io');
  required(group, 'proxy.connect', 'a function that connects to the upstream (connectUpstream from gantry)');
  checkOptions(WHERE, group)
    .check('proxy.remoteUrl', remoteUrl, 'an http(s) URL of a registry\'s root: no path, query, fragment or credentials')
    .check('proxy.username', (v) => typeof v === 'string' && v !== '' && !v.includes(':'), 'a user name without ":"')
    .string('proxy.password')
    .string('proxy.passwordFile')
    .integer('proxy.tagTtlMs', 0)
    .func('proxy.connect')
    .string('proxy.spoolDir');
  if (proxy.password !== undefined && proxy.passwordFile !== undefined) {
    throw new InvalidOptionError(WHERE, 'proxy.passwordFile', proxy.passwordFile, 'either proxy.password or proxy.passwordFile, not both');
  }
  const hasSecret = proxy.password !== undefined || proxy.passwordFile !== undefined;
  if (proxy.username === undefined && hasSecret) throw new InvalidOptionError(WHERE, 'proxy.username', undefined, 'a user name with proxy.password or proxy.passwordFile');
  if (proxy.username !== undefined && !hasSecret) throw new InvalidOptionError(WHERE, 'proxy.password', undefined, 'a password (or proxy.passwordFile) with proxy.username');
  let password = proxy.password;
  if (proxy.passwordFile !== undefined) {
    try {
      password = (await readFile(proxy.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`proxy.passwordFile: cannot read ${proxy.passwordFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  const origin = new URL(proxy.remoteUrl).origin;
  return {
    remote: { url: origin, ...(proxy.username !== undefined && password !== undefined ? { username: proxy.username, password } : {}) },
    tagTtlMs: proxy.tagTtlMs ?? DEFAULT_PROXY_TAG_TTL_MS,
    connect: proxy.connect,
    ...(proxy.spoolDir !== undefined ? { spoolDir: proxy.spoolDir } : {}),
  };
}

export async function resolveOptions(options: RegistryServerOptions): Promise<ResolvedOptions> {
  checkOptions(WHERE, options)
    .object('listen')
    .string('storage')
    .object('tls')
    .object('auth')
    .func('log')
    .boolean('deleteEnabled')
    .object('authThrottle')
    .object('uploadPurging')
    .object('proxy')
    .check('metrics', (v) => typeof v === 'boolean' || (v !== null && typeof v === 'object'), 'true, false or { enabled, listen }')
    .integer('drainTimeoutMs', 0, MAX_TIMER_MS)
    .boolean('ui');
  const metrics = resolveMetrics(options.metrics);
  checkOptions(WHERE, within('listen', options.listen)).string('listen.host').integer('listen.port', 0, 65535);
  const throttle = options.authThrottle ?? {};
  checkOptions(WHERE, within('authThrottle', throttle))
    .boolean('authThrottle.enabled')
    .integer('authThrottle.maxFailures', 1)
    .integer('authThrottle.windowMs', 1)
    .integer('authThrottle.backoffMs', 1);
  const purging = options.uploadPurging ?? {};
  checkOptions(WHERE, within('uploadPurging', purging))
    .boolean('uploadPurging.enabled')
    .integer('uploadPurging.ageMs', 1)
    .integer('uploadPurging.intervalMs', 1, MAX_TIMER_MS);
  const auth = options.auth ?? { type: 'none' };
  checkAuth(auth);

  let tls: ResolvedOptions['tls'];
  if (options.tls !== undefined) {
    const group = within('tls', options.tls);
    required(group, 'tls.cert', 'PEM text or the path of a PEM file');
    required(group, 'tls.key', 'PEM text or the path of a PEM file');
    checkOptions(WHERE, group).string('tls.cert').string('tls.key').string('tls.clientCa');
    tls = { cert: await pem('tls.cert', options.tls.cert), key: await pem('tls.key', options.tls.key) };
    if (options.tls.clientCa !== undefined) tls.clientCa = await pem('tls.clientCa', options.tls.clientCa);
  }
  const proxy = options.proxy !== undefined ? await resolveProxy(options.proxy) : undefined;
  return {
    host: options.listen?.host ?? DEFAULT_HOST,
    port: options.listen?.port ?? DEFAULT_PORT,
    storage: options.storage ?? DEFAULT_STORAGE,
    ...(tls ? { tls } : {}),
    auth,
    ...(options.log ? { log: options.log } : {}),
    deleteEnabled: options.deleteEnabled ?? true,
    authThrottle:
      throttle.enabled === false
        ? undefined
        : {
            maxFailures: throttle.maxFailures ?? DEFAULT_AUTH_MAX_FAILURES,
            windowMs: throttle.windowMs ?? DEFAULT_AUTH_FAILURE_WINDOW_MS,
            backoffMs: throttle.backoffMs ?? DEFAULT_AUTH_BACKOFF_MS,
          },
    uploadPurging: {
      enabled: purging.enabled ?? true,
      ageMs: purging.ageMs ?? DEFAULT_UPLOAD_PURGE_AGE_MS,
      intervalMs: purging.intervalMs ?? DEFAULT_UPLOAD_PURGE_INTERVAL_MS,
    },
    ...(proxy ? { proxy } : {}),
    ...(metrics ? { metrics } : {}),
    drainTimeoutMs: options.drainTimeoutMs ?? 0,
    ui: options.ui ?? false,
  };
}

function resolveMetrics(metrics: RegistryServerOptions['metrics']): ResolvedOptions['metrics'] {
  if (metrics === undefined || metrics === false) return undefined;
  if (metrics === true) return {};
  checkOptions(WHERE, within('metrics', metrics)).boolean('metrics.enabled').object('metrics.listen');
  if (metrics.enabled === false) return undefined;
  if (metrics.listen === undefined) return {};
  const group = within('metrics.listen', metrics.listen);
  required(group, 'metrics.listen.port', 'a TCP port from 0 to 65535');
  checkOptions(WHERE, group).string('metrics.listen.host').integer('metrics.listen.port', 0, 65535);
  return { listen: { host: metrics.listen.host ?? DEFAULT_HOST, port: metrics.listen.port } };
}

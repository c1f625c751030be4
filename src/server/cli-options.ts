/**
 * Turns `gantry serve` flags into `RegistryServerOptions`, so the command stays a thin
 * parse → build options → call. Flag errors are `ConfigError`s naming the flag.
 */
import { ConfigError } from '../errors.js';
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STORAGE, type RegistryServerOptions } from './options.js';
import { loadTokenConfig } from './token-config.js';

export interface RegistryServeFlags {
  /** `HOST:PORT`, `[IPv6]:PORT` or `:PORT`. Default `127.0.0.1:5000`. */
  listen?: string;
  /** A directory or `memory`. Default `./gantry-registry`. */
  storage?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  htpasswd?: string;
  /** Token auth: the config file of users and grants (see token-config.ts). */
  tokenConfig?: string;
  /** An external token realm; default: the registry's own `/token`. */
  tokenRealm?: string;
  deleteEnabled?: boolean;
  /** `--upload-purge-age`: a duration (see `parseDuration`). */
  uploadPurgeAge?: string;
  /** `--upload-purge-interval`: a duration. */
  uploadPurgeInterval?: string;
  /** False for `--no-upload-purging`. */
  uploadPurging?: boolean;
  /** `--metrics`: Prometheus metrics at /metrics on the registry's address. */
  metrics?: boolean;
  /** `--metrics-listen HOST:PORT`: metrics (and health) on a separate address instead; implies `--metrics`. */
  metricsListen?: string;
  /** `--drain-timeout`: a duration requests in progress get on shutdown. */
  drainTimeout?: string;
  /** `--ui`: the web view at /ui/. */
  ui?: boolean;
  log?: (line: string) => void;
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration flag the way docker-registry's config reads one (Go's `time.Duration`):
 * `168h`, `30m`, `1h30m`, `1.5h`, `10s`, `500ms`; a plain number is seconds. Returns whole
 * milliseconds, at least 1.
 */
export function parseDuration(flag: string, value: string): number {
  const text = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) {
    ms = Number(text) * 1000;
  } else if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) {
    ms = 0;
    for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(amount) * (DURATION_UNITS_MS[unit as string] as number);
  } else {
    throw new ConfigError(`${flag}: expected a duration such as 168h, 30m, 10s or a number of seconds, got ${JSON.stringify(value)}`);
  }
  ms = Math.round(ms);
  if (ms < 1 || !Number.isSafeInteger(ms)) throw new ConfigError(`${flag}: ${JSON.stringify(value)} is out of range`);
  return ms;
}

/** Parses `--listen`: `HOST:PORT`, `[::1]:PORT`, `:PORT` (default host) or `HOST` (default port). */
export function parseListen(value: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))(?::(\d+))?$/.exec(value.trim());
  if (!m) throw new ConfigError(`${flag}: expected HOST:PORT, got ${JSON.stringify(value)}`);
  const host = m[1] ?? (m[2] || DEFAULT_HOST);
  const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (port > 65535) throw new ConfigError(`${flag}: port ${port} is out of range`);
  return { host, port };
}

export async function registryServerOptionsFromCli(flags: RegistryServeFlags): Promise<RegistryServerOptions> {
  const options: RegistryServerOptions = {
    listen: parseListen(flags.listen ?? `${DEFAULT_HOST}:${DEFAULT_PORT}`),
    storage: flags.storage ?? DEFAULT_STORAGE,
    deleteEnabled: flags.deleteEnabled ?? true,
  };
  if (flags.log) options.log = flags.log;
  if (flags.ui) options.ui = true;
  if (flags.metricsListen !== undefined) {
    const listen = parseListen(flags.metricsListen, '--metrics-listen');
    options.metrics = { listen };
  } else if (flags.metrics) {
    options.metrics = true;
  }
  if (flags.drainTimeout !== undefined) options.drainTimeoutMs = parseDuration('--drain-timeout', flags.drainTimeout);
  if (flags.uploadPurging === false && (flags.uploadPurgeAge !== undefined || flags.uploadPurgeInterval !== undefined)) {
    throw new ConfigError('--no-upload-purging and --upload-purge-age/--upload-purge-interval contradict each other: choose one');
  }
  if (flags.uploadPurging === false) options.uploadPurging = { enabled: false };
  if (flags.uploadPurgeAge !== undefined || flags.uploadPurgeInterval !== undefined) {
    options.uploadPurging = {
      ...(flags.uploadPurgeAge !== undefined ? { ageMs: parseDuration('--upload-purge-age', flags.uploadPurgeAge) } : {}),
      ...(flags.uploadPurgeInterval !== undefined ? { intervalMs: parseDuration('--upload-purge-interval', flags.uploadPurgeInterval) } : {}),
    };
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together: give both or neither');
  }
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
    options.tls = { cert: flags.tlsCert, key: flags.tlsKey, ...(flags.clientCa ? { clientCa: flags.clientCa } : {}) };
  } else if (flags.clientCa !== undefined) {
    throw new ConfigError('--client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first');
  }
  if (flags.htpasswd !== undefined && flags.tokenConfig !== undefined) {
    throw new ConfigError('--htpasswd and --token-config are exclusive: choose one');
  }
  if (flags.tokenRealm !== undefined && flags.tokenConfig === undefined) {
    throw new ConfigError('--token-realm needs --token-config');
  }
  if (flags.htpasswd !== undefined) options.auth = { type: 'htpasswd', file: flags.htpasswd };
  if (flags.tokenConfig !== undefined) {
    const { issuer, service } = await loadTokenConfig(flags.tokenConfig);
    options.auth = { type: 'token', issuer, service, ...(flags.tokenRealm ? { realm: flags.tokenRealm } : {}) };
  }
  return options;
}

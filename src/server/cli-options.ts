/**
 * Turns `gantry serve` flags into `RegistryServerOptions`, so the command stays a thin
 * parse → build options → call. Flag errors are `ConfigError`s naming the flag.
 */
import { ConfigError } from '../errors.js';
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_STORAGE, type RegistryServerOptions, type RegistryTokenIssuer } from './options.js';

export interface RegistryServeFlags {
  /** `HOST:PORT`, `[IPv6]:PORT` or `:PORT`. Default `127.0.0.1:5000`. */
  listen?: string;
  /** A directory or `memory`. Default `./gantry-registry`. */
  storage?: string;
  tlsCert?: string;
  tlsKey?: string;
  clientCa?: string;
  htpasswd?: string;
  /** Token auth with this issuer (built by the CLI from its config file). */
  tokenIssuer?: RegistryTokenIssuer;
  tokenService?: string;
  tokenRealm?: string;
  deleteEnabled?: boolean;
  log?: (line: string) => void;
}

/** Parses `--listen`: `HOST:PORT`, `[::1]:PORT`, `:PORT` (default host) or `HOST` (default port). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))(?::(\d+))?$/.exec(value.trim());
  if (!m) throw new ConfigError(`--listen: expected HOST:PORT, got ${JSON.stringify(value)}`);
  const host = m[1] ?? (m[2] || DEFAULT_HOST);
  const port = m[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (port > 65535) throw new ConfigError(`--listen: port ${port} is out of range`);
  return { host, port };
}

export function registryServerOptionsFromCli(flags: RegistryServeFlags): RegistryServerOptions {
  const options: RegistryServerOptions = {
    listen: parseListen(flags.listen ?? `${DEFAULT_HOST}:${DEFAULT_PORT}`),
    storage: flags.storage ?? DEFAULT_STORAGE,
    deleteEnabled: flags.deleteEnabled ?? true,
  };
  if (flags.log) options.log = flags.log;
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new ConfigError('--tls-cert and --tls-key go together: give both or neither');
  }
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) {
    options.tls = { cert: flags.tlsCert, key: flags.tlsKey, ...(flags.clientCa ? { clientCa: flags.clientCa } : {}) };
  } else if (flags.clientCa !== undefined) {
    throw new ConfigError('--client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first');
  }
  if (flags.htpasswd !== undefined && flags.tokenIssuer !== undefined) {
    throw new ConfigError('--htpasswd and token auth are exclusive: choose one');
  }
  if (flags.htpasswd !== undefined) options.auth = { type: 'htpasswd', file: flags.htpasswd };
  if (flags.tokenIssuer !== undefined) {
    options.auth = {
      type: 'token',
      issuer: flags.tokenIssuer,
      service: flags.tokenService ?? 'gantry',
      ...(flags.tokenRealm ? { realm: flags.tokenRealm } : {}),
    };
  }
  return options;
}

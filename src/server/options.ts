/**
 * The options of `createRegistryServer`, their defaults, and their validation at the
 * boundary: a bad value fails with a `ConfigError` that names the option and the fix.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';

/** What a token grants, as the token issuer's `verify` reports it. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/**
 * The part of the project's token issuer (`token-issuer.ts`) the registry uses: verifying a
 * bearer token, and answering the token endpoint when the registry serves it itself.
 */
export interface RegistryTokenIssuer {
  verify(token: string): { subject: string; access: TokenAccess[] } | undefined | Promise<{ subject: string; access: TokenAccess[] } | undefined>;
  handle(req: IncomingMessage, res: ServerResponse): unknown;
}

export type RegistryAuthOptions =
  | { type: 'none' }
  /** Basic auth against an htpasswd file with bcrypt entries, as the CNCF registry reads it. */
  | { type: 'htpasswd'; file: string; realm?: string }
  /**
   * Bearer tokens from `issuer`. Without `realm`, the issuer's endpoint is served by this
   * registry at `/token` and the challenge points there.
   */
  | { type: 'token'; issuer: RegistryTokenIssuer; realm?: string; service: string };

export interface RegistryTlsOptions {
  /** Server certificate chain: PEM text, or the path of a PEM file. */
  cert: string;
  /** Server private key: PEM text, or the path of a PEM file. */
  key: string;
  /** CA bundle client certificates must chain to (mutual TLS): PEM text or a file path. */
  clientCa?: string;
}

export interface RegistryServerOptions {
  /** Where to listen. Default `{ host: '127.0.0.1', port: 5000 }`; port 0 picks a free port. */
  listen?: { host?: string; port?: number };
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
}

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 5000;
export const DEFAULT_STORAGE = './gantry-registry';

export interface ResolvedOptions {
  host: string;
  port: number;
  storage: string;
  tls?: { cert: string; key: string; clientCa?: string };
  auth: RegistryAuthOptions;
  log?: (line: string) => void;
  deleteEnabled: boolean;
}

/** PEM text is used as is; anything else is read as a file path. */
async function pem(option: string, value: unknown): Promise<string> {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${option} must be PEM text or the path of a PEM file`);
  if (value.includes('-----BEGIN')) return value;
  try {
    return await readFile(value, 'utf8');
  } catch (err) {
    throw new ConfigError(`${option}: cannot read ${value}: ${(err as Error).message}`, { cause: err });
  }
}

export async function resolveOptions(options: RegistryServerOptions): Promise<ResolvedOptions> {
  if (typeof options !== 'object' || options === null) throw new ConfigError('createRegistryServer: options must be an object');
  const host = options.listen?.host ?? DEFAULT_HOST;
  const port = options.listen?.port ?? DEFAULT_PORT;
  if (typeof host !== 'string' || host === '') throw new ConfigError('listen.host must be a host name or IP address');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`listen.port must be an integer from 0 to 65535, got ${String(port)}`);
  const storage = options.storage ?? DEFAULT_STORAGE;
  if (typeof storage !== 'string' || storage === '') throw new ConfigError("storage must be a directory path or 'memory'");
  let tls: ResolvedOptions['tls'];
  if (options.tls !== undefined) {
    tls = { cert: await pem('tls.cert', options.tls.cert), key: await pem('tls.key', options.tls.key) };
    if (options.tls.clientCa !== undefined) tls.clientCa = await pem('tls.clientCa', options.tls.clientCa);
  }
  const auth = options.auth ?? { type: 'none' };
  switch (auth.type) {
    case 'none':
      break;
    case 'htpasswd':
      if (typeof auth.file !== 'string' || auth.file === '') throw new ConfigError('auth.file must be the path of an htpasswd file');
      break;
    case 'token':
      if (!auth.issuer || typeof auth.issuer.verify !== 'function') throw new ConfigError('auth.issuer must be a token issuer with verify()');
      if (typeof auth.service !== 'string' || auth.service === '') throw new ConfigError('auth.service must name the service tokens are issued for');
      if (auth.realm !== undefined && !/^https?:\/\//.test(auth.realm)) throw new ConfigError('auth.realm must be an http(s) URL');
      break;
    default:
      throw new ConfigError(`auth.type must be 'none', 'htpasswd' or 'token', got ${JSON.stringify((auth as { type: unknown }).type)}`);
  }
  if (options.log !== undefined && typeof options.log !== 'function') throw new ConfigError('log must be a function that takes one line');
  const deleteEnabled = options.deleteEnabled ?? true;
  if (typeof deleteEnabled !== 'boolean') throw new ConfigError('deleteEnabled must be a boolean');
  return { host, port, storage, ...(tls ? { tls } : {}), auth, ...(options.log ? { log: options.log } : {}), deleteEnabled };
}

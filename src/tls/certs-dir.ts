/**
 * Docker's per-host certificate directory, `/etc/docker/certs.d/<host[:port]>/`, read the
 * way moby's `loadTLSConfig` reads it (`daemon/pkg/registry/registry.go`;
 * docs/docker-rules.md#certsd):
 *   - `*.crt`  CA roots, added to the system roots;
 *   - `*.cert` + `*.key` with the same base name: a client certificate pair;
 *   - anything else is ignored; a missing directory means no configuration.
 * Entries are taken in file-name order, which is the order client pairs are tried in.
 *
 * Where Docker silently ignores a `.crt` that holds no certificate, gantry reports it:
 * bad input gets a clear error naming the file.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { ErrorCode, GantryError } from '../errors.js';

export const DEFAULT_CERTS_DIR = '/etc/docker/certs.d';

/** A certs.d problem: half a client pair, an unreadable or malformed file. */
export class CertsDirError extends GantryError {
  readonly dir: string;
  constructor(dir: string, message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.CERTS_DIR, `certs.d folder ${dir}: ${message}`, options);
    this.name = 'CertsDirError';
    this.dir = dir;
  }
}

/**
 * The certs directory Docker uses: `/etc/docker/certs.d`, or, when running rootless
 * (`ROOTLESSKIT_STATE_DIR` set), `$XDG_CONFIG_HOME/docker/certs.d` (`~/.config/...`).
 */
export function defaultCertsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (process.platform === 'linux' && env.ROOTLESSKIT_STATE_DIR) {
    const configHome = env.XDG_CONFIG_HOME || (env.HOME || homedir() ? join(env.HOME || homedir(), '.config') : '');
    if (configHome) return join(configHome, 'docker', 'certs.d');
  }
  return DEFAULT_CERTS_DIR;
}

/** Where the containers tools look for certs.d folders, as {@link containersCertsRoots} takes them (tests inject their own). */
export interface CertsRootsOptions {
  /** The home folder (`~/.config/containers/certs.d`). Default `$HOME`, else the OS's. */
  readonly home?: string;
  /** The system configuration root (`/etc`). Default `/etc`. */
  readonly etc?: string;
  /** Environment for `HOME` and Docker's rootless rule. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * containers/image's certs.d roots, in its order (`dockerCertDir` in `docker/docker_client.go`):
 * `~/.config/containers/certs.d`, `/etc/containers/certs.d`, then Docker's folder
 * (`/etc/docker/certs.d`, rootless aware as {@link defaultCertsDir}).
 */
export function containersCertsRoots(options: CertsRootsOptions = {}): string[] {
  const env = options.env ?? process.env;
  const home = options.home ?? (env.HOME || homedir());
  const etc = options.etc ?? '/etc';
  const docker = options.etc === undefined ? defaultCertsDir(env) : join(etc, 'docker', 'certs.d');
  return [join(home, '.config', 'containers', 'certs.d'), join(etc, 'containers', 'certs.d'), docker];
}

/**
 * A host's folder under several roots, as containers/image picks it: `<root>/<host>` of the
 * first root where it exists (a folder it may not read is passed over, as there), else the last
 * root's (which then means no configuration). Only the folder found is read: roots never merge.
 */
export async function findHostCertsDir(roots: readonly string[], host: string): Promise<string> {
  for (const root of roots) {
    const dir = hostCertsDir(root, host);
    try {
      await stat(dir);
      return dir;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EACCES') throw new CertsDirError(dir, `cannot read the folder: ${(err as Error).message}`, { cause: err });
    }
  }
  return hostCertsDir(roots[roots.length - 1] ?? DEFAULT_CERTS_DIR, host);
}

/** `<certsDir>/<host[:port]>`, by the name as written: `example.com` and `example.com:443` differ. */
export function hostCertsDir(certsDir: string, host: string): string {
  return join(certsDir, host);
}

export interface ClientCertificate {
  /** File names as found, for diagnostics: `client.cert`, `client.key`. */
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

export interface CertsDirectory {
  /** The folder consulted. */
  readonly dir: string;
  /** Whether it exists. */
  readonly exists: boolean;
  /** `*.crt` files, in order. */
  readonly caFiles: readonly string[];
  /** Their PEM contents. */
  readonly ca: readonly string[];
  /** Client pairs, in file-name order. */
  readonly clients: readonly ClientCertificate[];
}

/** Reads one host's folder. A folder that does not exist is an empty configuration. */
export async function readCertsDirectory(dir: string): Promise<CertsDirectory> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => !e.isDirectory()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { dir, exists: false, caFiles: [], ca: [], clients: [] };
    throw new CertsDirError(dir, `cannot read the folder: ${(err as Error).message}`, { cause: err });
  }
  const present = new Set(names);
  const caFiles: string[] = [];
  const ca: string[] = [];
  const clients: ClientCertificate[] = [];
  const read = async (name: string): Promise<string> => {
    try {
      return await readFile(join(dir, name), 'utf8');
    } catch (err) {
      throw new CertsDirError(dir, `cannot read ${name}: ${(err as Error).message}`, { cause: err });
    }
  };
  for (const name of names) {
    const ext = extname(name);
    const base = basename(name, ext);
    if (ext === '.crt') {
      const pem = await read(name);
      try {
        new X509Certificate(pem);
      } catch (err) {
        throw new CertsDirError(dir, `${name} is not a PEM certificate`, { cause: err });
      }
      caFiles.push(name);
      ca.push(pem);
    } else if (ext === '.cert') {
      const keyName = `${base}.key`;
      if (!present.has(keyName)) {
        throw new CertsDirError(dir, `missing key ${keyName} for client certificate ${name}. CA certificates must use the extension .crt`);
      }
      const [cert, key] = [await read(name), await read(keyName)];
      checkPair(dir, name, cert, keyName, key);
      clients.push({ certFile: name, keyFile: keyName, cert, key });
    } else if (ext === '.key') {
      const certName = `${base}.cert`;
      if (!present.has(certName)) throw new CertsDirError(dir, `missing client certificate ${certName} for key ${name}`);
    }
  }
  return { dir, exists: true, caFiles, ca, clients };
}

/** Fails early, naming the files, when a pair cannot be used (Node would only fail at connect time). */
function checkPair(dir: string, certName: string, certPem: string, keyName: string, keyPem: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new CertsDirError(dir, `${certName} is not a PEM certificate`, { cause: err });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertsDirError(dir, `${keyName} is not a PEM private key (an encrypted key is not supported)`, { cause: err });
  }
  if (!cert.checkPrivateKey(key)) throw new CertsDirError(dir, `client certificate ${certName} does not match key ${keyName}`);
}

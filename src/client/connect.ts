/**
 * A RegistryClient ready for real registries: a transport with the auth layer, credentials
 * from Docker's config (or given), and the ping's challenges fed to the authorizer so the
 * first request is already authorized. Mirrors never receive credentials.
 */
import { Authorizer } from '../auth/authorizer.js';
import { Keychain, StaticKeychain, type CredentialSource } from '../auth/keychain.js';
import { DEFAULT_REGISTRY_HOST, type EndpointPurpose } from '../config/endpoints.js';
import { isDockerHub } from '../auth/hostname.js';
import { RegistriesConf } from '../config/registries-conf.js';
import { checkOptions, InvalidOptionError } from '../options.js';
import type { Reference } from '../ref/reference.js';
import { Transport, type TransportOptions } from '../transport/transport.js';
import { RegistryClient } from './registry-client.js';

/** How to reach a registry and with which credentials: the transport options and a few more. */
export interface RegistryAccessOptions extends TransportOptions {
  /** Docker config directory for stored credentials (`--config`); default `$DOCKER_CONFIG` or `~/.docker`. */
  readonly configDir?: string;
  /**
   * A containers-auth.json file (podman's and skopeo's `--authfile`) to read credentials from
   * instead of Docker's config; it must exist. Default: `$REGISTRY_AUTH_FILE` when set, else
   * `$XDG_RUNTIME_DIR/containers/auth.json` when it exists (asked before Docker's config).
   */
  readonly authFile?: string;
  /**
   * skopeo's `--cert-dir`: a folder holding this registry's `*.crt` roots and `*.cert`/`*.key`
   * client pairs, read with certs.d's rules, used instead of `<certsDir>/<host>/` for the
   * registry's own host only (never for a token realm, a redirect's storage host or a mirror).
   * It must exist.
   */
  readonly certDir?: string;
  /** Credentials to use instead of the stored ones (`--creds user:pass`), or any CredentialSource. */
  readonly credentials?: {
    /** The user name. */
    username: string;
    /** The password or access token. */
    password: string
  } | CredentialSource;
  /** Send no credentials at all. */
  readonly anonymous?: boolean;
  /**
   * containers-registries.conf settings ({@link RegistriesConf.load}): a `blocked` registry or
   * namespace is refused (BLOCKED) before any request, an `insecure` one is treated as
   * `tlsVerify: false` unless `tlsVerify` is given, and image reads (`copy`, `inspect`) try
   * the table's mirrors, then its `location`. Default: none (the CLI loads the files podman reads).
   */
  readonly registriesConf?: RegistriesConf;
}

/**
 * The access options for one image, repository or registry host under `registriesConf`: the
 * longest matching table decides. BLOCKED when it is blocked; `tlsVerify: false` when it is
 * insecure and the caller did not choose. The result no longer carries `registriesConf`, so
 * the host-level rule of {@link connectRegistry} does not decide again.
 */
export function accessFor(name: Reference | string, options: RegistryAccessOptions): RegistryAccessOptions {
  const conf = options.registriesConf;
  if (conf === undefined) return options;
  conf.checkNotBlocked(name);
  const { registriesConf: _, ...rest } = options;
  const insecure = conf.find(name)?.insecure ?? false;
  return insecure && rest.tlsVerify === undefined ? { ...rest, tlsVerify: false } : rest;
}

/** An authenticated client and the way to release its connections. */
export interface ConnectedRegistry {
  /** The client; its requests carry the credentials for this registry only. */
  readonly client: RegistryClient;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

async function credentialSource(options: RegistryAccessOptions): Promise<CredentialSource | undefined> {
  if (options.anonymous) return undefined;
  const c = options.credentials;
  if (c && 'resolve' in c) return c;
  if (c) return new StaticKeychain({ username: c.username, password: c.password });
  const keychain = await Keychain.load({
    ...(options.configDir ? { configDir: options.configDir } : {}),
    ...(options.authFile ? { authFile: options.authFile } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  keychain.requireAuthFile();
  return keychain;
}

/** The host the registry's own https origin has (Docker Hub's API host for `docker.io`), as a URL spells it. */
function registryTlsHost(host: string): string {
  return isDockerHub(host) ? DEFAULT_REGISTRY_HOST : new URL(`https://${host}`).host;
}

function checkAccessOptions(host: unknown, purpose: unknown, options: RegistryAccessOptions): void {
  if (typeof host !== 'string' || host === '' || /[/\s]/.test(host)) throw new InvalidOptionError('connectRegistry', 'host', host, 'a registry host[:port] without scheme or path');
  if (purpose !== 'pull' && purpose !== 'push' && purpose !== 'login') throw new InvalidOptionError('connectRegistry', 'purpose', purpose, '"pull", "push" or "login"');
  checkOptions('connectRegistry', options)
    .string('configDir')
    .string('authFile')
    .string('certDir')
    .boolean('anonymous')
    .check('registriesConf', (c) => c instanceof RegistriesConf, 'a RegistriesConf (RegistriesConf.load())')
    .check(
      'credentials',
      (c) =>
        typeof c === 'object' &&
        c !== null &&
        (typeof (c as CredentialSource).resolve === 'function' || (typeof (c as { username?: unknown }).username === 'string' && typeof (c as { password?: unknown }).password === 'string')),
      '{ username, password } or a CredentialSource',
    );
}

/**
 * Opens a client for `host` (`docker.io`, `localhost:5000`) with auth: credentials from
 * `options.credentials`, else a named auth file (`authFile`, `REGISTRY_AUTH_FILE`), else
 * `$XDG_RUNTIME_DIR/containers/auth.json` and Docker's config (`configDir`, credential helpers), sent only to
 * this registry's own origins (never to a mirror, a redirect's storage host or another
 * registry). `purpose` `pull` may use Docker Hub mirrors; `push` and `login` never do. Close
 * it when done.
 *
 * @example
 * const { client, close } = await connectRegistry('localhost:5000', 'push');
 * try {
 *   const { digest } = await client.repository('team/app').getManifest('1.0');
 * } finally {
 *   await close();
 * }
 */
export async function connectRegistry(host: string, purpose: EndpointPurpose, given: RegistryAccessOptions = {}): Promise<ConnectedRegistry> {
  checkAccessOptions(host, purpose, given);
  const options = accessFor(host, given);
  const credentials = await credentialSource(options);
  const authorizer = new Authorizer(credentials ? { credentials } : {});
  const transport = new Transport({ ...options, layers: [...(options.layers ?? []), authorizer.layer()] });
  // Before any request: the policy gives the folder to this host's origins only, at each hop.
  if (options.certDir) transport.tls.useFolder(registryTlsHost(host), options.certDir);
  const client = RegistryClient.create({
    host,
    transport,
    purpose,
    // Learn the ping's challenges, so the first request carries auth. (Mirrors get no
    // credentials: negotiation records them as mirror origins.)
    onEndpoint: (ping) => authorizer.learn(new URL(ping.url), ping.challenges),
  });
  return { client, close: () => transport.close() };
}

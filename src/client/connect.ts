/**
 * A RegistryClient ready for real registries: a transport with the auth layer, credentials
 * from Docker's config (or given), and the ping's challenges fed to the authorizer so the
 * first request is already authorized. Mirrors never receive credentials.
 */
import { Authorizer } from '../auth/authorizer.js';
import { Keychain, StaticKeychain, type CredentialSource } from '../auth/keychain.js';
import type { EndpointPurpose } from '../config/endpoints.js';
import { checkOptions, InvalidOptionError } from '../options.js';
import { Transport, type TransportOptions } from '../transport/transport.js';
import { RegistryClient } from './registry-client.js';

/** How to reach a registry and with which credentials: the transport options and three more. */
export interface RegistryAccessOptions extends TransportOptions {
  /** Docker config directory for stored credentials (`--config`); default `$DOCKER_CONFIG` or `~/.docker`. */
  readonly configDir?: string;
  /** Credentials to use instead of the stored ones (`--creds user:pass`), or any CredentialSource. */
  readonly credentials?: {
    /** The user name. */
    username: string;
    /** The password or access token. */
    password: string
  } | CredentialSource;
  /** Send no credentials at all. */
  readonly anonymous?: boolean;
}

/** An authenticated client and the way to release its connections. */
export interface ConnectedRegistry {
  /** The client; its requests carry the credentials for this registry only. */
  readonly client: RegistryClient;
  /** Closes the client's connections. */
  close(): Promise<void>;
}

function credentialSource(options: RegistryAccessOptions): Promise<CredentialSource | undefined> {
  if (options.anonymous) return Promise.resolve(undefined);
  const c = options.credentials;
  if (c && 'resolve' in c) return Promise.resolve(c);
  if (c) return Promise.resolve(new StaticKeychain({ username: c.username, password: c.password }));
  return Keychain.load({ ...(options.configDir ? { configDir: options.configDir } : {}), ...(options.env ? { env: options.env } : {}) });
}

function checkAccessOptions(host: unknown, purpose: unknown, options: RegistryAccessOptions): void {
  if (typeof host !== 'string' || host === '' || /[/\s]/.test(host)) throw new InvalidOptionError('connectRegistry', 'host', host, 'a registry host[:port] without scheme or path');
  if (purpose !== 'pull' && purpose !== 'push' && purpose !== 'login') throw new InvalidOptionError('connectRegistry', 'purpose', purpose, '"pull", "push" or "login"');
  checkOptions('connectRegistry', options)
    .string('configDir')
    .boolean('anonymous')
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
 * `options.credentials`, else Docker's config (`configDir`, credential helpers), sent only to
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
export async function connectRegistry(host: string, purpose: EndpointPurpose, options: RegistryAccessOptions = {}): Promise<ConnectedRegistry> {
  checkAccessOptions(host, purpose, options);
  const credentials = await credentialSource(options);
  const authorizer = new Authorizer(credentials ? { credentials } : {});
  const transport = new Transport({ ...options, layers: [...(options.layers ?? []), authorizer.layer()] });
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

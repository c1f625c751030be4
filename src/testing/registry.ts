/**
 * A throw-away registry for tests: gantry's embedded registry on a free loopback port, in
 * memory by default, optionally behind TLS (with mutual TLS) and Basic auth, plus a certs.d
 * folder that makes a gantry client (or Docker, or skopeo with `--cert-dir`) trust it. One
 * call starts it; `close()` stops it and removes every file it wrote.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { InvalidOptionError, checkOptions } from '../options.js';
import { createRegistryServer, type RegistryAuthOptions, type RegistryServer } from '../server/index.js';
import { createTestPki, type TestPki } from './pki.js';

/** bcrypt's lowest cost: a test registry checks passwords in a millisecond, not a quarter second. */
const TEST_BCRYPT_COST = 4;

/** What `startTestRegistry` serves. Every option is optional. */
export interface TestRegistryOptions {
  /**
   * Serve HTTPS with a server certificate for the listen address. `true` makes a new test PKI
   * (removed by `close()`); a `TestPki` issues from yours (left in place). Default: plain HTTP.
   */
  readonly tls?: boolean | TestPki;
  /** Require a client certificate signed by the PKI's CA (mutual TLS). Implies `tls`. Default false. */
  readonly mutualTls?: boolean;
  /** Users and their passwords for Basic auth (written as a bcrypt htpasswd file). Default: no auth. */
  readonly users?: Readonly<Record<string, string>>;
  /** `'memory'` or a directory for the registry's storage. Default `'memory'`. */
  readonly storage?: string;
  /** The loopback address to listen on (`127.0.0.2` stands in for another host). Default `127.0.0.1`. */
  readonly address?: string;
  /** Whether DELETE is allowed. Default true. */
  readonly deleteEnabled?: boolean;
}

/** A running test registry. */
export interface TestRegistry {
  /** `address:port`, the registry's name in references (`127.0.0.1:40123/team/app:1`). */
  readonly host: string;
  /** `http://host` or `https://host`. */
  readonly url: string;
  /** The PKI behind the TLS certificate, when TLS is on. */
  readonly pki: TestPki | undefined;
  /**
   * With TLS: a certs.d directory whose `<host>/` folder holds the CA (`ca.crt`) and, with
   * mutual TLS, a client pair (`client.cert`, `client.key`). Pass it as `certsDir`.
   */
  readonly certsDir: string | undefined;
  /** The embedded registry itself. */
  readonly server: RegistryServer;
  /** Stops the registry and removes every file it wrote (a PKI it made included). */
  close(): Promise<void>;
}

function checkTestRegistryOptions(options: TestRegistryOptions): void {
  checkOptions('startTestRegistry', options)
    .check('tls', (v) => typeof v === 'boolean' || (typeof v === 'object' && v !== null && typeof (v as TestPki).server === 'function'), 'a boolean or a TestPki')
    .boolean('mutualTls')
    .check('users', (v) => typeof v === 'object' && v !== null && Object.entries(v).every(([k, x]) => /^[^:\s]+$/.test(k) && typeof x === 'string'), 'an object of user names (no ":" or spaces) to passwords')
    .string('storage')
    .check('address', (v) => typeof v === 'string' && (/^127(\.\d{1,3}){3}$/.test(v) || v === '::1'), 'a loopback address (127.x.y.z or ::1)')
    .boolean('deleteEnabled');
}

/**
 * Starts a registry for a test and resolves once it listens.
 *
 * @example
 * const registry = await startTestRegistry({ tls: true, users: { alice: 's3cret' } });
 * await copy('oci:./layout:1', `${registry.host}/team/app:1`, {
 *   destination: { certsDir: registry.certsDir, credentials: { username: 'alice', password: 's3cret' } },
 * });
 * await registry.close();
 */
export async function startTestRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  checkTestRegistryOptions(options);
  if (options.storage === '') throw new InvalidOptionError('startTestRegistry', 'storage', options.storage, "'memory' or a directory");
  const work = mkdtempSync(join(tmpdir(), 'gantry-test-registry-'));
  const useTls = options.tls !== undefined && options.tls !== false ? true : options.mutualTls === true;
  const ownPki = useTls && (options.tls === undefined || typeof options.tls === 'boolean');
  const pki = useTls ? (ownPki ? createTestPki(join(work, 'pki')) : (options.tls as TestPki)) : undefined;
  const address = options.address ?? '127.0.0.1';
  let server: RegistryServer;
  try {
    let auth: RegistryAuthOptions = { type: 'none' };
    if (options.users && Object.keys(options.users).length > 0) {
      const file = join(work, 'htpasswd');
      const lines = Object.entries(options.users).map(([user, password]) => `${user}:${bcrypt.hashSync(password, TEST_BCRYPT_COST)}\n`);
      writeFileSync(file, lines.join(''), { mode: 0o600 });
      auth = { type: 'htpasswd', file, realm: 'gantry test registry' };
    }
    const serverCert = pki?.server([address, 'localhost']);
    server = await createRegistryServer({
      listen: { host: address, port: 0 },
      storage: options.storage ?? 'memory',
      auth,
      ...(options.deleteEnabled === undefined ? {} : { deleteEnabled: options.deleteEnabled }),
      ...(pki && serverCert ? { tls: { cert: serverCert.certPem, key: serverCert.keyPem, ...(options.mutualTls ? { clientCa: pki.ca.certPem } : {}) } } : {}),
    });
  } catch (err) {
    if (ownPki) pki?.cleanup();
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  const host = new URL(server.url).host;
  let certsDir: string | undefined;
  if (pki) {
    certsDir = join(work, 'certs.d');
    // Docker names the folder after the registry as references spell it: `[::1]:5000` too.
    const folder = join(certsDir, host);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'ca.crt'), pki.ca.certPem);
    if (options.mutualTls) {
      const client = pki.client('gantry test client');
      writeFileSync(join(folder, 'client.cert'), client.certPem);
      writeFileSync(join(folder, 'client.key'), client.keyPem, { mode: 0o600 });
    }
  }
  return {
    host,
    url: server.url,
    pki,
    certsDir,
    server,
    async close() {
      try {
        await server.close();
      } finally {
        if (ownPki) pki?.cleanup();
        rmSync(work, { recursive: true, force: true });
      }
    },
  };
}

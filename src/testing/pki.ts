/**
 * A throw-away PKI for tests: one CA, server and client certificates it signs, and a
 * second unrelated CA, all written as PEM files into a temporary directory (TLS peers such
 * as docker-registry and skopeo take file paths, Node takes the PEM text). The keys are
 * generated fresh on every call and never leave the directory; nothing here is fit for
 * production use.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { createCertificateAuthority, issueCertificate } from '../pki/x509.js';
import type { CertificateAndKey, KeyType } from '../pki/x509.js';

export type { CertificateAndKey, KeyType } from '../pki/x509.js';

/** A certificate and its key, as PEM text and as the files that hold it. */
export interface PemFiles extends CertificateAndKey {
  /** The certificate's PEM file. */
  certFile: string;
  /** The private key's PEM file (mode 0600). */
  keyFile: string;
}

/** A test certificate authority and the certificates it issues. */
export interface TestPki {
  /** The directory that holds every file of this PKI. */
  dir: string;
  /** The CA's certificate and key. */
  ca: PemFiles;
  /** A server certificate for `hosts` (IPs and names sorted into the right SAN kind). */
  server(hosts?: readonly string[], keyType?: KeyType): PemFiles;
  /** A client certificate (extKeyUsage clientAuth) with the given common name. */
  client(commonName: string, keyType?: KeyType): PemFiles;
  /** Another CA, unrelated to `ca`: for "signed by someone else" cases. */
  otherCa(): TestPki;
  /** Removes `dir` (and every other CA's dir made through `otherCa`). */
  cleanup(): void;
}

/** The names a loopback test server answers to: the default subject names of `server()`. */
export const LOOPBACK_HOSTS: readonly string[] = Object.freeze(['127.0.0.1', 'localhost', '::1']);

/**
 * Creates a CA (`gantry test CA`) in `dir` (default: a new temporary directory) with keys of
 * `keyType` (default `ec-p256`). Call `cleanup()` when done.
 *
 * @example
 * const pki = createTestPki();
 * const server = pki.server(['127.0.0.1']);   // server.certPem, server.keyFile, …
 * const client = pki.client('alice');         // for mutual TLS
 * pki.cleanup();
 */
export function createTestPki(dir?: string, keyType?: KeyType): TestPki {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'gantry-pki-'));
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const others: TestPki[] = [];
  let count = 0;
  const write = (stem: string, pair: CertificateAndKey): PemFiles => {
    const certFile = join(root, `${stem}.crt`);
    const keyFile = join(root, `${stem}.key`);
    writeFileSync(certFile, pair.certPem);
    writeFileSync(keyFile, pair.keyPem, { mode: 0o600 });
    return { ...pair, certFile, keyFile };
  };
  const ca = write('ca', createCertificateAuthority({ commonName: 'gantry test CA', keyType }));
  return {
    dir: root,
    ca,
    server(hosts = LOOPBACK_HOSTS, serverKeyType = keyType) {
      const pair = issueCertificate(ca, {
        commonName: hosts[0] ?? 'server',
        dnsNames: hosts.filter((h) => isIP(h) === 0),
        ipAddresses: hosts.filter((h) => isIP(h) !== 0),
        usage: 'server',
        keyType: serverKeyType,
      });
      return write(`server-${++count}`, pair);
    },
    client(commonName, clientKeyType = keyType) {
      const pair = issueCertificate(ca, { commonName, usage: 'client', keyType: clientKeyType });
      return write(`client-${++count}`, pair);
    },
    otherCa() {
      const other = createTestPki(undefined, keyType);
      others.push(other);
      return other;
    },
    cleanup() {
      for (const o of others) o.cleanup();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

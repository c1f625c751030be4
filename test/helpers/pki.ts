/**
 * A throw-away PKI for tests: one CA, server and client certificates it signs, and a
 * second unrelated CA, all written as PEM files into a temp dir (TLS peers such as
 * docker-registry and skopeo take file paths, node takes the PEM text).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/x509.js';
import type { CertificateAndKey, KeyType } from '../../src/pki/x509.js';

export interface PemFiles extends CertificateAndKey {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  ca: PemFiles;
  /** A server certificate for `hosts` (IPs and names sorted into the right SAN kind). */
  server(hosts?: string[], keyType?: KeyType): PemFiles;
  /** A client certificate (extKeyUsage clientAuth) with the given common name. */
  client(commonName: string, keyType?: KeyType): PemFiles;
  /** Another CA, unrelated to `ca`: for "signed by someone else" cases. */
  otherCa(): TestPki;
  /** Removes `dir` (and every other CA's dir made through `otherCa`). */
  cleanup(): void;
}

export const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'];

export function createTestPki(dir?: string, keyType?: KeyType): TestPki {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'gantry-pki-'));
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

/**
 * The system's trusted roots, as Go's `x509.SystemCertPool()` finds them on Linux.
 *
 * Docker adds a registry's certs.d `*.crt` files to the *system* pool. Node's `ca` option
 * replaces its roots instead of adding to them, and Node 20 cannot list the system's roots, so
 * gantry reads them here and passes them with the certs.d roots
 * (docs/undici-notes.md#connector-and-tls-options). Node's bundled Mozilla list is the fallback
 * when the machine has no bundle; `NODE_EXTRA_CA_CERTS` is honoured on top.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';

/** Go's `crypto/x509/root_linux.go` certFiles, in its order: the first that exists wins. */
export const SYSTEM_CERT_FILES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian/Ubuntu/Gentoo
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora/RHEL 6
  '/etc/ssl/ca-bundle.pem', // OpenSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS/RHEL 7
  '/etc/ssl/cert.pem', // Alpine
] as const;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readIfFile(path: string): string | undefined {
  try {
    return statSync(path).isFile() ? readFileSync(path, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}

/** PEM certificates found in the system bundle, or Node's bundled list when there is none. */
export function loadSystemRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const pems: string[] = [];
  const files = env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : SYSTEM_CERT_FILES;
  for (const file of files) {
    const text = readIfFile(file);
    if (text !== undefined) {
      pems.push(...(text.match(PEM_BLOCK) ?? []));
      break;
    }
  }
  for (const dir of (env.SSL_CERT_DIR ?? '').split(':').filter(Boolean)) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) pems.push(...(readIfFile(join(dir, name))?.match(PEM_BLOCK) ?? []));
  }
  if (pems.length === 0) pems.push(...rootCertificates);
  if (env.NODE_EXTRA_CA_CERTS) pems.push(...(readIfFile(env.NODE_EXTRA_CA_CERTS)?.match(PEM_BLOCK) ?? []));
  // A bundle and the directory it was built from name the same roots: keep each once
  // (every root costs time whenever a TLS context is built).
  return [...new Set(pems.map((p) => p.trim()))];
}

let cached: string[] | undefined;

/** The system roots, read once per process. */
export function systemRoots(): string[] {
  cached ??= loadSystemRoots();
  return cached;
}

/**
 * A TLS profile: how gantry connects to one origin. Decided once per host from the
 * registry configuration (insecure or not) and its certs.d folder; the transport turns it
 * into `tls.connect` options and keeps one connection pool per (origin, profile).
 */
import { createHash } from 'node:crypto';
import { createSecureContext, type ConnectionOptions, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { ClientCertificate } from './certs-dir.js';
import { systemRoots } from './system-roots.js';

/** Docker's floor (go-connections `ServerDefault`). */
export const MIN_TLS_VERSION = 'TLSv1.2';

/**
 * The six TLS 1.2 suites Docker allows (go-connections `tlsconfig.ServerDefault`:
 * docs/docker-rules.md#certsd), after the TLS 1.3 suites, which Node only keeps when they are
 * named too.
 */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface TlsProfile {
  /** Verify the server's certificate chain and name. Off only for insecure registries. */
  readonly verify: boolean;
  /** Extra roots from certs.d, added to the system roots. */
  readonly ca: readonly string[];
  /** The client pair presented, if any. */
  readonly client?: ClientCertificate;
  /** The certs.d folder this profile came from, for messages. */
  readonly certsDir?: string;
}

export const DEFAULT_TLS_PROFILE: TlsProfile = Object.freeze({ verify: true, ca: [] });

/** A stable key for pooling: two profiles with the same key may share connections. */
export function profileKey(p: TlsProfile): string {
  return `${p.verify ? 'v' : 'nv'}|${p.certsDir ?? ''}|${p.ca.length}|${p.client?.certFile ?? ''}`;
}

/**
 * Secure contexts by what they hold. Building one parses every root (tens of milliseconds
 * for a system bundle), and `tls.connect` would build one per connection if handed `ca`
 * itself; so each distinct profile gets one context for the life of the process.
 */
const contexts = new Map<string, SecureContext>();
const MAX_CONTEXTS = 64;

function contextFor(p: TlsProfile): SecureContext {
  const options: SecureContextOptions = { minVersion: MIN_TLS_VERSION, ciphers: CIPHERS };
  // Node's `ca` replaces its roots, so the system roots go first (Docker adds to them).
  if (p.verify) options.ca = [...systemRoots(), ...p.ca];
  if (p.client) {
    options.cert = p.client.cert;
    options.key = p.client.key;
  }
  const key = createHash('sha256')
    .update(JSON.stringify([p.verify, p.ca, p.client?.cert ?? '', p.client?.key ?? '']))
    .digest('hex');
  let ctx = contexts.get(key);
  if (!ctx) {
    if (contexts.size >= MAX_CONTEXTS) contexts.delete(contexts.keys().next().value as string);
    ctx = createSecureContext(options);
    contexts.set(key, ctx);
  }
  return ctx;
}

/** Options for `tls.connect`: the profile's (shared) secure context and whether to verify. */
export function tlsConnectOptions(p: TlsProfile): ConnectionOptions {
  return { secureContext: contextFor(p), rejectUnauthorized: p.verify, minVersion: MIN_TLS_VERSION };
}

/** The roots a verifying profile trusts (system roots, then certs.d's). */
export function trustedRoots(p: TlsProfile): string[] {
  return [...systemRoots(), ...p.ca];
}

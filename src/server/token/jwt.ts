/**
 * The JSON Web Tokens the issuer signs and the registry verifies, in the form the CNCF
 * registry 2.8 accepts (https://distribution.github.io/distribution/spec/auth/jwt/): header
 * `{typ: "JWT", alg, kid}` with `kid` the libtrust key id of the signing key (key-id.ts);
 * ES256 signatures in JOSE form (r‖s, RFC 7518 §3.4), not DER; `aud` a single string; the
 * grant in the `access` claim. Only ES256 (P-256) and RS256 (RSA) keys are used.
 */
import { createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { libtrustKeyId } from './key-id.js';

export type JwtAlgorithm = 'ES256' | 'RS256';

/** One entry of the `access` claim: what the token allows on one resource. */
export interface AccessEntry {
  /** The kind of resource: `repository`, or `registry` for the catalog. */
  type: string;
  /** The resource: a repository name (`team/app`), or `catalog`. */
  name: string;
  /** The actions granted on it (`pull`, `push`, `delete`, `*`); a {@link TokenIssuer} leaves out resources with none. */
  actions: string[];
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
}

/** The algorithm a key signs with: ES256 for P-256, RS256 for RSA; anything else is refused. */
export function algorithmFor(key: KeyObject): JwtAlgorithm {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  throw new Error(`unsupported signing key: ${key.asymmetricKeyType ?? 'unknown'} (use an ECDSA P-256 or RSA key)`);
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export function signJwt(claims: TokenClaims, key: KeyObject): string {
  const alg = algorithmFor(key);
  const header = { typ: 'JWT', alg, kid: libtrustKeyId(createPublicKey(key)) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = alg === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key);
  return `${input}.${b64url(signature)}`;
}

/**
 * Verifies signature and key id; returns the claims or undefined. The header's `alg` must be
 * the key's own (so `none` or an algorithm swap never verifies). Claim checks are the caller's.
 */
export function verifyJwt(token: string, publicKey: KeyObject): TokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, c, s] = parts as [string, string, string];
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown; kid?: unknown };
    const alg = algorithmFor(publicKey);
    if (header.alg !== alg || header.kid !== libtrustKeyId(publicKey)) return undefined;
    const data = Buffer.from(`${h}.${c}`);
    const sig = Buffer.from(s, 'base64url');
    const ok = alg === 'ES256' ? verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig) : verify('sha256', data, publicKey, sig);
    if (!ok) return undefined;
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    return typeof claims === 'object' && claims !== null ? (claims as TokenClaims) : undefined;
  } catch {
    return undefined;
  }
}

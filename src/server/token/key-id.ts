/**
 * libtrust key ids: the `kid` header of every token the issuer signs. The CNCF registry
 * (distribution 2.8) finds the key that verifies a token by its `kid`, among the keys of the
 * certificates in its `auth.token.rootcertbundle`, so the id must be computed exactly as
 * libtrust does (`keyIDFromCryptoKey` in https://github.com/docker/libtrust/blob/master/util.go).
 */
import { createHash } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** RFC 4648 base32 alphabet; libtrust strips the `=` padding, so none is written. */
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * libtrust's key id: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
 * padding, in groups of 4 joined by `:` (`ABCD:EFGH:…`, 12 groups).
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  return (base32(digest).match(/.{4}/g) ?? []).join(':');
}

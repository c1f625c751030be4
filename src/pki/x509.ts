/**
 * Certificates made on the fly: a certificate authority and the server and client
 * certificates it signs, for `gantry serve` over TLS, the demo and the tests.
 *
 * Node can parse and verify X.509 but cannot build it, and this is too small a job for a
 * dependency (node-forge), so this file holds a minimal DER encoder (RFC 5280 / X.690)
 * over `node:crypto` keys and signatures. The readers that matter are Go's crypto/x509
 * (docker-registry, skopeo) and OpenSSL, both strict about DER: minimal INTEGERs with a
 * sign byte, UTCTime before 2050 and GeneralizedTime after, zero padding bits in BIT
 * STRINGs, raw 4/16-byte SAN IP addresses, no parameters in ecdsa-with-SHA256.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../errors.js';

/** ECDSA P-256 is the default: a key in a millisecond, and every TLS peer accepts it. */
export type KeyType = 'ec-p256' | 'rsa-2048';

/** A certificate and its private key, both PEM (the key as PKCS#8). */
export interface CertificateAndKey {
  /** The certificate, one `-----BEGIN CERTIFICATE-----` PEM block. */
  certPem: string;
  /** Its private key, a PKCS#8 `-----BEGIN PRIVATE KEY-----` PEM block. */
  keyPem: string;
}

export interface CertificateAuthorityOptions {
  commonName: string;
  /** Validity in days. Default 3650. */
  days?: number;
  /** Default `'ec-p256'`. */
  keyType?: KeyType;
}

export interface CertificateOptions {
  commonName: string;
  /** Host names for subjectAltName (what clients match, since the CN is ignored by Go). */
  dnsNames?: string[];
  /** IPv4 or IPv6 addresses for subjectAltName. */
  ipAddresses?: string[];
  /** `'server'` sets extKeyUsage serverAuth, `'client'` sets clientAuth. */
  usage: 'server' | 'client';
  /** Validity in days. Default 365. */
  days?: number;
  /** Default `'ec-p256'`. */
  keyType?: KeyType;
}

const DEFAULT_CA_DAYS = 3650;
const DEFAULT_LEAF_DAYS = 365;
/** notBefore is backdated so a peer whose clock runs a little behind still accepts it. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** keyUsage bit positions (RFC 5280 §4.2.1.3). */
const KeyUsageBit = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

// ---------------------------------------------------------------------------------------
// DER encoding (X.690 §10)

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else {
    const len: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    header = Buffer.from([tag, 0x80 | len.length, ...len]);
  }
  return Buffer.concat([header, content]);
}

const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
const TRUE = Buffer.from([0x01, 0x01, 0xff]);
const NULL = Buffer.from([0x05, 0x00]);

/** An unsigned big-endian magnitude as a minimal, positive DER INTEGER. */
function integer(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let body = magnitude.subarray(i);
  if (body.length === 0) body = Buffer.from([0]);
  if ((body[0] as number) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(0x02, body);
}

function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * (arcs[0] as number) + (arcs[1] as number)];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A named-bit BIT STRING: trailing zero bits dropped and counted as unused (X.690 §11.2.2). */
function namedBits(bits: number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] as number) | (0x80 >> (b & 7));
  const unused = 7 - (highest & 7);
  return tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, seconds, `Z`. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const year = date.getUTCFullYear();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(digits.slice(2) + 'Z', 'ascii'));
  return tlv(0x18, Buffer.from(digits + 'Z', 'ascii'));
}

function name(commonName: string): Buffer {
  return seq(set(seq(oid(OID.commonName), tlv(0x0c, Buffer.from(commonName, 'utf8')))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), TRUE, octets(value)) : seq(oid(id), octets(value));
}

// ---------------------------------------------------------------------------------------
// The few DER reads needed to sign with an existing CA: its subject and key identifier.

interface Node {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  body: number;
  end: number;
}

function read(der: Buffer, at: number): Node {
  const tag = der[at];
  let len = der[at + 1];
  if (tag === undefined || len === undefined) throw new ConfigError('CA certificate: truncated DER');
  let body = at + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + (der[body + i] ?? 0);
    body += count;
  }
  if (body + len > der.length) throw new ConfigError('CA certificate: truncated DER');
  return { tag, start: at, body, end: body + len };
}

function children(der: Buffer, parent: Node): Node[] {
  const out: Node[] = [];
  for (let at = parent.body; at < parent.end; ) {
    const n = read(der, at);
    out.push(n);
    at = n.end;
  }
  return out;
}

/** The CA's subject Name, byte for byte (the issuer of what it signs must match exactly). */
function caDetails(certDer: Buffer): { subject: Buffer; keyId: Buffer | undefined } {
  const tbs = children(certDer, read(certDer, 0))[0];
  if (tbs === undefined) throw new ConfigError('CA certificate: no tbsCertificate');
  const fields = children(certDer, tbs);
  const v = fields[0]?.tag === 0xa0 ? 1 : 0; // optional [0] version
  const subjectNode = fields[v + 4];
  if (subjectNode === undefined) throw new ConfigError('CA certificate: no subject');
  const subject = certDer.subarray(subjectNode.start, subjectNode.end);
  let keyId: Buffer | undefined;
  const extsWrapper = fields.find((f) => f.tag === 0xa3);
  if (extsWrapper) {
    const exts = children(certDer, extsWrapper)[0];
    for (const ext of exts ? children(certDer, exts) : []) {
      const parts = children(certDer, ext);
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (!id || !value || !certDer.subarray(id.start, id.end).equals(oid(OID.subjectKeyIdentifier))) continue;
      const inner = read(certDer, value.body); // OCTET STRING inside the extnValue OCTET STRING
      keyId = certDer.subarray(inner.body, inner.end);
    }
  }
  return { subject, keyId };
}

// ---------------------------------------------------------------------------------------
// Keys, names and addresses

function generateKey(keyType: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  if (keyType === 'ec-p256') return generateKeyPairSync('ec', { namedCurve: 'P-256' });
  if (keyType === 'rsa-2048') return generateKeyPairSync('rsa', { modulusLength: 2048 });
  throw new ConfigError(`keyType: unsupported ${JSON.stringify(keyType)}; use 'ec-p256' or 'rsa-2048'`);
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const [, bits] = children(spki, read(spki, 0));
  if (!bits) throw new ConfigError('public key: malformed SubjectPublicKeyInfo');
  return createHash('sha1').update(spki.subarray(bits.body + 1, bits.end)).digest();
}

function signatureAlgorithm(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'ec') return seq(oid(OID.ecdsaWithSha256));
  if (key.asymmetricKeyType === 'rsa') return seq(oid(OID.sha256WithRsa), NULL);
  throw new ConfigError(`signing key: unsupported type ${String(key.asymmetricKeyType)}; use EC P-256 or RSA`);
}

/** An address as the 4 or 16 raw bytes a SAN iPAddress holds. */
export function ipAddressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address) || address.includes('%')) throw new ConfigError(`ipAddresses: ${JSON.stringify(address)} is not an IP address`);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups, then `::` is expanded.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function subjectAltName(dnsNames: string[], ipAddresses: string[]): Buffer {
  const entries = dnsNames.map((dns) => {
    // IA5String: ASCII only; internationalised names must arrive as punycode.
    if (!/^[\x21-\x7e]+$/.test(dns)) throw new ConfigError(`dnsNames: ${JSON.stringify(dns)} is not an ASCII host name`);
    return tlv(0x82, Buffer.from(dns, 'ascii'));
  });
  for (const ip of ipAddresses) entries.push(tlv(0x87, ipAddressBytes(ip)));
  return seq(...entries);
}

/** 16 random bytes, top bit clear (positive) and second bit set (always 16 bytes long). */
function serialNumber(): Buffer {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40;
  return serial;
}

function validDays(days: number | undefined, fallback: number): number {
  const d = days ?? fallback;
  if (!Number.isFinite(d) || d <= 0) throw new ConfigError(`days: must be a positive number, got ${String(days)}`);
  return d;
}

// ---------------------------------------------------------------------------------------
// Certificates

interface Draft {
  issuer: Buffer;
  subject: Buffer;
  subjectKey: KeyObject;
  signingKey: KeyObject;
  days: number;
  extensions: Buffer[];
}

function build(d: Draft): string {
  const notBefore = new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = new Date(notBefore.getTime() + d.days * DAY_MS);
  const algorithm = signatureAlgorithm(d.signingKey);
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    algorithm,
    d.issuer,
    seq(time(notBefore), time(notAfter)),
    d.subject,
    d.subjectKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...d.extensions)),
  );
  const signature = sign('sha256', tbs, d.signingKey);
  const cert = seq(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const lines = cert.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

const pkcs8 = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();

/** A self-signed CA: basicConstraints CA:TRUE (critical), keyUsage keyCertSign + cRLSign. */
export function createCertificateAuthority(options: CertificateAuthorityOptions): CertificateAndKey {
  const { privateKey, publicKey } = generateKey(options.keyType ?? 'ec-p256');
  const subject = name(options.commonName);
  const certPem = build({
    issuer: subject,
    subject,
    subjectKey: publicKey,
    signingKey: privateKey,
    days: validDays(options.days, DEFAULT_CA_DAYS),
    extensions: [
      extension(OID.basicConstraints, true, seq(TRUE)),
      extension(OID.keyUsage, true, namedBits([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(publicKey))),
    ],
  });
  return { certPem, keyPem: pkcs8(privateKey) };
}

/** A server or client certificate signed by `ca`, with subjectAltName for the given names. */
export function issueCertificate(ca: CertificateAndKey, options: CertificateOptions): CertificateAndKey {
  if (options.usage !== 'server' && options.usage !== 'client') {
    throw new ConfigError(`usage: must be 'server' or 'client', got ${JSON.stringify(options.usage)}`);
  }
  const caCert = new X509Certificate(ca.certPem);
  const caKey = createPrivateKey(ca.keyPem);
  if (!caCert.checkPrivateKey(caKey)) throw new ConfigError('ca: the private key does not belong to the CA certificate');
  const { subject: issuer, keyId } = caDetails(caCert.raw);
  const { privateKey, publicKey } = generateKey(options.keyType ?? 'ec-p256');
  const dnsNames = options.dnsNames ?? [];
  const ipAddresses = options.ipAddresses ?? [];
  // keyEncipherment only means something for RSA key exchange (RFC 5480 forbids it for EC).
  const usageBits: number[] = [KeyUsageBit.digitalSignature];
  if (publicKey.asymmetricKeyType === 'rsa') usageBits.push(KeyUsageBit.keyEncipherment);
  const extensions = [
    extension(OID.basicConstraints, true, seq()),
    extension(OID.keyUsage, true, namedBits(usageBits)),
    extension(OID.extKeyUsage, false, seq(oid(options.usage === 'server' ? OID.serverAuth : OID.clientAuth))),
    extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(publicKey))),
    extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyId ?? keyIdentifier(createPublicKey(caKey))))),
  ];
  if (dnsNames.length + ipAddresses.length > 0) {
    extensions.push(extension(OID.subjectAltName, false, subjectAltName(dnsNames, ipAddresses)));
  }
  const certPem = build({
    issuer,
    subject: name(options.commonName),
    subjectKey: publicKey,
    signingKey: caKey,
    days: validDays(options.days, DEFAULT_LEAF_DAYS),
    extensions,
  });
  return { certPem, keyPem: pkcs8(privateKey) };
}

/** A throw-away CA and one server certificate it signed, for a quick `gantry serve --tls`. */
export function createSelfSigned(options: Omit<CertificateOptions, 'usage'>): CertificateAndKey & { caPem: string } {
  const ca = createCertificateAuthority({ commonName: `${options.commonName} CA`, keyType: options.keyType });
  return { ...issueCertificate(ca, { ...options, usage: 'server' }), caPem: ca.certPem };
}

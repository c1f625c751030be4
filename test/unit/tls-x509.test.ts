/**
 * Generated certificates must be accepted by every reader that matters: node's
 * X509Certificate and TLS stack, OpenSSL, and Go's crypto/x509 (exercised against the
 * real docker-registry and skopeo in test/peers/docker-registry-harness.test.ts).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { ConfigError } from '../../src/errors.js';
import { createCertificateAuthority, createSelfSigned, ipAddressBytes, issueCertificate } from '../../src/pki/x509.js';
import type { CertificateAndKey } from '../../src/pki/x509.js';

const scratch = mkdtempSync(join(tmpdir(), 'gantry-x509-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let files = 0;
function file(pem: string): string {
  const p = join(scratch, `${++files}.pem`);
  writeFileSync(p, pem);
  return p;
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
// In CI openssl is installed by scripts/install-peers.sh: a missing one fails, never skips.
if (!hasOpenssl && process.env.CI) throw new Error('openssl is missing: run scripts/install-peers.sh');
function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}
const text = (pem: string): string => openssl(['x509', '-noout', '-text', '-in', file(pem)]).out;

const ca = createCertificateAuthority({ commonName: 'gantry unit CA' });
const server = issueCertificate(ca, { commonName: 'srv', dnsNames: ['localhost', 'registry.test'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server' });
const client = issueCertificate(ca, { commonName: 'unit-client', usage: 'client' });
const caCert = new X509Certificate(ca.certPem);

describe('certificate authority', () => {
  test('is a self-signed CA with a positive 16-byte serial', () => {
    assert.equal(caCert.ca, true);
    assert.equal(caCert.subject, 'CN=gantry unit CA');
    assert.equal(caCert.issuer, caCert.subject);
    assert.ok(caCert.verify(caCert.publicKey));
    assert.equal(caCert.publicKey.asymmetricKeyType, 'ec');
    assert.match(caCert.serialNumber, /^[4-7][0-9A-F]{31}$/);
  });

  test('is backdated 5 minutes and valid for 10 years by default', () => {
    const from = new Date(caCert.validFrom).getTime();
    assert.ok(Math.abs(Date.now() - 5 * 60_000 - from) < 60_000, caCert.validFrom);
    const years = (new Date(caCert.validTo).getTime() - from) / (365.25 * 86_400_000);
    assert.ok(years > 9.9 && years < 10.1, caCert.validTo);
  });

  test('past 2049 the dates switch to GeneralizedTime and still parse', { skip: !hasOpenssl && 'openssl missing' }, () => {
    const longLived = createCertificateAuthority({ commonName: 'long', days: 365 * 60 });
    const cert = new X509Certificate(longLived.certPem);
    const expected = new Date(Date.now() - 5 * 60_000 + 365 * 60 * 86_400_000).getUTCFullYear();
    assert.ok(expected >= 2050);
    assert.equal(new Date(cert.validTo).getUTCFullYear(), expected);
    // The DER: notAfter is tag 0x18 (GeneralizedTime, 4-digit year), notBefore 0x17 (UTCTime).
    const year = String(expected);
    assert.ok(cert.raw.includes(Buffer.from([0x18, 0x0f, ...Buffer.from(year)])));
    assert.ok(cert.raw.includes(Buffer.from([0x17, 0x0d])));
    assert.equal(openssl(['verify', '-CAfile', file(longLived.certPem), file(longLived.certPem)]).status, 0);
  });

  test('carries critical CA:TRUE, keyCertSign + cRLSign and a subject key identifier', { skip: !hasOpenssl && 'openssl missing' }, () => {
    const out = text(ca.certPem);
    assert.match(out, /Basic Constraints: critical\s+CA:TRUE/);
    assert.match(out, /Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    assert.match(out, /Subject Key Identifier/);
    assert.match(out, /Signature Algorithm: ecdsa-with-SHA256/);
  });
});

describe('issued certificates', () => {
  const serverCert = new X509Certificate(server.certPem);

  test('are signed by the CA and match their names and addresses', () => {
    assert.ok(serverCert.verify(caCert.publicKey));
    assert.ok(serverCert.checkIssued(caCert));
    assert.equal(serverCert.ca, false);
    assert.equal(serverCert.issuer, caCert.subject);
    assert.equal(serverCert.checkHost('localhost'), 'localhost');
    assert.equal(serverCert.checkHost('registry.test'), 'registry.test');
    assert.equal(serverCert.checkHost('other.test'), undefined);
    assert.equal(serverCert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(serverCert.checkIP('::1'), '::1');
    assert.equal(serverCert.checkIP('127.0.0.2'), undefined);
    assert.deepEqual(serverCert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.deepEqual(new X509Certificate(client.certPem).keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.notEqual(serverCert.serialNumber, new X509Certificate(client.certPem).serialNumber);
  });

  test('a certificate from another CA does not verify against this one', () => {
    const other = createCertificateAuthority({ commonName: 'other CA' });
    const stranger = new X509Certificate(issueCertificate(other, { commonName: 'x', usage: 'server' }).certPem);
    assert.equal(stranger.verify(caCert.publicKey), false);
    assert.equal(stranger.checkIssued(caCert), false);
  });

  test('openssl verifies them for their purpose only', { skip: !hasOpenssl && 'openssl missing' }, () => {
    const caFile = file(ca.certPem);
    assert.equal(openssl(['verify', '-CAfile', caFile, '-purpose', 'sslserver', file(server.certPem)]).status, 0);
    assert.equal(openssl(['verify', '-CAfile', caFile, '-purpose', 'sslclient', file(client.certPem)]).status, 0);
    assert.notEqual(openssl(['verify', '-CAfile', caFile, '-purpose', 'sslserver', file(client.certPem)]).status, 0);
    const otherCa = createCertificateAuthority({ commonName: 'other CA' });
    assert.notEqual(openssl(['verify', '-CAfile', file(otherCa.certPem), file(server.certPem)]).status, 0);
  });

  test('name the CA key in authorityKeyIdentifier', { skip: !hasOpenssl && 'openssl missing' }, () => {
    const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text(ca.certPem))?.[1];
    const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(text(server.certPem))?.[1];
    assert.ok(ski);
    assert.equal(aki, ski);
  });

  test('ECDSA leaves have digitalSignature only; RSA leaves add keyEncipherment', { skip: !hasOpenssl && 'openssl missing' }, () => {
    assert.match(text(server.certPem), /Key Usage: critical\s+Digital Signature\n/);
    const rsaCa = createCertificateAuthority({ commonName: 'rsa CA', keyType: 'rsa-2048' });
    const rsaLeaf = issueCertificate(rsaCa, { commonName: 'rsa', dnsNames: ['localhost'], usage: 'server', keyType: 'rsa-2048' });
    const out = text(rsaLeaf.certPem);
    assert.match(out, /Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    assert.match(out, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(out, /Public-Key: \(2048 bit\)/);
    assert.equal(openssl(['verify', '-CAfile', file(rsaCa.certPem), file(rsaLeaf.certPem)]).status, 0);
    // An EC leaf under an RSA CA: the signature algorithm follows the CA's key.
    const mixed = issueCertificate(rsaCa, { commonName: 'mixed', usage: 'client' });
    assert.ok(new X509Certificate(mixed.certPem).verify(new X509Certificate(rsaCa.certPem).publicKey));
  });

  test('createSelfSigned returns a server certificate and the CA that signed it', () => {
    const s = createSelfSigned({ commonName: 'demo', dnsNames: ['localhost'] });
    const cert = new X509Certificate(s.certPem);
    assert.ok(cert.verify(new X509Certificate(s.caPem).publicKey));
    assert.equal(cert.checkHost('localhost'), 'localhost');
  });
});

describe('input validation', () => {
  const cases: [string, () => unknown][] = [
    ['a malformed IP address', () => issueCertificate(ca, { commonName: 'x', ipAddresses: ['300.1.1.1'], usage: 'server' })],
    ['an IPv6 zone id', () => issueCertificate(ca, { commonName: 'x', ipAddresses: ['fe80::1%eth0'], usage: 'server' })],
    ['a non-ASCII DNS name', () => issueCertificate(ca, { commonName: 'x', dnsNames: ['bücher.example'], usage: 'server' })],
    ['a CA key that does not match the CA certificate', () => issueCertificate({ certPem: ca.certPem, keyPem: client.keyPem }, { commonName: 'x', usage: 'server' })],
    ['zero days', () => createCertificateAuthority({ commonName: 'x', days: 0 })],
    ['an unknown key type', () => createCertificateAuthority({ commonName: 'x', keyType: 'dsa' as never })],
    ['an unknown usage', () => issueCertificate(ca, { commonName: 'x', usage: 'both' as never })],
  ];
  for (const [what, fn] of cases) {
    test(`rejects ${what} with a ConfigError`, () => assert.throws(fn, ConfigError));
  }

  const addresses: [string, string][] = [
    ['127.0.0.1', '7f000001'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['2001:db8::8:800:200c:417a', '20010db80000000000080800200c417a'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
  ];
  for (const [address, hex] of addresses) {
    test(`SAN iPAddress bytes for ${address}`, () => assert.equal(ipAddressBytes(address).toString('hex'), hex));
  }
});

describe('TLS handshakes with generated certificates', () => {
  async function serve(t: { after(fn: () => unknown): void }, extra: https.ServerOptions = {}): Promise<number> {
    const srv = https.createServer({ cert: server.certPem, key: server.keyPem, ...extra }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(peer?.subject?.CN ?? 'anonymous');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => srv.close(() => r())));
    return (srv.address() as AddressInfo).port;
  }
  function get(port: number, opts: { ca?: string; pair?: CertificateAndKey; host?: string }): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = https.get({
        host: '127.0.0.1', servername: opts.host, port, path: '/', agent: false, timeout: 5000,
        ca: opts.ca, cert: opts.pair?.certPem, key: opts.pair?.keyPem,
        headers: opts.host ? { host: opts.host } : {},
      }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      });
      req.once('timeout', () => req.destroy(new Error('timeout')));
      req.once('error', reject);
    });
  }

  test('a client trusting the CA connects by IP and by name; one that does not is refused', async (t) => {
    const port = await serve(t);
    assert.equal(await get(port, { ca: ca.certPem }), 'anonymous');
    assert.equal(await get(port, { ca: ca.certPem, host: 'registry.test' }), 'anonymous');
    await assert.rejects(get(port, {}), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    await assert.rejects(get(port, { ca: ca.certPem, host: 'elsewhere.test' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  test('mutual TLS: the server accepts a client certificate from the CA and refuses none', async (t) => {
    const port = await serve(t, { requestCert: true, rejectUnauthorized: true, ca: [ca.certPem] });
    assert.equal(await get(port, { ca: ca.certPem, pair: client }), 'unit-client');
    await assert.rejects(get(port, { ca: ca.certPem }));
    const stranger = issueCertificate(createCertificateAuthority({ commonName: 'other' }), { commonName: 'stranger', usage: 'client' });
    await assert.rejects(get(port, { ca: ca.certPem, pair: stranger }));
  });
});

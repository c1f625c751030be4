/**
 * The embedded registry over TLS and mutual TLS, with certificates from the test PKI, and
 * HTTP/1.1 keep-alive (several requests on one connection).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';
import { sha256 } from '../conformance/client.js';

interface TlsReply {
  status: number;
  body: Buffer;
  reused: boolean;
}

function get(url: string, options: https.RequestOptions & { method?: string; body?: Buffer } = {}): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: options.method ?? 'GET', ...options, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('embedded registry: TLS', () => {
  let pki: TestPki;
  let server: RegistryServer;
  before(async () => {
    pki = createTestPki();
    const cert = pki.server(['127.0.0.1', 'localhost']);
    // PEM text for the certificate, a file path for the key: both forms are accepted.
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', tls: { cert: cert.certPem, key: cert.keyFile } });
  });
  after(async () => {
    await server.close();
    pki.cleanup();
  });

  test('serves https with its certificate; a client that does not trust the CA refuses', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await get(`${server.url}/v2/`, { ca: pki.ca.certPem, agent: false });
    assert.equal(r.status, 200);
    await assert.rejects(get(`${server.url}/v2/`, { agent: false }), /self[- ]signed|unable to verify|certificate/i);
  });

  test('keep-alive: requests share one connection', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: pki.ca.certPem });
    try {
      const blob = randomBytes(1000);
      const post = await get(`${server.url}/v2/ka/blobs/uploads/?digest=${sha256(blob)}`, { agent, method: 'POST', body: blob, headers: { 'content-length': blob.length } });
      assert.equal(post.status, 201);
      const first = await get(`${server.url}/v2/ka/blobs/${sha256(blob)}`, { agent });
      const second = await get(`${server.url}/v2/ka/blobs/${sha256(blob)}`, { agent });
      assert.deepEqual(second.body, blob);
      assert.ok(first.reused && second.reused, 'the second and third requests reuse the first connection');
    } finally {
      agent.destroy();
    }
  });
});

describe('embedded registry: mutual TLS', () => {
  let pki: TestPki;
  let server: RegistryServer;
  before(async () => {
    pki = createTestPki();
    const cert = pki.server(['127.0.0.1']);
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', tls: { cert: cert.certFile, key: cert.keyFile, clientCa: pki.ca.certFile } });
  });
  after(async () => {
    await server.close();
    pki.cleanup();
  });

  test('a client certificate from the client CA is accepted', async () => {
    const client = pki.client('alice');
    const r = await get(`${server.url}/v2/`, { ca: pki.ca.certPem, cert: client.certPem, key: client.keyPem, agent: false });
    assert.equal(r.status, 200);
  });

  test('no client certificate, or one from another CA, is refused in the handshake', async () => {
    await assert.rejects(get(`${server.url}/v2/`, { ca: pki.ca.certPem, agent: false }));
    const stranger = pki.otherCa().client('mallory');
    await assert.rejects(get(`${server.url}/v2/`, { ca: pki.ca.certPem, cert: stranger.certPem, key: stranger.keyPem, agent: false }));
  });
});

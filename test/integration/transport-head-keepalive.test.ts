/**
 * HEAD requests keep their connection (undici closes it after each one unless told not to): a
 * copy or a sync sends a HEAD per blob and per tag, and each would otherwise open a new TCP
 * connection and, on https, do a new handshake. Counted on the server's side: the distinct
 * sockets the requests arrived on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from '../../src/client/registry-client.js';
import { Transport } from '../../src/transport/transport.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';
import { startHttpsServer, type TestServer } from '../helpers/servers.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
let pki: TestPki;
let server: TestServer;
let certsDir: string;
const sockets = new Set<Socket>();

before(async () => {
  pki = createTestPki();
  const cert = pki.server(['127.0.0.1']);
  server = await startHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    sockets.add(req.socket);
    if (req.url === '/v2/') {
      res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': '100', 'docker-content-digest': DIGEST });
    res.end();
  });
  certsDir = mkdtempSync(join(tmpdir(), 'gantry-head-keepalive-'));
  mkdirSync(join(certsDir, server.host));
  copyFileSync(pki.ca.certFile, join(certsDir, server.host, 'ca.crt'));
});
after(async () => {
  await server.close();
  rmSync(certsDir, { recursive: true, force: true });
  pki.cleanup();
});

test('twenty HEADs in a row go over one TLS connection', async () => {
  const transport = new Transport({ certsDir, maxConnectionsPerOrigin: 1 });
  try {
    const repo = RegistryClient.create({ host: server.host, transport, purpose: 'pull' }).repository('keep/alive');
    for (let i = 0; i < 20; i++) {
      const head = await repo.headManifest(`v${i}`);
      assert.equal(head?.digest?.toString(), DIGEST);
    }
    assert.equal(sockets.size, 1, `${sockets.size} connections for the ping and 20 HEADs`);
  } finally {
    await transport.close();
  }
});

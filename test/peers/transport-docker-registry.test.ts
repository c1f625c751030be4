/**
 * `gantry ping` (the built CLI, as a separate process) against the real CNCF registry in
 * each TLS mode: plain http, TLS with a CA from certs.d, and mutual TLS through
 * `http.tls.clientcas` with the client pair from certs.d.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { requirePeer } from '../helpers/peers.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';


function ping(args: string[]): Promise<CliRun> {
  return runGantry(['ping', ...args]);
}

describe('gantry ping against docker-registry', () => {
  let pki: TestPki;
  let certsRoot: string;
  const registries: RunningRegistry[] = [];
  before(() => {
    pki = createTestPki();
    certsRoot = mkdtempSync(join(tmpdir(), 'gantry-certsd-'));
  });
  after(async () => {
    await Promise.all(registries.map((r) => r.stop()));
    rmSync(certsRoot, { recursive: true, force: true });
    pki.cleanup();
  });

  test('plain http: loopback is insecure, https is tried, then http answers', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const reg = await startDockerRegistry();
    registries.push(reg);
    const r = await ping([reg.host, '--certs-dir', certsRoot, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.url, `http://${reg.host}/v2/`);
    assert.equal(out.status, 200);
    assert.equal(out.apiVersion, 'registry/2.0');
    assert.equal(out.scheme, 'http');
  });

  test('TLS: verified with the CA from certs.d, refused without it', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const server = pki.server();
    const reg = await startDockerRegistry({ tls: { certFile: server.certFile, keyFile: server.keyFile } });
    registries.push(reg);
    const without = await ping([reg.host, '--certs-dir', certsRoot, '--tls-verify=true']);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /certificate signed by unknown authority/);
    assert.ok(without.stderr.includes(join(certsRoot, reg.host, 'ca.crt')), without.stderr);
    assert.equal(without.stderr.trim().split('\n').length, 1, 'one clear line');
    mkdirSync(join(certsRoot, reg.host), { recursive: true });
    copyFileSync(pki.ca.certFile, join(certsRoot, reg.host, 'ca.crt'));
    const ok = await ping([reg.host, '--certs-dir', certsRoot, '--tls-verify=true']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^TLS: +verified$/m);
    assert.match(ok.stdout, new RegExp(`^URL: +https://${reg.host.replace(/\./g, '\\.')}/v2/$`, 'm'));
  });

  test('mutual TLS: the client pair from certs.d is presented', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const server = pki.server();
    const reg = await startDockerRegistry({ tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFiles: [pki.ca.certFile] } });
    registries.push(reg);
    const dir = join(certsRoot, reg.host);
    mkdirSync(dir, { recursive: true });
    copyFileSync(pki.ca.certFile, join(dir, 'ca.crt'));
    const refused = await ping([reg.host, '--certs-dir', certsRoot, '--tls-verify=true']);
    assert.equal(refused.code, 1, 'no client certificate: refused');
    const client = pki.client('gantry-client');
    copyFileSync(client.certFile, join(dir, 'client.cert'));
    copyFileSync(client.keyFile, join(dir, 'client.key'));
    const ok = await ping([reg.host, '--certs-dir', certsRoot, '--tls-verify=true', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const out = JSON.parse(ok.stdout);
    assert.equal(out.clientCertificate, 'client.cert');
    assert.equal(out.tlsVerified, true);
    assert.equal(out.status, 200);
  });

  test('htpasswd: the Basic challenge is reported and the exit code is 0', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const reg = await startDockerRegistry({ htpasswd: { users: { alice: 'wonderland' } } });
    registries.push(reg);
    const r = await ping([reg.host, '--certs-dir', certsRoot, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.status, 401);
    assert.deepEqual(out.challenges, [{ scheme: 'basic', realm: 'gantry-test', service: null }]);
  });
});

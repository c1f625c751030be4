/**
 * The harness itself against the real registry: each mode (plain, TLS, mutual TLS,
 * htpasswd, token) answers as docker-registry does, skopeo can talk to it, and restart
 * keeps storage. Requests go through node's http/https directly, not gantry's client.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki } from '../helpers/pki.js';
import type { TestPki } from '../helpers/pki.js';
import { HTPASSWD_REALM, startDockerRegistry } from '../helpers/docker-registry.js';
import { requirePeer, runSkopeo } from '../helpers/peers.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Call {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  ca?: string;
  cert?: string;
  key?: string;
}

function call(url: string, c: Call = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const base = { method: c.method ?? 'GET', headers: c.headers, agent: false as const, timeout: 10_000 };
    const req =
      u.protocol === 'https:'
        ? https.request(u, { ...base, ca: c.ca, cert: c.cert, key: c.key })
        : http.request(u, base);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error('request timed out')));
    req.once('error', reject);
    req.end(c.body);
  });
}

/**
 * A registry's answer for a missing repository, as skopeo 1.9 words it ("invalid status
 * code from registry 404") or newer ones do (NAME_UNKNOWN): proof the TLS and HTTP got through.
 */
const REGISTRY_NOT_FOUND = /NAME_UNKNOWN|name unknown|status code from registry 404/i;

const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes a one-layer image with plain upload calls; returns the manifest digest. */
async function pushTinyImage(base: string, repo: string, tag: string, c: Call = {}): Promise<string> {
  const put = async (blob: Buffer): Promise<string> => {
    const digest = sha256(blob);
    const start = await call(`${base}/v2/${repo}/blobs/uploads/`, { ...c, method: 'POST' });
    assert.equal(start.status, 202, start.body);
    const location = new URL(String(start.headers.location), base);
    location.searchParams.set('digest', digest);
    const done = await call(location.href, {
      ...c, method: 'PUT', body: blob,
      headers: { ...c.headers, 'content-type': 'application/octet-stream', 'content-length': String(blob.length) },
    });
    assert.equal(done.status, 201, done.body);
    return digest;
  };
  const layer = Buffer.from('layer bytes');
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await put(layer), size: layer.length }],
  }));
  const res = await call(`${base}/v2/${repo}/manifests/${tag}`, {
    ...c, method: 'PUT', body: manifest, headers: { ...c.headers, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(res.status, 201, res.body);
  return sha256(manifest);
}

/** A skopeo cert dir: `ca.crt`, plus `client.cert`/`client.key` when given. */
function certDir(root: string, name: string, caPem: string, client?: { certPem: string; keyPem: string }): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'ca.crt'), caPem);
  if (client) {
    writeFileSync(join(dir, 'client.cert'), client.certPem);
    writeFileSync(join(dir, 'client.key'), client.keyPem);
  }
  return dir;
}

describe('docker-registry harness', () => {
  let pki: TestPki;
  let scratch: string;
  before(() => {
    pki = createTestPki();
    scratch = mkdtempSync(join(tmpdir(), 'gantry-harness-'));
  });
  after(() => {
    pki?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('plain HTTP: /v2/ answers 200 with the API version header; restart keeps storage', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const reg = await startDockerRegistry();
    t.after(() => reg.stop());
    assert.match(reg.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await call(`${reg.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');

    const digest = await pushTinyImage(reg.url, 'keep/me', 'v1');
    const pid = reg.process.pid;
    await reg.restart();
    assert.notEqual(reg.process.pid, pid);
    const after = await call(`${reg.url}/v2/keep/me/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(after.status, 200, after.body);
    assert.equal(after.headers['docker-content-digest'], digest);
  });

  test('a given storageDir is reused by the next registry and kept on stop', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const storageDir = join(scratch, 'shared-storage');
    const first = await startDockerRegistry({ storageDir });
    const digest = await pushTinyImage(first.url, 'shared/repo', 'v1');
    await first.stop();
    assert.ok(existsSync(join(storageDir, 'docker', 'registry', 'v2', 'repositories', 'shared', 'repo')));
    const second = await startDockerRegistry({ storageDir });
    t.after(() => second.stop());
    const res = await call(`${second.url}/v2/shared/repo/manifests/${digest}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
  });

  test('several registries run at once on their own ports and storage', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const [a, b] = await Promise.all([startDockerRegistry(), startDockerRegistry()]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.storageDir, b.storageDir);
    await pushTinyImage(a.url, 'only/in-a', 'v1');
    assert.equal((await call(`${a.url}/v2/only/in-a/tags/list`)).status, 200);
    assert.equal((await call(`${b.url}/v2/only/in-a/tags/list`)).status, 404);
  });

  test('a registry that cannot start rejects with its own error output', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const missing = join(scratch, 'no-such-cert.pem');
    await assert.rejects(startDockerRegistry({ tls: { certFile: missing, keyFile: missing } }), (err: Error) => {
      assert.match(err.message, /exited with .* before it was ready/);
      assert.match(err.message, /no-such-cert\.pem/);
      return true;
    });
  });

  test('TLS with our CA: a verified handshake succeeds, without the CA it fails', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const server = pki.server();
    const reg = await startDockerRegistry({ tls: { certFile: server.certFile, keyFile: server.keyFile } });
    t.after(() => reg.stop());
    assert.match(reg.url, /^https:/);
    const ok = await call(`${reg.url}/v2/`, { ca: pki.ca.certPem });
    assert.equal(ok.status, 200);
    const viaLocalhost = await call(`https://localhost:${reg.port}/v2/`, { ca: pki.ca.certPem });
    assert.equal(viaLocalhost.status, 200);
    await assert.rejects(call(`${reg.url}/v2/`), (err: NodeJS.ErrnoException) => /CERT|SIGNATURE|ISSUER/.test(String(err.code)));
    const other = pki.otherCa();
    await assert.rejects(call(`${reg.url}/v2/`, { ca: other.ca.certPem }), (err: NodeJS.ErrnoException) => /CERT|SIGNATURE|ISSUER/.test(String(err.code)));
  });

  test('RSA keys work with the registry too', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const rsa = createTestPki(undefined, 'rsa-2048');
    t.after(() => rsa.cleanup());
    const server = rsa.server();
    const reg = await startDockerRegistry({ tls: { certFile: server.certFile, keyFile: server.keyFile } });
    t.after(() => reg.stop());
    assert.equal((await call(`${reg.url}/v2/`, { ca: rsa.ca.certPem })).status, 200);
  });

  test('mutual TLS: no client certificate fails, one from our CA succeeds', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const server = pki.server();
    const client = pki.client('gantry-client');
    const reg = await startDockerRegistry({
      tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFiles: [pki.ca.certFile] },
      readyClientCert: client,
    });
    t.after(() => reg.stop());
    await assert.rejects(call(`${reg.url}/v2/`, { ca: pki.ca.certPem }));
    const stranger = pki.otherCa().client('stranger');
    await assert.rejects(call(`${reg.url}/v2/`, { ca: pki.ca.certPem, cert: stranger.certPem, key: stranger.keyPem }));
    const ok = await call(`${reg.url}/v2/`, { ca: pki.ca.certPem, cert: client.certPem, key: client.keyPem });
    assert.equal(ok.status, 200);
  });

  test('htpasswd: 401 with a Basic challenge, 200 with the right password, 401 with a wrong one', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const reg = await startDockerRegistry({ htpasswd: { users: { alice: 'wonderland-pw' } } });
    t.after(() => reg.stop());
    const anonymous = await call(`${reg.url}/v2/`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], `Basic realm="${HTPASSWD_REALM}"`);
    assert.equal((await call(`${reg.url}/v2/`, { headers: { authorization: basic('alice', 'wonderland-pw') } })).status, 200);
    assert.equal((await call(`${reg.url}/v2/`, { headers: { authorization: basic('alice', 'wrong') } })).status, 401);
    assert.equal((await call(`${reg.url}/v2/`, { headers: { authorization: basic('bob', 'wonderland-pw') } })).status, 401);
  });

  test('token auth: 401 with a Bearer challenge naming realm and service', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const realm = 'https://127.0.0.1:1/token';
    const reg = await startDockerRegistry({
      token: { realm, service: 'gantry-registry', issuer: 'gantry-issuer', rootCertBundleFile: pki.ca.certFile },
    });
    t.after(() => reg.stop());
    const res = await call(`${reg.url}/v2/`);
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], `Bearer realm="${realm}",service="gantry-registry"`);
  });

  describe('skopeo talks to it', () => {
    test('plain HTTP: a registry error for a missing repo, tags for a pushed one', async (t) => {
      if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
      const reg = await startDockerRegistry();
      t.after(() => reg.stop());
      const missing = await runSkopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/none`]);
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, REGISTRY_NOT_FOUND);
      await pushTinyImage(reg.url, 'tiny/image', 'v1');
      const listed = await runSkopeo(['list-tags', '--tls-verify=false', `docker://${reg.host}/tiny/image`]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(JSON.parse(listed.stdout).Tags, ['v1']);
    });

    test('TLS: --cert-dir with ca.crt verifies; without it the certificate is rejected', async (t) => {
      if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
      const server = pki.server();
      const reg = await startDockerRegistry({ tls: { certFile: server.certFile, keyFile: server.keyFile } });
      t.after(() => reg.stop());
      const dir = certDir(scratch, 'tls', pki.ca.certPem);
      const trusted = await runSkopeo(['list-tags', '--cert-dir', dir, `docker://${reg.host}/none`]);
      assert.notEqual(trusted.code, 0);
      assert.match(trusted.stderr, REGISTRY_NOT_FOUND);
      const untrusted = await runSkopeo(['list-tags', `docker://${reg.host}/none`]);
      assert.notEqual(untrusted.code, 0);
      assert.match(untrusted.stderr, /x509|certificate/i);
    });

    test('mutual TLS: client.cert/client.key in the cert dir get through', async (t) => {
      if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
      const server = pki.server();
      const client = pki.client('skopeo-client');
      const reg = await startDockerRegistry({
        tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFiles: [pki.ca.certFile] },
        readyClientCert: client,
      });
      t.after(() => reg.stop());
      const withClient = await runSkopeo(['list-tags', '--cert-dir', certDir(scratch, 'mtls', pki.ca.certPem, client), `docker://${reg.host}/none`]);
      assert.notEqual(withClient.code, 0);
      assert.match(withClient.stderr, REGISTRY_NOT_FOUND);
      const caOnly = await runSkopeo(['list-tags', '--cert-dir', certDir(scratch, 'mtls-ca-only', pki.ca.certPem), `docker://${reg.host}/none`]);
      assert.notEqual(caOnly.code, 0);
      assert.doesNotMatch(caOnly.stderr, REGISTRY_NOT_FOUND);
      assert.match(caOnly.stderr, /certificate|tls|handshake/i);
    });
  });
});

/**
 * Table tests for the transport's pure rules: NO_PROXY matching (Go's httpproxy), the
 * trusted-location rule for Docker Hub v1 search (rows of moby's search_endpoint_v1_test.go;
 * docs/docker-rules.md#redirects), registry error bodies (docs/docker-rules.md#token-auth),
 * Retry-After, and certs.d reading.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxyFor, proxyFromEnvironment } from '../../src/transport/proxy.js';
import { isTrustedLocation } from '../../src/transport/layers/redirect.js';
import { parseErrorBody, parseRetryAfter, RegistryError } from '../../src/transport/errors.js';
import { defaultCertsDir, readCertsDirectory } from '../../src/tls/certs-dir.js';
import { createTestPki } from '../helpers/pki.js';

describe('proxy selection', () => {
  const env = proxyFromEnvironment({
    HTTPS_PROXY: 'proxy.corp:3128',
    http_proxy: 'http://plain-proxy.corp:8080',
    NO_PROXY: 'internal.corp, .svc.local, *.wild.example, exact.example:5000, 10.0.0.0/8, 192.168.1.7, [2001:db8::1]:443',
  });
  const rows: [string, string | undefined][] = [
    ['https://registry.example.com/v2/', 'http://proxy.corp:3128/'],
    ['http://registry.example.com/v2/', 'http://plain-proxy.corp:8080/'],
    ['https://internal.corp/v2/', undefined],
    ['https://a.internal.corp/v2/', undefined],
    ['https://svc.local/v2/', 'http://proxy.corp:3128/'], // `.domain` matches subdomains only
    ['https://x.svc.local/v2/', undefined],
    ['https://a.wild.example/v2/', undefined],
    ['https://wild.example/v2/', 'http://proxy.corp:3128/'],
    ['https://exact.example:5000/v2/', undefined],
    ['https://exact.example/v2/', 'http://proxy.corp:3128/'], // port-specific entry
    ['https://10.1.2.3/v2/', undefined], // CIDR
    ['https://11.1.2.3/v2/', 'http://proxy.corp:3128/'],
    ['https://192.168.1.7:5000/v2/', undefined],
    ['https://[2001:db8::1]/v2/', undefined],
    ['https://localhost:5000/v2/', undefined], // loopback never proxied
    ['https://127.0.0.5/v2/', undefined],
    ['https://[::1]:5000/v2/', undefined],
    ['https://notinternal.corp/v2/', 'http://proxy.corp:3128/'],
  ];
  for (const [url, want] of rows) {
    test(`${url} → ${want ?? 'direct'}`, () => {
      assert.equal(proxyFor(new URL(url), env)?.href, want);
    });
  }
  test('NO_PROXY=* disables proxies; upper case wins as in Go; HTTP_PROXY is not used for https', () => {
    assert.equal(proxyFor(new URL('https://x.example/'), proxyFromEnvironment({ HTTPS_PROXY: 'http://p:1', NO_PROXY: '*' })), undefined);
    assert.equal(proxyFor(new URL('https://x.example/'), proxyFromEnvironment({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1' }))?.host, 'upper:1');
    assert.equal(proxyFor(new URL('https://x.example/'), proxyFromEnvironment({ HTTP_PROXY: 'http://p:1' })), undefined);
  });
  test('a malformed proxy variable is a clear error naming the variable, without credentials', () => {
    assert.throws(() => proxyFromEnvironment({ HTTPS_PROXY: 'socks5://user:pw@p:1' }), /unsupported proxy scheme "socks5" in HTTPS_PROXY/);
    assert.throws(() => proxyFromEnvironment({ HTTPS_PROXY: 'http://user:pw@[bad' }), (e: Error) => /HTTPS_PROXY/.test(e.message) && !e.message.includes('pw'));
  });
});

describe('trusted locations (Docker Hub v1 search redirects)', () => {
  const rows: [string, boolean][] = [
    ['http://example.com', false],
    ['https://example.com:7777', false],
    ['http://docker.io', false],
    ['http://test.docker.com', false],
    ['https://fakedocker.com', false],
    ['https://docker.io', true],
    ['https://test.docker.com:80', true],
  ];
  for (const [url, want] of rows) test(`${url} → ${want}`, () => assert.equal(isTrustedLocation(new URL(url)), want));
});

describe('registry errors', () => {
  test('the spec error list is kept and rendered', () => {
    const body = '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}}]}';
    const entries = parseErrorBody(body);
    assert.deepEqual(entries, [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: '1' } }]);
    const err = new RegistryError('GET', 'https://u:p@host/v2/x/manifests/1', 404, entries);
    assert.equal(err.message, 'GET https://%5Bredacted%5D@host/v2/x/manifests/1: MANIFEST_UNKNOWN: manifest unknown');
    assert.equal(err.code, 'NOT_FOUND');
    assert.equal(err.retryable, false);
  });
  test('status decides the code and retryability', () => {
    assert.equal(new RegistryError('GET', 'https://h/v2/', 401, []).code, 'UNAUTHORIZED');
    assert.equal(new RegistryError('GET', 'https://h/v2/', 403, []).code, 'DENIED');
    const busy = new RegistryError('GET', 'https://h/v2/', 429, [], { retryAfter: 3 });
    assert.equal(busy.code, 'TOO_MANY_REQUESTS');
    assert.equal(busy.retryable, true);
    assert.equal(new RegistryError('GET', 'https://h/v2/', 503, []).retryable, true);
    assert.equal(new RegistryError('GET', 'https://h/v2/', 503, []).message, 'GET https://h/v2/: 503 Service Unavailable');
  });
  test('token-server {"details"} bodies and non-JSON bodies', () => {
    assert.deepEqual(parseErrorBody('{"details":"incorrect username or password"}'), [{ code: 'UNKNOWN', message: 'incorrect username or password' }]);
    assert.deepEqual(parseErrorBody('<html>oops</html>'), []);
  });
  test('Retry-After as seconds or a date', () => {
    assert.equal(parseRetryAfter('7'), 7);
    assert.equal(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1)), 10);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});

describe('certs.d', () => {
  test('the default folder, and the rootless one', () => {
    assert.equal(defaultCertsDir({}), '/etc/docker/certs.d');
    assert.equal(defaultCertsDir({ ROOTLESSKIT_STATE_DIR: '/run/x', XDG_CONFIG_HOME: '/home/u/.cfg' }), '/home/u/.cfg/docker/certs.d');
    assert.equal(defaultCertsDir({ ROOTLESSKIT_STATE_DIR: '/run/x', HOME: '/home/u' }), '/home/u/.config/docker/certs.d');
  });

  test('roots, pairs in file-name order, other files ignored, missing folder empty', async () => {
    const pki = createTestPki();
    const dir = mkdtempSync(join(tmpdir(), 'gantry-certs-'));
    try {
      const c1 = pki.client('one');
      const c2 = pki.client('two');
      writeFileSync(join(dir, 'ca.crt'), pki.ca.certPem);
      writeFileSync(join(dir, 'ca.pem'), 'ignored: Docker only reads .crt');
      writeFileSync(join(dir, 'z.cert'), c1.certPem);
      writeFileSync(join(dir, 'z.key'), c1.keyPem);
      writeFileSync(join(dir, 'a.cert'), c2.certPem);
      writeFileSync(join(dir, 'a.key'), c2.keyPem);
      mkdirSync(join(dir, 'sub.crt'));
      const got = await readCertsDirectory(dir);
      assert.deepEqual(got.caFiles, ['ca.crt']);
      assert.deepEqual(got.clients.map((c) => c.certFile), ['a.cert', 'z.cert']);
      assert.equal((await readCertsDirectory(join(dir, 'nope'))).exists, false);
      writeFileSync(join(dir, 'bad.crt'), 'not a certificate');
      await assert.rejects(readCertsDirectory(dir), /bad\.crt is not a PEM certificate/);
      rmSync(join(dir, 'bad.crt'));
      writeFileSync(join(dir, 'm.cert'), c1.certPem);
      writeFileSync(join(dir, 'm.key'), c2.keyPem);
      await assert.rejects(readCertsDirectory(dir), /client certificate m\.cert does not match key m\.key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      pki.cleanup();
    }
  });
});

/**
 * The embedded registry refuses bad input with the spec's errors and never lets it reach
 * storage: names outside the grammar (nothing escapes the storage directory), digests that do
 * not match, oversized and malformed manifests, bad options.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { ConfigError, GantryError } from '../../src/errors.js';
import { call, errorCodes, OCI_MANIFEST, pushBlob, putManifest, sha256 } from '../conformance/client.js';

/** Sends the path exactly as written (fetch and undici would normalise `..`). */
function rawRequest(base: string, method: string, path: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('embedded registry: bad input', () => {
  let dir: string;
  let server: RegistryServer;
  const lines: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-bad-input-'));
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: join(dir, 'storage'), log: (l) => lines.push(l) });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('names outside the grammar are 400 NAME_INVALID and create nothing outside storage', async () => {
    for (const name of ['..', '../x', 'a/../../x', '..%2fx', '%2e%2e/x', 'a%2Fb', 'UPPER/case', 'a//b', '-lead', 'a/.hidden', 'a/b_', `${'a'.repeat(256)}`]) {
      for (const [method, suffix] of [['GET', 'tags/list'], ['POST', 'blobs/uploads/'], ['PUT', 'manifests/latest']] as const) {
        const r = await rawRequest(server.url, method, `/v2/${name}/${suffix}`);
        assert.equal(r.status, 400, `${method} ${name}`);
        assert.match(r.body, /NAME_INVALID/);
      }
    }
    assert.deepEqual(readdirSync(dir), ['storage']);
    assert.deepEqual(readdirSync(join(dir, 'storage', 'repositories')), []);
  });

  test('a blob upload whose digest does not match is rejected and discarded', async () => {
    const blob = randomBytes(4096);
    const wrong = sha256(randomBytes(8));
    const r = await call(server.url, 'POST', `/v2/bad/blobs/uploads/?digest=${wrong}`, { body: blob, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(r.status, 400);
    assert.deepEqual(errorCodes(r), ['DIGEST_INVALID']);
    assert.equal((await call(server.url, 'HEAD', `/v2/bad/blobs/${wrong}`)).status, 404);
    assert.equal((await call(server.url, 'HEAD', `/v2/bad/blobs/${sha256(blob)}`)).status, 404);
    assert.deepEqual(readdirSync(join(dir, 'storage', 'uploads')), [], 'the failed session is gone');
  });

  test('malformed digests are 400 DIGEST_INVALID', async () => {
    for (const digest of ['sha256:xyz', 'md5:d41d8cd98f00b204e9800998ecf8427e', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`]) {
      const r = await call(server.url, 'GET', `/v2/bad/blobs/${digest}`);
      assert.equal(r.status, 400, digest);
      assert.deepEqual(errorCodes(r), ['DIGEST_INVALID']);
    }
  });

  test('a manifest over 4 MiB is 413 and not stored', async () => {
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, padding: 'x'.repeat(4 * 1024 * 1024) }));
    const r = await putManifest(server.url, 'bad', 'big', big);
    assert.equal(r.status, 413);
    assert.deepEqual(errorCodes(r), ['SIZE_INVALID']);
    assert.equal((await call(server.url, 'HEAD', '/v2/bad/manifests/big')).status, 404);
  });

  test('malformed manifests are 400 MANIFEST_INVALID', async () => {
    const config = randomBytes(64);
    await pushBlob(server.url, 'bad', config);
    const cases: Array<[string, string]> = [
      ['not json', '{"schemaVersion": 2,'],
      ['not an object', '[1,2,3]'],
      ['no config', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] })],
      ['bad layer digest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: sha256(config), size: 64 }, layers: [{ digest: 'nope' }] })],
      ['schemaVersion 1', JSON.stringify({ schemaVersion: 1, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: sha256(config), size: 64 }, layers: [] })],
    ];
    for (const [what, body] of cases) {
      const r = await putManifest(server.url, 'bad', 'broken', Buffer.from(body));
      assert.equal(r.status, 400, what);
      assert.deepEqual(errorCodes(r), ['MANIFEST_INVALID'], what);
    }
    const mismatch = await putManifest(server.url, 'bad', 'broken', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: sha256(config), size: 64 }, layers: [] })), 'application/vnd.oci.image.index.v1+json');
    assert.equal(mismatch.status, 400, 'Content-Type and mediaType disagree');
    assert.equal((await call(server.url, 'HEAD', '/v2/bad/manifests/broken')).status, 404);
  });

  test('an invalid tag is 400 TAG_INVALID', async () => {
    const r = await putManifest(server.url, 'bad', '.dot-first', Buffer.from('{}'));
    assert.equal(r.status, 400);
    assert.deepEqual(errorCodes(r), ['TAG_INVALID']);
  });

  test('methods a route does not have are 405 UNSUPPORTED; unknown paths 404', async () => {
    const r = await call(server.url, 'PATCH', '/v2/bad/manifests/latest');
    assert.equal(r.status, 405);
    assert.deepEqual(errorCodes(r), ['UNSUPPORTED']);
    assert.equal((await call(server.url, 'GET', '/v3/')).status, 404);
  });

  test('with deletion disabled, DELETE is 405 UNSUPPORTED', async () => {
    const ro = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', deleteEnabled: false });
    try {
      const blob = randomBytes(10);
      await pushBlob(ro.url, 'keep', blob);
      const r = await call(ro.url, 'DELETE', `/v2/keep/blobs/${sha256(blob)}`);
      assert.equal(r.status, 405);
      assert.deepEqual(errorCodes(r), ['UNSUPPORTED']);
      assert.equal((await call(ro.url, 'HEAD', `/v2/keep/blobs/${sha256(blob)}`)).status, 200);
    } finally {
      await ro.close();
    }
  });

  test('a Range past the end is 416 with Content-Range bytes */size', async () => {
    const blob = randomBytes(100);
    await pushBlob(server.url, 'bad', blob);
    const r = await call(server.url, 'GET', `/v2/bad/blobs/${sha256(blob)}`, { headers: { range: 'bytes=100-200' } });
    assert.equal(r.status, 416);
    assert.equal(r.header('content-range'), 'bytes */100');
  });

  test('one log line per request: method, path, status, bytes, time; secrets redacted', async () => {
    const line = lines.find((l) => l.startsWith('GET /v2/bad/blobs/sha256:xyz '));
    assert.ok(line, lines.join('\n'));
    assert.match(line, /^GET \/v2\/bad\/blobs\/sha256:xyz 400 \d+B \d+\.\dms$/);
    await call(server.url, 'GET', '/v2/bad/tags/list?n=1&access_token=tok-s3cret', { headers: { authorization: 'Bearer tok-s3cret' } });
    // The line is written when the server side of the response closes, a moment after the client has it.
    const deadline = Date.now() + 2000;
    while (!lines.some((l) => l.startsWith('GET /v2/bad/tags/list')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const logged = lines.find((l) => l.startsWith('GET /v2/bad/tags/list'));
    assert.ok(logged, lines.join('\n'));
    assert.ok(!logged.includes('tok-s3cret'), logged);
    assert.match(logged, /access_token=%5Bredacted%5D|access_token=\[redacted\]/);
  });

  test('options are validated and the message names the option', async () => {
    const bad: Array<[Parameters<typeof createRegistryServer>[0], RegExp]> = [
      [{ listen: { port: 70000 } }, /listen\.port/],
      [{ listen: { port: 0 }, storage: '' }, /storage/],
      [{ listen: { port: 0 }, storage: 'memory', tls: { cert: '/no/such/cert.pem', key: '/no/such/key.pem' } }, /tls\.cert/],
      [{ listen: { port: 0 }, storage: 'memory', auth: { type: 'htpasswd', file: '' } }, /auth\.file/],
      [{ listen: { port: 0 }, storage: 'memory', auth: { type: 'bogus' } as never }, /auth\.type/],
      [{ listen: { port: 0 }, storage: 'memory', deleteEnabled: 'yes' as never }, /deleteEnabled/],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(createRegistryServer(options), (err: unknown) => (err instanceof ConfigError || (err instanceof GantryError && err.code === 'INVALID_OPTION')) && message.test(err.message));
    }
  });
});

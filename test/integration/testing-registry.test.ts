/**
 * `gantry/testing`'s throw-away registry, used as a project that depends on gantry would:
 * mutual TLS verified through the certs.d folder it writes, Basic auth for its users, a
 * push and a listing through the public API, and nothing left on disk after `close()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { connectRegistry, isGantryError, listTags, ping, ErrorCode } from '../../src/index.js';
import { createTestPki, startTestRegistry } from '../../src/testing/index.js';
import { pushImage } from '../helpers/client-fixtures.js';

test('a TLS registry with mutual TLS and users: verified, authenticated, listed, and gone after close()', async () => {
  const registry = await startTestRegistry({ mutualTls: true, users: { alice: 's3cret' } });
  const certsDir = registry.certsDir;
  assert.ok(certsDir);
  assert.deepEqual(readdirSync(join(certsDir, registry.host)).sort(), ['ca.crt', 'client.cert', 'client.key']);
  try {
    assert.match(registry.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const result = await ping(registry.host, { certsDir, tlsVerify: true });
    assert.equal(result.tlsVerified, true);
    assert.equal(result.clientCertificate, 'client.cert');
    assert.equal(result.status, 401);

    const access = { certsDir, tlsVerify: true, credentials: { username: 'alice', password: 's3cret' } };
    const connected = await connectRegistry(registry.host, 'push', access);
    try {
      await pushImage(connected.client.repository('team/app'), '1.0', 7);
    } finally {
      await connected.close();
    }
    assert.deepEqual(await listTags(`${registry.host}/team/app`, access), ['1.0']);
    await assert.rejects(listTags(`${registry.host}/team/app`, { ...access, credentials: { username: 'alice', password: 'wrong' } }), (err) =>
      isGantryError(err, ErrorCode.UNAUTHORIZED));
  } finally {
    await registry.close();
  }
  assert.equal(existsSync(certsDir), false, 'close() removes the certs.d folder and the PKI');
  await assert.rejects(ping(registry.host, { certsDir, tlsVerify: true }), (err) => isGantryError(err));
});

test('a plain registry has no PKI; a caller\'s PKI issues the certificate and stays', async () => {
  const plain = await startTestRegistry();
  try {
    assert.match(plain.url, /^http:\/\//);
    assert.equal(plain.pki, undefined);
    assert.equal(plain.certsDir, undefined);
    assert.deepEqual(await listTags(`${plain.host}/none`).catch((err: unknown) => (isGantryError(err) ? err.code : err)), ErrorCode.NOT_FOUND);
  } finally {
    await plain.close();
  }
  const pki = createTestPki();
  try {
    const tls = await startTestRegistry({ tls: pki, address: '127.0.0.2' });
    try {
      assert.equal(tls.pki, pki);
      assert.match(tls.host, /^127\.0\.0\.2:\d+$/);
      assert.equal((await ping(tls.host, { certsDir: tls.certsDir!, tlsVerify: true })).tlsVerified, true);
    } finally {
      await tls.close();
    }
    assert.equal(existsSync(pki.ca.certFile), true, 'a PKI the caller gave is left in place');
  } finally {
    pki.cleanup();
  }
});

test('bad options fail with INVALID_OPTION naming the option, before anything starts', async () => {
  for (const [options, name] of [
    [{ tls: 'yes' }, 'tls'],
    [{ users: { 'a:b': 'x' } }, 'users'],
    [{ address: '10.0.0.1' }, 'address'],
    [{ storage: '' }, 'storage'],
  ] as const) {
    await assert.rejects(startTestRegistry(options as never), (err) => isGantryError(err, ErrorCode.INVALID_OPTION) && err.message.includes(name));
  }
});

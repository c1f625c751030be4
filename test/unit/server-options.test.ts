/**
 * Tables for the embedded registry's small parsers: `--listen`, CLI flags to options, the
 * token config file, htpasswd lines, and blob `Range` headers.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../../src/errors.js';
import { parseTokenConfig } from '../../src/server/index.js';
import { Htpasswd } from '../../src/server/htpasswd.js';
import { parseListen, registryServerOptionsFromCli } from '../../src/server/cli-options.js';
import { parseRange } from '../../src/server/http.js';

describe('parseListen', () => {
  const rows: Array<[string, { host: string; port: number }]> = [
    ['127.0.0.1:5000', { host: '127.0.0.1', port: 5000 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    [':8443', { host: '127.0.0.1', port: 8443 }],
    ['localhost', { host: 'localhost', port: 5000 }],
    ['[::1]:5001', { host: '::1', port: 5001 }],
  ];
  for (const [input, expected] of rows) test(input, () => assert.deepEqual(parseListen(input), expected));
  for (const bad of ['host:port', '::1:5000', 'a:99999']) {
    test(`refuses ${bad}`, () => assert.throws(() => parseListen(bad), (e: unknown) => e instanceof ConfigError && /--listen/.test(e.message)));
  }
});

describe('registryServerOptionsFromCli', () => {
  test('defaults', async () => {
    assert.deepEqual(await registryServerOptionsFromCli({}), { listen: { host: '127.0.0.1', port: 5000 }, storage: './gantry-registry', deleteEnabled: true });
  });
  test('TLS, mutual TLS and htpasswd flags', async () => {
    const o = await registryServerOptionsFromCli({ listen: ':0', storage: 'memory', tlsCert: 'c.pem', tlsKey: 'k.pem', clientCa: 'ca.pem', htpasswd: 'h' });
    assert.deepEqual(o.tls, { cert: 'c.pem', key: 'k.pem', clientCa: 'ca.pem' });
    assert.deepEqual(o.auth, { type: 'htpasswd', file: 'h' });
  });
  const bad: Array<[string, Parameters<typeof registryServerOptionsFromCli>[0], RegExp]> = [
    ['cert without key', { tlsCert: 'c.pem' }, /--tls-cert and --tls-key/],
    ['client CA without TLS', { clientCa: 'ca.pem' }, /--client-ca/],
    ['htpasswd and token', { htpasswd: 'h', tokenConfig: 't.json' }, /exclusive/],
    ['realm without token config', { tokenRealm: 'https://auth' }, /--token-realm/],
  ];
  for (const [name, flags, message] of bad) {
    test(`refuses ${name}`, async () => {
      await assert.rejects(registryServerOptionsFromCli(flags), (e: unknown) => e instanceof ConfigError && message.test(e.message));
    });
  }
});

describe('parseTokenConfig', () => {
  const hash = bcrypt.hashSync('pw', 4);
  test('users, anonymous rules and an ephemeral signing key', async () => {
    const { issuer, service } = await parseTokenConfig(JSON.stringify({
      service: 'reg',
      users: { alice: { password: hash, access: [{ repository: 'team/*', actions: ['pull', 'push'] }] } },
      anonymous: [{ repository: 'public/*', actions: ['pull'] }],
    }), 'cfg', '.');
    assert.equal(service, 'reg');
    assert.equal(issuer.service, 'reg');
  });
  test('a signingKey path is read relative to the config file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-token-config-'));
    try {
      await assert.rejects(parseTokenConfig(JSON.stringify({ signingKey: 'missing.pem' }), 'cfg', dir), (e: unknown) => e instanceof ConfigError && /signingKey: cannot read missing\.pem/.test(e.message));
      writeFileSync(join(dir, 'key.pem'), 'not a key');
      await assert.rejects(parseTokenConfig(JSON.stringify({ signingKey: 'key.pem' }), 'cfg', dir), ConfigError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  const bad: Array<[string, unknown, RegExp]> = [
    ['a clear password', { users: { bob: { password: 'hunter2', access: [] } } }, /users\.bob\.password must be a bcrypt hash/],
    ['an unknown action', { users: { bob: { password: hash, access: [{ repository: 'x', actions: ['write'] }] } } }, /users\.bob\.access\[0\]\.actions/],
    ['anonymous without repository', { anonymous: [{ actions: ['pull'] }] }, /anonymous\[0\]\.repository/],
    ['users as a list', { users: [] }, /users must be an object/],
  ];
  for (const [name, doc, message] of bad) {
    test(`refuses ${name}`, async () => {
      await assert.rejects(parseTokenConfig(JSON.stringify(doc), 'cfg', '.'), (e: unknown) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('hunter2'));
    });
  }
});

describe('Htpasswd', () => {
  test('verifies bcrypt entries of each prefix and refuses wrong passwords', async () => {
    const b = bcrypt.hashSync('secret', 4);
    const h = Htpasswd.parse(`a:${b}\ny:${b.replace('$2b$', '$2y$')}\nx:${b.replace('$2b$', '$2a$')}\n\n# comment\n`);
    for (const user of ['a', 'y', 'x']) {
      assert.equal(await h.verify(user, 'secret'), true, user);
      assert.equal(await h.verify(user, 'secret'), true, `${user} (cached)`);
      assert.equal(await h.verify(user, 'Secret'), false, user);
    }
    assert.equal(await h.verify('nobody', 'secret'), false);
  });
  for (const line of ['user:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=', 'user:plain', ':$2b$04$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234', 'nocolon']) {
    test(`refuses ${line.slice(0, 12)}…`, () => assert.throws(() => Htpasswd.parse(line), (e: unknown) => e instanceof ConfigError && /:1:/.test(e.message)));
  }
});

describe('parseRange', () => {
  const rows: Array<[string | undefined, number, { start: number; end: number } | undefined]> = [
    [undefined, 100, undefined],
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=90-200', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-500', 100, { start: 0, end: 99 }],
    ['bytes=0-1,5-6', 100, undefined],
    ['items=0-1', 100, undefined],
  ];
  for (const [header, size, expected] of rows) test(`${header} of ${size}`, () => assert.deepEqual(parseRange(header, size), expected));
  for (const header of ['bytes=100-', 'bytes=5-2', 'bytes=-0']) {
    test(`${header} is not satisfiable`, () => assert.throws(() => parseRange(header, 100), /RANGE_INVALID/));
  }
});

/**
 * The credential-helper protocol and helper-backed stores. Rows come from
 * docker-credential-helpers' `client/client_test.go`
 * (https://github.com/docker/docker-credential-helpers) and docker/cli's
 * `cli/config/credentials/native_store_test.go` and `cli/config/configfile/file_test.go`
 * (https://github.com/docker/cli/tree/master/cli/config); the rules are in
 * docs/docker-rules.md#credentials.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CredentialHelper } from '../../src/auth/credential-helper.js';
import { CredentialsError } from '../../src/auth/docker-config.js';
import { Keychain } from '../../src/auth/keychain.js';

/**
 * A fake `docker-credential-<name>` speaking the helper protocol, with its keychain in a JSON
 * file. Special servers: `https://failing.example` fails, `https://echo.example` fails printing
 * its stdin, `https://slow.example` hangs. Every argv is appended to a log.
 */
const HELPER_SOURCE = `#!/usr/bin/env node
const fs = require('node:fs');
const state = process.env.GANTRY_TEST_HELPER_STATE;
fs.appendFileSync(state + '.argv', JSON.stringify(process.argv.slice(2)) + '\\n');
const load = () => { try { return JSON.parse(fs.readFileSync(state, 'utf8')); } catch { return {}; } };
const fail = (msg) => { process.stdout.write(msg + '\\n'); process.exit(1); };
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const action = process.argv[2];
  const db = load();
  if (action === 'store') {
    const c = JSON.parse(input);
    if (!c.ServerURL) fail('no credentials server URL');
    if (!c.Username) fail('no credentials username');
    if (c.ServerURL === 'https://failing.example') fail('program failed');
    if (c.ServerURL === 'echo.example') fail('cannot store ' + input);
    db[c.ServerURL] = { Username: c.Username, Secret: c.Secret };
    fs.writeFileSync(state, JSON.stringify(db));
  } else if (action === 'get') {
    const url = input.trim();
    if (!url) fail('no credentials server URL');
    if (url === 'https://failing.example' || url === 'failing.example') fail('program failed');
    if (url === 'slow.example') { setTimeout(() => {}, 60000); return; }
    const c = db[url];
    if (!c) fail('credentials not found in native keychain');
    process.stdout.write(JSON.stringify({ ServerURL: url, Username: c.Username, Secret: c.Secret }));
  } else if (action === 'erase') {
    const url = input.trim();
    if (!db[url]) fail('credentials not found in native keychain');
    delete db[url];
    fs.writeFileSync(state, JSON.stringify(db));
  } else if (action === 'list') {
    const out = {};
    for (const [k, v] of Object.entries(db)) out[k] = v.Username;
    process.stdout.write(JSON.stringify(out));
  } else {
    fail('unknown action: ' + action);
  }
});
`;

interface FakeHelper {
  name: string;
  dir: string;
  env: NodeJS.ProcessEnv;
  state(): Record<string, { Username: string; Secret: string }>;
  seed(db: Record<string, { Username: string; Secret: string }>): void;
  argv(): string;
}

/** Installs the fake helper as `docker-credential-<name>` in a temp dir on PATH; removed after the suite. */
function installFakeHelper(name = 'gantrytest'): FakeHelper {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-helper-'));
  const program = join(dir, `docker-credential-${name}`);
  writeFileSync(program, HELPER_SOURCE.replace('#!/usr/bin/env node', `#!${process.execPath}`));
  chmodSync(program, 0o755);
  const statePath = join(dir, 'state.json');
  after(() => rmSync(dir, { recursive: true, force: true }));
  return {
    name,
    dir,
    env: { ...process.env, PATH: `${dir}${delimiter}${process.env.PATH ?? ''}`, GANTRY_TEST_HELPER_STATE: statePath },
    state: () => {
      try {
        return JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, { Username: string; Secret: string }>;
      } catch {
        return {};
      }
    },
    seed: (db) => writeFileSync(statePath, JSON.stringify(db)),
    argv: () => {
      try {
        return readFileSync(`${statePath}.argv`, 'utf8');
      } catch {
        return '';
      }
    },
  };
}

describe('credential helper protocol', () => {
  const fake = installFakeHelper();
  const helper = new CredentialHelper(fake.name, { env: fake.env });

  test('store, get, list, erase', async () => {
    await helper.store({ serverURL: 'https://registry.example.com/v1', username: 'linus', secret: 's3cret-pw' });
    assert.deepEqual(await helper.get('https://registry.example.com/v1'), { serverURL: 'https://registry.example.com/v1', username: 'linus', secret: 's3cret-pw' });
    assert.deepEqual(await helper.list(), { 'https://registry.example.com/v1': 'linus' });
    await helper.erase('https://registry.example.com/v1');
    assert.deepEqual(await helper.list(), {});
    assert.ok(!fake.argv().includes('s3cret-pw'), 'the secret never appears in argv');
    assert.deepEqual(
      fake.argv().trim().split('\n').map((l) => JSON.parse(l) as string[]),
      [['store'], ['get'], ['list'], ['erase'], ['list']],
    );
  });

  test('not found is no error', async () => {
    assert.equal(await helper.get('https://nothing.example'), undefined);
  });

  test('failures are wrapped like the Go client', async () => {
    await assert.rejects(helper.get('https://failing.example'), (err: Error) => {
      assert.ok(err instanceof CredentialsError);
      assert.equal(err.code, 'CREDENTIALS');
      assert.equal(err.message, 'error getting credentials - err: exit status 1, out: `program failed`');
      return true;
    });
    await assert.rejects(helper.get(''), { message: 'error getting credentials - err: no credentials server URL, out: `no credentials server URL`' });
    await assert.rejects(helper.store({ serverURL: 'x', username: '', secret: 'pw' }), { message: 'error storing credentials - err: no credentials username, out: `no credentials username`' });
    await assert.rejects(helper.erase('https://never.example'), { message: 'error erasing credentials - err: exit status 1, out: `credentials not found in native keychain`' });
  });

  test('a helper echoing its input never leaks the secret into the error', async () => {
    await assert.rejects(helper.store({ serverURL: 'echo.example', username: 'u', secret: 'leak-me-not-9876' }), (err: Error) => {
      assert.match(err.message, /^error storing credentials - err: exit status 1, out: `cannot store /);
      assert.ok(!err.message.includes('leak-me-not-9876'), err.message);
      return true;
    });
  });

  test('a missing binary names the program and PATH', async () => {
    const missing = new CredentialHelper('does-not-exist-gantry', { env: fake.env });
    await assert.rejects(missing.get('x.example'), {
      message: 'error getting credentials - err: exec: "docker-credential-does-not-exist-gantry": executable file not found in $PATH, out: ``',
    });
  });

  test('a hanging helper is killed after the timeout', async () => {
    const slow = new CredentialHelper(fake.name, { env: fake.env, timeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(slow.get('slow.example'), /error getting credentials - err: docker-credential-gantrytest get timed out after 0.3s/);
    assert.ok(Date.now() - started < 5000);
  });
});

describe('Keychain with credential helpers', () => {
  const fake = installFakeHelper();
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const configDir = (config: unknown): string => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-config-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  };
  const read = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;

  test('credsStore: the secret goes to the helper, config.json keeps an empty entry', async () => {
    const dir = configDir({ auths: {}, credsStore: fake.name });
    const kc = await Keychain.load({ configDir: dir, env: fake.env });
    const result = await kc.store('docker.io', { username: 'foo', password: 'bar-secret' });
    assert.deepEqual(result, { key: 'https://index.docker.io/v1/', storedIn: 'helper' });
    assert.deepEqual(read(dir), { auths: { 'https://index.docker.io/v1/': {} }, credsStore: fake.name });
    assert.deepEqual(fake.state()['https://index.docker.io/v1/'], { Username: 'foo', Secret: 'bar-secret' });
    assert.deepEqual(await kc.resolve('docker.io'), { serverAddress: 'https://index.docker.io/v1/', username: 'foo', password: 'bar-secret' });
    assert.ok(!readFileSync(join(dir, 'config.json'), 'utf8').includes('"auth":'));
  });

  test('identity tokens are stored and read back under the user name <token>', async () => {
    fake.seed({ 'example.com:5002': { Username: '<token>', Secret: 'abcd1234' } });
    const dir = configDir({ credsStore: fake.name });
    const kc = await Keychain.load({ configDir: dir, env: fake.env });
    assert.deepEqual(await kc.resolve('example.com:5002'), { serverAddress: 'example.com:5002', identityToken: 'abcd1234' });
    await kc.store('https://tok.example/', { username: 'ignored', identityToken: 'refresh-xyz', password: 'not-stored' });
    assert.deepEqual(fake.state()['tok.example'], { Username: '<token>', Secret: 'refresh-xyz' });
  });

  test('nothing stored → anonymous, no error; a failing helper is an error', async () => {
    fake.seed({});
    const dir = configDir({ credsStore: fake.name });
    const kc = await Keychain.load({ configDir: dir, env: fake.env });
    assert.equal(await kc.resolve('nobody.example'), undefined);
    await assert.rejects(kc.resolve('failing.example'), /program failed/);
  });

  test('credHelpers win over credsStore for their host', async () => {
    fake.seed({ 'h.example': { Username: 'helper-user', Secret: 'helper-pw' } });
    const dir = configDir({ credsStore: 'does-not-exist-gantry', credHelpers: { 'h.example': fake.name } });
    const kc = await Keychain.load({ configDir: dir, env: fake.env });
    assert.equal((await kc.resolve('h.example'))?.username, 'helper-user');
    await assert.rejects(kc.resolve('other.example'), /exec: "docker-credential-does-not-exist-gantry": executable file not found in \$PATH/);
  });

  test('logout erases from the helper and the file, under every key form', async () => {
    fake.seed({ 'reg.example:5000': { Username: 'u', Secret: 'p' }, 'https://reg.example:5000': { Username: 'u', Secret: 'p' } });
    const dir = configDir({ auths: { 'reg.example:5000': {} }, credsStore: fake.name });
    const kc = await Keychain.load({ configDir: dir, env: fake.env });
    const result = await kc.erase('reg.example:5000');
    assert.deepEqual(result.removed.sort(), ['https://reg.example:5000', 'reg.example:5000']);
    assert.deepEqual(result.failures, []);
    assert.deepEqual(fake.state(), {});
    assert.deepEqual(read(dir).auths, {});
  });

  test('an unconfigured file uses the platform default helper when it is on PATH, and records it', async (t) => {
    if (process.platform !== 'linux') return t.skip('the default store tested here is the Linux one');
    const secretservice = installFakeHelper('secretservice');
    secretservice.seed({ 'd.example': { Username: 'from-default', Secret: 'pw' } });
    const dir = configDir({});
    const kc = await Keychain.load({ configDir: dir, env: { ...secretservice.env, PATH: secretservice.dir } });
    assert.equal((await kc.resolve('d.example'))?.username, 'from-default');
    await kc.store('n.example', { username: 'nu', password: 'npw' });
    assert.deepEqual(read(dir), { credsStore: 'secretservice', auths: { 'n.example': {} } });
    // Without the helper on PATH the file store is used.
    const plain = configDir({});
    await (await Keychain.load({ configDir: plain, env: { PATH: '/nonexistent' } })).store('n.example', { username: 'nu', password: 'npw' });
    assert.deepEqual(read(plain), { auths: { 'n.example': { auth: Buffer.from('nu:npw').toString('base64') } } });
  });
});

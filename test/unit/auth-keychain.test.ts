/**
 * config.json, `DOCKER_AUTH_CONFIG` and credential resolution. Rows come from docker/cli's
 * `cli/config/config_test.go`, `configfile/file_test.go` and `credentials/file_store_test.go`
 * (https://github.com/docker/cli/tree/master/cli/config) and moby's `auth_test.go`
 * (https://github.com/moby/moby/tree/master/daemon/pkg/registry); the rules are in
 * docs/docker-rules.md#credentials and #login-and-logout.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDirectory, DockerConfigFile, parseEnvAuthConfig } from '../../src/auth/docker-config.js';
import { Keychain, StaticKeychain, unencryptedWarning } from '../../src/auth/keychain.js';
import { DOCKER_HUB_AUTH_KEY } from '../../src/auth/hostname.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-keychain-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh config dir, optionally with a config.json (object → JSON, string → as is). */
function configDir(config?: unknown): string {
  const dir = join(root, `c${++n}`);
  mkdirSync(dir);
  if (config !== undefined) writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config), { mode: 0o600 });
  return dir;
}
const file = (dir: string): string => readFileSync(join(dir, 'config.json'), 'utf8');
const NO_ENV = { HOME: root } as NodeJS.ProcessEnv;
const load = (dir: string, env: NodeJS.ProcessEnv = NO_ENV): Promise<Keychain> => Keychain.load({ configDir: dir, env });

describe('config.json', () => {
  test('the config dir: option > DOCKER_CONFIG > ~/.docker', () => {
    assert.equal(configDirectory({ configDir: '/a', env: { DOCKER_CONFIG: '/b' } }), '/a');
    assert.equal(configDirectory({ env: { DOCKER_CONFIG: '/b' } }), '/b');
    assert.ok(configDirectory({ env: {} }).endsWith('.docker'));
  });

  test('loads base64 auth and re-saves exactly, tab-indented', async () => {
    const dir = configDir({ auths: { [DOCKER_HUB_AUTH_KEY]: { auth: 'am9lam9lOmhlbGxv' } } });
    const kc = await load(dir);
    assert.deepEqual(await kc.resolve('docker.io'), { serverAddress: DOCKER_HUB_AUTH_KEY, username: 'joejoe', password: 'hello' });
    const cfg = await DockerConfigFile.load({ configDir: dir });
    assert.equal(cfg.serialise(), '{\n\t"auths": {\n\t\t"https://index.docker.io/v1/": {\n\t\t\t"auth": "am9lam9lOmhlbGxv"\n\t\t}\n\t}\n}');
  });

  test('unknown fields, credsStore and credHelpers survive a rewrite', async () => {
    const original = {
      auths: { 'old.example': { auth: 'dTpw', email: 'u@example.com', future: { x: 1 } } },
      HttpHeaders: { 'X-Meta-Source': 'client', 'User-Agent': 'dropped' },
      credHelpers: { 'gcr.io': 'gcloud' },
      proxies: { default: { httpProxy: 'http://proxy:3128' } },
      somethingNew: [1, 2],
    };
    const dir = configDir(original);
    const kc = await load(dir);
    await kc.store('new.example:5000', { username: 'nu', password: 'npw' });
    const saved = JSON.parse(file(dir)) as typeof original & { auths: Record<string, unknown> };
    assert.deepEqual(saved.auths['old.example'], original.auths['old.example']);
    assert.deepEqual(saved.auths['new.example:5000'], { auth: Buffer.from('nu:npw').toString('base64') });
    assert.deepEqual(saved.HttpHeaders, { 'X-Meta-Source': 'client' }, 'User-Agent is dropped as Docker does');
    assert.deepEqual(saved.credHelpers, original.credHelpers);
    assert.deepEqual(saved.proxies, original.proxies);
    assert.deepEqual(saved.somethingNew, [1, 2]);
    assert.deepEqual(Object.keys(saved), Object.keys(original), 'top-level order kept');
  });

  test('malformed file → parsing config file (<path>): …, and a store never overwrites it', async () => {
    const dir = configDir('{');
    const path = join(dir, 'config.json');
    await assert.rejects(load(dir), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'CREDENTIALS');
      assert.ok(err.message.startsWith(`parsing config file (${path}): `), err.message);
      return true;
    });
    // A keychain loaded before the file went bad must not clobber it either.
    const dir2 = configDir({ auths: {} });
    const kc = await load(dir2);
    writeFileSync(join(dir2, 'config.json'), '{"auths": {"x": ');
    await assert.rejects(kc.store('r.example', { username: 'u', password: 'p' }), /parsing config file/);
    assert.equal(file(dir2), '{"auths": {"x": ');
  });

  test('an invalid auth value', async () => {
    for (const auth of ['Og==', 'bm9jb2xvbg==', 'not base64!']) {
      const dir = configDir({ auths: { 'r.example': { auth } } });
      await assert.rejects(load(dir), { message: `parsing config file (${join(dir, 'config.json')}): invalid auth configuration file` }, auth);
    }
  });

  test('a missing file is an empty config; identity and registry tokens load', async () => {
    assert.equal(await (await load(configDir())).resolve('docker.io'), undefined);
    const dir = configDir({ auths: { 'r.example': { auth: 'dTpw', identitytoken: 'idt', registrytoken: 'rgt' } } });
    assert.deepEqual(await (await load(dir)).resolve('r.example'), { serverAddress: 'r.example', username: 'u', password: 'p', identityToken: 'idt', registryToken: 'rgt' });
  });
});

describe('writes', () => {
  test('a new file: dir 0700, file 0600, Docker layout; logout of the last entry leaves {"auths": {}}', async () => {
    const dir = join(root, `fresh${++n}`, 'nested');
    const kc = await load(dir);
    const r = await kc.store('localhost:5000', { username: 'u', password: 'p' });
    assert.equal(r.unencryptedFile, join(dir, 'config.json'));
    assert.equal(unencryptedWarning(r.unencryptedFile), `WARNING! Your credentials are stored unencrypted in '${join(dir, 'config.json')}'.`);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'config.json')).mode & 0o777, 0o600);
    assert.equal(file(dir), '{\n\t"auths": {\n\t\t"localhost:5000": {\n\t\t\t"auth": "dTpw"\n\t\t}\n\t}\n}');
    assert.deepEqual((await kc.erase('localhost:5000')).removed, ['localhost:5000']);
    assert.equal(file(dir), '{\n\t"auths": {}\n}');
  });

  test('temp file + rename, existing mode kept, nothing left behind', async () => {
    const dir = configDir({ auths: {} });
    chmodSync(join(dir, 'config.json'), 0o640);
    const before = statSync(join(dir, 'config.json')).ino;
    await (await load(dir)).store('r.example', { username: 'u', password: 'p' });
    const st = statSync(join(dir, 'config.json'));
    assert.notEqual(st.ino, before, 'replaced by rename, not rewritten in place');
    assert.equal(st.mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ['config.json']);
  });

  test('idempotent: the same store twice and erasing a missing key write nothing', async () => {
    const dir = configDir({ auths: { 'r.example': { auth: 'dTpw' } } });
    const ino = statSync(join(dir, 'config.json')).ino;
    const kc = await load(dir);
    await kc.store('r.example', { username: 'u', password: 'p' });
    assert.deepEqual(await kc.erase('missing.example'), { removed: [], failures: [] });
    assert.equal(statSync(join(dir, 'config.json')).ino, ino);
    await kc.store('r.example', { username: 'u', password: 'p2' });
    assert.notEqual(statSync(join(dir, 'config.json')).ino, ino);
  });

  test('a symlinked config is written through to its target', async () => {
    const dir = configDir();
    const target = join(root, `target${++n}.json`);
    writeFileSync(target, '{"auths":{}}', { mode: 0o600 });
    symlinkSync(target, join(dir, 'config.json'));
    await (await load(dir)).store('r.example', { username: 'u', password: 'p' });
    assert.ok(statSync(join(dir, 'config.json')).isFile());
    assert.match(readFileSync(target, 'utf8'), /"r.example"/);
    // Dangling links are allowed: the target gets created.
    const dir2 = configDir();
    const dangling = join(root, `dangling${++n}.json`);
    symlinkSync(dangling, join(dir2, 'config.json'));
    await (await load(dir2)).store('r.example', { username: 'u', password: 'p' });
    assert.ok(existsSync(dangling));
  });

  test('an identity token replaces the password in the file', async () => {
    const dir = configDir();
    const r = await (await load(dir)).store('r.example', { username: 'u', password: 'p', identityToken: 'refresh' });
    assert.equal(r.unencryptedFile, undefined);
    assert.deepEqual(JSON.parse(file(dir)), { auths: { 'r.example': { auth: Buffer.from('u:').toString('base64'), identitytoken: 'refresh' } } });
    assert.deepEqual(await (await load(dir)).resolve('r.example'), { serverAddress: 'r.example', username: 'u', identityToken: 'refresh' });
  });
});

describe('resolution', () => {
  test('Docker Hub by its key; other indexes never get the Hub entry', async () => {
    const dir = configDir({ auths: { testIndex: { auth: 'dGVzdDpwdw==' }, [DOCKER_HUB_AUTH_KEY]: { auth: 'aHViOnB3' } } });
    const kc = await load(dir);
    assert.equal((await kc.resolve('docker.io'))?.username, 'hub');
    assert.equal((await kc.resolve('index.docker.io'))?.username, 'hub');
    assert.equal((await kc.resolve('testIndex'))?.username, 'test');
    assert.equal(await kc.resolve(''), undefined);
    assert.equal(await kc.resolve('other.example'), undefined);
  });

  for (const name of ['registry.example.com', 'localhost:8000', 'example.com']) {
    for (const key of [`https://${name}/v1/`, `http://${name}/v1/`, name, `${name}/v1/`]) {
      test(`${key} resolves for ${name}, and not after it is erased`, async () => {
        const dir = configDir({ auths: { [key]: { auth: 'dTpw' } } });
        const kc = await load(dir);
        assert.deepEqual(await kc.resolve(name), { serverAddress: name, username: 'u', password: 'p' });
        assert.deepEqual((await kc.erase(key)).removed, [key]);
        assert.equal(await kc.resolve(name), undefined);
        assert.equal(await (await load(dir)).resolve(name), undefined);
      });
    }
  }

  test('logout removes the given, host, http:// and https:// forms', async () => {
    const auths = { 'r.example:5000': { auth: 'dTpw' }, 'http://r.example:5000': { auth: 'dTpw' }, 'https://r.example:5000': { auth: 'dTpw' }, 'https://r.example:5000/v2/': { auth: 'dTpw' }, 'keep.example': { auth: 'dTpw' } };
    const dir = configDir({ auths });
    const { removed } = await (await load(dir)).erase('https://r.example:5000/v2/');
    assert.deepEqual(removed, ['https://r.example:5000/v2/', 'r.example:5000', 'http://r.example:5000', 'https://r.example:5000']);
    assert.deepEqual(Object.keys((JSON.parse(file(dir)) as { auths: object }).auths), ['keep.example']);
  });

  test('DOCKER_AUTH_CONFIG is read first and merged with the file', async () => {
    const dir = configDir({ auths: { 'file.example': { auth: 'dTpw' }, 'env.example.test': { auth: 'dTpw' } } });
    const env = { DOCKER_AUTH_CONFIG: '{"auths":{"env.example.test":{"auth":"ZW52X3VzZXI6ZW52X3Bhc3M="}}}' };
    const kc = await load(dir, env);
    assert.equal(kc.envWarning, undefined);
    assert.deepEqual(await kc.resolve('env.example.test'), { serverAddress: 'env.example.test', username: 'env_user', password: 'env_pass' });
    assert.equal((await kc.resolve('file.example'))?.username, 'u');
  });

  test('an invalid DOCKER_AUTH_CONFIG is reported and ignored', async () => {
    const dir = configDir({ auths: { 'env.example.test': { auth: 'dTpw' } } });
    const cases: [string, string][] = [
      ['{"auths":{"env.example.test":{"username":"u","password":"p"}}}', 'json: unknown field "username"'],
      ['{"auths":{"env.example.test":{"auth":"ZW52X3VzZXI6ZW52X3Bhc3M="}}}{}', 'DOCKER_AUTH_CONFIG does not support more than one JSON object'],
      ['{"auths":{"env.example.test":{}}}', 'DOCKER_AUTH_CONFIG environment variable is missing key `auth` for env.example.test'],
      ['{"auths":{},"credsStore":"x"}', 'json: unknown field "credsStore"'],
    ];
    for (const [value, error] of cases) {
      assert.deepEqual(parseEnvAuthConfig(value), { error }, value);
      const kc = await load(dir, { DOCKER_AUTH_CONFIG: value });
      assert.equal(kc.envWarning, `Failed to create credential store from DOCKER_AUTH_CONFIG: ${error}`);
      assert.equal((await kc.resolve('env.example.test'))?.username, 'u', 'falls back to the file');
    }
    assert.ok('auths' in parseEnvAuthConfig('{"auths":{}}  \n'), 'trailing whitespace is fine');
  });

  test('a static keychain for --creds user:pass', async () => {
    assert.deepEqual(await StaticKeychain.parse('me:pa:ss').resolve('docker.io'), { username: 'me', password: 'pa:ss', serverAddress: DOCKER_HUB_AUTH_KEY });
    assert.deepEqual(await StaticKeychain.parse('me').resolve('r.example'), { username: 'me', serverAddress: 'r.example' });
    assert.throws(() => StaticKeychain.parse(':pw'), (err: Error) => !err.message.includes('pw'));
  });
});

test('no error message carries a password or token', async () => {
  const secrets = ['hunter2-pw', 'idtok-777', 'regtok-888'];
  const messages: string[] = [];
  const collect = async (p: Promise<unknown>): Promise<void> => {
    try {
      await p;
    } catch (err) {
      messages.push((err as Error).message, String((err as Error).stack));
    }
  };
  // A config whose auth entry holds a secret but is invalid elsewhere.
  const bad = configDir(`{"auths":{"a.example":{"auth":"${Buffer.from('u:hunter2-pw').toString('base64')}","identitytoken":"idtok-777"}}, "x": `);
  await collect(load(bad));
  await collect(load(configDir('hunter2-pw is my password')));
  messages.push((await load(configDir(), { DOCKER_AUTH_CONFIG: 'idtok-777' })).envWarning ?? '');
  const invalidAuth = configDir({ auths: { 'b.example': { auth: Buffer.from(':hunter2-pw').toString('base64'), registrytoken: 'regtok-888' } } });
  await collect(load(invalidAuth));
  const env = { DOCKER_AUTH_CONFIG: `{"auths":{"e.example":{"auth":"${Buffer.from(':hunter2-pw').toString('base64')}"}}}` };
  messages.push((await load(configDir(), env)).envWarning ?? '');
  const noHelper = configDir({ credsStore: 'does-not-exist-gantry' });
  await collect((await load(noHelper, { PATH: '/nonexistent' })).store('r.example', { username: 'u', password: 'hunter2-pw', identityToken: 'idtok-777' }));
  await collect((await load(noHelper, { PATH: '/nonexistent' })).resolve('r.example'));
  assert.ok(messages.filter((m) => m !== '').length >= 8, `collected ${messages.length} messages`);
  for (const m of messages) for (const s of secrets) assert.ok(!m.includes(s), `${s} in: ${m}`);
});

/**
 * containers-auth.json per-repository keys: the lookup order (containers/image
 * `authKeyLookupOrder` and `findCredentialsInFile` in `pkg/docker/config/config.go`,
 * https://github.com/containers/image/blob/main/docs/containers-auth.json.5.md), the key
 * podman's login writes (containers/common `pkg/auth/auth.go`, `parseCredentialsKey`), and the
 * Keychain asked with a repository: auth.json by its most specific key, Docker's config.json
 * by host only. The rules are in docs/docker-rules.md#containers-tools-credentials-and-certsd.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authFileLoginKey, authFileLookupKeys, ContainersAuthFile } from '../../src/auth/auth-file.js';
import { Keychain } from '../../src/auth/keychain.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-auth-file-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const auth = (user: string): string => Buffer.from(`${user}:${user}-pw`).toString('base64');
/** A fresh auth.json whose `auths` maps each key to the user named (password `<user>-pw`). */
function authFile(keys: Record<string, string>): string {
  const dir = join(root, `a${++n}`);
  mkdirSync(dir);
  const file = join(dir, 'auth.json');
  writeFileSync(file, JSON.stringify({ auths: Object.fromEntries(Object.entries(keys).map(([k, user]) => [k, { auth: auth(user) }])) }), { mode: 0o600 });
  return file;
}
/** Who `lookup(host, repository)` answers with, or undefined. */
async function who(keys: Record<string, string>, host: string, repository?: string): Promise<string | undefined> {
  return (await ContainersAuthFile.load(authFile(keys))).lookup(host, repository)?.username;
}
const NO_ENV = { HOME: root } as NodeJS.ProcessEnv;

describe('authFileLookupKeys', () => {
  test('most specific first, whole path components, the host last', () => {
    assert.deepEqual(authFileLookupKeys('r.example:5000', 'ns/sub/repo'), ['r.example:5000/ns/sub/repo', 'r.example:5000/ns/sub', 'r.example:5000/ns', 'r.example:5000']);
    assert.deepEqual(authFileLookupKeys('r.example', 'app'), ['r.example/app', 'r.example']);
    assert.deepEqual(authFileLookupKeys('r.example'), ['r.example']);
    assert.deepEqual(authFileLookupKeys('r.example', ''), ['r.example'], 'an empty repository is none');
  });

  test('Docker Hub keys are docker.io/…, whichever name the registry is asked by', () => {
    assert.deepEqual(authFileLookupKeys('docker.io', 'library/alpine'), ['docker.io/library/alpine', 'docker.io/library', 'docker.io']);
    assert.deepEqual(authFileLookupKeys('index.docker.io', 'library/alpine'), ['docker.io/library/alpine', 'docker.io/library', 'docker.io']);
  });
});

describe('ContainersAuthFile.lookup with a repository', () => {
  const host = '127.0.0.1:5000';
  const keys = { [`${host}/ns/sub/repo`]: 'exact', [`${host}/ns/sub`]: 'sub', [`${host}/ns`]: 'ns', [host]: 'host' };

  test('the exact repository key wins, then the namespaces, then the host', async () => {
    assert.equal(await who(keys, host, 'ns/sub/repo'), 'exact');
    assert.equal(await who(keys, host, 'ns/sub/other'), 'sub');
    assert.equal(await who(keys, host, 'ns/sub'), 'sub');
    assert.equal(await who(keys, host, 'ns/x'), 'ns');
    assert.equal(await who(keys, host, 'elsewhere/app'), 'host');
    assert.equal(await who(keys, host), 'host', 'no repository (ping, catalog): the host key only');
  });

  test('host/ns does not match host/nsx/repo, nor a repository named ns-longer', async () => {
    const file = { [`${host}/ns`]: 'ns', [host]: 'host' };
    assert.equal(await who(file, host, 'nsx/repo'), 'host');
    assert.equal(await who(file, host, 'ns-longer'), 'host');
    assert.equal(await who({ [`${host}/ns`]: 'ns' }, host, 'nsx/repo'), undefined);
  });

  test('a repository key is never a host key; the same path on another host does not match', async () => {
    assert.equal(await who({ [`${host}/ns`]: 'ns' }, host), undefined);
    assert.equal(await who({ [`${host}/ns`]: 'ns' }, '127.0.0.1:5001', 'ns/app'), undefined);
  });

  test('legacy http(s):// keys match by host only, after the exact and repository keys', async () => {
    assert.equal(await who({ [`https://${host}/ns`]: 'legacy' }, host, 'other/app'), 'legacy', 'the path of a legacy key is ignored');
    assert.equal(await who({ [`http://${host}`]: 'legacy' }, host, 'ns/app'), 'legacy');
    assert.equal(await who({ [`https://${host}/v1/`]: 'legacy', [`${host}/ns`]: 'ns' }, host, 'ns/app'), 'ns');
    assert.equal(await who({ [`https://${host}/v1/`]: 'legacy', [host]: 'host' }, host, 'ns/app'), 'host');
  });

  test('Docker Hub: docker.io/library/alpine, docker.io/library, then docker.io and its legacy keys', async () => {
    const hub = { 'docker.io/library/alpine': 'alpine', 'docker.io/library': 'library', 'https://index.docker.io/v1/': 'hub' };
    assert.equal(await who(hub, 'docker.io', 'library/alpine'), 'alpine');
    assert.equal(await who(hub, 'docker.io', 'library/busybox'), 'library');
    assert.equal(await who(hub, 'docker.io', 'someone/app'), 'hub');
    assert.equal(await who({ 'docker.io/alpine': 'short' }, 'docker.io', 'library/alpine'), undefined, 'keys are not normalised: docker.io/alpine is not library/alpine');
  });
});

describe('authFileLoginKey (podman login --authfile F registry/namespace)', () => {
  test('a host alone, or a URL, is the host key', () => {
    assert.equal(authFileLoginKey('r.example:5000'), 'r.example:5000');
    assert.equal(authFileLoginKey('https://r.example:5000/v2/ns'), 'r.example:5000', 'http(s):// is the legacy form: host only');
    assert.equal(authFileLoginKey('docker.io'), 'docker.io');
    assert.equal(authFileLoginKey('https://index.docker.io/v1/'), 'docker.io');
  });

  test('host/namespace[/repo] is kept; Docker Hub hosts become docker.io', () => {
    assert.equal(authFileLoginKey('r.example:5000/team'), 'r.example:5000/team');
    assert.equal(authFileLoginKey('localhost/team/sub/app'), 'localhost/team/sub/app');
    assert.equal(authFileLoginKey('index.docker.io/myorg'), 'docker.io/myorg');
    assert.equal(authFileLoginKey('registry-1.docker.io/myorg/app'), 'docker.io/myorg/app');
  });

  test('a tag, a digest or a malformed path is INVALID_CONFIG', () => {
    for (const bad of ['r.example/team/app:1.0', `r.example/team@sha256:${'a'.repeat(64)}`, 'r.example/Team', 'r.example/team//app', 'r.example/', 'bad host/team', `r.example/${'a'.repeat(260)}`]) {
      assert.throws(() => authFileLoginKey(bad), { code: 'INVALID_CONFIG' }, bad);
    }
  });
});

describe('Keychain.resolve(host, repository)', () => {
  const host = '127.0.0.1:5000';

  test('a named auth file: repository keys first, the host key for other repositories and for no repository', async () => {
    const kc = await Keychain.load({ authFile: authFile({ [`${host}/team-a`]: 'a', [host]: 'b' }), env: NO_ENV });
    assert.deepEqual(await kc.resolve(host, 'team-a/x'), { serverAddress: `${host}/team-a`, username: 'a', password: 'a-pw' });
    assert.equal((await kc.resolve(host, 'team-b/y'))?.username, 'b');
    assert.equal((await kc.resolve(host, 'team-ab/y'))?.username, 'b');
    assert.equal((await kc.resolve(host))?.username, 'b');
  });

  test('$XDG_RUNTIME_DIR/containers/auth.json: its repository key beats config.json; config.json is asked by host', async () => {
    const run = join(root, `run${++n}`);
    mkdirSync(join(run, 'containers'), { recursive: true });
    writeFileSync(join(run, 'containers', 'auth.json'), JSON.stringify({ auths: { [`${host}/team-a`]: { auth: auth('a') } } }));
    const configDir = join(root, `docker${++n}`);
    mkdirSync(configDir);
    // Docker has no repository keys: config.json is asked by host, and its exact host entry answers.
    writeFileSync(join(configDir, 'config.json'), JSON.stringify({ auths: { [host]: { auth: auth('docker') }, [`${host}/team-b`]: { auth: auth('never') } } }));
    const kc = await Keychain.load({ configDir, env: { ...NO_ENV, XDG_RUNTIME_DIR: run } });
    assert.equal((await kc.resolve(host, 'team-a/x'))?.username, 'a');
    assert.equal((await kc.resolve(host, 'team-b/y'))?.username, 'docker');
    assert.equal((await kc.resolve(host))?.username, 'docker');
  });

  test('a one-parameter call is the host lookup it always was', async () => {
    const kc = await Keychain.load({ authFile: authFile({ [`${host}/team-a`]: 'a' }), env: NO_ENV });
    assert.equal(await kc.resolve(host), undefined);
  });
});

describe('login and logout keys in a named auth file', () => {
  const host = '127.0.0.1:5000';

  test('store(host/ns) writes that key beside the host key; erase(host/ns) removes it alone', async () => {
    const file = authFile({ [host]: 'b' });
    const kc = await Keychain.load({ authFile: file, env: NO_ENV });
    assert.deepEqual(await kc.store(`${host}/team-a`, { username: 'a', password: 'a-pw' }), { key: `${host}/team-a`, storedIn: 'file' });
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')).auths), [host, `${host}/team-a`]);
    assert.equal((await kc.resolve(host, 'team-a/x'))?.username, 'a');
    assert.equal((await kc.storedFor(`${host}/team-a`))?.username, 'a');
    assert.equal((await kc.storedFor(`${host}/team-b`))?.username, 'b', 'falls back as a lookup does');
    await kc.store('registry-1.docker.io/myorg', { username: 'hub', password: 'hub-pw' });
    assert.equal((await kc.storedFor('index.docker.io/myorg'))?.username, 'hub', "any of Docker Hub's names finds docker.io/myorg");
    assert.equal((await kc.resolve('docker.io', 'myorg/app'))?.username, 'hub');
    assert.deepEqual(await kc.erase(`${host}/team-a`), { removed: [`${host}/team-a`], failures: [] });
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(file, 'utf8')).auths), [host, 'docker.io/myorg'], "the host's entry stays");
    assert.deepEqual(await kc.erase(`${host}/team-a`), { removed: [], failures: [] });
  });

  test("Docker's config.json: the path is dropped, as Docker does", async () => {
    const configDir = join(root, `docker${++n}`);
    const kc = await Keychain.load({ configDir, env: NO_ENV });
    assert.equal((await kc.store(`${host}/team-a`, { username: 'a', password: 'a-pw' })).key, host);
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')).auths), [host]);
  });
});

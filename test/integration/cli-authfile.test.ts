/**
 * containers-auth.json through the built CLI (`node bin/gantry.js`) against the in-process
 * registry with htpasswd: `--authfile` on tags/inspect/copy (`--src-authfile`,
 * `--dest-authfile`), the precedence `--authfile` > `REGISTRY_AUTH_FILE` >
 * `$XDG_RUNTIME_DIR/containers/auth.json` > Docker's config.json (each asserted by which
 * credentials reach the server: only one file holds the right password), podman's file format
 * from `login --authfile`, `logout --authfile`, and bad files named in the error. Per-repository
 * keys (`host/team-a` beside `host`, containers-auth.json(5)) on a registry with two users: a
 * pull of team-a/x goes as the `host/team-a` user, of team-b/y as the `host` user (each proved
 * by giving the other key a wrong password); `login`/`logout --authfile host/team-a` write and
 * remove that key alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/registry.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { requirePeer, runPeer } from '../helpers/peers.js';
import { copyImage, makeIndex, MemorySource } from '../helpers/image-fixture.js';

const USER = 'alice';
const PASSWORD = 'right-password';

let registry: TestRegistry;
let reg: string;
let dir: string;
let layout: string;
let n = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-authfile-'));
  layout = join(dir, 'layout');
  writeFileSync(join(dir, 'daemon.json'), '{}');
  registry = await startTestRegistry({ users: { [USER]: PASSWORD } });
  reg = registry.host;
  const fixture = await makeIndex();
  await copyImage(new MemorySource(fixture.index, fixture.blobs), new OciLayoutDestination(layout, { tag: 'v1' }));
});
after(async () => {
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = (password: string): string => Buffer.from(`${USER}:${password}`).toString('base64');

/** A fresh file holding `{"auths":{<host>:{"auth":…}}}` with `password` (right or wrong). */
function authJson(password: string, host = reg, name = 'auth.json'): string {
  const folder = join(dir, `f${++n}`);
  mkdirSync(folder, { recursive: true });
  const file = join(folder, name);
  writeFileSync(file, JSON.stringify({ auths: { [host]: { auth: auth(password) } } }), { mode: 0o600 });
  return file;
}

/** An `$XDG_RUNTIME_DIR` whose containers/auth.json holds `password`, or none. */
function runtimeDir(password?: string): string {
  const folder = join(dir, `run${++n}`);
  mkdirSync(join(folder, 'containers'), { recursive: true });
  if (password !== undefined) writeFileSync(join(folder, 'containers', 'auth.json'), JSON.stringify({ auths: { [reg]: { auth: auth(password) } } }), { mode: 0o600 });
  return folder;
}

/** A Docker config dir whose config.json holds `password`. */
function dockerConfig(password: string): string {
  return join(authJson(password, reg, 'config.json'), '..');
}

/** The user's own files never leak in: every location is set explicitly (or removed). */
function gantry(args: string[], env: NodeJS.ProcessEnv = {}, stdin?: string): Promise<CliRun> {
  const base: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(dir, 'no-docker-config') };
  for (const k of ['DOCKER_AUTH_CONFIG', 'REGISTRY_AUTH_FILE', 'XDG_RUNTIME_DIR']) delete base[k];
  return runGantry(args, { env: { ...base, ...env }, ...(stdin !== undefined ? { stdin } : {}) });
}

const hermetic = (): string[] => ['--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json')];
const ok = (r: CliRun): void => assert.equal(r.code, 0, `exit code; stderr: ${r.stderr}`);
const unauthorized = (r: CliRun): void => {
  assert.equal(r.code, 1, `expected a refusal; stdout: ${r.stdout}`);
  assert.match(r.stderr, /unauthorized|UNAUTHORIZED|401/i);
};

describe('--authfile (containers-auth.json)', () => {
  before(async () => {
    ok(await gantry(['copy', '--quiet', `oci:${layout}:v1`, `${reg}/team/app:v1`, '--dest-authfile', authJson(PASSWORD), ...hermetic()]));
  });

  test('tags, inspect and copy read the file; without credentials the registry refuses', async () => {
    const file = authJson(PASSWORD);
    const tags = await gantry(['tags', `${reg}/team/app`, '--authfile', file, ...hermetic()]);
    ok(tags);
    assert.equal(tags.stdout, 'v1\n');
    const inspect = await gantry(['inspect', `${reg}/team/app:v1`, '--authfile', file, '--json', ...hermetic()]);
    ok(inspect);
    assert.match(JSON.parse(inspect.stdout).digest, /^sha256:/);
    ok(await gantry(['copy', '--quiet', `${reg}/team/app:v1`, `${reg}/team/copy:v1`, '--src-authfile', file, '--dest-authfile', file, ...hermetic()]));
    unauthorized(await gantry(['tags', `${reg}/team/app`, ...hermetic()]));
  });

  test('--src-authfile and --dest-authfile are per side; --authfile is the default for both', async () => {
    const right = authJson(PASSWORD);
    const wrong = authJson('wrong');
    unauthorized(await gantry(['copy', '--quiet', `${reg}/team/app:v1`, `${reg}/team/side:v1`, '--src-authfile', right, '--dest-authfile', wrong, ...hermetic()]));
    ok(await gantry(['copy', '--quiet', `${reg}/team/app:v1`, `${reg}/team/side:v1`, '--authfile', wrong, '--src-authfile', right, '--dest-authfile', right, ...hermetic()]));
    ok(await gantry(['copy', '--quiet', `${reg}/team/app:v1`, `${reg}/team/side:v2`, '--authfile', right, ...hermetic()]));
  });

  test('precedence: --authfile > REGISTRY_AUTH_FILE > $XDG_RUNTIME_DIR/containers/auth.json > config.json', async () => {
    const tags = (args: string[], env: NodeJS.ProcessEnv) => gantry(['tags', `${reg}/team/app`, ...args, ...hermetic()], env);
    // Each row: only the location that should win holds the right password.
    ok(await tags(['--authfile', authJson(PASSWORD)], { REGISTRY_AUTH_FILE: authJson('wrong'), XDG_RUNTIME_DIR: runtimeDir('wrong'), DOCKER_CONFIG: dockerConfig('wrong') }));
    unauthorized(await tags(['--authfile', authJson('wrong')], { REGISTRY_AUTH_FILE: authJson(PASSWORD), XDG_RUNTIME_DIR: runtimeDir(PASSWORD), DOCKER_CONFIG: dockerConfig(PASSWORD) }));
    ok(await tags([], { REGISTRY_AUTH_FILE: authJson(PASSWORD), XDG_RUNTIME_DIR: runtimeDir('wrong'), DOCKER_CONFIG: dockerConfig('wrong') }));
    unauthorized(await tags([], { REGISTRY_AUTH_FILE: authJson('wrong'), XDG_RUNTIME_DIR: runtimeDir(PASSWORD), DOCKER_CONFIG: dockerConfig(PASSWORD) }));
    ok(await tags([], { XDG_RUNTIME_DIR: runtimeDir(PASSWORD), DOCKER_CONFIG: dockerConfig('wrong') }));
    unauthorized(await tags([], { XDG_RUNTIME_DIR: runtimeDir('wrong'), DOCKER_CONFIG: dockerConfig(PASSWORD) }));
    // No auth.json in $XDG_RUNTIME_DIR, or none for this registry: Docker's config.json answers.
    ok(await tags([], { XDG_RUNTIME_DIR: runtimeDir(), DOCKER_CONFIG: dockerConfig(PASSWORD) }));
    const elsewhere = runtimeDir();
    writeFileSync(join(elsewhere, 'containers', 'auth.json'), JSON.stringify({ auths: { 'other.example': { auth: auth('x') } } }));
    ok(await tags([], { XDG_RUNTIME_DIR: elsewhere, DOCKER_CONFIG: dockerConfig(PASSWORD) }));
    // A named file is the only one: config.json is not asked for a registry it lacks.
    unauthorized(await tags(['--authfile', authJson(PASSWORD, 'other.example')], { DOCKER_CONFIG: dockerConfig(PASSWORD) }));
  });

  test('legacy and Docker-style keys match by host; a repository key matches its own repositories only', async () => {
    const folder = join(dir, `k${++n}`);
    mkdirSync(folder);
    const legacy = join(folder, 'legacy.json');
    writeFileSync(legacy, JSON.stringify({ auths: { [`https://${reg}/v1/`]: { auth: auth(PASSWORD) } } }));
    ok(await gantry(['tags', `${reg}/team/app`, '--authfile', legacy, ...hermetic()]));
    const repoKey = join(folder, 'repo.json');
    writeFileSync(repoKey, JSON.stringify({ auths: { [`${reg}/team/app`]: { auth: auth(PASSWORD) } } }));
    ok(await gantry(['tags', `${reg}/team/app`, '--authfile', repoKey, ...hermetic()]));
    const namespaceKey = join(folder, 'namespace.json');
    writeFileSync(namespaceKey, JSON.stringify({ auths: { [`${reg}/team`]: { auth: auth(PASSWORD) } } }));
    ok(await gantry(['tags', `${reg}/team/app`, '--authfile', namespaceKey, ...hermetic()]));
    // `host/tea` is no key for `host/team/app`, and a repository key is no host key (the catalog).
    const partial = join(folder, 'partial.json');
    writeFileSync(partial, JSON.stringify({ auths: { [`${reg}/tea`]: { auth: auth(PASSWORD) } } }));
    unauthorized(await gantry(['tags', `${reg}/team/app`, '--authfile', partial, ...hermetic()]));
    unauthorized(await gantry(['catalog', reg, '--authfile', repoKey, ...hermetic()]));
  });

  test('a missing or malformed auth file is an error naming the file', async () => {
    const missing = join(dir, 'no-such', 'auth.json');
    const r = await gantry(['tags', `${reg}/team/app`, '--authfile', missing, ...hermetic()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^gantry: auth file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist\n$`));
    // search too (it loads its own keychain): refused before any request, 127.0.0.1:9 is never asked.
    const search = await gantry(['search', '127.0.0.1:9/app', '--authfile', missing, ...hermetic()]);
    assert.equal(search.code, 1, search.stderr);
    assert.match(search.stderr, /^gantry: auth file .*no-such\/auth\.json does not exist\n$/);
    const viaEnv = await gantry(['tags', `${reg}/team/app`, ...hermetic()], { REGISTRY_AUTH_FILE: missing });
    assert.match(viaEnv.stderr, /auth file .*no-such\/auth\.json \(named by REGISTRY_AUTH_FILE\) does not exist/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"auths": {"x": {"auth": "c2VjcmV0"}}');
    const malformed = await gantry(['tags', `${reg}/team/app`, '--authfile', bad, ...hermetic()]);
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /parsing auth file \(.*bad\.json\)/);
    assert.doesNotMatch(malformed.stderr, /c2VjcmV0/, 'the file content is not quoted');
    const badEntry = join(dir, 'bad-entry.json');
    writeFileSync(badEntry, JSON.stringify({ auths: { [reg]: { auth: 'bm8tY29sb24=' } } }));
    assert.match((await gantry(['tags', `${reg}/team/app`, '--authfile', badEntry, ...hermetic()])).stderr, /parsing auth file \(.*bad-entry\.json\): entry ".*": invalid auth configuration file/);
  });
});

describe('login --authfile / logout --authfile', () => {
  test("login writes podman's format (tab-indented, mode 0600); logout removes the entry", async () => {
    const file = join(dir, `login${++n}`, 'auth.json');
    const login = await gantry(['login', reg, '-u', USER, '--password-stdin', '--authfile', file, ...hermetic()], {}, `${PASSWORD}\n`);
    ok(login);
    assert.equal(login.stdout, 'Login Succeeded\n');
    assert.doesNotMatch(login.stderr, /unencrypted/);
    assert.equal(readFileSync(file, 'utf8'), `{\n\t"auths": {\n\t\t"${reg}": {\n\t\t\t"auth": "${auth(PASSWORD)}"\n\t\t}\n\t}\n}`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    ok(await gantry(['tags', `${reg}/team/app`, '--authfile', file, ...hermetic()]));
    // Docker's config.json was not touched.
    assert.throws(() => statSync(join(dir, 'no-docker-config', 'config.json')), /ENOENT/);

    const logout = await gantry(['logout', reg, '--authfile', file]);
    ok(logout);
    assert.equal(logout.stdout, `Removing login credentials for ${reg}\n`);
    assert.equal(readFileSync(file, 'utf8'), '{\n\t"auths": {}\n}');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal((await gantry(['logout', reg, '--authfile', file])).stdout, `Not logged in to ${reg}\n`);
  });

  test('login keeps the other entries and fields of the file', async () => {
    const file = authJson('x', 'other.example');
    writeFileSync(file, JSON.stringify({ auths: { 'other.example': { auth: auth('x') } }, credHelpers: { 'gcr.io': 'gcloud' } }));
    ok(await gantry(['login', reg, '-u', USER, '--password-stdin', '--authfile', file, ...hermetic()], {}, PASSWORD));
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(Object.keys(doc.auths), [reg, 'other.example'].sort());
    assert.deepEqual(doc.credHelpers, { 'gcr.io': 'gcloud' });
  });

  test('REGISTRY_AUTH_FILE is where login stores without --authfile (as podman)', async () => {
    const file = join(dir, `env-login${++n}`, 'auth.json');
    ok(await gantry(['login', reg, '-u', USER, '--password-stdin', ...hermetic()], { REGISTRY_AUTH_FILE: file }, PASSWORD));
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).auths[reg].auth, auth(PASSWORD));
    ok(await gantry(['tags', `${reg}/team/app`, ...hermetic()], { REGISTRY_AUTH_FILE: file }));
  });

  test('podman login --authfile F, then gantry reads F', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    const file = join(dir, `podman${++n}`, 'auth.json');
    mkdirSync(join(file, '..'));
    // runPeer is asynchronous: the registry podman talks to lives in this process.
    const out = await runPeer('podman', ['login', '--tls-verify=false', '--authfile', file, '-u', USER, '-p', PASSWORD, reg], { timeoutMs: 60_000 });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).auths[reg].auth, auth(PASSWORD));
    ok(await gantry(['tags', `${reg}/team/app`, '--authfile', file, ...hermetic()]));
    // gantry's login writes the same bytes podman does.
    const ours = join(dir, `ours${++n}`, 'auth.json');
    ok(await gantry(['login', reg, '-u', USER, '--password-stdin', '--authfile', ours, ...hermetic()], {}, PASSWORD));
    assert.equal(readFileSync(ours, 'utf8'), readFileSync(file, 'utf8'));
  });
});

describe('per-repository keys: two users, one registry', () => {
  const A = ['user-a', 'password-a'] as const;
  const B = ['user-b', 'password-b'] as const;
  let two: TestRegistry;
  let host: string;
  /** A fresh auth.json with the given entries (`key` → [user, password]). */
  const file = (entries: Record<string, readonly [string, string]>): string => {
    const folder = join(dir, `two${++n}`);
    mkdirSync(folder, { recursive: true });
    const path = join(folder, 'auth.json');
    writeFileSync(path, JSON.stringify({ auths: Object.fromEntries(Object.entries(entries).map(([k, [u, p]]) => [k, { auth: Buffer.from(`${u}:${p}`).toString('base64') }])) }), { mode: 0o600 });
    return path;
  };
  const pull = (ref: string, authFile: string): Promise<CliRun> => gantry(['pull', '--quiet', ref, join(dir, `pulled${++n}`), '--authfile', authFile, ...hermetic()]);

  before(async () => {
    two = await startTestRegistry({ users: { [A[0]]: A[1], [B[0]]: B[1] } });
    host = two.host;
    const push = file({ [host]: A });
    ok(await gantry(['copy', '--quiet', `oci:${layout}:v1`, `${host}/team-a/x:v1`, '--dest-authfile', push, ...hermetic()]));
    ok(await gantry(['copy', '--quiet', `oci:${layout}:v1`, `${host}/team-b/y:v1`, '--dest-authfile', push, ...hermetic()]));
  });
  after(() => two.close());

  test('pull team-a/x goes as the host/team-a user, team-b/y as the host user', async () => {
    const both = file({ [`${host}/team-a`]: A, [host]: B });
    ok(await pull(`${host}/team-a/x:v1`, both));
    ok(await pull(`${host}/team-b/y:v1`, both));
    // The host key's password is wrong: team-a still pulls (its own key), team-b cannot.
    const hostWrong = file({ [`${host}/team-a`]: A, [host]: [B[0], 'wrong'] });
    ok(await pull(`${host}/team-a/x:v1`, hostWrong));
    unauthorized(await pull(`${host}/team-b/y:v1`, hostWrong));
    // The team-a key's password is wrong: team-a is refused although the host key is right.
    const repoWrong = file({ [`${host}/team-a`]: [A[0], 'wrong'], [host]: B });
    unauthorized(await pull(`${host}/team-a/x:v1`, repoWrong));
    ok(await pull(`${host}/team-b/y:v1`, repoWrong));
  });

  test('the most specific key wins: host/team-a/x over host/team-a', async () => {
    const f = file({ [`${host}/team-a/x`]: B, [`${host}/team-a`]: [A[0], 'wrong'] });
    ok(await pull(`${host}/team-a/x:v1`, f));
  });

  test('login --authfile F host/team-a writes that key beside the host key; logout host/team-a removes it alone', async () => {
    const f = file({ [host]: B });
    const login = await gantry(['login', `${host}/team-a`, '-u', A[0], '--password-stdin', '--authfile', f, ...hermetic()], {}, A[1]);
    ok(login);
    const auths = (): Record<string, { auth: string }> => JSON.parse(readFileSync(f, 'utf8')).auths;
    assert.deepEqual(Object.keys(auths()), [host, `${host}/team-a`]);
    assert.equal(auths()[`${host}/team-a`]?.auth, Buffer.from(`${A[0]}:${A[1]}`).toString('base64'));
    ok(await pull(`${host}/team-a/x:v1`, f));
    const logout = await gantry(['logout', `${host}/team-a`, '--authfile', f]);
    ok(logout);
    assert.equal(logout.stdout, `Removing login credentials for ${host}/team-a\n`);
    assert.deepEqual(Object.keys(auths()), [host]);
    assert.equal((await gantry(['logout', `${host}/team-a`, '--authfile', f])).stdout, `Not logged in to ${host}/team-a\n`);
    // A tag is no key: refused before any request, the file untouched.
    const bad = await gantry(['login', `${host}/team-a:v1`, '-u', A[0], '--password-stdin', '--authfile', f, ...hermetic()], {}, A[1]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /invalid credentials key .*must not have a tag or digest/);
    assert.deepEqual(Object.keys(auths()), [host]);
  });

  test('podman login --authfile F host/team-a writes the key and bytes gantry writes', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    const theirs = join(dir, `podman-two${++n}`, 'auth.json');
    mkdirSync(join(theirs, '..'));
    const out = await runPeer('podman', ['login', '--tls-verify=false', '--authfile', theirs, '-u', A[0], '-p', A[1], `${host}/team-a`], { timeoutMs: 60_000 });
    assert.equal(out.code, 0, out.stderr);
    ok(await pull(`${host}/team-a/x:v1`, theirs));
    const ours = join(dir, `ours-two${++n}`, 'auth.json');
    ok(await gantry(['login', `${host}/team-a`, '-u', A[0], '--password-stdin', '--authfile', ours, ...hermetic()], {}, A[1]));
    assert.equal(readFileSync(ours, 'utf8'), readFileSync(theirs, 'utf8'));
  });

  test("with Docker's config.json a path in the server is dropped, as Docker does", async () => {
    const configDir = join(dir, `docker-two${++n}`);
    ok(await gantry(['login', `${host}/team-a`, '-u', A[0], '--password-stdin', ...hermetic()], { DOCKER_CONFIG: configDir }, A[1]));
    assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')).auths), [host]);
  });
});

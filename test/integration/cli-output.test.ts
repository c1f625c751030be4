/**
 * What every command prints, for scripts: `--json` is exactly one JSON document on stdout
 * (values checked against what the registry itself reports, no secret in it), `--quiet` keeps
 * only the data asked for, `--json` wins over `--quiet`, an unknown flag is a usage error
 * naming the command's help, and a failure a flag fixes names that flag. The built CLI
 * (`node bin/gantry.js`, after `npm run build`) as a separate process, against the embedded
 * registry on 127.0.0.1 (`gantry/testing`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestRegistry, type TestRegistry } from '../../src/testing/index.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { MediaType } from '../../src/oci/media-types.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { startHttpServer, type TestServer } from '../helpers/servers.js';
import { copyImage, makeIndex, MemorySource } from '../helpers/image-fixture.js';

const USER = 'carol';
const PASSWORD = 'pa55-W0rd-out';

let dir: string;
let layout: string;
let indexDigest: string;
let armDigest: string;
let registry: TestRegistry;
let locked: TestRegistry;
let tls: TestRegistry;
let index: TestServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-cli-output-'));
  layout = join(dir, 'layout');
  writeFileSync(join(dir, 'daemon.json'), '{}');
  const fixture = await makeIndex();
  indexDigest = fixture.index.digest.toString();
  armDigest = fixture.children[1]!.manifest.digest.toString();
  await copyImage(new MemorySource(fixture.index, fixture.blobs), new OciLayoutDestination(layout, { tag: 'v1' }));
  registry = await startTestRegistry();
  locked = await startTestRegistry({ users: { [USER]: PASSWORD } });
  tls = await startTestRegistry({ tls: true });
  // A v1 search index (for search) that is not a registry (/v2/ answers 404, for ping).
  index = await startHttpServer((req, res) => {
    if (req.url === '/v1/_ping') return res.writeHead(200).end('true');
    if (req.url?.startsWith('/v1/search')) {
      const results = [
        { name: 'team/app', description: 'the app', star_count: 7, is_official: false },
        { name: 'team/tool', description: 'a tool', star_count: 0, is_official: false },
      ];
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ query: 'app', num_results: 2, results }));
    }
    res.writeHead(404).end();
  });
});
after(async () => {
  await Promise.all([registry?.close(), locked?.close(), tls?.close(), index?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A hermetic run: Docker's config in a temp dir, no /etc/docker files. */
function gantry(args: readonly string[], stdin?: string): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config') };
  delete env.DOCKER_AUTH_CONFIG;
  delete env.REGISTRY_AUTH_FILE;
  return runGantry(args, { env, ...(stdin !== undefined ? { stdin } : {}) });
}
const hermetic = (): string[] => ['--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json')];

/** Exit 0, nothing on stderr, and stdout exactly one JSON document ending in one newline. */
function json<T = Record<string, unknown>>(r: CliRun, what: string): T {
  assert.equal(r.code, 0, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '', `${what}: nothing on stderr`);
  assert.match(r.stdout, /^[{[][^]*[}\]]\n$/, `${what}: one JSON document and a newline`);
  return JSON.parse(r.stdout) as T;
}

/** Exit 0 and exactly `stdout`, nothing on stderr. */
function quiet(r: CliRun, stdout: string, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stdout, stdout, what);
  assert.equal(r.stderr, '', `${what}: nothing on stderr`);
}

/** Exit 1 and one `gantry:` line on stderr that matches every pattern. */
function failure(r: CliRun, patterns: readonly RegExp[], what: string): void {
  assert.equal(r.code, 1, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^gantry: [^\n]+\n$/, `${what}: one gantry: line`);
  for (const p of patterns) assert.match(r.stderr, p, what);
}

const ACCEPT = [MediaType.OCI_INDEX, MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST_LIST, MediaType.DOCKER_MANIFEST].join(', ');

/** What the registry itself says a tag's manifest digest is (`Docker-Content-Digest`), or its status. */
async function registryDigest(r: TestRegistry, repo: string, tag: string): Promise<string | number> {
  const res = await fetch(`${r.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: ACCEPT } });
  return res.ok ? (res.headers.get('docker-content-digest') ?? 'none') : res.status;
}

async function registryJson<T>(r: TestRegistry, path: string): Promise<T> {
  const res = await fetch(`${r.url}/v2/${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

describe('gantry --json and --quiet (built CLI, embedded registry)', () => {
  test('push, pull and copy: --json is the result, --quiet the digest alone, --json wins over --quiet', async () => {
    const pushed = json(await gantry(['push', `${layout}:v1`, `${registry.host}/out/app:v1`, '--json', ...hermetic()]), 'push --json');
    assert.equal(pushed.digest, indexDigest);
    assert.equal(pushed.digest, await registryDigest(registry, 'out/app', 'v1'), 'the digest the registry serves');
    assert.equal(pushed.mediaType, MediaType.OCI_INDEX);
    assert.equal(pushed.manifests, 3);
    assert.equal(pushed.upToDate, false);
    assert.equal(pushed.source, `oci:${layout}:v1`);
    assert.equal(pushed.destination, `docker://${registry.host}/out/app:v1`);

    quiet(await gantry(['push', `${layout}:v1`, `${registry.host}/out/app:v2`, '--quiet', ...hermetic()]), `${indexDigest}\n`, 'push --quiet');
    assert.equal(await registryDigest(registry, 'out/app', 'v2'), indexDigest);
    const both = json(await gantry(['push', `${layout}:v1`, `${registry.host}/out/app:v2`, '--quiet', '--json', ...hermetic()]), 'push --quiet --json');
    assert.equal(both.digest, indexDigest);
    assert.equal(both.upToDate, true);

    const pulledDir = join(dir, 'pulled');
    const pulled = json(await gantry(['pull', `${registry.host}/out/app:v1`, pulledDir, '--json', ...hermetic()]), 'pull --json');
    const layoutIndex = JSON.parse(readFileSync(join(pulledDir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    assert.equal(pulled.digest, layoutIndex.manifests[0]?.digest, 'the digest the layout records');
    assert.equal(layoutIndex.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'], 'v1');
    quiet(await gantry(['pull', `${registry.host}/out/app:v1`, join(dir, 'pulled-quiet'), '--quiet', ...hermetic()]), `${indexDigest}\n`, 'pull --quiet');

    const copied = json(await gantry(['copy', `${registry.host}/out/app:v1`, `${registry.host}/out/arm:v1`, '--platform', 'linux/arm64', '--json', ...hermetic()]), 'copy --json');
    assert.equal(copied.digest, armDigest);
    assert.equal(copied.digest, await registryDigest(registry, 'out/arm', 'v1'));
    assert.deepEqual(copied.blobs, { total: 3, copied: 0, existed: 0, mounted: 3 });
    quiet(await gantry(['copy', `${registry.host}/out/app:v1`, `${registry.host}/out/copy:v1`, '--quiet', ...hermetic()]), `${indexDigest}\n`, 'copy --quiet');

    const plain = await gantry(['copy', `${registry.host}/out/app:v1`, `${registry.host}/out/copy:v1`, ...hermetic()]);
    assert.equal(plain.stdout, `${indexDigest} (already up to date)\n`, 'without --quiet: the summary');
    assert.notEqual(plain.stderr, '', 'without --quiet: progress on stderr');
  });

  test('inspect, digest, tags, catalog: --json matches the registry; --quiet changes nothing', async () => {
    await gantry(['push', `${layout}:v1`, `${registry.host}/list/app:v1`, '--quiet', ...hermetic()]);
    await gantry(['push', `${layout}:v1`, `${registry.host}/list/app:v2`, '--quiet', ...hermetic()]);
    const ref = `${registry.host}/list/app:v1`;
    const served = await registryDigest(registry, 'list/app', 'v1');

    const inspected = json<{ digest: string; mediaType: string; platforms: { platform: string; digest: string }[] }>(await gantry(['inspect', ref, '--json', ...hermetic()]), 'inspect --json');
    assert.equal(inspected.digest, served);
    assert.equal(inspected.mediaType, MediaType.OCI_INDEX);
    assert.deepEqual(inspected.platforms.map((p) => p.platform), ['linux/amd64', 'linux/arm64/v8']);
    const one = json<{ image: { digest: string; architecture: string } }>(await gantry(['inspect', ref, '--platform', 'linux/arm64', '--quiet', '--json', ...hermetic()]), 'inspect --quiet --json');
    assert.equal(one.image.digest, armDigest);
    assert.equal(one.image.architecture, 'arm64');
    const text = await gantry(['inspect', ref, ...hermetic()]);
    quiet(await gantry(['inspect', ref, '--quiet', ...hermetic()]), text.stdout, 'inspect --quiet');

    assert.deepEqual(json(await gantry(['digest', ref, '--json', ...hermetic()]), 'digest --json'), { reference: ref, digest: served });
    quiet(await gantry(['digest', ref, '--quiet', ...hermetic()]), `${served}\n`, 'digest --quiet');
    assert.deepEqual(json(await gantry(['digest', ref, '--quiet', '--json', ...hermetic()]), 'digest --quiet --json'), { reference: ref, digest: served });

    const listed = await registryJson<{ tags: string[] }>(registry, 'list/app/tags/list');
    assert.deepEqual(json(await gantry(['tags', `${registry.host}/list/app`, '--json', ...hermetic()]), 'tags --json'), { repository: `${registry.host}/list/app`, tags: listed.tags });
    assert.deepEqual(listed.tags, ['v1', 'v2']);
    quiet(await gantry(['tags', `${registry.host}/list/app`, '--quiet', ...hermetic()]), 'v1\nv2\n', 'tags --quiet');
    assert.equal(json<{ tags: string[] }>(await gantry(['tags', `${registry.host}/list/app`, '--quiet', '--json', ...hermetic()]), 'tags --quiet --json').tags.length, 2);

    const catalog = await registryJson<{ repositories: string[] }>(registry, '_catalog');
    const printed = json<{ registry: string; repositories: string[] }>(await gantry(['catalog', registry.host, '--json', ...hermetic()]), 'catalog --json');
    assert.deepEqual(printed, { registry: registry.host, repositories: catalog.repositories });
    assert.ok(printed.repositories.includes('list/app'));
    quiet(await gantry(['catalog', registry.host, '--quiet', ...hermetic()]), catalog.repositories.map((r) => `${r}\n`).join(''), 'catalog --quiet');
  });

  test('delete: --json names the digest removed; --quiet prints only the digest', async () => {
    await gantry(['push', `${layout}:v1`, `${registry.host}/gone/app:v1`, '--quiet', ...hermetic()]);
    await gantry(['push', `${layout}:v1`, `${registry.host}/gone/other:v1`, '--quiet', ...hermetic()]);
    const served = await registryDigest(registry, 'gone/app', 'v1');
    assert.deepEqual(json(await gantry(['delete', `${registry.host}/gone/app:v1`, '--json', ...hermetic()]), 'delete --json'), { reference: `${registry.host}/gone/app:v1`, deleted: served });
    assert.equal(await registryDigest(registry, 'gone/app', 'v1'), 404, 'gone from the registry');
    quiet(await gantry(['delete', `${registry.host}/gone/other:v1`, '--quiet', ...hermetic()]), `${indexDigest}\n`, 'delete --quiet');
    assert.equal(await registryDigest(registry, 'gone/other', 'v1'), 404);
  });

  test('login and logout: --json without a secret, --quiet prints nothing (the unencrypted-store warning stays on stderr)', async () => {
    const configDir = join(dir, 'login-config');
    const login = (extra: string[], stdin?: string) => gantry(['login', locked.host, '--config', configDir, ...extra, ...hermetic()], stdin);

    const r = await login(['-u', USER, '--password-stdin', '--json'], `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^WARNING! Your credentials are stored unencrypted in '.*config\.json'\.\n$/);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(result, {
      status: 'Login Succeeded',
      registry: locked.host,
      url: `${locked.url}/v2/`,
      username: USER,
      existingCredentials: false,
      identityToken: false,
      key: locked.host,
      storedIn: 'file',
    });
    const stored = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(stored.auths[locked.host]?.auth, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    for (const secret of [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'no secret printed');

    // Docker first tries the stored credentials: its "Authenticating…" line is chatter too.
    const again = json(await login(['--json']), 'login --json with stored credentials');
    assert.equal(again.existingCredentials, true);
    assert.equal(again.username, USER);
    assert.equal(again.storedIn, null);
    assert.ok(!JSON.stringify(again).includes(PASSWORD));
    quiet(await login(['--quiet']), '', 'login --quiet with stored credentials');
    const plain = await login([]);
    assert.equal(plain.stdout, `Authenticating with existing credentials... [Username: ${USER}]\nLogin Succeeded\n`);
    const fresh = await login(['-u', USER, '--password-stdin', '--quiet'], `${PASSWORD}\n`);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.stdout, '');
    assert.match(fresh.stderr, /^WARNING! Your credentials are stored unencrypted/, 'a warning is not chatter');

    const out = json<{ registry: string; removed: string[]; failures: unknown[] }>(await gantry(['logout', locked.host, '--config', configDir, '--json']), 'logout --json');
    assert.deepEqual(out, { registry: locked.host, removed: [locked.host], failures: [] });
    await login(['-u', USER, '--password-stdin', '--quiet'], `${PASSWORD}\n`);
    quiet(await gantry(['logout', locked.host, '--config', configDir, '--quiet']), '', 'logout --quiet');
    quiet(await gantry(['logout', locked.host, '--config', configDir, '--quiet']), '', 'logout --quiet when not logged in');
    assert.equal((await gantry(['logout', locked.host, '--config', configDir])).stdout, `Not logged in to ${locked.host}\n`);
  });

  test('ping: --json is the diagnosis, --quiet leaves only the exit status', async () => {
    const p = json(await gantry(['ping', registry.host, '--json', ...hermetic()]), 'ping --json');
    assert.equal(p.registry, registry.host);
    assert.equal(p.url, `${registry.url}/v2/`);
    assert.equal(p.ok, true);
    assert.equal(p.status, 200);
    assert.equal(p.scheme, 'http');
    const auth = json<{ status: number; challenges: { scheme: string }[] }>(await gantry(['ping', locked.host, '--json', '--quiet', ...hermetic()]), 'ping --json --quiet');
    assert.equal(auth.status, 401);
    assert.deepEqual(auth.challenges.map((c) => c.scheme), ['basic']);
    quiet(await gantry(['ping', registry.host, '--quiet', ...hermetic()]), '', 'ping --quiet');

    const notRegistry = await gantry(['ping', index.host, '--quiet', ...hermetic()]);
    failure(notRegistry, [/answered 404 Not Found, not a registry API/], 'ping --quiet of a server that is not a registry');
    assert.equal(notRegistry.stdout, '');
  });

  test('search: --json the results, --quiet the names; --creds is sent', async () => {
    const results = json<{ query: string; results: { name: string; starCount: number }[] }>(await gantry(['search', `${index.host}/app`, '--json', '--creds', `${USER}:${PASSWORD}`, ...hermetic()]), 'search --json');
    assert.equal(results.query, 'app');
    assert.deepEqual(results.results.map((r) => [r.name, r.starCount]), [['team/app', 7], ['team/tool', 0]]);
    assert.equal(index.seen.at(-1)?.headers.authorization, `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`, '--creds reaches the index');
    quiet(await gantry(['search', `${index.host}/app`, '--quiet', ...hermetic()]), 'team/app\nteam/tool\n', 'search --quiet');
    assert.equal(json<{ results: unknown[] }>(await gantry(['search', `${index.host}/app`, '--quiet', '--json', ...hermetic()]), 'search --quiet --json').results.length, 2);
  });

  test('an unknown flag: exit 2, a gantry: line, the usage and the command\'s help', async () => {
    for (const command of ['copy', 'pull', 'push', 'inspect', 'digest', 'tags', 'catalog', 'delete', 'search', 'login', 'logout', 'ping', 'serve', 'version']) {
      const r = await gantry([command, '--no-such-flag']);
      assert.equal(r.code, 2, `${command}: exit ${r.code}; stderr: ${r.stderr}`);
      assert.equal(r.stdout, '', command);
      assert.match(r.stderr, new RegExp(`^gantry: unknown option '--no-such-flag'\\nusage: gantry ${command} \\[options\\][^\\n]*\\nsee 'gantry ${command} --help'\\n$`), command);
    }
  });

  test('--quiet and --json are in the help of every command that takes them', async () => {
    for (const command of ['copy', 'pull', 'push', 'inspect', 'digest', 'tags', 'catalog', 'delete', 'search', 'login', 'logout', 'ping']) {
      const help = (await gantry([command, '--help'])).stdout;
      assert.match(help, /--quiet/, command);
      assert.match(help, /--json/, command);
      assert.match(help, /--json wins over --quiet/, command);
    }
    const serve = (await gantry(['serve', '--help'])).stdout;
    assert.match(serve, /--quiet/);
    assert.doesNotMatch(serve, /--json/, 'serve runs until stopped: no result document');
  });
});

describe('failures name the flag that fixes them', () => {
  test('credentials refused: --creds / --authfile / gantry login; per side on copy', async () => {
    await gantry(['push', `${layout}:v1`, `${locked.host}/team/app:v1`, '--quiet', '--creds', `${USER}:${PASSWORD}`, ...hermetic()]);
    const anonymous = [/401|unauthorized/i, /--creds USER:PASS/, /--authfile FILE/, new RegExp(`'gantry login ${locked.host}'`)];
    for (const args of [['digest', `${locked.host}/team/app:v1`], ['inspect', `${locked.host}/team/app:v1`], ['tags', `${locked.host}/team/app`], ['catalog', locked.host], ['delete', `${locked.host}/team/app:v1`], ['pull', `${locked.host}/team/app:v1`, join(dir, 'refused')]]) {
      failure(await gantry([...args, ...hermetic()]), anonymous, `${args[0]} without credentials`);
    }
    const wrong = await gantry(['digest', `${locked.host}/team/app:v1`, '--creds', `${USER}:not-it`, ...hermetic()]);
    failure(wrong, [/check the user and password given with --creds$/m], 'digest with wrong --creds');
    assert.ok(!wrong.stderr.includes('not-it'), 'the password is not printed');

    const toLocked = await gantry(['copy', `${registry.host}/out/app:v1`, `${locked.host}/team/copy:v1`, '--quiet', ...hermetic()]);
    failure(toLocked, [/--dest-creds USER:PASS/, /--dest-authfile FILE/], 'copy to a registry that wants credentials');
    assert.doesNotMatch(toLocked.stderr, /--src-creds/, 'the source needs none');
    const fromLocked = await gantry(['copy', `${locked.host}/team/app:v1`, `${registry.host}/out/from-locked:v1`, '--quiet', '--src-creds', `${USER}:bad`, ...hermetic()]);
    failure(fromLocked, [/check the user and password given with --src-creds/], 'copy with a wrong --src-creds');
    const ok = await gantry(['copy', `${locked.host}/team/app:v1`, `${registry.host}/out/from-locked:v1`, '--quiet', '--src-creds', `${USER}:${PASSWORD}`, ...hermetic()]);
    quiet(ok, `${indexDigest}\n`, 'copy with the flag the hint named');
  });

  test('TLS: an unknown CA or plain http with --tls-verify names --tls-verify=false (and --certs-dir)', async () => {
    const unknownCa = await gantry(['digest', `${tls.host}/team/app:v1`, '--tls-verify', ...hermetic()]);
    failure(unknownCa, [/certificate signed by unknown authority/, /ca\.crt/, /--tls-verify asks for verified https, so --insecure-registry does not apply/, /skip verification with --tls-verify=false$/m], 'unknown CA');
    const fixed = await gantry(['ping', tls.host, '--tls-verify', '--quiet', '--certs-dir', tls.certsDir!, '--daemon-config', join(dir, 'daemon.json')]);
    quiet(fixed, '', 'the CA in --certs-dir');

    const plainHttp = await gantry(['tags', `${registry.host}/out/app`, '--tls-verify', ...hermetic()]);
    failure(plainHttp, [/does not speak TLS/, new RegExp(`if ${registry.host} serves plain http, pass --tls-verify=false instead of --tls-verify$`, 'm')], 'plain http with --tls-verify');
    const copyHttp = await gantry(['copy', `${registry.host}/out/app:v1`, `${tls.host}/team/app:v1`, '--dest-tls-verify', '--quiet', ...hermetic()]);
    failure(copyHttp, [/skip verification with --dest-tls-verify=false$/m], 'copy: the destination side\'s flag');
    assert.doesNotMatch(copyHttp.stderr, /--src-tls-verify/);
  });

  test('login from a pipe without a password names --username and --password-stdin; inspect --config of an index names --platform', async () => {
    const r = await gantry(['login', registry.host, '--config', join(dir, 'pipe-config'), ...hermetic()]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^gantry: .*non-TTY device; give --username with --password-stdin\n$/);
    failure(await gantry(['inspect', '--config', `${registry.host}/out/app:v1`, ...hermetic()]), [/choose one with --platform/], 'inspect --config of an index');
  });
});

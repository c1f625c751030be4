/**
 * containers-registries.conf honoured by gantry as podman honours it (issue 14), with the real
 * podman and the CNCF registry as the mirror. One file, read by both through
 * `CONTAINERS_REGISTRIES_CONF` (gantry also through `--registries-conf`):
 * - a pull of `primary.invalid/team/app:1` is served by the table's mirror (podman and gantry
 *   end with the mirror's digest; the primary has no such tag);
 * - a tag the mirror lacks falls through to the primary location (the embedded registry on
 *   127.0.0.2);
 * - `location` rewriting without mirrors;
 * - a blocked registry is refused by both, and gantry opens no connection to it, for copy,
 *   push, tags, inspect, digest and login;
 * - a mirror receives none of the credentials given for the image (`--src-creds`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copy } from '../../src/image/transports.js';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/index.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { copyImage, makeImage, MemorySource } from '../helpers/image-fixture.js';
import { containersStorage, requirePeer, runPeer } from '../helpers/peers.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-registries-conf-'));
const storage = containersStorage(join(root, 'storage'));
const confFile = join(root, 'registries.conf');
let mirror: RunningRegistry | undefined;
let primary: TestRegistry;
let guarded: TestRegistry;
let blocked: Server;
let blockedPort: number;
let blockedConnections = 0;
const digests: Record<string, string> = {};

async function seed(name: string, seedText: string, to: string, access = {}): Promise<string> {
  const image = await makeImage({ seed: seedText });
  const layout = join(root, `layout-${name}`);
  await copyImage(new MemorySource(image.manifest, image.blobs), new OciLayoutDestination(layout, { tag: 'x' }));
  const result = await copy(`oci:${layout}:x`, `docker://${to}`, { destination: access });
  return result.digest;
}

before(async () => {
  mirror = await startDockerRegistry();
  primary = await startTestRegistry({ address: '127.0.0.2' });
  guarded = await startTestRegistry({ address: '127.0.0.2', users: { alice: 'mirror-password' } });
  blocked = createServer((socket) => {
    blockedConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => blocked.listen(0, '127.0.0.3', resolve));
  blockedPort = (blocked.address() as { port: number }).port;

  digests.mirror1 = await seed('m1', 'from the mirror', `${mirror.host}/hub-mirror/team/app:1`);
  digests.primary2 = await seed('p2', 'from the primary', `${primary.host}/team/app:2`);
  digests.primary3 = await seed('p3', 'primary, mirror needs a password', `${primary.host}/team/app:3`);
  digests.guarded3 = await seed('g3', 'guarded mirror', `${guarded.host}/team/app:3`, { credentials: { username: 'alice', password: 'mirror-password' } });
  writeFileSync(
    confFile,
    `# as podman reads it
[[registry]]
prefix = "primary.invalid/team"
location = "${primary.host}/team"
insecure = true
[[registry.mirror]]
location = "${mirror.host}/hub-mirror/team"
insecure = true

[[registry]]
prefix = "rewrite.invalid"
location = "${mirror.host}/hub-mirror"
insecure = true

[[registry]]
prefix = "guarded.invalid/team"
location = "${primary.host}/team"
insecure = true
[[registry.mirror]]
location = "${guarded.host}/team"
insecure = true

[[registry]]
location = "127.0.0.3:${blockedPort}"
blocked = true
`,
  );
});

after(async () => {
  await mirror?.stop();
  await primary?.close();
  await guarded?.close();
  await new Promise<void>((resolve) => (blocked ? blocked.close(() => resolve()) : resolve()));
  rmSync(root, { recursive: true, force: true });
});

function gantry(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runGantry(args, { env: { ...process.env, ...env }, timeoutMs: 120_000 });
}

async function podman(...args: string[]) {
  return runPeer('podman', [...storage, ...args], { timeoutMs: 120_000, env: { CONTAINERS_REGISTRIES_CONF: confFile } });
}

/** The manifest digest podman recorded for a pulled name. */
async function podmanDigest(name: string): Promise<string> {
  const r = await podman('image', 'inspect', '--format', '{{.Digest}}', name);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

async function gantryDigestOfCopy(source: string, args: string[] = [], env: Record<string, string> = {}): Promise<string> {
  const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
  const r = await gantry(['copy', '--json', ...args, source, `oci:${out}:x`], env);
  assert.equal(r.code, 0, `gantry copy ${source}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { digest: string }).digest;
}

describe('registries.conf: mirrors and location, podman and gantry on the same file', () => {
  test('a pull is served by the mirror (the primary has no such tag)', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    const r = await podman('pull', 'primary.invalid/team/app:1');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await podmanDigest('primary.invalid/team/app:1'), digests.mirror1);
    assert.equal(await gantryDigestOfCopy('docker://primary.invalid/team/app:1', ['--registries-conf', confFile]), digests.mirror1);
    assert.equal(await gantryDigestOfCopy('docker://primary.invalid/team/app:1', [], { CONTAINERS_REGISTRIES_CONF: confFile }), digests.mirror1);
  });

  test('a tag the mirror lacks comes from the primary location', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    const r = await podman('pull', 'primary.invalid/team/app:2');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await podmanDigest('primary.invalid/team/app:2'), digests.primary2);
    assert.equal(await gantryDigestOfCopy('docker://primary.invalid/team/app:2', ['--registries-conf', confFile]), digests.primary2);
  });

  test('a tag nobody has fails naming the primary and what the mirror said', async () => {
    const r = await gantry(['copy', '--registries-conf', confFile, 'docker://primary.invalid/team/app:404', `oci:${join(root, 'none')}:x`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${primary.host.replace(/\./g, '\\.')}/team/app:404`));
    assert.match(r.stderr, /mirrors also failed: .*hub-mirror\/team\/app:404: not found/);
  });

  test('location rewriting without mirrors', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    const r = await podman('pull', 'rewrite.invalid/team/app:1');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await podmanDigest('rewrite.invalid/team/app:1'), digests.mirror1);
    assert.equal(await gantryDigestOfCopy('docker://rewrite.invalid/team/app:1', ['--registries-conf', confFile]), digests.mirror1);
    const inspected = await gantry(['inspect', '--json', '--registries-conf', confFile, 'rewrite.invalid/team/app:1']);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal((JSON.parse(inspected.stdout) as { digest: string }).digest, digests.mirror1);
  });

  test('a mirror gets none of the credentials given for the image: --src-creds reach the primary only', async () => {
    // The guarded mirror would serve its own image with alice's password; without it, it answers 401,
    // is passed over, and the primary serves tag 3.
    const got = await gantryDigestOfCopy('docker://guarded.invalid/team/app:3', ['--registries-conf', confFile, '--src-creds', 'alice:mirror-password']);
    assert.equal(got, digests.primary3);
    assert.notEqual(got, digests.guarded3);
  });
});

describe('registries.conf: blocked', () => {
  test('podman and gantry refuse a blocked registry; gantry before any connection, for every command', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    const name = `127.0.0.3:${blockedPort}/team/app:1`;
    const p = await podman('pull', name);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /blocked/);
    const before = blockedConnections;
    const layout = join(root, 'layout-m1');
    const runs: [string, string[]][] = [
      ['copy from', ['copy', `docker://${name}`, `oci:${join(root, 'blocked-out')}:x`]],
      ['push to', ['copy', `oci:${layout}:x`, `docker://${name}`]],
      ['tags', ['tags', `127.0.0.3:${blockedPort}/team/app`]],
      ['inspect', ['inspect', name]],
      ['digest', ['digest', name]],
      ['login', ['login', '-u', 'someone', '--password', 'not-sent', `127.0.0.3:${blockedPort}`]],
    ];
    for (const [what, args] of runs) {
      const r = await gantry([...args.slice(0, 1), '--registries-conf', confFile, ...args.slice(1)]);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`registry 127\\.0\\.0\\.3:${blockedPort} is blocked in ${confFile.replace(/[.]/g, '\\.')}`), what);
    }
    assert.equal(blockedConnections, before, 'gantry connected to a blocked registry');
  });

  test('a malformed registries.conf fails every registry command, naming the file and line', async () => {
    const bad = join(root, 'bad.conf');
    writeFileSync(bad, '[[registry]\nlocation = "x"\n');
    const r = await gantry(['tags', '--registries-conf', bad, `${primary.host}/team/app`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`registries\\.conf ${bad.replace(/[.]/g, '\\.')}: line 1`));
  });
});

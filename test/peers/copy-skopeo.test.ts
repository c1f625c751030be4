/**
 * Copy interoperability with the real peers (issue "gantry's main job"): the built `gantry`
 * and skopeo 1.9 against docker-registry 2.8, one plain-HTTP instance and one TLS instance
 * with a generated CA (gantry reaches it through `--certs-dir DIR/<host:port>/ca.crt` with
 * verification on, skopeo through `--dest-cert-dir`/`--cert-dir`). Digests are compared as
 * skopeo reports them: the sha256 of `skopeo inspect --raw`, and `{{.Digest}}`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OciLayoutDestination } from '../../src/image/oci-layout.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { copyImage, makeImage, makeIndex, MemorySource, type FixtureImage } from '../helpers/image-fixture.js';
import { peerPath, requirePeer, runSkopeo } from '../helpers/peers.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'gantry.js');
const CLI_TIMEOUT_MS = 60_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const peersPresent = peerPath('docker-registry') !== undefined && peerPath('skopeo') !== undefined;

let dir: string;
let pki: TestPki;
let plain: RunningRegistry;
let secure: RunningRegistry;
/** certs.d for gantry: `<host:port>/ca.crt` for the TLS registry. */
let certsDir: string;
/** skopeo's cert dir for the TLS registry: `ca.crt`. */
let skopeoCerts: string;
let single: FixtureImage;
let multi: Awaited<ReturnType<typeof makeIndex>>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-copy-skopeo-'));
  writeFileSync(join(dir, 'daemon.json'), '{}');
  single = await makeImage({ seed: 'interop' });
  multi = await makeIndex();
  await copyImage(new MemorySource(single.manifest, single.blobs), new OciLayoutDestination(join(dir, 'single'), { tag: 'v1' }));
  await copyImage(new MemorySource(multi.index, multi.blobs), new OciLayoutDestination(join(dir, 'multi'), { tag: 'v1' }));
  if (!peersPresent) return; // each test then skips, or fails under CI, through requirePeer
  pki = createTestPki();
  const server = pki.server();
  [plain, secure] = await Promise.all([startDockerRegistry(), startDockerRegistry({ tls: { certFile: server.certFile, keyFile: server.keyFile } })]);
  certsDir = join(dir, 'certs.d');
  mkdirSync(join(certsDir, secure.host), { recursive: true });
  copyFileSync(pki.ca.certFile, join(certsDir, secure.host, 'ca.crt'));
  skopeoCerts = join(dir, 'skopeo-certs');
  mkdirSync(skopeoCerts);
  copyFileSync(pki.ca.certFile, join(skopeoCerts, 'ca.crt'));
});
after(async () => {
  await Promise.all([plain?.stop(), secure?.stop()]);
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** The built CLI, asynchronously; Docker config and certs.d are the test's own. */
function gantry(...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(dir, 'docker-config') };
  delete env.DOCKER_AUTH_CONFIG;
  const hermetic = ['--certs-dir', certsDir, '--daemon-config', join(dir, 'daemon.json')];
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args, ...hermetic], { env, timeout: CLI_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

async function gantryOk(...args: string[]): Promise<string> {
  const r = await gantry(...args);
  assert.equal(r.code, 0, `gantry ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function skopeo(...args: string[]): Promise<string> {
  const r = await runSkopeo(['--insecure-policy', ...args], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `skopeo ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** skopeo's access flags for a `docker://` image on one of the two registries. */
function access(reg: RunningRegistry, side: 'src' | 'dest' | ''): string[] {
  const prefix = side ? `--${side}-` : '--';
  return reg === secure ? [`${prefix}cert-dir`, skopeoCerts] : [`${prefix}tls-verify=false`];
}

/** The manifest digest as skopeo sees it: sha256 of the raw bytes, cross-checked with `{{.Digest}}` for images. */
async function skopeoDigest(reg: RunningRegistry, repoTag: string): Promise<string> {
  const raw = await skopeo('inspect', '--raw', ...access(reg, ''), `docker://${reg.host}/${repoTag}`);
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

function requirePeers(t: { skip(message?: string): void }): boolean {
  return requirePeer(t, 'docker-registry') && requirePeer(t, 'skopeo');
}

describe('copy interoperability with skopeo and docker-registry', () => {
  test('gantry pushes an OCI layout; skopeo reads the same manifest digest', async (t) => {
    if (!requirePeers(t)) return;
    await gantryOk('push', `${join(dir, 'single')}:v1`, `${plain.host}/gantry/single:v1`, '--quiet');
    assert.equal(await skopeoDigest(plain, 'gantry/single:v1'), single.manifest.digest.toString());
    const formatted = await skopeo('inspect', '--format', '{{.Digest}}', ...access(plain, ''), `docker://${plain.host}/gantry/single:v1`);
    assert.equal(formatted.trim(), single.manifest.digest.toString());
  });

  test('skopeo pushes; gantry copies it to the TLS registry through --certs-dir with the same digest', async (t) => {
    if (!requirePeers(t)) return;
    await skopeo('copy', ...access(plain, 'dest'), `oci:${join(dir, 'single')}:v1`, `docker://${plain.host}/skopeo/single:v1`);
    const pushed = await skopeoDigest(plain, 'skopeo/single:v1');
    assert.equal(pushed, single.manifest.digest.toString(), 'skopeo keeps the layout digest');

    const out = JSON.parse(await gantryOk('copy', `docker://${plain.host}/skopeo/single:v1`, `docker://${secure.host}/gantry/single:v1`, '--dest-tls-verify', '--json'));
    assert.equal(out.digest, pushed);
    assert.equal(await skopeoDigest(secure, 'gantry/single:v1'), pushed);

    // the CA in --certs-dir is what makes the TLS registry trusted: without it, verification fails
    const r = await new Promise<Run>((resolve) => {
      execFile(process.execPath, [BIN, 'digest', `${secure.host}/gantry/single:v1`, '--tls-verify', '--certs-dir', join(dir, 'empty-certs.d'), '--daemon-config', join(dir, 'daemon.json')], { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^gantry: .*certificate/);

    // skopeo pushes into the TLS registry with --dest-cert-dir; gantry reads it there
    await skopeo('copy', ...access(secure, 'dest'), `oci:${join(dir, 'single')}:v1`, `docker://${secure.host}/skopeo/tls:v1`);
    assert.equal((await gantryOk('digest', `${secure.host}/skopeo/tls:v1`, '--tls-verify')).trim(), pushed);
  });

  test('OCI layouts: skopeo reads the one gantry writes, gantry reads skopeo\'s', async (t) => {
    if (!requirePeers(t)) return;
    await gantryOk('push', `${join(dir, 'single')}:v1`, `${plain.host}/layouts/app:v1`, '--quiet');
    const ours = join(dir, 'gantry-layout');
    await gantryOk('pull', `${plain.host}/layouts/app:v1`, ours, '--quiet');
    const inspected = JSON.parse(await skopeo('inspect', `oci:${ours}:v1`)) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, single.manifest.digest.toString());
    assert.deepEqual(inspected.Layers, single.layers.map((l) => l.digest.toString()));
    await skopeo('copy', `oci:${ours}:v1`, ...access(plain, 'dest'), `docker://${plain.host}/layouts/from-gantry-layout:v1`);
    assert.equal(await skopeoDigest(plain, 'layouts/from-gantry-layout:v1'), single.manifest.digest.toString());

    const theirs = join(dir, 'skopeo-layout');
    await skopeo('copy', ...access(plain, 'src'), `docker://${plain.host}/layouts/app:v1`, `oci:${theirs}:t`);
    const out = JSON.parse(await gantryOk('push', `${theirs}:t`, `${plain.host}/layouts/from-skopeo-layout:v1`, '--json'));
    assert.equal(out.digest, single.manifest.digest.toString());
    assert.equal(await skopeoDigest(plain, 'layouts/from-skopeo-layout:v1'), single.manifest.digest.toString());
  });

  test('docker archives: skopeo reads the one gantry writes, gantry reads skopeo\'s', async (t) => {
    if (!requirePeers(t)) return;
    const configDigest = JSON.parse(single.manifest.bytes.toString('utf8')).config.digest as string;
    await gantryOk('push', `${join(dir, 'single')}:v1`, `${plain.host}/archives/app:v1`, '--quiet');
    const ours = join(dir, 'gantry.tar');
    await gantryOk('copy', `${plain.host}/archives/app:v1`, `docker-archive:${ours}:example.com/archives/app:v1`, '--quiet');
    // A docker archive keeps the config but stores layers uncompressed: the config digest is the identity.
    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${ours}`)) as { Layers: string[]; Labels: Record<string, string> };
    assert.deepEqual(inspected.Labels, { seed: 'interop' });
    await skopeo('copy', `docker-archive:${ours}:example.com/archives/app:v1`, ...access(plain, 'dest'), `docker://${plain.host}/archives/from-gantry-archive:v1`);
    const theirManifest = JSON.parse(await skopeo('inspect', '--raw', ...access(plain, ''), `docker://${plain.host}/archives/from-gantry-archive:v1`));
    assert.equal(theirManifest.config.digest, configDigest);
    assert.equal(theirManifest.layers.length, single.layers.length);

    const theirs = join(dir, 'skopeo.tar');
    await skopeo('copy', ...access(plain, 'src'), `docker://${plain.host}/archives/app:v1`, `docker-archive:${theirs}:example.com/archives/app:v2`);
    const out = JSON.parse(await gantryOk('copy', `docker-archive:${theirs}`, `${plain.host}/archives/from-skopeo-archive:v1`, '--json'));
    assert.equal(out.blobs.total, single.layers.length + 1);
    const inspectedByGantry = JSON.parse(await gantryOk('inspect', `${plain.host}/archives/from-skopeo-archive:v1`, '--json'));
    assert.equal(inspectedByGantry.image.configDigest, configDigest);
    assert.equal(inspectedByGantry.digest, out.digest);
    assert.equal(await skopeoDigest(plain, 'archives/from-skopeo-archive:v1'), out.digest);
  });

  test('a multi-platform index: copied whole with its digest, and one platform alone', async (t) => {
    if (!requirePeers(t)) return;
    const indexDigest = multi.index.digest.toString();
    const arm = multi.children[1] as FixtureImage;
    await gantryOk('push', `${join(dir, 'multi')}:v1`, `${plain.host}/multi/app:v1`, '--quiet');
    assert.equal(await skopeoDigest(plain, 'multi/app:v1'), indexDigest);

    const whole = JSON.parse(await gantryOk('copy', `${plain.host}/multi/app:v1`, `${secure.host}/multi/app:v1`, '--dest-tls-verify', '--json'));
    assert.equal(whole.digest, indexDigest);
    assert.equal(whole.manifests, 3);
    assert.equal(await skopeoDigest(secure, 'multi/app:v1'), indexDigest);
    for (const child of multi.children) {
      assert.equal(await skopeoDigest(secure, `multi/app@${child.manifest.digest.toString()}`), child.manifest.digest.toString());
    }

    const one = JSON.parse(await gantryOk('copy', `${plain.host}/multi/app:v1`, `${secure.host}/multi/arm:v1`, '--dest-tls-verify', '--platform', 'linux/arm64', '--json'));
    assert.equal(one.digest, arm.manifest.digest.toString());
    assert.equal(await skopeoDigest(secure, 'multi/arm:v1'), arm.manifest.digest.toString());
    const armInspect = JSON.parse(await skopeo('inspect', ...access(secure, ''), `docker://${secure.host}/multi/arm:v1`)) as { Architecture: string; Digest: string };
    assert.equal(armInspect.Architecture, 'arm64');
    assert.equal(armInspect.Digest, arm.manifest.digest.toString());

    // skopeo --all from the registry gantry filled: the same index again
    const theirs = join(dir, 'multi-skopeo');
    await skopeo('copy', '--all', ...access(secure, 'src'), `docker://${secure.host}/multi/app:v1`, `oci:${theirs}:v1`);
    const back = JSON.parse(await gantryOk('push', `${theirs}:v1`, `${plain.host}/multi/back:v1`, '--json'));
    assert.equal(back.digest, indexDigest);
  });
});

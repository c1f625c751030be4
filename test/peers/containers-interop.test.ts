/**
 * gantry among the containers tools (issue 14), with the real buildah, podman and umoci
 * (vfs storage; nothing is run, images are only built from scratch, pushed, pulled, loaded
 * and saved). Every check compares digests or file contents:
 * - buildah builds a two-platform image from scratch and pushes it to `gantry serve` (http,
 *   and TLS verified with the CA gantry/testing wrote);
 *   gantry inspects and copies it whole and with --platform; podman pulls it back;
 * - `podman load` reads gantry's docker-archive, and gantry reads `podman save` in both formats;
 * - umoci unpacks gantry's OCI layout (the file inside checked), and gantry reads a layout
 *   umoci wrote.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestRegistry, type TestRegistry } from '../../src/testing/index.js';
import { runGantry } from '../helpers/cli.js';
import { containersStorage, requirePeer, runPeer, type Peer } from '../helpers/peers.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-containers-'));
const storage = containersStorage(join(root, 'storage'));
let registry: TestRegistry;

before(async () => {
  registry = await startTestRegistry();
});
after(async () => {
  await registry.close();
  rmSync(root, { recursive: true, force: true });
});

async function peer(tool: Peer, ...args: string[]): Promise<string> {
  const r = await runPeer(tool, tool === 'umoci' ? args : [...storage, ...args], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `${tool} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

async function gantry(...args: string[]): Promise<string> {
  const r = await runGantry(args, { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `gantry ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** The parts of `gantry inspect --json` the checks read. */
interface Inspected {
  digest: string;
  mediaType: string;
  platforms?: { platform: string; digest: string }[];
  image?: { configDigest: string; architecture: string | null; labels?: Record<string, string> };
}

async function inspectJson(location: string): Promise<Inspected> {
  return JSON.parse(await gantry('inspect', '--json', location)) as Inspected;
}

/** Builds a one-file image for `arch` from scratch with buildah; returns its local name. */
async function buildFromScratch(arch: string, content: string): Promise<string> {
  const name = `localhost/gantry-interop:${arch}`;
  const file = join(root, `hello-${arch}.txt`);
  writeFileSync(file, content);
  const container = await peer('buildah', 'from', '--arch', arch, '--os', 'linux', 'scratch');
  await peer('buildah', 'copy', container, file, '/hello.txt');
  await peer('buildah', 'config', '--arch', arch, '--os', 'linux', '--label', `built-for=${arch}`, container);
  await peer('buildah', 'commit', '--format', 'oci', container, name);
  await peer('buildah', 'rm', container);
  return name;
}

describe('buildah and podman against gantry serve', () => {
  const list = 'localhost/gantry-interop-list:1';
  let pushed: Inspected | undefined;

  test('buildah pushes a two-platform image; gantry sees the index and both platforms', async (t) => {
    if (!requirePeer(t, 'buildah')) return;
    const amd = await buildFromScratch('amd64', 'hello from amd64\n');
    const arm = await buildFromScratch('arm64', 'hello from arm64\n');
    await peer('buildah', 'manifest', 'create', list);
    await peer('buildah', 'manifest', 'add', list, amd);
    await peer('buildah', 'manifest', 'add', list, arm);
    await peer('buildah', 'manifest', 'push', '--all', '--tls-verify=false', list, `docker://${registry.host}/interop/hello:1`);
    pushed = await inspectJson(`${registry.host}/interop/hello:1`);
    assert.match(pushed.mediaType, /index|manifest\.list/);
    assert.deepEqual(pushed.platforms?.map((p) => p.platform).sort(), ['linux/amd64', 'linux/arm64']);
  });

  test('gantry copies the whole index, and one platform with --platform', async (t) => {
    if (!requirePeer(t, 'buildah')) return;
    assert.ok(pushed, 'the two-platform push (the test before) did not happen');
    await gantry('copy', `${registry.host}/interop/hello:1`, `oci:${join(root, 'whole')}:1`);
    assert.equal((await inspectJson(`oci:${join(root, 'whole')}:1`)).digest, pushed.digest);
    await gantry('copy', '--platform', 'linux/arm64', `${registry.host}/interop/hello:1`, `${registry.host}/interop/hello-arm:1`);
    const arm = pushed.platforms?.find((p) => p.platform === 'linux/arm64');
    assert.ok(arm);
    assert.equal((await inspectJson(`${registry.host}/interop/hello-arm:1`)).digest, arm.digest);
  });

  test('podman pulls back what buildah pushed through gantry, with the same digest', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    assert.ok(pushed, 'the two-platform push (the test before) did not happen');
    await peer('podman', 'pull', '--tls-verify=false', '--arch', 'arm64', `${registry.host}/interop/hello-arm:1`);
    // The digests podman recorded for what it pulled (the local image may carry others: buildah
    // built the same config before pushing it compressed).
    const repoDigests = JSON.parse(await peer('podman', 'image', 'inspect', '--format', '{{json .RepoDigests}}', `${registry.host}/interop/hello-arm:1`)) as string[];
    const arm = pushed.platforms?.find((p) => p.platform === 'linux/arm64');
    assert.ok(arm);
    assert.ok(repoDigests.includes(`${registry.host}/interop/hello-arm@${arm.digest}`), `${arm.digest} not in ${repoDigests.join(', ')}`);
  });

  test('podman load reads gantry\'s docker-archive; gantry reads podman save', async (t) => {
    if (!requirePeer(t, 'podman')) return;
    assert.ok(pushed, 'the two-platform push (the test before) did not happen');
    const archive = join(root, 'gantry.tar');
    await gantry('copy', `${registry.host}/interop/hello-arm:1`, `docker-archive:${archive}:interop/loaded:1`);
    const loaded = await peer('podman', 'load', '-i', archive);
    const name = /Loaded image: (\S+)/.exec(loaded)?.[1];
    assert.match(name ?? '', /interop\/loaded:1$/, loaded);
    // The image ID is the config's digest: the same image, whatever the manifest format.
    const id = await peer('podman', 'image', 'inspect', '--format', '{{.Id}}', name!);
    const configDigest = (await inspectJson(`${registry.host}/interop/hello-arm:1`)).image?.configDigest;
    assert.equal(`sha256:${id}`, configDigest);

    const saved = join(root, 'podman-saved.tar');
    await peer('podman', 'save', '--format', 'docker-archive', '-o', saved, name!);
    await gantry('copy', `docker-archive:${saved}`, `oci:${join(root, 'from-podman')}:1`);
    const back = await inspectJson(`oci:${join(root, 'from-podman')}:1`);
    assert.equal(back.image?.configDigest, configDigest, 'the same config, byte for byte');
    assert.equal(back.image?.labels?.['built-for'], 'arm64');

    const ociSaved = join(root, 'podman-saved-oci.tar');
    await peer('podman', 'save', '--format', 'oci-archive', '-o', ociSaved, name!);
    await gantry('copy', `oci-archive:${ociSaved}`, `oci:${join(root, 'from-podman-oci')}:1`);
    assert.equal((await inspectJson(`oci:${join(root, 'from-podman-oci')}:1`)).image?.configDigest, configDigest, 'podman\'s oci-archive, read by gantry');
  });
});

describe('buildah and podman against gantry serve over TLS', () => {
  test('buildah pushes with the CA from the certs.d folder gantry/testing wrote; gantry and podman read it back verified', async (t) => {
    if (!requirePeer(t, 'buildah') || !requirePeer(t, 'podman')) return;
    const tls = await startTestRegistry({ tls: true });
    try {
      const certDir = join(tls.certsDir!, tls.host);
      const name = await buildFromScratch('amd64', 'over TLS\n');
      await peer('buildah', 'push', '--cert-dir', certDir, name, `docker://${tls.host}/interop/tls:1`);
      const r = await runGantry(['inspect', '--json', '--certs-dir', tls.certsDir!, '--tls-verify=true', `${tls.host}/interop/tls:1`], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const digest = (JSON.parse(r.stdout) as Inspected).digest;
      await peer('podman', 'pull', '--cert-dir', certDir, `${tls.host}/interop/tls:1`);
      const repoDigests = JSON.parse(await peer('podman', 'image', 'inspect', '--format', '{{json .RepoDigests}}', `${tls.host}/interop/tls:1`)) as string[];
      assert.ok(repoDigests.includes(`${tls.host}/interop/tls@${digest}`), `${digest} not in ${repoDigests.join(', ')}`);
    } finally {
      await tls.close();
    }
  });
});

describe('umoci and gantry\'s OCI layouts', () => {
  test('umoci unpacks a layout gantry pulled, and the file inside is the one built', async (t) => {
    if (!requirePeer(t, 'umoci') || !requirePeer(t, 'buildah')) return;
    const layout = join(root, 'for-umoci');
    const name = await buildFromScratch('amd64', 'read by umoci\n');
    await peer('buildah', 'push', '--tls-verify=false', name, `docker://${registry.host}/interop/umoci:1`);
    await gantry('copy', `${registry.host}/interop/umoci:1`, `oci:${layout}:1`);
    const bundle = join(root, 'bundle');
    await peer('umoci', 'unpack', '--image', `${layout}:1`, bundle);
    assert.equal(readFileSync(join(bundle, 'rootfs', 'hello.txt'), 'utf8'), 'read by umoci\n');
  });

  test('gantry reads a layout umoci wrote and pushes it; the digest is umoci\'s', async (t) => {
    if (!requirePeer(t, 'umoci')) return;
    const layout = join(root, 'by-umoci');
    const bundle = join(root, 'umoci-bundle');
    await peer('umoci', 'init', '--layout', layout);
    await peer('umoci', 'new', '--image', `${layout}:base`);
    await peer('umoci', 'unpack', '--image', `${layout}:base`, bundle);
    mkdirSync(join(bundle, 'rootfs', 'etc'), { recursive: true });
    writeFileSync(join(bundle, 'rootfs', 'etc', 'motd'), 'written by umoci\n');
    await peer('umoci', 'repack', '--image', `${layout}:v1`, bundle);
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const digest = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v1')?.digest;
    assert.ok(digest);
    await gantry('copy', `oci:${layout}:v1`, `${registry.host}/interop/by-umoci:v1`);
    assert.equal((await inspectJson(`${registry.host}/interop/by-umoci:v1`)).digest, digest);
  });
});

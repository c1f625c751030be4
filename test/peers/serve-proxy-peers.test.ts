/**
 * Real clients pulling through `gantry serve` as a pull-through cache of a docker-registry
 * upstream (issue 16): skopeo copies from the cache by its own name, and podman pulls a
 * docker.io name with the cache as its registries.conf mirror (Docker Hub mirror semantics: the
 * mirror is asked for `library/<name>`). Each pull is repeated with the upstream stopped: the
 * cache alone answers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { containersStorage, peerPath, requirePeer, runPeer, runSkopeo } from '../helpers/peers.js';
import { seedImage, startCache, type RunningCache, type SeededImage } from '../integration/serve-proxy-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-serve-proxy-peers-'));
/** podman refuses a runroot path longer than 50 characters: its storage gets a short one. */
const podmanRoot = mkdtempSync(join(tmpdir(), 'gsp-'));
let upstream: RunningRegistry | undefined;
let cache: RunningCache;
let image: SeededImage;
let index: SeededImage;

async function halt(registry: RunningRegistry): Promise<void> {
  const child = registry.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = once(child, 'exit');
  child.kill('SIGTERM');
  await gone;
}

/** Runs `work` with the upstream stopped, then starts it again. */
async function withUpstreamStopped(work: () => Promise<void>): Promise<void> {
  await halt(upstream!);
  try {
    await work();
  } finally {
    await upstream!.restart();
  }
}

function layoutDigest(dir: string): string {
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return idx.manifests[0]!.digest;
}

before(async () => {
  if (peerPath('docker-registry') === undefined) return;
  upstream = await startDockerRegistry();
  image = await seedImage(upstream.host, 'library/tool', '1.0', { seed: 'peers' });
  index = await seedImage(upstream.host, 'library/multi', 'latest', { index: true });
  // In memory: this file is about the clients; test/integration/serve-proxy.test.ts covers directory storage.
  cache = await startCache(upstream.url);
});

after(async () => {
  await cache?.close();
  await upstream?.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(podmanRoot, { recursive: true, force: true });
});

describe('skopeo through the cache', () => {
  test('skopeo copy from the cache has the upstream digest, and again with the upstream stopped', async (t) => {
    if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
    const copyOut = async (dir: string): Promise<void> => {
      const r = await runSkopeo(['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${cache.host}/library/tool:1.0`, `oci:${dir}:1.0`]);
      assert.equal(r.code, 0, r.stderr);
    };
    const first = join(root, 'skopeo-1');
    await copyOut(first);
    assert.equal(layoutDigest(first), image.digest);
    await withUpstreamStopped(async () => {
      const second = join(root, 'skopeo-2');
      await copyOut(second);
      assert.equal(layoutDigest(second), image.digest);
    });
  });

  test('skopeo inspect --raw of an index and copy --all through the cache', async (t) => {
    if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'skopeo')) return;
    const raw = await runSkopeo(['inspect', '--raw', '--tls-verify=false', `docker://${cache.host}/library/multi:latest`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.match(raw.stdout, /"manifests"/);
    const dir = join(root, 'skopeo-all');
    const r = await runSkopeo(['--insecure-policy', 'copy', '--all', '--src-tls-verify=false', `docker://${cache.host}/library/multi:latest`, `oci:${dir}:latest`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(layoutDigest(dir), index.digest);
  });
});

describe('podman with the cache as its registries.conf mirror of docker.io', () => {
  test('podman pull docker.io/library/tool:1.0 goes to the mirror; again with the upstream stopped', async (t) => {
    if (!requirePeer(t, 'docker-registry') || !requirePeer(t, 'podman')) return;
    const conf = join(root, 'registries.conf');
    writeFileSync(conf, `[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "${cache.host}"
insecure = true
`);
    const pull = async (storageDir: string): Promise<string> => {
      const storage = containersStorage(storageDir);
      const env = { CONTAINERS_REGISTRIES_CONF: conf };
      const r = await runPeer('podman', [...storage, 'pull', 'docker.io/library/tool:1.0'], { timeoutMs: 180_000, env });
      assert.equal(r.code, 0, r.stderr);
      const inspected = await runPeer('podman', [...storage, 'image', 'inspect', '--format', '{{.Digest}}', 'docker.io/library/tool:1.0'], { env });
      assert.equal(inspected.code, 0, inspected.stderr);
      return inspected.stdout.trim();
    };
    assert.equal(await pull(join(podmanRoot, 'p1')), image.digest);
    assert.ok(cache.log.some((l) => l.startsWith('GET /v2/library/tool/manifests/1.0 200')), cache.log.join('\n'));
    await withUpstreamStopped(async () => {
      assert.equal(await pull(join(podmanRoot, 'p2')), image.digest);
    });
  });
});

/**
 * `gantry sync` against `skopeo sync` (1.9, `--src yaml|docker --dest docker --all`) on the
 * same docker-registry source and the same filters, each into a destination registry of its
 * own: the destinations must hold the same tags with the same digests. skopeo names a
 * repository by its last path component without `--scoped`, so gantry runs with `basename`;
 * skopeo gets `--preserve-digests`, without which it gzips the test images' uncompressed
 * layers on the way (new digests), where gantry keeps every byte.
 * Then gantry, pointed at skopeo's destination, finds everything up to date on its HEADs.
 * (skopeo 1.9 has no `images-by-semver`; the semver filters are tested against the registries
 * in test/integration/sync*.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { RegistryClient } from '../../src/client/registry-client.js';
import { copyImage } from '../../src/image/copy.js';
import { RegistryImageDestination } from '../../src/image/registry.js';
import { Reference } from '../../src/ref/reference.js';
import { readSyncConfig, sync } from '../../src/sync/index.js';
import { syncCommands } from '../../src/cli/commands/sync.js';
import { pushImage } from '../helpers/client-fixtures.js';
import { makeIndex, MemorySource } from '../helpers/image-fixture.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { peerPath, requirePeer, runSkopeo } from '../helpers/peers.js';

const present = peerPath('docker-registry') !== undefined && peerPath('skopeo') !== undefined;

function requirePeers(t: { skip(message?: string): void }): boolean {
  return requirePeer(t, 'docker-registry') && requirePeer(t, 'skopeo');
}

async function contents(host: string, under: string): Promise<Record<string, string>> {
  const client = RegistryClient.create({ host });
  const out: Record<string, string> = {};
  try {
    for await (const repo of client.catalog()) {
      if (!repo.startsWith(`${under}/`)) continue;
      for await (const tag of client.repository(repo).tags()) out[`${repo}:${tag}`] = (await client.repository(repo).headManifest(tag))!.digest!.toString();
    }
  } finally {
    await client.close();
  }
  return Object.fromEntries(Object.entries(out).sort());
}

async function skopeoOk(args: string[]): Promise<void> {
  const r = await runSkopeo(args);
  assert.equal(r.code, 0, `skopeo ${args.join(' ')}:\n${r.stderr}`);
}

describe('gantry sync and skopeo sync give the same destination', () => {
  let dir: string;
  let src: RunningRegistry;
  let bySkopeo: RunningRegistry;
  let byGantry: RunningRegistry;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-sync-skopeo-'));
    writeFileSync(join(dir, 'daemon.json'), '{}');
    writeFileSync(join(dir, 'registries.conf'), '');
    if (!present) return; // each test then skips, or fails under CI, through requirePeers
    [src, bySkopeo, byGantry] = await Promise.all([startDockerRegistry(), startDockerRegistry(), startDockerRegistry()]);
    const client = RegistryClient.create({ host: src.host });
    let n = 300;
    const repos: Record<string, string[]> = {
      'library/busybox': ['1.36.0', '1.36.1', 'latest'],
      'team/api': ['v1.0.0', 'v1.1.0', 'v2.0.0', 'v1.1.0-rc1'],
      'team/web': ['2024-01', '2024-02'],
    };
    for (const [repo, tags] of Object.entries(repos)) for (const tag of tags) await pushImage(client.repository(repo), tag, n++);
    const fixture = await makeIndex();
    await copyImage(new MemorySource(fixture.index, fixture.blobs), new RegistryImageDestination(client, Reference.parse(`${src.host}/multi/app:v1`)));
    await client.close();
  });
  after(async () => {
    await Promise.all([src, bySkopeo, byGantry].filter(Boolean).map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a YAML source: all tags, exact tags, a tag regex, a multi-platform index', async (t) => {
    if (!requirePeers(t)) return;
    const skopeoYaml = join(dir, 'skopeo.yaml');
    writeFileSync(
      skopeoYaml,
      `${src.host}:\n  tls-verify: false\n  images:\n    library/busybox: []\n    team/web: ["2024-02"]\n    multi/app: []\n  images-by-tag-regex:\n    team/api: ^v1\\.\n`,
    );
    await skopeoOk(['sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', '--all', '--preserve-digests', skopeoYaml, `${bySkopeo.host}/mirror`]);
    const gantryYaml = join(dir, 'gantry.yaml');
    writeFileSync(
      gantryYaml,
      [
        'sources:',
        `  - registry: ${src.host}`,
        '    repositories:',
        '      - library/busybox',
        '      - { name: team/web, tags: { names: ["2024-02"] } }',
        '      - multi/app',
        "      - { name: team/api, tags: { regex: '^v1\\.' } }",
        '    destinations:',
        `      - { registry: ${byGantry.host}, prefix: mirror, basename: true }`,
        '',
      ].join('\n'),
    );
    const report = await sync(await readSyncConfig(gantryYaml));
    assert.equal(report.failed, 0, JSON.stringify(report.items));
    const skopeoSide = await contents(bySkopeo.host, 'mirror');
    assert.equal(Object.keys(skopeoSide).length, 3 + 1 + 1 + 3, JSON.stringify(skopeoSide));
    assert.deepEqual(await contents(byGantry.host, 'mirror'), skopeoSide);

    // gantry pointed at what skopeo wrote: nothing to do, one HEAD per tag and side.
    const check = await sync({ sources: [{ ...(await readSyncConfig(gantryYaml)).sources[0]!, destinations: [{ registry: bySkopeo.host, prefix: 'mirror', basename: true }] }] });
    assert.equal(check.copied, 0);
    assert.equal(check.skipped, Object.keys(skopeoSide).length);
    assert.equal(check.registries[bySkopeo.host]!.requests.total, Object.keys(skopeoSide).length);
  });

  test('the one-off form: a repository, every tag (skopeo sync --src docker --dest docker)', async (t) => {
    if (!requirePeers(t)) return;
    await skopeoOk(['sync', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false', '--all', '--preserve-digests', `${src.host}/team/api`, `${bySkopeo.host}/oneoff`]);
    const program = new Command('gantry').exitOverride();
    syncCommands(program);
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => (typeof chunk === 'string' ? true : write(chunk, ...rest))) as typeof process.stdout.write;
    try {
      await program.parseAsync([
        'node', 'gantry', 'sync', '--src', `${src.host}/team/api`, '--dest', `${byGantry.host}/oneoff`, '--basename',
        '--src-tls-verify=false', '--dest-tls-verify=false', '--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json'), '--registries-conf', join(dir, 'registries.conf'),
      ]);
    } finally {
      process.stdout.write = write;
    }
    const skopeoSide = await contents(bySkopeo.host, 'oneoff');
    assert.deepEqual(Object.keys(skopeoSide), ['oneoff/api:v1.0.0', 'oneoff/api:v1.1.0', 'oneoff/api:v1.1.0-rc1', 'oneoff/api:v2.0.0']);
    assert.deepEqual(await contents(byGantry.host, 'oneoff'), skopeoSide);
  });
});

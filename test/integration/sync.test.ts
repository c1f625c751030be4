/**
 * `sync()` end to end on the embedded registry (gantry serve, in memory), whose request log
 * is the independent count: catalog discovery with include/exclude, tag filters, name
 * rewriting, dry run, the no-change rerun (exactly one manifest HEAD per tag on each side and
 * nothing else per tag), a changed tag, immutable tags (HEAD at the destination only),
 * shards (disjoint, together the whole), platforms, a missing tag, a creds file, and the
 * CLI's registration run in-process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { sync, type SyncConfig, type SyncItem, type SyncSource } from '../../src/sync/index.js';
import { platformSubset } from '../../src/sync/images.js';
import { syncCommands } from '../../src/cli/commands/sync.js';
import { RegistryImageDestination } from '../../src/image/registry.js';
import { copyImage } from '../../src/image/copy.js';
import { Reference } from '../../src/ref/reference.js';
import { Digest } from '../../src/ref/digest.js';
import { Readable } from 'node:stream';
import { startTestRegistry } from '../../src/testing/index.js';
import { pushImage } from '../helpers/client-fixtures.js';
import { makeIndex, MemorySource } from '../helpers/image-fixture.js';

interface Served {
  server: RegistryServer;
  host: string;
  log: string[];
  close(): Promise<void>;
}

async function serve(): Promise<Served> {
  const log: string[] = [];
  const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', log: (l) => log.push(l) });
  return { server, host: new URL(server.url).host, log, close: () => server.close() };
}

/** Pushes one small distinct image per tag; returns `repo:tag` → digest. */
async function seed(host: string, repos: Record<string, readonly string[]>, seedBase: number): Promise<Map<string, string>> {
  const client = RegistryClient.create({ host });
  const out = new Map<string, string>();
  let n = seedBase;
  try {
    for (const [repo, tags] of Object.entries(repos)) {
      for (const tag of tags) out.set(`${repo}:${tag}`, (await pushImage(client.repository(repo), tag, n++)).digest.toString());
    }
  } finally {
    await client.close();
  }
  return out;
}

/** Every `repo:tag` → digest a registry holds. */
async function contents(host: string): Promise<Record<string, string>> {
  const client = RegistryClient.create({ host });
  const out: Record<string, string> = {};
  try {
    for await (const repo of client.catalog()) {
      for await (const tag of client.repository(repo).tags()) {
        out[`${repo}:${tag}`] = (await client.repository(repo).headManifest(tag))!.digest!.toString();
      }
    }
  } finally {
    await client.close();
  }
  return out;
}

/** The log lines of requests for manifests and blobs, by `METHOD kind`. */
function perTag(log: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of log) {
    const m = /^(\w+) \/v2\/.+\/(manifests|blobs)\//.exec(line);
    if (m) out[`${m[1]} ${m[2]}`] = (out[`${m[1]} ${m[2]}`] ?? 0) + 1;
  }
  return out;
}

const REPOS = {
  'team/app': ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0-rc1', 'latest'],
  'team/tool': ['0.9', '1.0'],
  'library/alpine': ['3.19', '3.20'],
  'tmp/scratch': ['x'],
};
const ALL_TAGS = Object.values(REPOS).flat().length;

describe('sync on the embedded registry', () => {
  let src: Served;
  let digests: Map<string, string>;
  const dests: Served[] = [];
  const dest = async (): Promise<Served> => {
    const d = await serve();
    dests.push(d);
    return d;
  };
  before(async () => {
    src = await serve();
    digests = await seed(src.host, REPOS, 1);
  });
  after(async () => {
    await Promise.all([src.close(), ...dests.map((d) => d.close())]);
  });

  const source = (extra: Partial<SyncSource> & Pick<SyncSource, 'destinations'>): SyncSource => ({ registry: src.host, ...extra });

  test('catalog discovery with include/exclude; a prefix added, library/ stripped; digests kept', async () => {
    const d = await dest();
    const report = await sync({ sources: [source({ include: ['team/*', 'library/**'], exclude: ['team/tool'], destinations: [{ registry: d.host, prefix: 'mirror', stripPrefix: 'library' }] })] });
    const want: Record<string, string> = {};
    for (const [k, v] of digests) {
      if (k.startsWith('team/app:')) want[`mirror/${k}`] = v;
      if (k.startsWith('library/alpine:')) want[`mirror/${k.slice('library/'.length)}`] = v;
    }
    assert.deepEqual(await contents(d.host), want);
    assert.equal(report.copied, Object.keys(want).length);
    assert.equal(report.failed, 0);
    assert.ok(report.bytes > 0);
    assert.equal(report.registries[src.host]!.connections, 1, 'one connection to the source for every listing, HEAD and copy');
    assert.equal(report.registries[d.host]!.connections, 1);
  });

  test('tag filters: semver range, newest N, regex and exclusion, exact names; skopeo-style basename', async () => {
    const d = await dest();
    const config: SyncConfig = {
      sources: [
        source({ repositories: [{ name: 'team/app', tags: { semver: '>=1.1 <2' } }], destinations: [{ registry: d.host, prefix: 'semver' }] }),
        source({ repositories: [{ name: 'team/app', tags: { newest: 2 } }], destinations: [{ registry: d.host, prefix: 'newest' }] }),
        source({ repositories: ['team/app'], tags: { regex: '^[12]\\.', excludeRegex: '^1\\.0|rc' }, destinations: [{ registry: d.host, prefix: 'regex' }] }),
        source({ repositories: [{ name: 'team/tool', tags: { names: ['1.0'] } }], destinations: [{ registry: d.host, basename: true }] }),
      ],
    };
    const report = await sync(config);
    assert.deepEqual(Object.keys(await contents(d.host)).sort(), [
      'newest/team/app:1.2.0', 'newest/team/app:2.0.0',
      'regex/team/app:1.1.0', 'regex/team/app:1.2.0', 'regex/team/app:2.0.0',
      'semver/team/app:1.1.0', 'semver/team/app:1.2.0',
      'tool:1.0',
    ]);
    assert.equal(report.copied, 8);
    // An exact tag list needs no listing.
    assert.equal(report.registries[src.host]!.requests.tagList, 3);
  });

  test('dry run: HEADs only, nothing written, the plan reported', async () => {
    const d = await dest();
    const items: SyncItem[] = [];
    const report = await sync({ sources: [source({ repositories: ['team/app'], destinations: [{ registry: d.host }] })] }, { dryRun: true, onItem: (i) => items.push(i) });
    assert.equal(report.dryRun, true);
    assert.equal(report.planned, REPOS['team/app'].length);
    assert.equal(report.copied, 0);
    assert.ok(items.every((i) => i.action === 'planned' && i.reason === 'missing'));
    assert.deepEqual(await contents(d.host), {});
    assert.deepEqual(perTag(d.log), { 'HEAD manifests': REPOS['team/app'].length });
  });

  test('the no-change rerun: one manifest HEAD per tag on each side, no GET of a manifest or a blob', async () => {
    const d = await dest();
    const config: SyncConfig = { sources: [source({ destinations: [{ registry: d.host }] })] };
    const first = await sync(config);
    assert.equal(first.copied, ALL_TAGS);
    // The first run's copies ask the destination once per blob (the upload does not ask again).
    const looked = first.items.reduce((n, i) => n + (i.blobs ? i.blobs.copied + i.blobs.existed + i.blobs.mounted : 0), 0);
    assert.ok(looked > 0);
    assert.equal(first.registries[d.host]!.requests.blobHead, looked);
    const srcMark = src.log.length;
    const destMark = d.log.length;
    const again = await sync(config);
    assert.equal(again.copied, 0);
    assert.equal(again.skipped, ALL_TAGS);
    assert.ok(again.items.every((i) => i.reason === 'up-to-date'));
    // The registries' own logs.
    assert.deepEqual(perTag(src.log.slice(srcMark)), { 'HEAD manifests': ALL_TAGS });
    assert.deepEqual(perTag(d.log.slice(destMark)), { 'HEAD manifests': ALL_TAGS });
    // The report's count (the gate's): besides the HEADs, one listing per repository and the catalog page.
    const s = again.registries[src.host]!.requests;
    assert.deepEqual({ ...s }, { total: ALL_TAGS + 4 + 1, manifestHead: ALL_TAGS, manifestGet: 0, manifestPut: 0, blobHead: 0, blobGet: 0, blobUpload: 0, tagList: 4, catalog: 1, other: 0 });
    assert.deepEqual({ ...again.registries[d.host]!.requests }, { total: ALL_TAGS, manifestHead: ALL_TAGS, manifestGet: 0, manifestPut: 0, blobHead: 0, blobGet: 0, blobUpload: 0, tagList: 0, catalog: 0, other: 0 });
    // Pings: one per connection, one connection per side.
    assert.equal(src.log.slice(srcMark).filter((l) => l.startsWith('GET /v2/ ')).length, 1);
    assert.equal(d.log.slice(destMark).filter((l) => l.startsWith('GET /v2/ ')).length, 1);
  });

  test('a changed tag is copied again; the rest is skipped on its HEADs', async () => {
    const d = await dest();
    const config: SyncConfig = { sources: [source({ repositories: ['team/app'], destinations: [{ registry: d.host }] })] };
    await sync(config);
    const client = RegistryClient.create({ host: src.host });
    const moved = await pushImage(client.repository('team/app'), 'latest', 1000);
    await client.close();
    try {
      const report = await sync(config);
      assert.equal(report.copied, 1);
      assert.equal(report.skipped, REPOS['team/app'].length - 1);
      const item = report.items.find((i) => i.action === 'copied')!;
      assert.equal(item.tag, 'latest');
      assert.equal(item.reason, 'changed');
      assert.equal(item.digest, moved.digest.toString());
      assert.equal((await contents(d.host))['team/app:latest'], moved.digest.toString());
    } finally {
      const c = RegistryClient.create({ host: src.host });
      await pushImage(c.repository('team/app'), 'latest', 6);
      await c.close();
    }
  });

  test('immutable tags: once present, one HEAD at the destination and none at the source', async () => {
    const d = await dest();
    const config: SyncConfig = { sources: [source({ repositories: ['team/app'], immutable: '^\\d+\\.\\d+\\.\\d+$', destinations: [{ registry: d.host }] })] };
    await sync(config);
    const srcMark = src.log.length;
    const destMark = d.log.length;
    const report = await sync(config);
    const immutable = REPOS['team/app'].filter((t) => /^\d+\.\d+\.\d+$/.test(t)).length;
    assert.equal(report.items.filter((i) => i.reason === 'immutable').length, immutable);
    assert.equal(report.items.filter((i) => i.reason === 'up-to-date').length, REPOS['team/app'].length - immutable);
    assert.deepEqual(perTag(d.log.slice(destMark)), { 'HEAD manifests': REPOS['team/app'].length });
    assert.deepEqual(perTag(src.log.slice(srcMark)), { 'HEAD manifests': REPOS['team/app'].length - immutable }, 'only the mutable tags are asked at the source');
  });

  test('shards: disjoint, and together exactly the whole sync', async () => {
    const whole = await dest();
    await sync({ sources: [source({ destinations: [{ registry: whole.host }] })] });
    const everything = await contents(whole.host);
    const parts: Record<string, string>[] = [];
    for (let index = 0; index < 3; index++) {
      const d = await dest();
      const report = await sync({ sources: [source({ destinations: [{ registry: d.host }] })] }, { shard: { index, count: 3 } });
      assert.deepEqual(report.shard, { index, count: 3 });
      parts.push(await contents(d.host));
    }
    const keys = parts.flatMap((p) => Object.keys(p));
    assert.equal(new Set(keys).size, keys.length, 'no tag in two shards');
    assert.deepEqual(Object.assign({}, ...parts), everything);
    // The split hashes registry/repository:tag, and the registry's port changes every run: with this
    // handful of tags a shard can be empty by chance, but all eleven in one shard (p ≈ 2·10⁻⁵) means no split.
    assert.ok(parts.filter((p) => Object.keys(p).length > 0).length >= 2, 'the work is split');
  });

  test('a listed tag missing at the source fails alone; two destinations share one source HEAD', async () => {
    const a = await dest();
    const b = await dest();
    const srcMark = src.log.length;
    const report = await sync({ sources: [source({ repositories: [{ name: 'team/tool', tags: { names: ['0.9', 'nope'] } }], destinations: [{ registry: a.host }, { registry: b.host, prefix: 'b' }] })] });
    assert.equal(report.copied, 2);
    assert.equal(report.failed, 2);
    assert.ok(report.items.filter((i) => i.action === 'failed').every((i) => i.error?.code === 'NOT_FOUND' && i.tag === 'nope'));
    assert.equal(perTag(src.log.slice(srcMark))['HEAD manifests'], 2, 'one source HEAD per tag, whatever the destinations');
    assert.deepEqual(Object.keys(await contents(b.host)), ['b/team/tool:0.9']);
  });

  test('an unreachable destination fails its items alone, once connected to (not once per tag)', async () => {
    const d = await dest();
    const closed = await dest();
    const gone = closed.host;
    await closed.close();
    const started = Date.now();
    const report = await sync({ sources: [source({ repositories: ['team/app'], destinations: [{ registry: d.host }, { registry: gone }] })] });
    const n = REPOS['team/app'].length;
    assert.equal(report.copied, n);
    assert.equal(report.failed, n);
    assert.ok(report.items.filter((i) => i.action === 'failed').every((i) => i.destination?.startsWith(gone) && /CONNECTION|NO_ENDPOINT/.test(i.error?.code ?? '')), JSON.stringify(report.items));
    assert.equal(report.registries[gone]?.connections ?? 1, 1);
    assert.ok(Date.now() - started < 20_000);
  });

  test('platforms: one gives that image; several give a subset index; reruns skip', async () => {
    const fixture = await makeIndex();
    const client = RegistryClient.create({ host: src.host });
    const target = new RegistryImageDestination(client, Reference.parse(`${src.host}/multi/app:v1`));
    await copyImage(new MemorySource(fixture.index, fixture.blobs), target);
    await client.close();
    const d = await dest();
    const arm = fixture.children[1]!.manifest.digest.toString();
    const subset = platformSubset(fixture.index, ['linux/amd64', 'linux/arm64'], 'test');
    const config: SyncConfig = {
      sources: [
        source({ repositories: ['multi/app'], platforms: ['linux/arm64'], destinations: [{ registry: d.host, prefix: 'one' }] }),
        source({ repositories: ['multi/app'], platforms: ['linux/amd64', 'linux/arm64'], destinations: [{ registry: d.host, prefix: 'two' }] }),
        source({ repositories: ['multi/app'], destinations: [{ registry: d.host, prefix: 'all' }] }),
      ],
    };
    const first = await sync(config);
    assert.equal(first.copied, 3, JSON.stringify(first.items));
    assert.deepEqual(await contents(d.host), { 'one/multi/app:v1': arm, 'two/multi/app:v1': subset.digest.toString(), 'all/multi/app:v1': fixture.index.digest.toString() });
    const again = await sync(config);
    assert.equal(again.skipped, 3);
    // The platform cases read the source index (one GET each); the whole image does not.
    assert.equal(again.registries[src.host]!.requests.manifestGet, 2);
  });

  test('referrers: true copies an image\'s signature with it, and on a rerun only a signature added since', async () => {
    // A source of its own: the other tests count the shared one's tags.
    const signed = await dest();
    const client = RegistryClient.create({ host: signed.host });
    const repo = client.repository('signed/app');
    const image = await pushImage(repo, 'v1', 4242);
    const empty = Buffer.from('{}');
    await repo.uploadBlob({ digest: Digest.fromBytes(empty), size: 2 }, () => Readable.from([empty]));
    const signature = (n: number): Buffer =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/vnd.example.signature',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: Digest.fromBytes(empty).toString(), size: 2 },
          layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: Digest.fromBytes(empty).toString(), size: 2 }],
          subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest.toString(), size: image.bytes.length },
          annotations: { 'example.signature.n': String(n) },
        }),
      );
    await repo.putReferrer(signature(1), 'application/vnd.oci.image.manifest.v1+json');
    const d = await dest();
    const config: SyncConfig = { sources: [{ registry: signed.host, repositories: ['signed/app'], referrers: true, destinations: [{ registry: d.host }] }] };
    const listed = async (): Promise<string[]> => {
      const check = RegistryClient.create({ host: d.host });
      try {
        return (await check.repository('signed/app').referrers(image.digest)).manifests.map((m) => m.digest.toString()).sort();
      } finally {
        await check.close();
      }
    };
    try {
      const report = await sync(config);
      assert.equal(report.copied, 1, JSON.stringify(report.items));
      assert.equal(report.items[0]!.referrers, 1);
      assert.deepEqual(await listed(), [Digest.fromBytes(signature(1)).toString()]);
      // Nothing new: the image and its signature are there; nothing is written.
      const again = await sync(config);
      assert.equal(again.skipped, 1, JSON.stringify(again.items));
      assert.equal(again.items[0]!.reason, 'up-to-date');
      assert.equal(again.registries[d.host]!.requests.manifestPut, 0);
      // The destination is asked twice: the tag's HEAD, and the image's referrers listing.
      assert.equal(again.registries[d.host]!.requests.total, 2);
      // A signature added at the source since: the rerun copies it, and only it.
      await repo.putReferrer(signature(2), 'application/vnd.oci.image.manifest.v1+json');
      const third = await sync(config);
      assert.equal(third.copied, 1, JSON.stringify(third.items));
      assert.equal(third.items[0]!.reason, 'referrers');
      assert.equal(third.items[0]!.referrers, 1);
      assert.equal(third.registries[d.host]!.requests.manifestPut, 1);
      assert.deepEqual(await listed(), [signature(1), signature(2)].map((b) => Digest.fromBytes(b).toString()).sort());
    } finally {
      await client.close();
    }
  });

  test('credentials from a creds file; never in the report', async () => {
    const guarded = await startTestRegistry({ users: { alice: 'pa55-word' } });
    const dir = mkdtempSync(join(tmpdir(), 'gantry-sync-creds-'));
    try {
      const d = await dest();
      const credsFile = join(dir, 'creds');
      writeFileSync(credsFile, 'alice:pa55-word\n', { mode: 0o600 });
      const report = await sync({ sources: [source({ repositories: ['team/tool'], destinations: [{ registry: guarded.host, credsFile }] })] });
      assert.equal(report.copied, 2, JSON.stringify(report.items));
      assert.doesNotMatch(JSON.stringify(report), /pa55-word|alice/);
      // Without it the destination refuses, and the failures say so without a secret.
      const denied = await sync({ sources: [source({ repositories: ['team/tool'], destinations: [{ registry: guarded.host, anonymous: true, prefix: 'x' }] })] });
      assert.equal(denied.failed, 2);
      assert.ok(denied.items.every((i) => i.error?.code === 'UNAUTHORIZED'), JSON.stringify(denied.items));
      await assert.rejects(sync({ sources: [source({ repositories: ['team/tool'], destinations: [{ registry: d.host, credsFile: join(dir, 'missing') }] })] }), /creds-file .*missing: cannot read it: ENOENT/);
    } finally {
      await guarded.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the CLI, registered on a program in-process: one-off form and a YAML file, --json', async () => {
    const d = await dest();
    const dir = mkdtempSync(join(tmpdir(), 'gantry-sync-cli-'));
    const run = async (args: string[]): Promise<{ out: string; errOut: string; err?: Error }> => {
      const program = new Command('gantry').exitOverride();
      syncCommands(program);
      let out = '';
      let errOut = '';
      const write = process.stdout.write.bind(process.stdout);
      const writeErr = process.stderr.write.bind(process.stderr);
      // The command writes strings; the test runner's own reports (bytes) pass through.
      process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        if (typeof chunk !== 'string') return write(chunk, ...rest);
        out += chunk;
        return true;
      }) as typeof process.stdout.write;
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        if (typeof chunk !== 'string') return writeErr(chunk, ...rest);
        errOut += chunk;
        return true;
      }) as typeof process.stderr.write;
      try {
        await program.parseAsync(['node', 'gantry', 'sync', ...args, '--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json'), '--registries-conf', join(dir, 'registries.conf')]);
        return { out, errOut };
      } catch (err) {
        return { out, errOut, err: err as Error };
      } finally {
        process.stdout.write = write;
        process.stderr.write = writeErr;
      }
    };
    try {
      writeFileSync(join(dir, 'daemon.json'), '{}');
      writeFileSync(join(dir, 'registries.conf'), '');
      // --shard is checked as the flags are parsed, before anything is read or sent.
      const badShard = await run(['--src', `${src.host}/team/tool`, '--dest', `${d.host}/cli`, '--shard', '3/3']);
      assert.match(`${badShard.err?.message ?? ''} ${badShard.errOut}`, /--shard: expected I\/N with 0 ≤ I < N/);
      const oneOff = await run(['--src', `${src.host}/team/tool`, '--dest', `${d.host}/cli`, '--json']);
      assert.equal(oneOff.err, undefined, oneOff.err?.message);
      const report = JSON.parse(oneOff.out);
      assert.equal(report.copied, 2);
      assert.deepEqual(Object.keys(await contents(d.host)).sort(), ['cli/team/tool:0.9', 'cli/team/tool:1.0']);
      const file = join(dir, 'sync.yaml');
      writeFileSync(file, `sources:\n  - registry: ${src.host}\n    repositories: [library/alpine]\n    tags: { names: ["3.20"] }\n    destinations:\n      - registry: ${d.host}\n        strip-prefix: library\n`);
      const fromFile = await run([file]);
      assert.equal(fromFile.err, undefined, fromFile.err?.message);
      assert.match(fromFile.out, new RegExp(`^copied ${src.host}/library/alpine:3\\.20 -> ${d.host}/alpine:3\\.20 \\(missing sha256:`, 'm'));
      assert.match(fromFile.out, /^sync: 1 tag, 1 copied \(.*\), 0 up to date, 0 failed in/m);
      const both = await run([file, '--src', src.host, '--dest', d.host]);
      assert.match(both.err?.message ?? '', /a configuration file or --src and --dest, not both/);
      const stray = await run([file, '--tag-regex', 'x']);
      assert.match(stray.err?.message ?? '', /--tag-regex: only with --src and --dest/);
      const missing = await run(['--src', `${src.host}/team/tool:nope`, '--dest', d.host, '--quiet']);
      assert.match(missing.err?.message ?? '', /sync: 1 failed, of 1 tag considered \(see the lines above\)/);
      assert.equal(missing.out, '', '--quiet: nothing on stdout');
      assert.match(missing.errOut, /^gantry: failed .*\/team\/tool:nope -> .*: no such tag at the source\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

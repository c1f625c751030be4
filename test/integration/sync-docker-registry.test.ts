/**
 * `sync()` between two real CNCF registries (`docker-registry`, distribution 2.8): catalog
 * discovery and rewriting, tag filters, dry run, the no-change rerun counted by a transport
 * layer of the test's own (exactly one manifest HEAD per tag on each side, nothing else per
 * tag), immutable tags (a HEAD at the destination only), shards (disjoint, together the whole).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryClient } from '../../src/client/registry-client.js';
import { sync, type SyncConfig, type SyncSource } from '../../src/sync/index.js';
import type { Layer } from '../../src/transport/types.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { peerPath, requirePeer } from '../helpers/peers.js';
import { pushImage } from '../helpers/client-fixtures.js';

/** Every request the library sent, as `host METHOD kind`, seen by a layer below sync's own gate. */
function recorder(): { layer: Layer; seen: string[] } {
  const seen: string[] = [];
  const layer: Layer = (next) => async (req) => {
    const kind = /\/v2\/.+\/(manifests|blobs|tags)\//.exec(req.url.pathname)?.[1] ?? (req.url.pathname.endsWith('/_catalog') ? 'catalog' : 'other');
    seen.push(`${req.url.host} ${req.method} ${kind}`);
    return next(req);
  };
  return { layer, seen };
}

function tally(seen: readonly string[], host: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of seen) {
    if (!s.startsWith(`${host} `)) continue;
    const k = s.slice(host.length + 1);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

async function contents(host: string): Promise<Record<string, string>> {
  const client = RegistryClient.create({ host });
  const out: Record<string, string> = {};
  try {
    for await (const repo of client.catalog()) {
      for await (const tag of client.repository(repo).tags()) out[`${repo}:${tag}`] = (await client.repository(repo).headManifest(tag))!.digest!.toString();
    }
  } catch (err) {
    // A registry that has never stored anything has no repositories folder: an empty catalog.
    if (!/NAME_UNKNOWN|not found/i.test(String(err))) throw err;
  } finally {
    await client.close();
  }
  return out;
}

const REPOS: Record<string, string[]> = {
  'library/busybox': ['1.36.0', '1.36.1', '1.37.0', 'latest'],
  'team/api': ['v1.0.0', 'v1.1.0', 'v2.0.0-beta.1'],
  'team/web': ['2024-01', '2024-02'],
};
const ALL = Object.values(REPOS).flat().length;

const present = peerPath('docker-registry') !== undefined;

describe('sync between two docker-registry instances', () => {
  let src: RunningRegistry;
  const started: RunningRegistry[] = [];
  const fresh = async (): Promise<RunningRegistry> => {
    const r = await startDockerRegistry();
    started.push(r);
    return r;
  };
  const digests = new Map<string, string>();
  before(async () => {
    if (!present) return; // each test then skips, or fails under CI, through requirePeer
    src = await fresh();
    const client = RegistryClient.create({ host: src.host });
    let n = 100;
    for (const [repo, tags] of Object.entries(REPOS)) for (const tag of tags) digests.set(`${repo}:${tag}`, (await pushImage(client.repository(repo), tag, n++)).digest.toString());
    await client.close();
  });
  after(async () => {
    await Promise.all(started.map((r) => r.stop()));
  });
  const source = (extra: Partial<SyncSource> & Pick<SyncSource, 'destinations'>): SyncSource => ({ registry: src.host, ...extra });

  test('catalog discovery, library/ stripped and a prefix; tag filters; digests kept', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const d = await fresh();
    const report = await sync({
      sources: [
        source({ include: ['library/*'], destinations: [{ registry: d.host, stripPrefix: 'library', prefix: 'hub' }] }),
        source({ repositories: [{ name: 'team/api', tags: { semver: '^1' } }], destinations: [{ registry: d.host }] }),
        source({ repositories: [{ name: 'team/web', tags: { regex: '^2024-', newest: 1, order: 'created' } }], destinations: [{ registry: d.host }] }),
      ],
    });
    assert.equal(report.failed, 0, JSON.stringify(report.items.filter((i) => i.action === 'failed')));
    const want: Record<string, string> = {};
    for (const tag of REPOS['library/busybox']!) want[`hub/busybox:${tag}`] = digests.get(`library/busybox:${tag}`)!;
    for (const tag of ['v1.0.0', 'v1.1.0']) want[`team/api:${tag}`] = digests.get(`team/api:${tag}`)!;
    // Same created date on both: the greater name wins the tie.
    want['team/web:2024-02'] = digests.get('team/web:2024-02')!;
    assert.deepEqual(await contents(d.host), want);
  });

  test('dry run, then the no-change rerun: one manifest HEAD per tag and side, no manifest GET, no blob', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const d = await fresh();
    const config: SyncConfig = { sources: [source({ destinations: [{ registry: d.host }] })] };
    const dry = recorder();
    const plan = await sync(config, { dryRun: true, access: { layers: [dry.layer] } });
    assert.equal(plan.planned, ALL);
    assert.deepEqual(await contents(d.host), {});
    assert.deepEqual(tally(dry.seen, d.host), { 'HEAD manifests': ALL });
    const first = await sync(config);
    assert.equal(first.copied, ALL);
    const rec = recorder();
    const again = await sync(config, { access: { layers: [rec.layer] } });
    assert.equal(again.skipped, ALL);
    assert.deepEqual(tally(rec.seen, src.host), { 'GET catalog': 1, 'GET tags': Object.keys(REPOS).length, 'HEAD manifests': ALL });
    assert.deepEqual(tally(rec.seen, d.host), { 'HEAD manifests': ALL });
    assert.equal(again.registries[src.host]!.requests.manifestHead, ALL);
    assert.equal(again.registries[d.host]!.requests.total, ALL);
  });

  test('immutable tags: skipped on one HEAD at the destination, none at the source', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const d = await fresh();
    const config: SyncConfig = { sources: [source({ repositories: ['library/busybox', 'team/api'], immutable: true, destinations: [{ registry: d.host }] })] };
    await sync(config);
    const rec = recorder();
    const again = await sync(config, { access: { layers: [rec.layer] } });
    const n = REPOS['library/busybox']!.length + REPOS['team/api']!.length;
    assert.equal(again.items.filter((i) => i.reason === 'immutable').length, n);
    assert.deepEqual(tally(rec.seen, d.host), { 'HEAD manifests': n });
    assert.deepEqual(tally(rec.seen, src.host), { 'GET tags': 2 }, 'the source is only listed');
  });

  test('shards: every tag in exactly one of 3, the union is the whole', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const parts: Record<string, string>[] = [];
    for (let index = 0; index < 3; index++) {
      const d = await fresh();
      await sync({ sources: [source({ destinations: [{ registry: d.host }] })] }, { shard: { index, count: 3 } });
      parts.push(await contents(d.host));
    }
    const keys = parts.flatMap((p) => Object.keys(p));
    assert.equal(keys.length, ALL);
    assert.equal(new Set(keys).size, ALL);
    assert.deepEqual(Object.fromEntries(Object.entries(Object.assign({}, ...parts)).sort()), Object.fromEntries([...digests].sort()));
  });
});

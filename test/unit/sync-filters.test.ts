/**
 * The pure parts of a sync: repository globs and regexes, tag selection (regex, semver
 * range, newest N), immutable rules, shards (deterministic, disjoint, covering), name
 * rewriting, request classification, and the registry gate's bound and rate-limit budget.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { immutableRule, NewestTags, repositoryFilter, repositoryMatcher, tagPredicate, tagVersion } from '../../src/sync/filters.js';
import { parseShard, shardOf } from '../../src/sync/shard.js';
import { destinationPath } from '../../src/sync/sync.js';
import { RateLimitReserveError, RegistryGate, requestKind } from '../../src/sync/gate.js';
import { WorkQueue } from '../../src/sync/queue.js';
import type { Send, TransportRequest, TransportResponse } from '../../src/transport/types.js';

test('repository patterns: globs stay in a component, ** crosses them, /…/ is a regex', () => {
  const rows: [string, string, boolean][] = [
    ['team/*', 'team/app', true],
    ['team/*', 'team/app/sub', false],
    ['team/**', 'team/app/sub', true],
    ['**/app', 'app', true],
    ['**/app', 'a/b/app', true],
    ['team/a?p', 'team/app', true],
    ['team.x/*', 'teamyx/app', false],
    ['/^apps\\/[a-z]+$/', 'apps/web', true],
    ['/^apps\\/[a-z]+$/', 'apps/web2', false],
    ['/web/', 'team/web-ui', true],
  ];
  for (const [pattern, name, want] of rows) assert.equal(repositoryMatcher(pattern)(name), want, `${pattern} ~ ${name}`);
  const keep = repositoryFilter(['team/*', 'apps/*'], ['team/tmp-*']);
  assert.deepEqual(['team/app', 'team/tmp-1', 'apps/x', 'other/y'].filter(keep), ['team/app', 'apps/x']);
  assert.equal(repositoryFilter()('anything/at/all'), true);
});

test('tags as versions: Masterminds-style leniency, nothing else', () => {
  assert.equal(tagVersion('1.25')?.version, '1.25.0');
  assert.equal(tagVersion('v2')?.version, '2.0.0');
  assert.equal(tagVersion('1.2.3-rc.1+build5')?.version, '1.2.3-rc.1');
  assert.equal(tagVersion('1.25-alpine')?.version, '1.25.0-alpine');
  for (const t of ['latest', 'stable-1.2', '1.2.3.4', 'sha256-abc']) assert.equal(tagVersion(t), undefined, t);
});

test('tag predicate: regex, exclusion, semver range; prereleases only when asked', () => {
  const tags = ['1.0.0', '1.2.0', '1.3.0-rc1', '2.0.0', 'latest', '1.2-alpine', 'v1.4'];
  assert.deepEqual(tags.filter(tagPredicate({ semver: '>=1.2 <2' })), ['1.2.0', 'v1.4']);
  assert.deepEqual(tags.filter(tagPredicate({ semver: '>=1.2 <2', prerelease: true })), ['1.2.0', '1.3.0-rc1', '1.2-alpine', 'v1.4']);
  assert.deepEqual(tags.filter(tagPredicate({ regex: '^1\\.', excludeRegex: 'alpine|rc' })), ['1.0.0', '1.2.0']);
  assert.deepEqual(tags.filter(tagPredicate({})), tags);
  // newest by semver keeps versions only; by created keeps every tag for the date lookup.
  assert.deepEqual(tags.filter(tagPredicate({ newest: 2 })), ['1.0.0', '1.2.0', '2.0.0', 'v1.4']);
  assert.deepEqual(tags.filter(tagPredicate({ newest: 2, order: 'created' })), tags);
});

test('newest N: bounded, newest first, ties broken by name so every shard agrees', () => {
  const n = new NewestTags<number>(3, (a, b) => a - b);
  for (const [tag, k] of [['a', 5], ['b', 1], ['c', 9], ['d', 5], ['e', 7], ['f', 2]] as const) n.add(tag, k);
  assert.deepEqual(n.tags(), ['c', 'e', 'd']);
  const m = new NewestTags<number>(1, (a, b) => a - b);
  m.add('x', 1);
  m.add('y', 1);
  assert.deepEqual(m.tags(), ['y']);
});

test('immutable rules', () => {
  assert.equal(immutableRule(undefined)('1.0'), false);
  assert.equal(immutableRule(true)('latest'), true);
  const semverOnly = immutableRule('^\\d+\\.\\d+\\.\\d+$');
  assert.equal(semverOnly('1.2.3'), true);
  assert.equal(semverOnly('latest'), false);
});

test('shards: parsed strictly; every key in exactly one shard, the same on every call', () => {
  assert.deepEqual(parseShard('0/4'), { index: 0, count: 4 });
  for (const bad of ['4/4', '-1/4', '1', 'a/b', '0/0', '1/10001']) assert.throws(() => parseShard(bad), /--shard: expected I\/N/);
  const keys = Array.from({ length: 2000 }, (_, i) => `127.0.0.1:5000/repo${i % 50}:tag${i}`);
  const counts = [0, 0, 0, 0];
  for (const k of keys) {
    const s = shardOf(k, 4);
    assert.equal(shardOf(k, 4), s);
    counts[s]!++;
  }
  assert.equal(counts.reduce((a, b) => a + b), keys.length);
  for (const c of counts) assert.ok(c > 400 && c < 600, `shards are balanced: ${counts.join(' ')}`);
});

test('destination names: strip a prefix, keep a basename, add a prefix', () => {
  assert.equal(destinationPath({}, 'library/alpine'), 'library/alpine');
  assert.equal(destinationPath({ stripPrefix: 'library' }, 'library/alpine'), 'alpine');
  assert.equal(destinationPath({ stripPrefix: 'library' }, 'libraryx/alpine'), 'libraryx/alpine');
  assert.equal(destinationPath({ stripPrefix: 'library', prefix: 'hub' }, 'library/alpine'), 'hub/alpine');
  assert.equal(destinationPath({ prefix: 'mirror/eu' }, 'team/app'), 'mirror/eu/team/app');
  assert.equal(destinationPath({ basename: true, prefix: 'm' }, 'team/sub/app'), 'm/app');
});

test('request kinds, a mirror path prefix included', () => {
  const k = (method: string, path: string) => requestKind({ method, url: new URL(`http://r${path}`) });
  assert.equal(k('HEAD', '/v2/team/app/manifests/1.0'), 'manifestHead');
  assert.equal(k('GET', '/v2/team/app/manifests/sha256:ab'), 'manifestGet');
  assert.equal(k('PUT', '/v2/team/app/manifests/1.0'), 'manifestPut');
  assert.equal(k('HEAD', '/v2/team/app/blobs/sha256:ab'), 'blobHead');
  assert.equal(k('GET', '/mirror/v2/team/app/blobs/sha256:ab'), 'blobGet');
  assert.equal(k('POST', '/v2/team/app/blobs/uploads/'), 'blobUpload');
  assert.equal(k('PATCH', '/v2/team/blobs/app/blobs/uploads/uuid'), 'blobUpload');
  assert.equal(k('GET', '/v2/team/app/tags/list'), 'tagList');
  assert.equal(k('GET', '/v2/_catalog'), 'catalog');
  assert.equal(k('GET', '/storage/abc'), 'other');
});

function response(remaining?: number, status = 200): TransportResponse {
  const headers: Record<string, string> = remaining === undefined ? {} : { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': `${remaining};w=21600` };
  return { status, headers, url: new URL('http://r/v2/x/manifests/1'), body: {} as TransportResponse['body'] };
}

const req: TransportRequest = { method: 'GET', url: new URL('http://r/v2/x/manifests/1') };

test('gate: at most maxRequests in flight, released when the answer comes', async () => {
  const gate = new RegistryGate('r', 2, 0, () => undefined);
  let inFlight = 0;
  let peak = 0;
  const next: Send = async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    return response();
  };
  const send = gate.layer()(next);
  await Promise.all(Array.from({ length: 10 }, () => send(req)));
  assert.equal(peak, 2);
  assert.equal(gate.requests.total, 10);
  assert.equal(gate.requests.manifestGet, 10);
});

test('gate budget: never spends below the reserve, then closes and refuses', async () => {
  let remaining = 20;
  let sent = 0;
  const closed: string[] = [];
  const gate = new RegistryGate('hub', 4, 5, (g) => closed.push(g.closed!.reason));
  const next: Send = async () => {
    sent++;
    await new Promise((r) => setTimeout(r, 2));
    return response(--remaining);
  };
  const send = gate.layer()(next);
  const results = await Promise.allSettled(Array.from({ length: 40 }, () => send(req)));
  const refused = results.filter((r) => r.status === 'rejected');
  assert.ok(refused.every((r) => (r as PromiseRejectedResult).reason instanceof RateLimitReserveError));
  // Before the first answer nothing is known: up to 4 go out; after that the budget holds.
  assert.ok(remaining >= 5 - 3, `remaining ${remaining}`);
  assert.ok(sent <= 20 - 5 + 3, `sent ${sent}`);
  assert.deepEqual(closed, ['rate-limit']);
  await assert.rejects(send(req), RateLimitReserveError);
});

test('gate budget: with the first answer known, the reserve is kept exactly', async () => {
  let remaining = 12;
  const gate = new RegistryGate('hub', 4, 5, () => undefined);
  const next: Send = async () => {
    await new Promise((r) => setTimeout(r, 2));
    return response(--remaining);
  };
  const send = gate.layer()(next);
  await send(req);
  await Promise.allSettled(Array.from({ length: 20 }, () => send(req)));
  assert.equal(remaining, 5, 'stopped exactly at the reserve');
  assert.equal(gate.closed?.reason, 'rate-limit');
});

test('gate: a 429 with rate-limit headers closes it; one without is left to the retries', async () => {
  const gate = new RegistryGate('hub', 4, 0, () => undefined);
  assert.equal((await gate.layer()(async () => response(undefined, 429))(req)).status, 429);
  assert.equal(gate.closed, undefined);
  await gate.layer()(async () => response(0, 429))(req);
  // (A function: assert.equal above narrowed `gate.closed` to undefined for the compiler.)
  const closed = (): { reason: string } | undefined => gate.closed;
  assert.equal(closed()?.reason, 'too-many-requests');
});

test('work queue: bounded, ordered, closed with or without what is queued', async () => {
  const q = new WorkQueue<number>(2);
  await q.push(1);
  await q.push(2);
  let third = false;
  const p = q.push(3).then(() => (third = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(third, false, 'the producer waits while the queue is full');
  assert.equal(await q.pull(), 1);
  await p;
  assert.equal(await q.pull(), 2);
  assert.equal(await q.pull(), 3);
  const waiting = q.pull();
  q.close();
  assert.equal(await waiting, undefined);
  const r = new WorkQueue<number>(4);
  await r.push(1);
  assert.equal(r.close(true), 1);
  assert.equal(await r.pull(), undefined);
  assert.equal(await r.push(2), false);
});

/**
 * The sync configuration: YAML read with the `yaml` package, every problem naming the file,
 * line and key path; unknown keys and inline secrets refused; the same rules for a
 * configuration given in code (INVALID_OPTION naming `config.<path>`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSyncConfig, readSyncConfig, sync } from '../../src/sync/index.js';
import { isGantryError } from '../../src/errors.js';

const GOOD = `
jobs: 4
rate-limit-reserve: 10
sources:
  - registry: docker.io
    authfile: /run/secrets/auth.json
    repositories:
      - alpine
      - name: library/nginx
        tags: { semver: ">=1.24 <2", newest: 3 }
    tags:
      regex: '^3\\.'
      exclude-regex: '-rc'
    immutable: '^\\d+\\.\\d+\\.\\d+$'
    platforms: [linux/amd64, linux/arm64]
    destinations:
      - registry: mirror.internal:5000
        strip-prefix: library
        prefix: hub
        tls-verify: false
        creds-file: /run/secrets/mirror
  - registry: localhost:5000
    include: ['team/*', '/^apps\\/.+$/']
    exclude: ['team/tmp-**']
    destinations:
      - registry: 127.0.0.1:6000
        basename: true
`;

test('a full configuration reads into the library shape, names normalised', () => {
  const c = parseSyncConfig(GOOD, 'sync.yaml');
  assert.equal(c.jobs, 4);
  assert.equal(c.rateLimitReserve, 10);
  const hub = c.sources[0]!;
  assert.equal(hub.registry, 'docker.io');
  assert.equal(hub.authFile, '/run/secrets/auth.json');
  assert.deepEqual(hub.repositories, [{ name: 'library/alpine' }, { name: 'library/nginx', tags: { semver: '>=1.24 <2', newest: 3 } }]);
  assert.equal(hub.catalog, false);
  assert.deepEqual(hub.tags, { regex: '^3\\.', excludeRegex: '-rc' });
  assert.deepEqual(hub.platforms, ['linux/amd64', 'linux/arm64']);
  assert.deepEqual(hub.destinations[0], { registry: 'mirror.internal:5000', stripPrefix: 'library', prefix: 'hub', tlsVerify: false, credsFile: '/run/secrets/mirror' });
  const local = c.sources[1]!;
  assert.equal(local.catalog, true, 'no repositories: discovered from the catalog');
  assert.deepEqual(local.include, ['team/*', '/^apps\\/.+$/']);
});

const cases: [string, string, RegExp][] = [
  ['unknown key, with its line', 'sources:\n  - registry: a.io\n    destinations: [{ registry: b.io }]\n    exclude-regexp: x\n', /^f\.yaml:4:5: sources\[0\]\.exclude-regexp: unknown key; the known keys are registry, repositories/],
  ['a misplaced key in a destination', 'sources:\n  - registry: a.io\n    destinations:\n      - registry: b.io\n        tags: {}\n', /^f\.yaml:5:9: sources\[0\]\.destinations\[0\]\.tags: unknown key/],
  ['an inline password is refused, its value never shown', 'sources:\n  - registry: a.io\n    password: hunter2\n    destinations: [{ registry: b.io }]\n', /sources\[0\]\.password: unknown key; secrets are not accepted inline: name a file holding USER:PASS with creds-file/],
  ['YAML 1.2: no is not false', 'sources:\n  - registry: a.io\n    tls-verify: no\n    destinations: [{ registry: b.io }]\n', /f\.yaml:3:17: sources\[0\]\.tls-verify: "no" is not true or false/],
  ['a tag that YAML reads as a number', 'sources:\n  - registry: a.io\n    repositories: [{ name: x, tags: { names: [1.10] } }]\n    destinations: [{ registry: b.io }]\n', /tags\.names\[0\]: 1\.1 is not a string \(quote it/],
  ['a bad semver range', 'sources:\n  - registry: a.io\n    tags: { semver: ">=1.x.y.z" }\n    destinations: [{ registry: b.io }]\n', /sources\[0\]\.tags\.semver: ">=1\.x\.y\.z" is not a semver range/],
  ['a bad regex', 'sources:\n  - registry: a.io\n    tags: { regex: "([" }\n    destinations: [{ registry: b.io }]\n', /sources\[0\]\.tags\.regex: "\(\[" is not a regular expression/],
  ['a bare word is not a registry', 'sources:\n  - registry: myhost\n    destinations: [{ registry: b.io }]\n', /sources\[0\]\.registry: "myhost" is not a registry host/],
  ['a missing key', 'sources:\n  - registry: a.io\n', /f\.yaml:2:5: sources\[0\]\.destinations: expected a value: the key is required/],
  ['no destination', 'sources:\n  - registry: a.io\n    destinations: []\n', /sources\[0\]\.destinations: expected at least one destination/],
  ['include without the catalog', 'sources:\n  - registry: a.io\n    repositories: [x]\n    include: ["*"]\n    destinations: [{ registry: b.io }]\n', /sources\[0\]\.include: expected catalog: true beside it/],
  ['a repository with a tag', 'sources:\n  - registry: a.io\n    repositories: ["x:1"]\n    destinations: [{ registry: b.io }]\n', /repositories\[0\]: "x:1" is not a repository name without tag/],
  ['jobs out of range', 'jobs: 0\nsources: []\n', /f\.yaml:1:7: jobs: 0 is not an integer from 1 to 256/],
  ['a bad platform', 'sources:\n  - registry: a.io\n    platforms: [amd64]\n    destinations: [{ registry: b.io }]\n', /platforms\[0\]: "amd64" is not a platform/],
  ['not YAML', 'sources: [\n', /^f\.yaml:\d+:\d+: not valid YAML/],
  ['duplicate keys', 'jobs: 1\njobs: 2\nsources: []\n', /^f\.yaml:2:1: not valid YAML: Map keys must be unique/],
  ['an empty file', '', /^f\.yaml: the file: expected a mapping with a "sources" list/],
];

for (const [name, yaml, message] of cases) {
  test(`refused: ${name}`, () => {
    assert.throws(() => parseSyncConfig(yaml, 'f.yaml'), (err: unknown) => {
      assert.ok(isGantryError(err, 'INVALID_CONFIG'), String(err));
      assert.match((err as Error).message, message);
      assert.doesNotMatch((err as Error).message, /hunter2/);
      return true;
    });
  });
}

test('an alias bomb stops at the alias cap', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`), 'sources: []'].join('\n');
  assert.throws(() => parseSyncConfig(bomb, 'bomb.yaml'), (err: unknown) => isGantryError(err, 'INVALID_CONFIG'));
});

test('readSyncConfig names the file it cannot read, and reads one it can', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-sync-config-'));
  try {
    await assert.rejects(readSyncConfig(join(dir, 'missing.yaml')), /missing\.yaml: cannot read the sync configuration: ENOENT/);
    const file = join(dir, 'sync.yaml');
    writeFileSync(file, GOOD);
    assert.equal((await readSyncConfig(file)).sources.length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sync() checks a configuration given in code with camelCase keys: INVALID_OPTION naming the path', async () => {
  const dest = [{ registry: 'b.io' }];
  await assert.rejects(sync({ sources: [{ registry: 'a.io', destinations: dest, excludeRegexp: 'x' } as never] }), (err: unknown) => {
    assert.ok(isGantryError(err, 'INVALID_OPTION'));
    assert.match((err as Error).message, /sync: invalid option config\.sources\[0\]\.excludeRegexp: .*no such key; the known keys are registry, repositories/);
    return true;
  });
  await assert.rejects(sync({ sources: [{ registry: 'a.io', destinations: dest, tags: { newest: 0 } }] }), /config\.sources\[0\]\.tags\.newest: 0 \(expected an integer from 1 to 10000\)/);
  await assert.rejects(sync({ sources: [{ registry: 'a.io', destinations: [{ registry: 'b.io', credentials: { username: 'u', password: 'hunter2', extra: 1 } as never }] }] }), (err: unknown) => {
    assert.match((err as Error).message, /config\.sources\[0\]\.destinations\[0\]\.credentials/);
    assert.doesNotMatch((err as Error).message, /hunter2/);
    return true;
  });
  // The run's own options, each named.
  await assert.rejects(sync({ sources: [{ registry: 'a.io', destinations: dest }] }, { jobs: 0 }), /sync: invalid option jobs: 0/);
  await assert.rejects(sync({ sources: [{ registry: 'a.io', destinations: dest }] }, { shard: { index: 2, count: 2 } }), /sync: invalid option shard/);
});

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { matchPrefix, RegistriesConf } from '../../src/config/index.js';
import { ErrorCode, GantryError } from '../../src/errors.js';
import { Reference } from '../../src/ref/reference.js';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-registries-conf-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function invalid(fragment: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof GantryError && err.code === ErrorCode.INVALID_CONFIG, String(err));
    assert.ok(err.message.includes(fragment), `${err.message} should include ${fragment}`);
    return true;
  };
}

const sources = (conf: RegistriesConf, ref: string) => conf.pullSources(Reference.parse(ref)).map((s) => `${s.mirror ? 'mirror ' : ''}${s.reference.canonical()}${s.insecure ? ' (insecure)' : ''}`);

describe('registries.conf prefix matching (containers-registries.conf(5))', () => {
  test('a prefix matches up to a separator, never inside a path component', () => {
    assert.equal(matchPrefix('example.com/foo/bar:1', 'example.com/foo'), 'example.com/foo'.length);
    assert.equal(matchPrefix('example.com/foo', 'example.com/foo'), 'example.com/foo'.length);
    assert.equal(matchPrefix('example.com/foo@sha256:00', 'example.com/foo'), 'example.com/foo'.length);
    assert.equal(matchPrefix('example.com/foobar/x', 'example.com/foo'), -1);
    assert.equal(matchPrefix('example.com:5000/x', 'example.com'), 'example.com'.length);
    assert.equal(matchPrefix('example.co/x', 'example.com'), -1);
  });

  test('*.example.com matches any depth of subdomain in the host, nothing in the path', () => {
    assert.equal(matchPrefix('a.example.com/x:1', '*.example.com'), 'a.example.com'.length);
    assert.equal(matchPrefix('b.a.example.com:5000/x', '*.example.com'), 'b.a.example.com'.length);
    assert.equal(matchPrefix('example.com/x', '*.example.com'), -1);
    assert.equal(matchPrefix('a.example.com.evil.org/x', '*.example.com'), -1);
    assert.equal(matchPrefix('evil.org/a.example.com/x', '*.example.com'), -1);
  });

  test('the longest prefix wins; the man page example rewrites and orders the mirrors', () => {
    const conf = RegistriesConf.parse(
      `unqualified-search-registries = ["example.com"]
[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"
[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"
[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true
[[registry]]
location = "registry.com"
[[registry.mirror]]
location = "mirror.registry.com"
[[registry]]
location = "example.com"
insecure = true
`,
      '/etc/containers/registries.conf',
    );
    assert.deepEqual(sources(conf, 'example.com/foo/image:latest'), [
      'mirror example-mirror-0.local/mirror-for-foo/image:latest',
      'mirror example-mirror-1.local/mirrors/foo/image:latest (insecure)',
      'internal-registry-for-example.com/bar/image:latest',
    ]);
    // Only the chosen table's mirrors: registry.com's mirror is not used for example.com/foo.
    assert.deepEqual(sources(conf, 'registry.com/image:latest'), ['mirror mirror.registry.com/image:latest', 'registry.com/image:latest']);
    assert.deepEqual(sources(conf, 'example.com/other:1'), ['example.com/other:1 (insecure)']);
    assert.deepEqual(sources(conf, 'quay.io/a/b:1'), ['quay.io/a/b:1']);
    assert.equal(conf.find('example.com/foo/x')?.prefix, 'example.com/foo');
    assert.equal(conf.find('example.com/foox')?.prefix, 'example.com');
  });

  test('pull-from-mirror and mirror-by-digest-only pick mirrors by the kind of reference', () => {
    const conf = RegistriesConf.parse(
      `[[registry]]
location = "src.example"
[[registry.mirror]]
location = "digests.example"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.example"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "all.example"
[[registry]]
location = "pinned.example"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.example"
`,
      'f.conf',
    );
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(sources(conf, 'src.example/app:1'), ['mirror tags.example/app:1', 'mirror all.example/app:1', 'src.example/app:1']);
    assert.deepEqual(sources(conf, `src.example/app@${digest}`), [`mirror digests.example/app@${digest}`, `mirror all.example/app@${digest}`, `src.example/app@${digest}`]);
    assert.deepEqual(sources(conf, 'pinned.example/app:1'), ['pinned.example/app:1']);
    assert.deepEqual(sources(conf, `pinned.example/app@${digest}`), [`mirror m.example/app@${digest}`, `pinned.example/app@${digest}`]);
  });

  test('docker.io names are matched in their normalised form (docker.io/library/…)', () => {
    const conf = RegistriesConf.parse(
      `[[registry]]
prefix = "docker.io/library/alpine"
location = "mirror.lan:5000/hub/alpine"
`,
      'f.conf',
    );
    assert.deepEqual(sources(conf, 'alpine:3'), ['mirror.lan:5000/hub/alpine:3']);
    assert.deepEqual(sources(conf, 'alpine/git:1'), ['docker.io/alpine/git:1']);
  });

  test('a wildcard table applies its flags without rewriting', () => {
    const conf = RegistriesConf.parse('[[registry]]\nprefix = "*.corp.example"\ninsecure = true\n', 'f.conf');
    assert.deepEqual(sources(conf, 'r1.corp.example/x:1'), ['r1.corp.example/x:1 (insecure)']);
    assert.equal(conf.find('corp.example/x'), undefined);
  });
});

describe('registries.conf blocked', () => {
  test('a blocked registry or namespace is BLOCKED, naming the prefix and the file', () => {
    const conf = RegistriesConf.parse('[[registry]]\nlocation = "bad.example"\nblocked = true\n[[registry]]\nprefix = "good.example/secret"\nlocation = "good.example/secret"\nblocked = true\n', '/tmp/r.conf');
    for (const name of ['bad.example/app:1', 'good.example/secret/app:1']) {
      assert.throws(
        () => conf.checkNotBlocked(Reference.parse(name)),
        (err: unknown) => err instanceof GantryError && err.code === ErrorCode.BLOCKED && err.message.includes('is blocked in /tmp/r.conf'),
      );
    }
    conf.checkNotBlocked(Reference.parse('good.example/public/app:1'));
    conf.checkNotBlocked('good.example');
  });
});

describe('registries.conf version 1', () => {
  test('[registries.insecure] and [registries.block] become tables for those hosts', () => {
    const conf = RegistriesConf.parse(
      '[registries.search]\nregistries = ["docker.io"]\n[registries.insecure]\nregistries = ["lan:5000"]\n[registries.block]\nregistries = ["evil.example", "lan:5000"]\n',
      'v1.conf',
    );
    assert.deepEqual(
      conf.registries.map((r) => [r.prefix, r.insecure, r.blocked]),
      [
        ['evil.example', false, true],
        ['lan:5000', true, true],
      ],
    );
  });

  test('mixing the formats is refused', () => {
    assert.throws(() => RegistriesConf.parse('[registries.block]\nregistries = ["a.example"]\n[[registry]]\nlocation = "b.example"\n', 'mix.conf'), invalid('mixes the version 1'));
  });
});

describe('registries.conf bad input', () => {
  const cases: [string, string, string][] = [
    ['syntax', '[[registry]\nlocation = "a"', 'registries.conf bad.conf: line 1'],
    ['no location or prefix', '[[registry]]\ninsecure = true\n', 'both location and prefix are unset'],
    ['a scheme', '[[registry]]\nlocation = "https://a.example"\n', 'URI schemes are not supported'],
    ['a wrong type', '[[registry]]\nlocation = "a.example"\ninsecure = "yes"\n', '"insecure" must be true or false'],
    ['prefix without location', '[[registry]]\nprefix = "a.example/x"\n', 'location is unset and prefix "a.example/x"'],
    ['a wildcard in a path', '[[registry]]\nprefix = "*.a.example/foo"\nlocation = "b.example"\n', 'a wildcard is allowed only as *.example.com'],
    ['pull-from-mirror on a registry', '[[registry]]\nlocation = "a.example"\npull-from-mirror = "all"\n', 'pull-from-mirror must not be set on a registry'],
    ['a bad pull-from-mirror', '[[registry]]\nlocation = "a.example"\n[[registry.mirror]]\nlocation = "m.example"\npull-from-mirror = "sometimes"\n', 'unsupported pull-from-mirror value "sometimes"'],
    ['both digest-only settings', '[[registry]]\nlocation = "a.example"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.example"\npull-from-mirror = "tag-only"\n', 'cannot both be set'],
    ['a mirror without location', '[[registry]]\nlocation = "a.example"\n[[registry.mirror]]\ninsecure = true\n', 'the mirror location is unset'],
    ['conflicting duplicates', '[[registry]]\nlocation = "a.example"\ninsecure = true\n[[registry]]\nprefix = "x.example"\nlocation = "a.example"\n', 'conflicting "insecure"'],
  ];
  for (const [what, text, fragment] of cases) {
    test(`${what} is INVALID_CONFIG naming the file and the rule`, () => {
      assert.throws(() => RegistriesConf.parse(text, 'bad.conf'), invalid(fragment));
    });
  }

  test('a location that does not rewrite to a qualified reference fails when used', () => {
    const conf = RegistriesConf.parse('[[registry]]\nprefix = "a.example"\nlocation = "nodots"\n', 'r.conf');
    assert.throws(() => conf.pullSources(Reference.parse('a.example/app:1')), invalid('which is not fully qualified'));
  });

  test('unknown keys are warnings, as podman ignores them', () => {
    const conf = RegistriesConf.parse('[[registry]]\nlocation = "a.example"\nblock = true\n', 'w.conf');
    assert.equal(conf.find('a.example/x')?.blocked, false);
    assert.deepEqual(conf.warnings, ['w.conf: [[registry]] #1: unknown key "block" ignored']);
  });
});

describe('RegistriesConf.load', () => {
  test('the named file, then drop-ins in name order, a drop-in replacing the table of the same prefix', async (t) => {
    const dir = await tempDir(t);
    const home = join(dir, 'home');
    await mkdir(join(home, '.config/containers/registries.conf.d'), { recursive: true });
    const main = join(dir, 'main.conf');
    await writeFile(main, '[[registry]]\nlocation = "a.example"\ninsecure = true\n[[registry]]\nlocation = "b.example"\n');
    await writeFile(join(home, '.config/containers/registries.conf.d/20-late.conf'), '[[registry]]\nlocation = "a.example"\nblocked = true\n');
    await writeFile(join(home, '.config/containers/registries.conf.d/10-early.conf'), '[[registry]]\nlocation = "a.example"\n');
    await writeFile(join(home, '.config/containers/registries.conf.d/ignored.txt'), 'not toml [');
    const conf = await RegistriesConf.load({ file: main, env: { HOME: home } });
    const a = conf.find('a.example/x');
    assert.equal(a?.blocked, true);
    assert.equal(a?.insecure, false);
    assert.equal(conf.find('b.example/x')?.location, 'b.example');
    assert.deepEqual(conf.files.slice(-2), [join(home, '.config/containers/registries.conf.d/10-early.conf'), join(home, '.config/containers/registries.conf.d/20-late.conf')]);
  });

  test('CONTAINERS_REGISTRIES_CONF names the main file; a named file that is missing is an error', async (t) => {
    const dir = await tempDir(t);
    const main = join(dir, 'env.conf');
    await writeFile(main, '[[registry]]\nlocation = "env.example"\nblocked = true\n');
    const conf = await RegistriesConf.load({ env: { HOME: dir, CONTAINERS_REGISTRIES_CONF: main } });
    assert.equal(conf.find('env.example/x')?.blocked, true);
    await assert.rejects(RegistriesConf.load({ file: join(dir, 'nope.conf'), env: { HOME: dir } }), invalid('no such file'));
  });

  test('~/.config/containers/registries.conf is used when it exists', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, '.config/containers'), { recursive: true });
    await writeFile(join(dir, '.config/containers/registries.conf'), '[[registry]]\nlocation = "user.example"\ninsecure = true\n');
    const conf = await RegistriesConf.load({ env: { HOME: dir } });
    assert.deepEqual(conf.files, [join(dir, '.config/containers/registries.conf')]);
    assert.equal(conf.find('user.example/x')?.insecure, true);
  });

  test('a drop-in in the version 1 format is refused', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, '.config/containers/registries.conf.d'), { recursive: true });
    const main = join(dir, 'main.conf');
    await writeFile(main, '');
    await writeFile(join(dir, '.config/containers/registries.conf.d/v1.conf'), '[registries.block]\nregistries = ["x.example"]\n');
    await assert.rejects(RegistriesConf.load({ file: main, env: { HOME: dir } }), invalid('a drop-in file must use the version 2 format'));
  });
});

describe('accessFor: the table decides per image, the caller\'s tlsVerify wins', () => {
  const conf = RegistriesConf.parse(
    '[[registry]]\nlocation = "lan.example:5000"\ninsecure = true\n[[registry]]\nprefix = "lan.example:5000/strict"\nlocation = "lan.example:5000/strict"\n',
    'a.conf',
  );
  test('insecure becomes tlsVerify false; a namespace table that is not insecure keeps the default', async () => {
    const { accessFor } = await import('../../src/client/connect.js');
    assert.equal(accessFor(Reference.parse('lan.example:5000/app:1'), { registriesConf: conf }).tlsVerify, false);
    assert.equal(accessFor(Reference.parse('lan.example:5000/strict/app:1'), { registriesConf: conf }).tlsVerify, undefined);
    assert.equal(accessFor(Reference.parse('lan.example:5000/app:1'), { registriesConf: conf, tlsVerify: true }).tlsVerify, true);
    assert.equal('registriesConf' in accessFor('lan.example:5000', { registriesConf: conf }), false);
  });

  test('connectRegistry refuses a RegistriesConf that is not one (INVALID_OPTION)', async () => {
    const { connectRegistry } = await import('../../src/client/connect.js');
    await assert.rejects(
      connectRegistry('lan.example:5000', 'pull', { registriesConf: { find: () => undefined } as unknown as RegistriesConf }),
      (err: unknown) => err instanceof GantryError && err.code === ErrorCode.INVALID_OPTION && err.message.includes('registriesConf'),
    );
  });
});

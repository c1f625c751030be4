import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Digest, Reference, Repository, parseRepository, splitReposSearchTerm } from '../../src/ref/index.js';
import { InvalidReferenceError } from '../../src/errors.js';

const HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const DGST = `sha256:${HEX}`;

function refuses(input: string, message: string): void {
  assert.throws(() => Reference.parse(input), (err: unknown) => {
    assert.ok(err instanceof InvalidReferenceError, String(err));
    assert.equal(err.message, message);
    return true;
  });
}

describe('Reference.parse normalises like ParseNormalizedNamed', () => {
  // input → domain, path, tag, digest, familiar string, canonical string
  const rows: [string, string, string, string | undefined, string | undefined, string, string][] = [
    ['ubuntu', 'docker.io', 'library/ubuntu', undefined, undefined, 'ubuntu', 'docker.io/library/ubuntu'],
    ['ubuntu:22.04', 'docker.io', 'library/ubuntu', '22.04', undefined, 'ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['library/ubuntu', 'docker.io', 'library/ubuntu', undefined, undefined, 'ubuntu', 'docker.io/library/ubuntu'],
    ['docker.io/ubuntu', 'docker.io', 'library/ubuntu', undefined, undefined, 'ubuntu', 'docker.io/library/ubuntu'],
    ['index.docker.io/ubuntu', 'docker.io', 'library/ubuntu', undefined, undefined, 'ubuntu', 'docker.io/library/ubuntu'],
    ['index.docker.io/docker/docker', 'docker.io', 'docker/docker', undefined, undefined, 'docker/docker', 'docker.io/docker/docker'],
    ['docker/docker', 'docker.io', 'docker/docker', undefined, undefined, 'docker/docker', 'docker.io/docker/docker'],
    ['library/a/b', 'docker.io', 'library/a/b', undefined, undefined, 'library/a/b', 'docker.io/library/a/b'],
    ['localhost/foo', 'localhost', 'foo', undefined, undefined, 'localhost/foo', 'localhost/foo'],
    ['localhost:5000/foo/bar:v1', 'localhost:5000', 'foo/bar', 'v1', undefined, 'localhost:5000/foo/bar:v1', 'localhost:5000/foo/bar:v1'],
    ['example.com/foo', 'example.com', 'foo', undefined, undefined, 'example.com/foo', 'example.com/foo'],
    ['example:5000/foo', 'example:5000', 'foo', undefined, undefined, 'example:5000/foo', 'example:5000/foo'],
    // An upper-case first component cannot be a path, so it is a registry.
    ['Example/foo', 'Example', 'foo', undefined, undefined, 'Example/foo', 'Example/foo'],
    ['[::1]:5000/docker', '[::1]:5000', 'docker', undefined, undefined, '[::1]:5000/docker', '[::1]:5000/docker'],
    ['[fc00:1:2:3:4:5:6:7]:5000/library/debian', '[fc00:1:2:3:4:5:6:7]:5000', 'library/debian', undefined, undefined, '[fc00:1:2:3:4:5:6:7]:5000/library/debian', '[fc00:1:2:3:4:5:6:7]:5000/library/debian'],
    ['192.168.0.1:8/debian', '192.168.0.1:8', 'debian', undefined, undefined, '192.168.0.1:8/debian', '192.168.0.1:8/debian'],
    // No slash: a dotted name with a "port" is an official image with a tag.
    ['192.168.0.1:80', 'docker.io', 'library/192.168.0.1', '80', undefined, '192.168.0.1:80', 'docker.io/library/192.168.0.1:80'],
    [`ubuntu@${DGST}`, 'docker.io', 'library/ubuntu', undefined, DGST, `ubuntu@${DGST}`, `docker.io/library/ubuntu@${DGST}`],
    [`ubuntu:22.04@${DGST}`, 'docker.io', 'library/ubuntu', '22.04', DGST, `ubuntu:22.04@${DGST}`, `docker.io/library/ubuntu:22.04@${DGST}`],
    [`example.com:5000/a/b:T_1.x-y@${DGST}`, 'example.com:5000', 'a/b', 'T_1.x-y', DGST, `example.com:5000/a/b:T_1.x-y@${DGST}`, `example.com:5000/a/b:T_1.x-y@${DGST}`],
    ['a__b/c-d---e/f.g_h', 'docker.io', 'a__b/c-d---e/f.g_h', undefined, undefined, 'a__b/c-d---e/f.g_h', 'docker.io/a__b/c-d---e/f.g_h'],
    [`docker.io/${HEX}`, 'docker.io', `library/${HEX}`, undefined, undefined, HEX, `docker.io/library/${HEX}`],
    ['ubuntu-12.04-base', 'docker.io', 'library/ubuntu-12.04-base', undefined, undefined, 'ubuntu-12.04-base', 'docker.io/library/ubuntu-12.04-base'],
  ];
  for (const [input, domain, path, tag, digest, familiar, canonical] of rows) {
    test(input, () => {
      const ref = Reference.parse(input);
      assert.equal(ref.repository.domain, domain);
      assert.equal(ref.repository.path, path);
      assert.equal(ref.tag, tag);
      assert.equal(ref.digest?.toString(), digest);
      assert.equal(ref.familiar(), familiar);
      assert.equal(ref.canonical(), canonical);
      assert.equal(ref.toString(), canonical);
      assert.ok(Object.isFrozen(ref) && Object.isFrozen(ref.repository));
      // Normalising is idempotent: the canonical form parses to the same value.
      assert.ok(Reference.parse(canonical).equals(ref));
      // A familiar 64-hex name is the one form Docker cannot read back (it looks like an image ID).
      if (familiar !== HEX) assert.ok(Reference.parse(familiar).equals(ref));
    });
  }
});

describe('Reference.parse refuses with Docker’s texts', () => {
  const rows: [string, string][] = [
    [HEX, `invalid repository name (${HEX}), cannot specify 64-byte hexadecimal strings`],
    ['docker/Docker', 'invalid reference format: repository name (docker/Docker) must be lowercase'],
    ['docker.io/docker/Docker', 'invalid reference format: repository name (docker/Docker) must be lowercase'],
    ['Ubuntu', 'invalid reference format: repository name (library/Ubuntu) must be lowercase'],
    ['Example/Foo:v1', 'invalid reference format: repository name (Foo) must be lowercase'],
    ['', 'invalid reference format'],
    ['https://github.com/docker/docker', 'invalid reference format'],
    ['-docker', 'invalid reference format'],
    ['-docker/docker', 'invalid reference format'],
    ['-docker.io/docker/docker', 'invalid reference format'],
    ['docker///docker', 'invalid reference format'],
    ['docker.io/docker///docker', 'invalid reference format'],
    ['[fc00::1]', 'invalid reference format'],
    ['[fc00::1]:5000', 'invalid reference format'],
    ['fc00::1:5000/debian', 'invalid reference format'],
    ['[fe80::1%eth0]:5000/debian', 'invalid reference format'],
    ['[2001:db8:3:4::192.0.2.33]:5000/debian', 'invalid reference format'],
    ['ubuntu:', 'invalid reference format'],
    ['ubuntu:-tag', 'invalid reference format'],
    [`ubuntu:${'a'.repeat(129)}`, 'invalid reference format'],
    ['ubuntu@sha256:abc', 'invalid reference format'],
    [`ubuntu@sha256:${HEX}0`, 'invalid checksum digest length'],
    [`ubuntu@sha384:${'a'.repeat(96)}`, 'unsupported digest algorithm'],
    // Docker cuts the name at the first ':' before its lower-case check, so this is a name error.
    [`ubuntu@Sha256:${HEX}`, 'invalid reference format: repository name (library/ubuntu@Sha256) must be lowercase'],
    [`localhost/ubuntu@Sha256:${HEX}`, 'invalid reference format: repository name (ubuntu@Sha256) must be lowercase'],
    [`localhost/ubuntu:1@Sha256:${HEX}`, 'invalid checksum digest format'],
    [`ubuntu@sha256:${HEX.toUpperCase()}`, 'invalid checksum digest format'],
    [`example.com/${'a'.repeat(244)}`, 'repository name must not be more than 255 characters'],
  ];
  for (const [input, message] of rows) {
    test(`${input.slice(0, 50)} → ${message.slice(0, 60)}`, () => refuses(input, message));
  }

  test('only a bare 64-hex string is taken for an image ID', () => {
    assert.equal(Reference.parse(`${HEX}:tag`).canonical(), `docker.io/library/${HEX}:tag`);
  });

  test('the 255 limit counts the whole name, domain included', () => {
    assert.equal(Reference.parse(`example.com/${'a'.repeat(243)}`).name.length, 255);
    // `docker.io/library/` is 18 characters of the 255.
    assert.equal(Reference.parse(`${'a'.repeat(237)}:tag`).name.length, 255);
    refuses('a'.repeat(238), 'repository name must not be more than 255 characters');
  });

  test('a long malformed input fails fast', () => {
    const start = process.hrtime.bigint();
    refuses(`${'a-'.repeat(50000)}!`, 'invalid reference format');
    assert.ok(process.hrtime.bigint() - start < 2_000_000_000n);
  });
});

describe('Reference values', () => {
  test('withTag keeps a digest, withDigest keeps a tag', () => {
    const ref = Reference.parse(`ubuntu@${DGST}`);
    assert.equal(ref.withTag('22.04').canonical(), `docker.io/library/ubuntu:22.04@${DGST}`);
    const tagged = Reference.parse('ubuntu:22.04');
    assert.equal(tagged.withDigest(DGST).canonical(), `docker.io/library/ubuntu:22.04@${DGST}`);
    assert.equal(tagged.withDigest(Digest.parse(DGST)).familiar(), `ubuntu:22.04@${DGST}`);
    assert.equal(tagged.tag, '22.04', 'the original is unchanged');
    assert.throws(() => tagged.withTag('-bad'), /^InvalidReferenceError: invalid tag format$/);
    assert.throws(() => tagged.withDigest('sha256:abc'), /invalid checksum digest length/);
  });

  test('withDefaultTag adds latest only to a bare name (TagNameOnly)', () => {
    assert.equal(Reference.parse('ubuntu').withDefaultTag().canonical(), 'docker.io/library/ubuntu:latest');
    assert.equal(Reference.parse('ubuntu:1').withDefaultTag().canonical(), 'docker.io/library/ubuntu:1');
    assert.equal(Reference.parse(`ubuntu@${DGST}`).withDefaultTag().canonical(), `docker.io/library/ubuntu@${DGST}`);
  });

  test('identifier is the digest, else the tag, else latest', () => {
    assert.equal(Reference.parse(`a:1@${DGST}`).identifier, DGST);
    assert.equal(Reference.parse('a:1').identifier, '1');
    assert.equal(Reference.parse('a').identifier, 'latest');
  });

  test('equality and JSON are by canonical form', () => {
    assert.ok(Reference.parse('ubuntu').equals(Reference.parse('docker.io/library/ubuntu')));
    assert.ok(!Reference.parse('ubuntu').equals(Reference.parse('ubuntu:latest')));
    assert.equal(JSON.stringify([Reference.parse('ubuntu:1')]), '["docker.io/library/ubuntu:1"]');
    assert.ok(Reference.parse('a/b').repository.equals(Repository.from('docker.io', 'a/b')));
  });

  test('official and familiar names of repositories', () => {
    assert.equal(Repository.from('docker.io', 'library/ubuntu').official, true);
    assert.equal(Repository.from('docker.io', 'library/ubuntu').familiar, 'ubuntu');
    assert.equal(Repository.from('docker.io', 'fooo/bar').official, false);
    assert.equal(Repository.from('example.com', 'ubuntu').official, false);
    assert.equal(Repository.from('example.com', 'library/ubuntu').familiar, 'example.com/library/ubuntu');
    assert.throws(() => Repository.from('example.com', 'Ubuntu'), /invalid reference format/);
    assert.throws(() => Repository.from('exa mple.com', 'ubuntu'), /invalid reference format/);
  });
});

describe('parseRepository', () => {
  test('normalises a bare name', () => {
    assert.equal(parseRepository('ubuntu').name, 'docker.io/library/ubuntu');
    assert.equal(parseRepository('localhost:5000/a/b').toString(), 'localhost:5000/a/b');
  });
  test('refuses a tag or digest', () => {
    assert.throws(() => parseRepository('ubuntu:22.04'), (err: unknown) => {
      assert.ok(err instanceof InvalidReferenceError);
      assert.match(err.message, /^invalid reference format: ubuntu:22\.04 names a repository/);
      return true;
    });
    assert.throws(() => parseRepository(`ubuntu@${DGST}`), InvalidReferenceError);
    assert.throws(() => parseRepository('docker/Docker'), /repository name \(docker\/Docker\) must be lowercase/);
  });
});

describe('splitReposSearchTerm', () => {
  const rows: [string, string, string][] = [
    ['ubuntu', 'docker.io', 'ubuntu'],
    ['samalba/hipache', 'docker.io', 'samalba/hipache'],
    ['example.com/a/b', 'example.com', 'a/b'],
    ['localhost/a', 'localhost', 'a'],
    ['host:5000/a', 'host:5000', 'a'],
    ['index.docker.io/a', 'index.docker.io', 'a'],
    ['localhostx/a', 'docker.io', 'localhostx/a'],
  ];
  for (const [term, indexName, remoteName] of rows) {
    test(term, () => assert.deepEqual(splitReposSearchTerm(term), { indexName, remoteName }));
  }
});

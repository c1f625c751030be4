import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Digest } from '../../src/ref/index.js';
import { InvalidReferenceError } from '../../src/errors.js';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const EMPTY_SHA512 =
  'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

const valid: [string, string, string][] = [
  [`sha256:${EMPTY_SHA256}`, 'sha256', EMPTY_SHA256],
  [`sha512:${EMPTY_SHA512}`, 'sha512', EMPTY_SHA512],
];

// go-digest's order of checks decides which of its three messages a bad digest gets.
const invalid: [string, string][] = [
  ['', 'invalid checksum digest format'],
  ['sha256', 'invalid checksum digest format'],
  ['sha256:', 'invalid checksum digest format'],
  [`:${EMPTY_SHA256}`, 'invalid checksum digest format'],
  ['sha256:abc', 'invalid checksum digest length'],
  [`sha256:${EMPTY_SHA256}00`, 'invalid checksum digest length'],
  [`sha256:${EMPTY_SHA256.toUpperCase()}`, 'invalid checksum digest format'],
  [`sha256:${'g'.repeat(64)}`, 'invalid checksum digest format'],
  [`sha512:${EMPTY_SHA256}`, 'invalid checksum digest length'],
  [`md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
  [`sha384:${'a'.repeat(96)}`, 'unsupported digest algorithm'],
  [`foo+bar:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
  [`SHA256:${EMPTY_SHA256}`, 'invalid checksum digest format'],
  [`md5:${'a'.repeat(31)}!`, 'invalid checksum digest format'],
];

describe('Digest.parse', () => {
  for (const [input, algorithm, encoded] of valid) {
    test(`accepts ${input.slice(0, 16)}…`, () => {
      const d = Digest.parse(input);
      assert.equal(d.algorithm, algorithm);
      assert.equal(d.encoded, encoded);
      assert.equal(d.toString(), input);
      assert.ok(Object.isFrozen(d));
    });
  }
  for (const [input, message] of invalid) {
    test(`refuses ${JSON.stringify(input.slice(0, 24))} with "${message}"`, () => {
      assert.throws(() => Digest.parse(input), (err: unknown) => {
        assert.ok(err instanceof InvalidReferenceError);
        assert.equal(err.code, 'INVALID_REFERENCE');
        assert.equal(err.message, message);
        return true;
      });
    });
  }
});

describe('Digest.tryParse', () => {
  // The registry's view of a path or parameter: the same digests as parse, refusals as undefined.
  for (const [input] of valid) {
    test(`accepts ${input.slice(0, 16)}… and gives it back unchanged`, () => {
      const d = Digest.tryParse(input);
      assert.ok(d);
      assert.ok(d.equals(Digest.parse(input)));
      assert.equal(d.toString(), input);
    });
  }
  test('refuses every digest parse refuses, and names that are not digests', () => {
    for (const [input] of invalid) assert.equal(Digest.tryParse(input), undefined, input);
    for (const input of ['latest', 'v1.0', `sha256:${EMPTY_SHA256}\n`, `sha256:${EMPTY_SHA256}/x`, `constructor:${'a'.repeat(64)}`]) {
      assert.equal(Digest.tryParse(input), undefined, input);
    }
  });
});

describe('Digest.fromBytes', () => {
  test('hashes with sha256 by default and sha512 on request', () => {
    assert.equal(Digest.fromBytes(new Uint8Array()).toString(), `sha256:${EMPTY_SHA256}`);
    assert.equal(Digest.fromBytes(Buffer.alloc(0), 'sha512').toString(), `sha512:${EMPTY_SHA512}`);
    assert.equal(
      Digest.fromBytes(Buffer.from('hello')).encoded,
      '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    );
  });

  test('equality is by value', () => {
    const a = Digest.fromBytes(Buffer.from('x'));
    assert.ok(a.equals(Digest.parse(a.toString())));
    assert.ok(!a.equals(Digest.fromBytes(Buffer.from('y'))));
    assert.ok(!a.equals(Digest.fromBytes(Buffer.from('x'), 'sha512')));
    assert.equal(JSON.stringify({ a }), `{"a":"${a.toString()}"}`);
  });
});

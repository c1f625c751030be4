/**
 * Edges of the public API a reviewer found while documenting it: an option given as
 * `undefined` means its default, a bad host is INVALID_OPTION, a login without a password is
 * refused before anything is sent, and a sha512 subject still has a valid referrers tag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isGantryError, login, Reference, RegistryClient } from '../../src/index.js';
import { referrersTag } from '../../src/client/referrers.js';
import { Digest } from '../../src/ref/digest.js';
import { DEFAULT_TIMEOUTS, resolveTimeouts } from '../../src/transport/timeouts.js';

test('a timeout given as undefined keeps its default (a ping never loses its deadline)', () => {
  const t = resolveTimeouts({ pingMs: undefined, connectMs: 5, lowSpeed: { windowMs: undefined, bytesPerSecond: 10 } }, 'Transport');
  assert.equal(t.pingMs, DEFAULT_TIMEOUTS.pingMs);
  assert.equal(t.connectMs, 5);
  assert.deepEqual(t.lowSpeed, { bytesPerSecond: 10, windowMs: (DEFAULT_TIMEOUTS.lowSpeed as { windowMs: number }).windowMs });
});

test('RegistryClient.create with a bad host is INVALID_OPTION naming host', () => {
  for (const host of ['', 'https://registry.example', 'a b', 42]) {
    assert.throws(() => RegistryClient.create({ host: host as string }), (err) => isGantryError(err, ErrorCode.INVALID_OPTION) && /invalid option host/.test(err.message));
  }
});

test('login without a password is INVALID_OPTION, before any request', async () => {
  // 127.0.0.1:9 (discard) would refuse a connection: the error must come before one is tried.
  await assert.rejects(login('127.0.0.1:9', { username: 'alice' } as never), (err) => isGantryError(err, ErrorCode.INVALID_OPTION) && /password/.test(err.message));
});

test('the referrers tag cuts a sha512 digest to 64 hex characters, a valid tag', () => {
  const sha512 = Digest.fromBytes(Buffer.from('subject'), 'sha512');
  const tag = referrersTag(sha512);
  assert.equal(tag, `sha512-${sha512.encoded.slice(0, 64)}`);
  assert.equal(Reference.parse(`registry.example/app:${tag}`).tag, tag);
  const sha256 = Digest.fromBytes(Buffer.from('subject'));
  assert.equal(referrersTag(sha256), `sha256-${sha256.encoded}`);
});

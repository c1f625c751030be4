import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { MediaType } from '../../src/oci/media-types.js';
import { formatPlatform, hostPlatform, matchPlatform, normalizePlatform, parsePlatform, selectManifest } from '../../src/oci/platform.js';
import type { Platform } from '../../src/oci/platform.js';
import { Digest } from '../../src/ref/digest.js';

describe('parsePlatform / formatPlatform / normalizePlatform', () => {
  const rows: [string, string][] = [
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/aarch64', 'linux/arm64/v8'],
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/arm64/8', 'linux/arm64/v8'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['Linux/AMD64', 'linux/amd64'],
    ['linux/i386', 'linux/386'],
    ['windows/amd64', 'windows/amd64'],
    ['linux/s390x', 'linux/s390x'],
  ];
  for (const [input, want] of rows) {
    test(`${input} → ${want}`, () => assert.equal(formatPlatform(parsePlatform(input)), want));
  }

  const bad: [string, RegExp][] = [
    ['linux', /must be os\/architecture\[\/variant\]/],
    ['linux/arm/v7/x', /must be os\/architecture/],
    ['/amd64', /os is empty/],
    ['linux/', /architecture is empty/],
    ['linux/arm/', /variant is empty/],
    ['linux/am d64', /architecture "am d64"/],
  ];
  for (const [input, message] of bad) {
    test(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parsePlatform(input), (e: unknown) => isGantryError(e, ErrorCode.INVALID_CONFIG) && message.test(e.message));
    });
  }

  test('normalizePlatform keeps os.version', () => {
    assert.deepEqual(normalizePlatform({ os: 'windows', architecture: 'x86_64', osVersion: '10.0.20348.1' }), { os: 'windows', architecture: 'amd64', osVersion: '10.0.20348.1' });
  });
});

describe('matchPlatform', () => {
  const rows: [string, Platform, boolean][] = [
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64' }, true],
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }, true],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v6' }, true],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v5' }, true],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v7' }, false],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm' }, true],
    ['linux/amd64', { os: 'linux', architecture: 'amd64', variant: 'v1' }, true],
    ['linux/amd64', { os: 'linux', architecture: 'amd64', variant: 'v2' }, false],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64' }, true],
    ['linux/amd64', { os: 'windows', architecture: 'amd64' }, false],
    ['linux/amd64', { os: 'linux', architecture: '386' }, false],
    ['linux/arm64', { os: 'linux', architecture: 'arm', variant: 'v7' }, false],
    ['linux/amd64', { os: 'unknown', architecture: 'unknown' }, false],
  ];
  for (const [wanted, candidate, ok] of rows) {
    test(`${wanted} ${ok ? 'accepts' : 'refuses'} ${JSON.stringify(candidate)}`, () => assert.equal(matchPlatform(parsePlatform(wanted), candidate), ok));
  }

  test('windows os.version must agree up to the build', () => {
    const w: Platform = { os: 'windows', architecture: 'amd64', osVersion: '10.0.17763.5000' };
    assert.ok(matchPlatform(w, { os: 'windows', architecture: 'amd64', osVersion: '10.0.17763.1' }));
    assert.ok(!matchPlatform(w, { os: 'windows', architecture: 'amd64', osVersion: '10.0.20348.1' }));
  });
});

describe('selectManifest', () => {
  const child = (n: number, platform?: Platform): Descriptor => ({
    mediaType: MediaType.OCI_MANIFEST,
    digest: Digest.fromBytes(String(n)),
    size: n,
    ...(platform ? { platform } : {}),
  });
  const index = {
    digest: Digest.fromBytes('index'),
    manifests: [
      child(1, { os: 'linux', architecture: 'amd64' }),
      child(2, { os: 'linux', architecture: 'arm', variant: 'v5' }),
      child(3, { os: 'linux', architecture: 'arm', variant: 'v6' }),
      child(4, { os: 'linux', architecture: 'arm64' }),
      child(5, { os: 'unknown', architecture: 'unknown' }),
      child(6),
      child(7, { os: 'linux', architecture: 'amd64' }),
    ],
  };

  const rows: [string, number][] = [
    ['linux/amd64', 1], // first of equals, in document order
    ['linux/arm/v7', 3], // no v7: v6 before v5
    ['linux/arm/v6', 3],
    ['linux/arm/v5', 2],
    ['linux/arm64/v8', 4], // an arm64 image without a variant is v8
    ['linux/aarch64', 4],
  ];
  for (const [wanted, size] of rows) {
    test(`${wanted} selects child ${size}`, () => assert.equal(selectManifest(index, parsePlatform(wanted)).size, size));
  }

  test('prefers the exact variant over an older one', () => {
    const i = { manifests: [child(1, { os: 'linux', architecture: 'arm', variant: 'v6' }), child(2, { os: 'linux', architecture: 'arm', variant: 'v7' })] };
    assert.equal(selectManifest(i, parsePlatform('linux/arm/v7')).size, 2);
  });

  test('no match is NOT_FOUND listing what exists', () => {
    assert.throws(
      () => selectManifest(index, parsePlatform('linux/s390x')),
      (e: unknown) =>
        isGantryError(e, ErrorCode.NOT_FOUND) &&
        e.message.includes('linux/s390x') &&
        e.message.includes('linux/amd64, linux/arm/v5, linux/arm/v6, linux/arm64') &&
        e.message.includes(index.digest.toString()),
    );
  });
});

test('hostPlatform speaks OCI', () => {
  const p = hostPlatform();
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  assert.equal(p.os, os);
  if (process.arch === 'x64') assert.deepEqual(p, { os, architecture: 'amd64' });
  if (process.arch === 'arm64') assert.deepEqual(p, { os, architecture: 'arm64', variant: 'v8' });
});

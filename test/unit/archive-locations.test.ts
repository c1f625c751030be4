/**
 * The archive forms of an image location (issue 14): `oci-archive:FILE[:TAG]` and
 * `docker-archive:FILE:@N` parse into ImageLocation values, print back to the same string,
 * and malformed ones are USAGE. The rows follow skopeo's parsers (containers/image
 * `oci/archive` and `docker/archive.ParseReference`): the path ends at the first colon; `@N`
 * is a non-negative decimal.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { formatImageLocation, parseImageLocation, type ImageLocation } from '../../src/image/transports.js';

const good: [string, ImageLocation][] = [
  ['oci-archive:img.tar', { transport: 'oci-archive', file: 'img.tar' }],
  ['oci-archive:/tmp/img.tar:v1', { transport: 'oci-archive', file: '/tmp/img.tar', tag: 'v1' }],
  ['oci-archive:img.tar:a:b', { transport: 'oci-archive', file: 'img.tar', tag: 'a:b' }],
  ['docker-archive:a.tar:@0', { transport: 'docker-archive', file: 'a.tar', index: 0 }],
  ['docker-archive:/x/a.tar:@12', { transport: 'docker-archive', file: '/x/a.tar', index: 12 }],
  ['docker-archive:a.tar:busybox:1', { transport: 'docker-archive', file: 'a.tar', reference: 'busybox:1' }],
  ['docker-archive:a.tar', { transport: 'docker-archive', file: 'a.tar' }],
];

const bad: [string, RegExp][] = [
  ['oci-archive:', /oci-archive: needs a file/],
  ['oci-archive::v1', /oci-archive: needs a file/],
  ['oci-archive:img.tar:', /empty tag after the file/],
  ['docker-archive:a.tar:@', /"@" is not an image index/],
  ['docker-archive:a.tar:@-1', /"@-1" is not an image index/],
  ['docker-archive:a.tar:@1.5', /not an image index/],
  ['docker-archive:a.tar:@x', /not an image index/],
  ['docker-archive:a.tar:@99999999999999999999', /not an image index/],
];

describe('archive image locations', () => {
  for (const [spec, loc] of good) {
    test(`${spec} parses and prints back`, () => {
      const parsed = parseImageLocation(spec);
      assert.deepEqual(parsed, loc);
      assert.equal(formatImageLocation(parsed), spec);
      assert.deepEqual(parseImageLocation(formatImageLocation(loc)), loc);
    });
  }

  for (const [spec, message] of bad) {
    test(`${spec} is USAGE`, () => {
      assert.throws(
        () => parseImageLocation(spec),
        (err: unknown) => isGantryError(err) && err.code === ErrorCode.USAGE && message.test(err.message),
      );
    });
  }

  test('oci-archive: is no longer refused as unsupported; other skopeo transports still are', () => {
    assert.equal(parseImageLocation('oci-archive:x.tar').transport, 'oci-archive');
    assert.throws(() => parseImageLocation('dir:/tmp/x'), /unsupported image location.*oci-archive:FILE\[:TAG\]/);
  });
});

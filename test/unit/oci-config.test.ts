import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { parseImageConfig } from '../../src/oci/config.js';

const D1 = `sha256:${'1'.repeat(64)}`;

test('reads the fields gantry uses and ignores the rest', () => {
  const c = parseImageConfig(
    Buffer.from(
      JSON.stringify({
        created: '2024-01-01T00:00:00Z',
        architecture: 'arm',
        variant: 'v7',
        os: 'linux',
        config: { Labels: { a: 'b', n: 1 }, Env: ['X=1'] },
        rootfs: { type: 'layers', diff_ids: [D1] },
        history: [{ created_by: 'RUN x', empty_layer: true }, 'junk'],
        unknown: { deep: true },
      }),
    ),
  );
  assert.equal(c.created, '2024-01-01T00:00:00Z');
  assert.equal(c.architecture, 'arm');
  assert.equal(c.variant, 'v7');
  assert.deepEqual(c.labels, { a: 'b' });
  assert.deepEqual(c.diffIds.map(String), [D1]);
  assert.deepEqual(c.history, [{ createdBy: 'RUN x', emptyLayer: true }]);
});

test('loose: wrong types are dropped, not fatal', () => {
  const c = parseImageConfig(Buffer.from(JSON.stringify({ architecture: 5, config: null, rootfs: 'x', history: {} })));
  assert.equal(c.architecture, undefined);
  assert.deepEqual(c.labels, {});
  assert.deepEqual(c.diffIds, []);
});

test('malformed JSON and bad diff_ids are INVALID_RESPONSE naming the place', () => {
  assert.throws(() => parseImageConfig(Buffer.from('{'), 'config sha256:x'), (e: unknown) => isGantryError(e, ErrorCode.INVALID_RESPONSE) && e.message.startsWith('config sha256:x: not valid JSON'));
  assert.throws(
    () => parseImageConfig(Buffer.from(JSON.stringify({ rootfs: { diff_ids: [D1, 'nope'] } }))),
    (e: unknown) => isGantryError(e, ErrorCode.INVALID_RESPONSE) && e.message.includes('rootfs.diff_ids[1]'),
  );
});

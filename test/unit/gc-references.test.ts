/**
 * What a stored manifest keeps alive (table: every manifest kind the registry stores), and the
 * order in which the collector unlinks trashed manifests: parents before what they keep.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Digest } from '../../src/ref/digest.js';
import { manifestReferences } from '../../src/server/gc/references.js';
import { parentsFirst } from '../../src/server/gc/repository.js';

const d = (n: number): string => Digest.fromBytes(String(n)).toString();

describe('manifestReferences', () => {
  const rows: [string, unknown, string[] | undefined][] = [
    ['image: config and layers', { schemaVersion: 2, config: { digest: d(1) }, layers: [{ digest: d(2) }, { digest: d(3) }] }, [d(1), d(2), d(3)]],
    ['foreign layers are kept too (keeping more is safe)', { config: { digest: d(1) }, layers: [{ digest: d(2), urls: ['https://x/y'] }] }, [d(1), d(2)]],
    ['index: its children', { manifests: [{ digest: d(4) }, { digest: d(5) }] }, [d(4), d(5)]],
    ['artifact manifest draft: blobs', { mediaType: 'application/vnd.oci.artifact.manifest.v1+json', blobs: [{ digest: d(6) }] }, [d(6)]],
    ['schema 1: fsLayers', { schemaVersion: 1, fsLayers: [{ blobSum: d(7) }, { blobSum: d(7) }] }, [d(7), d(7)]],
    ['the subject is not kept by its referrer', { config: { digest: d(1) }, layers: [], subject: { digest: d(9) } }, [d(1)]],
    ['malformed descriptors are skipped', { config: 'x', layers: [null, 3, { digest: 'sha256:nothex' }, { digest: d(2) }], manifests: {} }, [d(2)]],
    ['an empty object names nothing', {}, []],
    ['an array is not a manifest', [{ digest: d(1) }], undefined],
    ['neither is a string', 'manifest', undefined],
  ];
  for (const [name, doc, expected] of rows) {
    test(name, () => {
      assert.deepEqual(manifestReferences(Buffer.from(JSON.stringify(doc)))?.map(String), expected);
    });
  }
  test('bytes that are not JSON', () => {
    assert.equal(manifestReferences(Buffer.from('{"config":')), undefined);
  });
});

describe('parentsFirst', () => {
  test('an index comes before its children, a subject before its referrers', () => {
    const graph: Record<string, string[]> = { index: ['child1', 'child2', 'layer'], child1: ['layer'], child2: ['sig'], sig: [], other: [] };
    const order = parentsFirst(['child2', 'sig', 'child1', 'other', 'index'], (k) => graph[k] ?? []);
    assert.deepEqual([...order].sort(), ['child1', 'child2', 'index', 'other', 'sig']);
    const at = (k: string): number => order.indexOf(k);
    assert.ok(at('index') < at('child1') && at('index') < at('child2'));
    assert.ok(at('child2') < at('sig'));
  });
  test('a cycle is cut somewhere, every key once', () => {
    const order = parentsFirst(['a', 'b'], (k) => (k === 'a' ? ['b'] : ['a']));
    assert.deepEqual([...order].sort(), ['a', 'b']);
  });
});

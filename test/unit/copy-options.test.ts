/**
 * Options are checked at the boundary (issue "Trust at origin boundaries", item 5):
 * `copy(src, 'oci:DIR:v1', { jobs: NaN })` once started no worker, reported success and
 * wrote an index.json naming blobs that were not there. Every entry point of src/image now
 * rejects a bad option with INVALID_OPTION naming it and its value, before anything is
 * opened, read or written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { InvalidOptionError } from '../../src/options.js';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination, DockerArchiveSource } from '../../src/image/docker-archive.js';
import { inspect } from '../../src/image/inspect.js';
import { OciLayoutDestination, OciLayoutSource } from '../../src/image/oci-layout.js';
import { copy } from '../../src/image/transports.js';
import { MemorySource, copyImage as helperCopy, makeImage, type FixtureImage } from '../helpers/image-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-copy-options-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => join(root, `${name}-${++n}`);

/** INVALID_OPTION naming `option` (in the message and the error's field) and the entry point. */
function invalid(where: string, option: string) {
  return (e: unknown): boolean => {
    assert.ok(isGantryError(e, ErrorCode.INVALID_OPTION), `expected INVALID_OPTION, got ${String(e)}`);
    assert.ok(e instanceof InvalidOptionError);
    assert.equal(e.option, option);
    assert.match(e.message, new RegExp(`^${where}: invalid option ${option}: `));
    return true;
  };
}

/** Every path under `dir` with its bytes, to show a run changed nothing. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.set(p, readFileSync(p).toString('base64'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

describe('copy options', () => {
  let src: string;
  let img: FixtureImage;
  before(async () => {
    src = fresh('src');
    img = await makeImage();
    await helperCopy(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(src, { tag: 'v1' }));
  });

  const badJobs: [string, unknown][] = [['NaN', NaN], ['0', 0], ['-1', -1], ['1.5', 1.5], ["'4'", '4'], ['65', 65], ['Infinity', Infinity]];
  for (const [label, jobs] of badJobs) {
    test(`jobs ${label} is refused and nothing is written`, async () => {
      const fresh1 = fresh('new-layout');
      await assert.rejects(copy(`oci:${src}:v1`, `oci:${fresh1}:v1`, { jobs: jobs as number }), invalid('copy', 'jobs'));
      assert.ok(!existsSync(fresh1), 'a layout that did not exist is not created');

      const existing = fresh('old-layout');
      const old = await makeImage({ seed: 'old' });
      await helperCopy(new MemorySource(old.manifest, old.blobs), new OciLayoutDestination(existing, { tag: 'old' }));
      const before = snapshot(existing);
      await assert.rejects(copy(`oci:${src}:v1`, `oci:${existing}:v1`, { jobs: jobs as number }), invalid('copy', 'jobs'));
      assert.deepEqual(snapshot(existing), before, 'an existing layout is left as it was');

      const archive = join(fresh('archive-dir'), 'x.tar');
      await assert.rejects(copy(`oci:${src}:v1`, `docker-archive:${archive}`, { jobs: jobs as number }), invalid('copy', 'jobs'));
      assert.ok(!existsSync(join(archive, '..')), 'nothing is written next to an archive either');

      // copyImage, the engine under copy, checks its own options too.
      const direct = fresh('direct');
      await assert.rejects(copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(direct), { jobs: jobs as number }), invalid('copyImage', 'jobs'));
      assert.ok(!existsSync(direct));
    });
  }

  test('the message names the value and what is accepted', async () => {
    await assert.rejects(copy(`oci:${src}:v1`, `oci:${fresh('x')}`, { jobs: NaN }), { message: 'copy: invalid option jobs: NaN (expected an integer from 1 to 64)' });
    await assert.rejects(copy(`oci:${src}:v1`, `oci:${fresh('x')}`, { jobs: '4' as unknown as number }), { message: 'copy: invalid option jobs: "4" (expected an integer from 1 to 64)' });
  });

  test('every other option is checked', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['platform', { platform: 'linux' }],
      ['platform', { platform: 'linux/' }],
      ['platform', { platform: 42 }],
      ['platform', { platform: { os: 'linux' } }],
      ['platform', { platform: { os: 'linux', architecture: 'arm64', variant: 8 } }],
      ['tag', { tag: '' }],
      ['tag', { tag: 'a b' }],
      ['tag', { tag: 7 }],
      ['signal', { signal: {} }],
      ['onProgress', { onProgress: 'log' }],
      ['source', { source: 'docker.io' }],
      ['destination', { destination: [] }],
    ];
    for (const [option, options] of cases) {
      const dir = fresh('other');
      await assert.rejects(copy(`oci:${src}:v1`, `oci:${dir}:v1`, options), invalid('copy', option), option);
      assert.ok(!existsSync(dir));
    }
    for (const options of [null, [], 'jobs=4']) {
      await assert.rejects(copy(`oci:${src}:v1`, `oci:${fresh('x')}`, options as never), invalid('copy', 'options'));
    }
    await assert.rejects(copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(fresh('x')), { tag: 'a\tb' }), invalid('copyImage', 'tag'));
  });

  test('good options still copy: the bounds of jobs, a platform object, a signal', async () => {
    for (const jobs of [1, 64]) {
      const r = await copy(`oci:${src}:v1`, `oci:${fresh('ok')}:v1`, { jobs, signal: new AbortController().signal, onProgress: () => undefined });
      assert.equal(r.digest, img.manifest.digest.toString());
      assert.equal(r.blobs.copied, img.layers.length + 1);
    }
    const r = await copy(`oci:${src}:v1`, `oci:${fresh('ok')}:v1`, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.equal(r.digest, img.manifest.digest.toString());
  });

  test('inspect checks its options', async () => {
    await assert.rejects(inspect(`oci:${src}:v1`, { platform: 'nope' }), invalid('inspect', 'platform'));
    await assert.rejects(inspect(`oci:${src}:v1`, { access: 'anonymous' as never }), invalid('inspect', 'access'));
    assert.equal((await inspect(`oci:${src}:v1`, { platform: 'linux/amd64' })).digest, img.manifest.digest.toString());
  });

  test('the layout and archive constructors check theirs', () => {
    assert.throws(() => new OciLayoutSource(src, { tag: 5 as never }), invalid('OciLayoutSource', 'tag'));
    assert.throws(() => new OciLayoutSource(src, { digest: img.manifest.digest.toString() as never }), invalid('OciLayoutSource', 'digest'));
    assert.throws(() => new OciLayoutSource(src, null as never), invalid('OciLayoutSource', 'options'));
    assert.throws(() => new OciLayoutDestination(src, { tag: 5 as never }), invalid('OciLayoutDestination', 'tag'));
    assert.throws(() => new DockerArchiveSource('x.tar', { index: -1 }), invalid('DockerArchiveSource', 'index'));
    assert.throws(() => new DockerArchiveSource('x.tar', { index: 1.5 }), invalid('DockerArchiveSource', 'index'));
    assert.throws(() => new DockerArchiveSource('x.tar', { ref: 5 as never }), invalid('DockerArchiveSource', 'ref'));
    assert.throws(() => new DockerArchiveDestination('x.tar', { ref: [] as never }), invalid('DockerArchiveDestination', 'ref'));
    // A tag with whitespace read from `oci:DIR:TAG` stays a usage error, as before.
    assert.throws(() => new OciLayoutDestination(src, { tag: 'a b' }), (e: unknown) => isGantryError(e, ErrorCode.USAGE));
  });
});

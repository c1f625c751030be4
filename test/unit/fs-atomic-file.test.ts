/** The one crash-safe file write (registry storage, OCI layouts): all or nothing, no temporary left behind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renameDurably, writeFileAtomic, writeFileViaTemp } from '../../src/fs/atomic-file.js';

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-atomic-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('writeFileViaTemp replaces the target with a string or a Buffer; the temporary is gone', () =>
  inTempDir(async (dir) => {
    const target = join(dir, 'index.json');
    await writeFile(target, 'old');
    await writeFileViaTemp(join(dir, '.tmp-index'), target, '{"new":true}');
    assert.equal(await readFile(target, 'utf8'), '{"new":true}');
    await writeFileViaTemp(join(dir, '.tmp-index'), target, Buffer.from([0, 1, 2]));
    assert.deepEqual(await readFile(target), Buffer.from([0, 1, 2]));
    assert.deepEqual(await readdir(dir), ['index.json']);
  }));

test('writeFileViaTemp refuses an existing temporary and leaves it and the target alone', () =>
  inTempDir(async (dir) => {
    const target = join(dir, 'index.json');
    const temp = join(dir, '.tmp-index');
    await writeFile(target, 'old');
    await writeFile(temp, 'someone else');
    await assert.rejects(writeFileViaTemp(temp, target, 'new'), { code: 'EEXIST' });
    assert.equal(await readFile(target, 'utf8'), 'old');
    assert.equal(await readFile(temp, 'utf8'), 'someone else');
  }));

test('a rename that fails removes the temporary and leaves the target as it was', () =>
  inTempDir(async (dir) => {
    const target = join(dir, 'taken');
    await mkdir(join(target, 'child'), { recursive: true });
    await assert.rejects(writeFileViaTemp(join(dir, '.tmp-x'), target, 'data'));
    assert.deepEqual((await readdir(dir)).sort(), ['taken']);
    assert.deepEqual(await readdir(target), ['child']);
  }));

test('writeFileAtomic keeps its temporaries in tmpDir and creates the target directory', () =>
  inTempDir(async (dir) => {
    const tmp = join(dir, 'tmp');
    await mkdir(tmp);
    const target = join(dir, 'repositories', 'a', '_manifests', 'tags', 'latest');
    await writeFileAtomic(tmp, target, 'sha256:x');
    assert.equal(await readFile(target, 'utf8'), 'sha256:x');
    assert.deepEqual(await readdir(tmp), []);
  }));

test('renameDurably moves a file into a directory it creates', () =>
  inTempDir(async (dir) => {
    await writeFile(join(dir, 'from'), 'bytes');
    await renameDurably(join(dir, 'from'), join(dir, 'blobs', 'sha256', 'ab'));
    assert.equal(await readFile(join(dir, 'blobs', 'sha256', 'ab'), 'utf8'), 'bytes');
    assert.deepEqual((await readdir(dir)).sort(), ['blobs']);
  }));

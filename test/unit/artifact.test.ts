/**
 * Artifacts without a registry: every option of pushArtifact and pullArtifact is checked
 * before any connection (INVALID_OPTION naming it; the registry named here does not exist),
 * the title rules of a pull, and the CLI's FILE[:MEDIATYPE] and --annotation parsing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushArtifact, EMPTY_DESCRIPTOR } from '../../src/image/artifact.js';
import { pullArtifact } from '../../src/image/artifact-pull.js';
import { checkTitles, titleProblem } from '../../src/image/artifact-paths.js';
import { parseAnnotations, parseFileArg } from '../../src/cli/commands/artifact.js';
import { InvalidOptionError } from '../../src/options.js';
import { isGantryError } from '../../src/errors.js';
import { RegistriesConf } from '../../src/config/registries-conf.js';

/** Nothing listens here: a check that let the call through would fail with CONNECTION instead. */
const NOWHERE = '127.0.0.1:1/team/art';

let dir: string;
let a: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-artifact-unit-'));
  a = join(dir, 'a.txt');
  writeFileSync(a, 'a');
  mkdirSync(join(dir, 'other'));
  writeFileSync(join(dir, 'other', 'a.txt'), 'other a');
  mkdirSync(join(dir, 'folder'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Rejects with INVALID_OPTION naming `option`. */
async function rejectsOption(p: Promise<unknown>, option: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_OPTION');
    assert.equal(err.option, option);
    assert.match(err.message, new RegExp(`invalid option ${option.replace(/[[\]."]/g, '\\$&')}`));
    return true;
  });
}

describe('pushArtifact options', () => {
  test('the empty descriptor is the two-byte {} blob', () => {
    assert.equal(EMPTY_DESCRIPTOR.digest.toString(), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    assert.equal(EMPTY_DESCRIPTOR.size, 2);
    assert.equal(EMPTY_DESCRIPTOR.mediaType, 'application/vnd.oci.empty.v1+json');
  });

  test('each bad option is INVALID_OPTION naming it, before any connection', async () => {
    await rejectsOption(pushArtifact(NOWHERE, [a], { artifactType: 'not a media type' }), 'artifactType');
    await rejectsOption(pushArtifact(NOWHERE, [a], { artifactType: '' }), 'artifactType');
    await rejectsOption(pushArtifact(NOWHERE, [a], { annotations: { k: 1 } as unknown as Record<string, string> }), 'annotations');
    await rejectsOption(pushArtifact(NOWHERE, [a], { annotations: 'k=v' as unknown as Record<string, string> }), 'annotations');
    await rejectsOption(pushArtifact(NOWHERE, [a], { annotations: { 'org.opencontainers.image.created': 'yesterday' } }), 'annotations["org.opencontainers.image.created"]');
    await rejectsOption(pushArtifact(NOWHERE, [a], { subject: '' }), 'subject');
    await rejectsOption(pushArtifact(NOWHERE, [a], { onFile: 'log' as unknown as () => void }), 'onFile');
    await rejectsOption(pushArtifact(NOWHERE, [a], { signal: {} as AbortSignal }), 'signal');
    await rejectsOption(pushArtifact(NOWHERE, [a], { access: 'x' as unknown as object }), 'access');
    await rejectsOption(pushArtifact(NOWHERE, [a], 'opts' as unknown as object), 'options');
    await rejectsOption(pushArtifact('', [a]), 'reference');
  });

  test('files: an array of existing regular files, one per base name, with valid media types', async () => {
    await rejectsOption(pushArtifact(NOWHERE, a as unknown as string[]), 'files');
    await rejectsOption(pushArtifact(NOWHERE, [a, '']), 'files[1]');
    await rejectsOption(pushArtifact(NOWHERE, [{ path: a, mediaType: 'text' }]), 'files[0].mediaType');
    await rejectsOption(pushArtifact(NOWHERE, [join(dir, 'missing.txt')]), 'files[0]');
    await rejectsOption(pushArtifact(NOWHERE, [join(dir, 'folder')]), 'files[0]');
    await rejectsOption(pushArtifact(NOWHERE, [dir + '/']), 'files[0]');
    // A name a pull would refuse to write.
    const backslash = join(dir, 'back\\slash');
    writeFileSync(backslash, 'x');
    await rejectsOption(pushArtifact(NOWHERE, [backslash]), 'files[0]');
    // Two files that a pull would write to the same name.
    await assert.rejects(pushArtifact(NOWHERE, [a, join(dir, 'other', 'a.txt')]), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.option, 'files[1]');
      assert.match(err.message, /a\.txt/);
      return true;
    });
  });

  test('a digest destination and a subject in another repository are refused', async () => {
    await rejectsOption(pushArtifact(`${NOWHERE}@sha256:${'a'.repeat(64)}`, [a]), 'reference');
    await rejectsOption(pushArtifact(NOWHERE, [a], { subject: '127.0.0.1:1/team/other:1' }), 'subject');
    await rejectsOption(pushArtifact(NOWHERE, [a], { subject: '127.0.0.2:1/team/art:1' }), 'subject');
    // A bare digest is in the artifact's repository: it gets past the checks (and fails to connect).
    await assert.rejects(pushArtifact(NOWHERE, [a], { subject: `sha256:${'b'.repeat(64)}`, access: { retry: false, certsDir: join(dir, 'certs.d'), configDir: join(dir, 'docker') } }), (err: unknown) => isGantryError(err) && err.code !== 'INVALID_OPTION');
  });
});

describe('pullArtifact options', () => {
  test('each bad option is INVALID_OPTION naming it', async () => {
    await rejectsOption(pullArtifact(NOWHERE, ''), 'dir');
    await rejectsOption(pullArtifact(NOWHERE, 'a\0b'), 'dir');
    await rejectsOption(pullArtifact(NOWHERE, dir, { overwrite: 'yes' as unknown as boolean }), 'overwrite');
    await rejectsOption(pullArtifact(NOWHERE, dir, { onFile: 1 as unknown as () => void }), 'onFile');
    await rejectsOption(pullArtifact(NOWHERE, dir, { access: [] as unknown as object }), 'access');
    await rejectsOption(pullArtifact(42 as unknown as string, dir), 'reference');
  });
});

describe('registries.conf', () => {
  test('a blocked repository is refused (BLOCKED) by push and pull, before any request', async () => {
    const registriesConf = RegistriesConf.parse('[[registry]]\nprefix = "127.0.0.1:1/team"\nlocation = "127.0.0.1:1/team"\nblocked = true\n', '/tmp/r.conf');
    const blocked = (err: unknown): boolean => isGantryError(err, 'BLOCKED');
    await assert.rejects(pushArtifact(NOWHERE, [a], { access: { registriesConf } }), blocked);
    await assert.rejects(pullArtifact(`${NOWHERE}:1`, join(dir, 'never'), { access: { registriesConf } }), blocked);
    await assert.rejects(pushArtifact(NOWHERE, [a], { subject: `${NOWHERE}:1`, access: { registriesConf } }), blocked);
  });
});

describe('titles a pull may write', () => {
  const refused: [string, RegExp][] = [
    ['../x', /\.\./],
    ['/etc/x', /absolute/],
    ['a/../../x', /\.\./],
    ['..', /\.\./],
    ['a\\..\\x', /backslash/],
    ['a\0b', /NUL/],
    ['', /empty/],
    ['a//b', /empty or "\."/],
    ['./a', /empty or "\."/],
    ['a/', /empty or "\."/],
    [`${'n'.repeat(256)}`, /longer than 255/],
  ];
  for (const [title, why] of refused) {
    test(`refused: ${JSON.stringify(title).slice(0, 40)}`, () => {
      assert.match(titleProblem(title) ?? '', why);
      assert.throws(() => checkTitles(['ok.txt', title]), (err: unknown) => isGantryError(err, 'INVALID_RESPONSE') && /nothing was written/.test(err.message));
    });
  }

  test('allowed: plain names, subdirectories, dots inside names', () => {
    for (const t of ['a.txt', 'dir/sub/file', 'v1..2.txt', '.hidden', 'a b', 'ünïcode']) assert.equal(titleProblem(t), undefined, t);
    checkTitles(['a.txt', 'dir/sub/file', 'dir/other']);
  });

  test('two layers with one title, or a title that is a directory of another, are refused', () => {
    assert.throws(() => checkTitles(['a', 'a']), /two layers have this title/);
    assert.throws(() => checkTitles(['a/b', 'a']), /both a file and a directory/);
  });
});

describe('CLI argument parsing', () => {
  test('FILE[:MEDIATYPE] splits at the last colon, as oras', () => {
    assert.deepEqual(parseFileArg('hi.txt'), { path: 'hi.txt' });
    assert.deepEqual(parseFileArg('hi.txt:application/vnd.me.hi'), { path: 'hi.txt', mediaType: 'application/vnd.me.hi' });
    assert.deepEqual(parseFileArg('hi:txt:'), { path: 'hi:txt' });
    assert.deepEqual(parseFileArg('a:b:text/plain'), { path: 'a:b', mediaType: 'text/plain' });
    assert.throws(() => parseFileArg(':text/plain'), (err: unknown) => isGantryError(err, 'USAGE'));
  });

  test('--annotation KEY=VALUE, a key once', () => {
    assert.deepEqual(parseAnnotations(['a=1', 'b=x=y', 'c=']), { a: '1', b: 'x=y', c: '' });
    assert.throws(() => parseAnnotations(['novalue']), /KEY=VALUE/);
    assert.throws(() => parseAnnotations(['=v']), /KEY=VALUE/);
    assert.throws(() => parseAnnotations(['a=1', 'a=2']), /given twice/);
  });
});

/**
 * A docker-archive writer removes what killed writers of the same file left in its folder:
 * `FILE.tmp-<pid>-<host>-<random>` and its `.spool` folder, once their pid is gone (or a day
 * after their last change). Everything else in the folder stays: live writers' temporaries,
 * other hosts' and other archives' ones, and files that only look similar.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination, DockerArchiveSource } from '../../src/image/docker-archive.js';
import { STALE_TEMP_MS, parseOwnerTag, tempOwnerTag } from '../../src/fs/stale-temp.js';
import { MemorySource, makeImage } from '../helpers/image-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-archive-temps-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  assert.ok(pid > 0);
  return pid;
}

describe('stale docker-archive temporaries', () => {
  test('owner tags parse back', () => {
    const tag = tempOwnerTag();
    assert.match(tag, /^\d+-[0-9a-f]{8}-[0-9a-f]{12}$/);
    assert.deepEqual(parseOwnerTag(`x.tar.tmp-${tag}`), { pid: process.pid, host: tag.split('-')[1] });
    assert.deepEqual(parseOwnerTag('.tmp-abc-1234-0123456789ab'), { pid: 1234 });
    assert.equal(parseOwnerTag('x.tar.tmp-notes'), undefined);
  });

  test("a dead writer's archive and spool are removed; live, foreign and unrelated files stay", async () => {
    const dir = join(root, 'folder');
    mkdirSync(dir);
    const host = tempOwnerTag().split('-')[1] as string;
    const otherHost = host === '00000000' ? '11111111' : '00000000';
    const dead = deadPid();
    const name = (pid: number, h = host, random = '0123456789ab'): string => `out.tar.tmp-${pid}-${h}-${random}`;

    const gone = [
      name(dead), // the half-built archive of a killed run
      `${name(dead)}.spool`, // its spool, a folder with a half-spooled layer in it
      'out.tar.tmp-abcdefabcdef', // an older gantry's name (no owner), untouched for more than a day
    ];
    const kept = [
      name(process.pid, host, 'aaaaaaaaaaaa'), // this process: a live writer
      `${name(process.pid, host, 'aaaaaaaaaaaa')}.spool`,
      name(process.ppid, host, 'bbbbbbbbbbbb'), // another live process
      name(dead, otherHost, 'cccccccccccc'), // another host's pid says nothing here
      'out.tar.tmp-fedcbafedcba', // an older gantry's name, changed recently: maybe still written
      `other.tar.tmp-${dead}-${host}-0123456789ab`, // another archive's temporary
      'out.tar.tmp-notes', // not a name the writer makes
      'out.tar.tmp-1-2-3.spool.bak',
      'unrelated.txt',
    ];
    for (const entry of [...gone, ...kept]) {
      if (entry.endsWith('.spool')) {
        mkdirSync(join(dir, entry));
        writeFileSync(join(dir, entry, `${'d'.repeat(64)}-01234567`), 'x'.repeat(4096));
      } else {
        writeFileSync(join(dir, entry), 'partial');
      }
    }
    const old = (Date.now() - STALE_TEMP_MS - 60_000) / 1000;
    utimesSync(join(dir, 'out.tar.tmp-abcdefabcdef'), old, old);

    const img = await makeImage({ seed: 'temps' });
    const file = join(dir, 'out.tar');
    await copyImage(new MemorySource(img.manifest, img.blobs), new DockerArchiveDestination(file));

    for (const entry of gone) assert.ok(!existsSync(join(dir, entry)), `${entry} is removed`);
    for (const entry of kept) assert.ok(existsSync(join(dir, entry)), `${entry} is kept`);
    assert.deepEqual(readdirSync(dir).sort(), [...kept, 'out.tar'].sort());
    assert.ok((await new DockerArchiveSource(file).getManifest()).bytes.length > 0);
  });

  test('a live pid is judged by age alone: a day-old temporary of a running pid goes', async () => {
    const dir = join(root, 'old-live');
    mkdirSync(dir);
    const host = tempOwnerTag().split('-')[1] as string;
    const stale = `a.tar.tmp-${process.ppid}-${host}-0123456789ab`;
    writeFileSync(join(dir, stale), 'partial');
    const old = (Date.now() - STALE_TEMP_MS - 60_000) / 1000;
    utimesSync(join(dir, stale), old, old);
    const img = await makeImage({ seed: 'old-live' });
    await copyImage(new MemorySource(img.manifest, img.blobs), new DockerArchiveDestination(join(dir, 'a.tar')));
    assert.deepEqual(readdirSync(dir), ['a.tar']);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pumpFile } from '../../src/server/storage/file-pump.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-pump-'));
const data = randomBytes(10_000 + 37);
const file = join(dir, 'blob');
writeFileSync(file, data);

/**
 * A slow sink that copies each chunk when it consumes it, as a socket does, and only then
 * calls back: after that the pump may fill the same buffer again.
 */
function sink(options: { failAfter?: number } = {}): { dest: Writable; bytes: () => Buffer; chunks: () => number } {
  const got: Buffer[] = [];
  let n = 0;
  const dest = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _enc, callback) {
      n++;
      if (options.failAfter !== undefined && n > options.failAfter) {
        callback(new Error('socket reset'));
        return;
      }
      got.push(Buffer.from(chunk));
      setImmediate(callback);
    },
  });
  return { dest, bytes: () => Buffer.concat(got), chunks: () => n };
}

test('pumpFile writes exactly the bytes asked for, reusing its buffers, and closes the file', async () => {
  const handle = await open(file, 'r');
  const s = sink();
  await pumpFile(handle, 0, data.length - 1, s.dest, 1024);
  assert.deepEqual(s.bytes(), data);
  assert.equal(s.chunks(), Math.ceil(data.length / 1024));
  assert.ok(s.dest.writableFinished);
  await assert.rejects(handle.stat(), /EBADF|closed/);
});

test('pumpFile serves a range (inclusive end), an empty blob ends at once', async () => {
  const s = sink();
  await pumpFile(await open(file, 'r'), 1000, 4999, s.dest, 1024);
  assert.deepEqual(s.bytes(), data.subarray(1000, 5000));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  const e = sink();
  await pumpFile(await open(empty, 'r'), 0, -1, e.dest, 1024);
  assert.equal(e.bytes().length, 0);
  assert.ok(e.dest.writableFinished);
});

test('pumpFile fails when the response breaks, and when the file is shorter than its size; the file is closed', async () => {
  const handle = await open(file, 'r');
  const broken = sink({ failAfter: 2 });
  await assert.rejects(pumpFile(handle, 0, data.length - 1, broken.dest, 1024));
  assert.ok(broken.bytes().length < data.length);
  await assert.rejects(handle.stat(), /EBADF|closed/);

  const short = await open(file, 'r');
  const s = sink();
  await assert.rejects(pumpFile(short, 0, data.length + 99, s.dest, 1024), /ended at byte 10037/);
  assert.ok(s.dest.destroyed, 'the response is cut short, never ended as if complete');
});

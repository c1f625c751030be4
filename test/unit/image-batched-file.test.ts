/** The layout's batched blob writer: every byte in order, whatever the chunking; errors reported. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { batchedFileWriter, WRITE_BATCH_BYTES } from '../../src/image/batched-file.js';

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += size) out.push(data.subarray(o, o + size));
  return out;
}

test('writes every byte in order for chunkings below, at and above the batch size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-batched-'));
  try {
    const data = randomBytes(2 * WRITE_BATCH_BYTES + 4321);
    for (const size of [1, 1000, 65536, WRITE_BATCH_BYTES, WRITE_BATCH_BYTES + 1, data.length]) {
      const part = size === 1 ? data.subarray(0, 5000) : data;
      const file = join(dir, `f${size}`);
      await pipeline(Readable.from(chunks(part, size)), batchedFileWriter(file));
      assert.ok((await readFile(file)).equals(part), `chunks of ${size}`);
    }
    await pipeline(Readable.from([]), batchedFileWriter(join(dir, 'empty')));
    assert.equal((await readFile(join(dir, 'empty'))).length, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an existing file is refused (wx) and a failing source fails the pipeline', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-batched-'));
  try {
    await writeFile(join(dir, 'there'), 'x');
    await assert.rejects(pipeline(Readable.from([Buffer.from('y')]), batchedFileWriter(join(dir, 'there'))), { code: 'EEXIST' });
    assert.equal(await readFile(join(dir, 'there'), 'utf8'), 'x');
    const failing = new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
    await assert.rejects(pipeline(failing, batchedFileWriter(join(dir, 'half'))), /source broke/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

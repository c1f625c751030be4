/** The batched file writers (layout blobs, registry uploads): every byte in order, whatever the chunking; errors reported. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { batchedFileAppender, batchedFileWriter, writerClosed, WRITE_BATCH_BYTES } from '../../src/fs/batched-file.js';

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o < data.length; o += size) out.push(data.subarray(o, o + size));
  return out;
}

/** Runs `body` with a fresh temporary directory, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gantry-batched-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('writes every byte in order for chunkings below, at and above the batch size', () =>
  inTempDir(async (dir) => {
    const data = randomBytes(2 * WRITE_BATCH_BYTES + 4321);
    for (const size of [1, 1000, 65536, WRITE_BATCH_BYTES, WRITE_BATCH_BYTES + 1, data.length]) {
      const part = size === 1 ? data.subarray(0, 5000) : data;
      const file = join(dir, `f${size}`);
      await pipeline(Readable.from(chunks(part, size)), batchedFileWriter(file));
      assert.ok((await readFile(file)).equals(part), `chunks of ${size}`);
    }
    await pipeline(Readable.from([]), batchedFileWriter(join(dir, 'empty')));
    assert.equal((await readFile(join(dir, 'empty'))).length, 0);
  }));

test('an existing file is refused (wx) and a failing source fails the pipeline', () =>
  inTempDir(async (dir) => {
    await writeFile(join(dir, 'there'), 'x');
    await assert.rejects(pipeline(Readable.from([Buffer.from('y')]), batchedFileWriter(join(dir, 'there'))), { code: 'EEXIST' });
    assert.equal(await readFile(join(dir, 'there'), 'utf8'), 'x');
    const failing = new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
    await assert.rejects(pipeline(failing, batchedFileWriter(join(dir, 'half'))), /source broke/);
  }));

test('the appender writes from its start offset, taps every chunk in order, and counts what it took', () =>
  inTempDir(async (dir) => {
    const file = join(dir, 'data');
    const head = Buffer.from('already here;');
    await writeFile(file, head);
    const data = randomBytes(3 * WRITE_BATCH_BYTES + 777);
    const tapped: Buffer[] = [];
    let waits = 0;
    const handle = await open(file, 'r+');
    try {
      // Every third chunk the tap asks the stream to wait, as a busy hash does.
      const sink = batchedFileAppender(handle, head.length, (chunk) => {
        tapped.push(chunk);
        if (tapped.length % 3 !== 0) return undefined;
        waits++;
        return new Promise((resolve) => setTimeout(resolve, 1));
      });
      await pipeline(Readable.from(chunks(data, 16384)), sink);
      assert.equal(sink.bytesAccepted, data.length);
    } finally {
      await handle.close();
    }
    assert.ok(waits > 0);
    assert.ok(Buffer.concat(tapped).equals(data), 'the tap saw every byte in order');
    assert.ok((await readFile(file)).equals(Buffer.concat([head, data])));
  }));

test('a failed append leaves no write landing after the caller truncates back', () =>
  inTempDir(async (dir) => {
    const file = join(dir, 'data');
    await writeFile(file, 'abc');
    const handle = await open(file, 'r+');
    try {
      let sent = 0;
      // Fails right after handing over a full batch, while its write may still be under way.
      const source = new Readable({
        read() {
          if (sent < WRITE_BATCH_BYTES) {
            sent += 65536;
            this.push(randomBytes(65536));
          } else this.destroy(new Error('connection reset'));
        },
      });
      // A slow disk: each write lands 50 ms after it was asked for.
      const slow = {
        writev: async (buffers: Buffer[], position: number) => {
          await new Promise((resolve) => setTimeout(resolve, 50));
          return handle.writev(buffers, position);
        },
      } as unknown as FileHandle;
      const sink = batchedFileAppender(slow, 3);
      await assert.rejects(pipeline(source, sink), /connection reset/);
      await writerClosed(sink);
      await truncate(file, 3);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal((await stat(file)).size, 3);
      assert.equal(await readFile(file, 'utf8'), 'abc');
    } finally {
      await handle.close();
    }
  }));

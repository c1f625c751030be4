/**
 * Blob hashes off the main thread (src/hashing): the same digests as node:crypto whatever the
 * chunking, copies that diverge independently, bounded buffering, and a process that exits
 * on its own once its hashes are done.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { createBlobHash, IN_FLIGHT, OFFLOAD_HASHING, OFFLOAD_MIN_BYTES, STAGE_BYTES, type BlobHash } from '../../src/hashing/blob-hash.js';

const sha = (algorithm: string, ...parts: Buffer[]) => {
  const h = createHash(algorithm);
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

async function feed(hash: BlobHash, data: Buffer, chunk: number): Promise<void> {
  for (let o = 0; o < data.length; o += chunk) await hash.update(data.subarray(o, o + chunk));
}

describe('createBlobHash', () => {
  test('with two cores or fewer, a large or unknown blob is hashed inline unless a worker is asked for', async () => {
    const auto = createBlobHash('sha256', OFFLOAD_MIN_BYTES);
    const wait = auto.update(Buffer.alloc(2 * STAGE_BYTES * (IN_FLIGHT + 1)));
    // A worker hash makes a stream that outruns it wait; an inline one never does.
    assert.equal(wait === undefined, !OFFLOAD_HASHING, `OFFLOAD_HASHING is ${OFFLOAD_HASHING} on ${availableParallelism()} cores`);
    await wait;
    await auto.digest();
  });

  const data = randomBytes(3 * STAGE_BYTES + 12345);
  for (const size of [0, 1, STAGE_BYTES - 1, STAGE_BYTES, STAGE_BYTES + 1, data.length]) {
    for (const chunk of [1000, 65536, 5 * STAGE_BYTES]) {
      test(`worker sha256 of ${size} bytes fed ${chunk} at a time equals node:crypto's`, async () => {
        const hash = createBlobHash('sha256', undefined, 'worker');
        await feed(hash, data.subarray(0, size), chunk);
        assert.equal(await hash.digest(), sha('sha256', data.subarray(0, size)));
      });
    }
  }

  test('sha512 in a worker, and small known sizes inline, give node:crypto\'s digests', async () => {
    const big = createBlobHash('sha512', OFFLOAD_MIN_BYTES, 'worker');
    await feed(big, data, 65536);
    assert.equal(await big.digest(), sha('sha512', data));
    const small = createBlobHash('sha256', 10);
    assert.equal(small.update(data.subarray(0, 10)), undefined, 'inline hashing never makes the stream wait');
    assert.equal(await small.digest(), sha('sha256', data.subarray(0, 10)));
  });

  test('a copy carries the state so far and then diverges from the original', async () => {
    for (const [hint, placement] of [[undefined, 'worker'], [1, 'auto']] as const) {
      const a = createBlobHash('sha256', hint, placement);
      await feed(a, data.subarray(0, STAGE_BYTES + 7), 4096);
      const b = a.copy();
      await a.update(Buffer.from('left'));
      await b.update(Buffer.from('right'));
      assert.equal(await a.digest(), sha('sha256', data.subarray(0, STAGE_BYTES + 7), Buffer.from('left')));
      assert.equal(await b.digest(), sha('sha256', data.subarray(0, STAGE_BYTES + 7), Buffer.from('right')));
    }
  });

  test('a stream that outruns the worker is made to wait: at most IN_FLIGHT buffers are queued', async () => {
    const hash = createBlobHash('sha256', undefined, 'worker');
    let waits = 0;
    for (let i = 0; i < (IN_FLIGHT + 4) * 2; i++) {
      const wait = hash.update(data.subarray(0, STAGE_BYTES / 2));
      if (wait) {
        waits++;
        await wait;
      }
    }
    assert.ok(waits > 0, 'update() returned a promise once IN_FLIGHT buffers were out');
    hash.discard();
  });

  test('a discarded hash refuses more bytes and does not disturb another hash', async () => {
    const a = createBlobHash('sha256', undefined, 'worker');
    const b = createBlobHash('sha256', undefined, 'worker');
    await feed(a, data, 65536);
    a.discard();
    await feed(b, data.subarray(0, 100), 10);
    assert.equal(await b.digest(), sha('sha256', data.subarray(0, 100)));
    await assert.rejects(Promise.resolve().then(() => a.update(data.subarray(0, 1))), /digested|discard/);
  });

  test('the worker threads do not keep a finished process alive, nor let it exit while a digest is awaited', () => {
    const module = fileURLToPath(new URL('../../src/hashing/blob-hash.ts', import.meta.url));
    const script = `import { createBlobHash } from ${JSON.stringify(module)};
      const h = createBlobHash('sha256', undefined, 'worker');
      h.update(Buffer.alloc(3 << 20, 1));
      h.digest().then((hex) => process.stdout.write(hex));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(out, sha('sha256', Buffer.alloc(3 << 20, 1)));
  });
});

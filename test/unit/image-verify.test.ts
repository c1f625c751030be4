import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { verifyingStream } from '../../src/hashing/verify.js';
import { Digest } from '../../src/ref/digest.js';

const data = Buffer.from('hello verifying world');

function sink(): { stream: Writable; received: () => number } {
  let n = 0;
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        n += chunk.length;
        cb();
      },
    }),
    received: () => n,
  };
}

test('passes matching content through and reports what it saw', async () => {
  const v = verifyingStream({ digest: Digest.fromBytes(data), size: data.length });
  const out = sink();
  await pipeline(Readable.from([data.subarray(0, 5), data.subarray(5)]), v, out.stream);
  assert.equal(out.received(), data.length);
  assert.deepEqual(v.result, { size: data.length, digest: Digest.fromBytes(data).toString() });
});

test('sha512 descriptors are hashed with sha512', async () => {
  const v = verifyingStream({ digest: Digest.fromBytes(data, 'sha512'), size: data.length });
  await pipeline(Readable.from([data]), v, sink().stream);
  assert.ok(v.result?.digest.startsWith('sha512:'));
});

test('a wrong digest fails at the end, naming both digests and the size', async () => {
  const expected = Digest.fromBytes('something else');
  await assert.rejects(pipeline(Readable.from([data]), verifyingStream({ digest: expected, size: data.length }), sink().stream), (e: unknown) => {
    return (
      isGantryError(e, ErrorCode.DIGEST_MISMATCH) &&
      e.message.includes(expected.toString()) &&
      e.message.includes(Digest.fromBytes(data).toString()) &&
      e.message.includes(`${data.length} bytes`)
    );
  });
});

test('a short stream fails with the sizes', async () => {
  await assert.rejects(
    pipeline(Readable.from([data]), verifyingStream({ digest: Digest.fromBytes(data), size: data.length + 1 }), sink().stream),
    (e: unknown) => isGantryError(e, ErrorCode.DIGEST_MISMATCH) && /expected 22 bytes, got 21/.test(e.message),
  );
});

test('a long stream fails as soon as it passes the size, without reading the rest', async () => {
  let produced = 0;
  const endless = new Readable({
    read() {
      produced += 1024;
      this.push(Buffer.alloc(1024));
    },
  });
  const out = sink();
  await assert.rejects(pipeline(endless, verifyingStream({ digest: Digest.fromBytes('x'), size: 4096 }), out.stream), (e: unknown) =>
    isGantryError(e, ErrorCode.DIGEST_MISMATCH) && e.message.includes('expected 4096 bytes, got more'),
  );
  assert.ok(out.received() <= 4096, 'nothing past the size is passed on');
  assert.ok(produced < 1024 * 1024, 'the source is not drained');
});

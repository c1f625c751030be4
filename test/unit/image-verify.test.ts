import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { verifyingStream } from '../../src/hashing/verify.js';
import type { HashPlacement } from '../../src/hashing/blob-hash.js';
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

/** Pushes `chunks` into a verifying stream and records what comes out, chunk by chunk, until it ends or fails. */
async function passedOn(desc: { digest: Digest; size: number }, chunks: Buffer[], placement: HashPlacement): Promise<{ bytes: number; error: unknown }> {
  const v = verifyingStream(desc, undefined, placement);
  let bytes = 0;
  v.on('data', (c: Buffer) => (bytes += c.length));
  const ended = new Promise<unknown>((resolve) => {
    v.once('end', () => resolve(undefined));
    v.once('error', resolve);
  });
  for (const c of chunks) v.write(c);
  v.end();
  const error = await ended;
  return { bytes, error };
}

// An upload's body is a verifying stream: if the whole blob went out before the digest was known,
// the registry could answer the PATCH and the commit would follow. The last chunk waits instead.
for (const [name, size, placement] of [['inline', 64 * 1024, 'auto'], ['inline, large', 6 * 1024 * 1024, 'auto'], ['in a worker thread', 6 * 1024 * 1024, 'worker']] as const) {
  test(`the chunk that completes a blob is passed on only once the digest matches (hashed ${name})`, async () => {
    const good = Buffer.alloc(size, 7);
    const bad = Buffer.from(good);
    bad[size >> 1]! ^= 0xff;
    const desc = { digest: Digest.fromBytes(good), size };
    const third = Math.floor(size / 3);
    const parts = (b: Buffer) => [b.subarray(0, third), b.subarray(third, 2 * third), b.subarray(2 * third)];
    const ok = await passedOn(desc, parts(good), placement);
    assert.deepEqual(ok, { bytes: size, error: undefined });
    const wrong = await passedOn(desc, parts(bad), placement);
    assert.ok(isGantryError(wrong.error, ErrorCode.DIGEST_MISMATCH), String(wrong.error));
    assert.equal(wrong.bytes, 2 * third, 'a consumer never holds the whole of a wrong blob');
    const longer = await passedOn(desc, [...parts(good), Buffer.from('x')], placement);
    assert.ok(isGantryError(longer.error, ErrorCode.DIGEST_MISMATCH) && /got more/.test((longer.error as Error).message));
    assert.equal(longer.bytes, 2 * third);
  });
}

test('an empty chunk after the last one does not replace it', async () => {
  const desc = { digest: Digest.fromBytes(data), size: data.length };
  assert.deepEqual(await passedOn(desc, [data.subarray(0, 4), data.subarray(4), Buffer.alloc(0)], 'auto'), { bytes: data.length, error: undefined });
});

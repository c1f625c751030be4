/**
 * The retry layer's policy, against a scripted `next`: what is retried, how often, how long
 * it waits (full jitter, Retry-After, the cap), and what is never retried.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { GantryError } from '../../src/errors.js';
import { ErrorCode } from '../../src/errors.js';
import { TransportError } from '../../src/transport/errors.js';
import {
  backoffDelay,
  retry,
  RETRY_AFTER_CAP_MS,
  RETRY_BASE_DELAY_MS,
  RETRY_MAX_ATTEMPTS,
  RETRY_MAX_DELAY_MS,
  type RetryPolicy,
} from '../../src/transport/layers/retry.js';
import type { TransportRequest, TransportResponse } from '../../src/transport/types.js';

type Step = number | { status: number; headers?: Record<string, string> } | Error;

function scripted(steps: Step[]): { send: (req: TransportRequest) => Promise<TransportResponse>; calls: TransportRequest[]; dumped: number } {
  const state = { calls: [] as TransportRequest[], dumped: 0, send: undefined as unknown as (req: TransportRequest) => Promise<TransportResponse> };
  state.send = async (req) => {
    state.calls.push(req);
    const step = steps[Math.min(state.calls.length - 1, steps.length - 1)]!;
    if (step instanceof Error) throw step;
    const { status, headers = {} } = typeof step === 'number' ? { status: step } : step;
    const body = Object.assign(Readable.from([]), { dump: async () => void state.dumped++ });
    return { status, headers, url: req.url, body } as unknown as TransportResponse;
  };
  return state;
}

function run(steps: Step[], req: Partial<TransportRequest> = {}, policy: RetryPolicy = {}) {
  const next = scripted(steps);
  const waits: number[] = [];
  const send = retry({ sleep: async (ms) => void waits.push(ms), random: () => 0.5, ...policy })(next.send);
  const request = { method: 'GET', url: new URL('http://registry.test/v2/x/manifests/1'), ...req } as TransportRequest;
  return { promise: send(request), next, waits };
}

const reset = (): TransportError =>
  new TransportError(ErrorCode.CONNECTION, 'GET', 'http://registry.test/', 'connection failed: read ECONNRESET', { retryable: true, causeCode: 'ECONNRESET' });

describe('retry layer', () => {
  test('the defaults are the documented constants', () => {
    assert.equal(RETRY_MAX_ATTEMPTS, 5);
    assert.equal(RETRY_BASE_DELAY_MS, 500);
    assert.equal(RETRY_MAX_DELAY_MS, 10_000);
    assert.equal(RETRY_AFTER_CAP_MS, 60_000);
  });

  test('full jitter: uniform under a doubling ceiling, capped', () => {
    assert.equal(backoffDelay(1, { random: () => 0.999 }), 499);
    assert.equal(backoffDelay(3, { random: () => 0.5 }), 1000);
    assert.equal(backoffDelay(10, { random: () => 0.5 }), RETRY_MAX_DELAY_MS / 2);
    assert.equal(backoffDelay(2, { random: () => 0 }), 0);
  });

  for (const status of [408, 429, 500, 502, 503, 504]) {
    test(`${status} is retried until it succeeds, each failed body released`, async () => {
      const { promise, next, waits } = run([status, status, 200]);
      assert.equal((await promise).status, 200);
      assert.equal(next.calls.length, 3);
      assert.equal(next.dumped, 2);
      assert.deepEqual(waits, [250, 500]);
    });
  }

  for (const status of [400, 401, 403, 404, 501]) {
    test(`${status} is returned at once`, async () => {
      const { promise, next } = run([status, 200]);
      assert.equal((await promise).status, status);
      assert.equal(next.calls.length, 1);
    });
  }

  test('attempts are bounded: the last answer is returned, not thrown', async () => {
    const { promise, next, waits } = run([503]);
    assert.equal((await promise).status, 503);
    assert.equal(next.calls.length, RETRY_MAX_ATTEMPTS);
    assert.equal(waits.length, RETRY_MAX_ATTEMPTS - 1);
  });

  test('Retry-After replaces the backoff', async () => {
    const { promise, waits } = run([{ status: 429, headers: { 'retry-after': '3' } }, 200]);
    assert.equal((await promise).status, 200);
    assert.deepEqual(waits, [3000]);
  });

  test('a Retry-After beyond the cap is not waited for', async () => {
    const { promise, next, waits } = run([{ status: 429, headers: { 'retry-after': String(RETRY_AFTER_CAP_MS / 1000 + 1) } }, 200]);
    assert.equal((await promise).status, 429);
    assert.equal(next.calls.length, 1);
    assert.deepEqual(waits, []);
  });

  test('retryable connection errors are retried; the last one is thrown', async () => {
    const ok = run([reset(), 200]);
    assert.equal((await ok.promise).status, 200);
    const failing = run([reset()], {}, { maxAttempts: 3 });
    await assert.rejects(failing.promise, (err: GantryError) => err.code === ErrorCode.CONNECTION);
    assert.equal(failing.next.calls.length, 3);
  });

  test('errors that a retry cannot help are thrown at once', async () => {
    const tls = new TransportError(ErrorCode.TLS, 'GET', 'https://registry.test/', 'TLS: certificate signed by unknown authority');
    const { promise, next } = run([tls, 200]);
    await assert.rejects(promise, tls);
    assert.equal(next.calls.length, 1);
  });

  for (const [what, req] of [
    ['POST (opens an upload session)', { method: 'POST' }],
    ['PATCH (extends an upload session)', { method: 'PATCH', body: Buffer.from('x') }],
    ['a PUT with a streamed body', { method: 'PUT', body: Readable.from([Buffer.from('x')]) }],
  ] as const) {
    test(`never retried: ${what}`, async () => {
      const { promise, next } = run([503, 200], req as Partial<TransportRequest>);
      assert.equal((await promise).status, 503);
      assert.equal(next.calls.length, 1);
    });
  }

  test('a PUT with a Buffer body and a DELETE are retried', async () => {
    for (const req of [{ method: 'PUT', body: Buffer.from('{}') }, { method: 'DELETE' }, { method: 'HEAD' }]) {
      const { promise, next } = run([502, 201], req);
      assert.equal((await promise).status, 201);
      assert.equal(next.calls.length, 2);
    }
  });

  test('an aborted wait stops the retries', async () => {
    const controller = new AbortController();
    const next = scripted([503]);
    const send = retry({ baseDelayMs: 60_000, random: () => 0.99 })(next.send);
    const p = send({ method: 'GET', url: new URL('http://registry.test/v2/'), signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 20);
    // An abort is a GantryError with code ABORTED, whatever the signal's reason; the reason is its cause.
    await assert.rejects(p, (err: GantryError) => err.code === ErrorCode.ABORTED && (err.cause as Error).message === 'stop');
    assert.equal(next.calls.length, 1);
  });

  test('an abort whose reason already is a GantryError keeps it', async () => {
    const controller = new AbortController();
    const reason = new TransportError(ErrorCode.ABORTED, 'GET', 'http://registry.test/v2/', 'another blob failed');
    controller.abort(reason);
    const send = retry({ random: () => 0.99 })(scripted([503, 200]).send);
    await assert.rejects(send({ method: 'GET', url: new URL('http://registry.test/v2/'), signal: controller.signal }), (err) => err === reason);
  });
});

/**
 * The fault proxy itself, against a plain upstream: each fault does exactly what the fault
 * tests rely on (a truncation stops at the byte asked for and closes cleanly, a reset is a
 * reset, an upload cut forwards exactly N bytes), seeded offsets repeat, `Location` is
 * rewritten to the proxy, and requests are recorded with their `Range`.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startHttpServer, type TestServer } from '../helpers/servers.js';

const BODY = Buffer.alloc(200_000, 7);

interface Got {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  bytes: number;
  /** How the body ended: `end` (complete), or the error code / 'aborted'. */
  ending: string;
}

/** One request with no retries, the body counted, and how it ended. */
function fetchRaw(proxy: FaultProxy, method: string, path: string, body?: Buffer, headers: http.OutgoingHttpHeaders = {}): Promise<Got> {
  return new Promise((resolve) => {
    const got: Got = { bytes: 0, ending: '' };
    const req = http.request({ host: '127.0.0.1', port: Number(proxy.host.split(':')[1]), method, path, headers, agent: false }, (res) => {
      got.status = res.statusCode;
      got.headers = res.headers;
      res.on('data', (c: Buffer) => (got.bytes += c.length));
      res.on('end', () => resolve({ ...got, ending: 'end' }));
      res.on('aborted', () => resolve({ ...got, ending: 'aborted' }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ ...got, ending: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ...got, ending: e.code ?? e.message }));
    req.end(body);
  });
}

describe('fault proxy', () => {
  const received: number[] = [];
  let upstream: TestServer;
  const proxies: FaultProxy[] = [];
  const start = async (seed = 5): Promise<FaultProxy> => {
    upstream ??= await startHttpServer((req, res) => {
      if (req.method === 'PATCH') {
        // Like a registry: count the body, answer when it ends; a cut shows as the socket closing first.
        let n = 0;
        let counted = false;
        const count = (): void => void (counted || ((counted = true), received.push(n)));
        req.on('data', (c: Buffer) => (n += c.length));
        req.socket.once('close', count);
        req.on('end', () => {
          count();
          res.writeHead(202, { 'content-length': '0' });
          res.end();
        });
        return;
      }
      req.resume();
      if (req.method === 'POST') {
        res.writeHead(202, { location: `http://${upstream.host}/v2/x/blobs/uploads/abc?_state=1`, 'content-length': '0' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
    const p = await startFaultProxy({ upstream: `http://${upstream.host}`, seed, settleMs: 20 });
    proxies.push(p);
    return p;
  };
  after(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await upstream?.close();
  });

  test('passes requests through, records them with Range, and rewrites Location to itself', async () => {
    const proxy = await start();
    const whole = await fetchRaw(proxy, 'GET', '/v2/x/blobs/a', undefined, { range: 'bytes=10-' });
    assert.deepEqual([whole.status, whole.bytes, whole.ending], [200, BODY.length, 'end']);
    const post = await fetchRaw(proxy, 'POST', '/v2/x/blobs/uploads/');
    assert.equal(post.headers?.location, `${proxy.url}/v2/x/blobs/uploads/abc?_state=1`);
    assert.deepEqual(proxy.requests.map((r) => [r.method, r.url, r.range, r.status]), [
      ['GET', '/v2/x/blobs/a', 'bytes=10-', 200],
      ['POST', '/v2/x/blobs/uploads/', undefined, 202],
    ]);
  });

  test('truncate sends the bytes asked for of a longer Content-Length, then closes cleanly', async () => {
    const proxy = await start();
    proxy.add({ path: /blobs/, fault: { kind: 'truncate', afterBytes: 12_345 } });
    const cut = await fetchRaw(proxy, 'GET', '/v2/x/blobs/a');
    assert.equal(cut.headers?.['content-length'], String(BODY.length));
    assert.equal(cut.bytes, 12_345);
    assert.ok(cut.ending !== 'end' && cut.ending !== 'ECONNRESET', `ended with ${cut.ending}`);
    assert.equal(proxy.requests[0]?.cutAfter, 12_345);
    assert.equal((await fetchRaw(proxy, 'GET', '/v2/x/blobs/a')).bytes, BODY.length, 'count-limited: the next one passes');
  });

  test('reset-response resets after N bytes; random offsets repeat with the seed', async () => {
    const cuts: (number | undefined)[][] = [];
    for (let i = 0; i < 2; i++) {
      const proxy = await start(42);
      proxy.add({ path: /blobs/, times: 3, fault: { kind: 'reset-response' } });
      for (let j = 0; j < 3; j++) {
        const got = await fetchRaw(proxy, 'GET', '/v2/x/blobs/a');
        assert.ok(got.bytes < BODY.length);
        assert.match(got.ending, /ECONNRESET|aborted/);
      }
      cuts.push(proxy.requests.map((r) => r.cutAfter));
    }
    assert.deepEqual(cuts[0], cuts[1]);
    assert.ok(cuts[0]?.every((c) => c !== undefined && c > 0 && c < BODY.length));
    assert.notEqual(new Set(cuts[0]).size, 1, 'the offsets vary');
  });

  test('reset-request forwards exactly N bytes of an upload, then resets', async () => {
    const proxy = await start();
    proxy.add({ method: 'PATCH', path: /uploads/, fault: { kind: 'reset-request', afterBytes: 70_000 } });
    received.length = 0;
    const got = await fetchRaw(proxy, 'PATCH', '/v2/x/blobs/uploads/abc', BODY, { 'content-length': String(BODY.length) });
    assert.match(got.ending, /ECONNRESET|EPIPE|socket hang up/);
    const deadline = Date.now() + 2000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(received, [70_000]);
  });

  test('lose-response lets the upstream act, then resets before the answer', async () => {
    const proxy = await start();
    proxy.add({ method: 'POST', path: /uploads/, fault: { kind: 'lose-response' } });
    const got = await fetchRaw(proxy, 'POST', '/v2/x/blobs/uploads/');
    assert.deepEqual([got.status, got.ending], [undefined, 'ECONNRESET']);
    assert.equal(proxy.requests[0]?.status, 202, 'the upstream answered');
  });

  test('status faults answer without the upstream, then let requests through', async () => {
    const proxy = await start();
    proxy.add({ path: /blobs/, times: 2, fault: { kind: 'status', status: 429, retryAfter: '1' } });
    const a = await fetchRaw(proxy, 'GET', '/v2/x/blobs/a');
    const b = await fetchRaw(proxy, 'GET', '/v2/x/blobs/a');
    const c = await fetchRaw(proxy, 'GET', '/v2/x/blobs/a');
    assert.deepEqual([a.status, a.headers?.['retry-after'], b.status, c.status], [429, '1', 429, 200]);
  });

  test('drip slows a response down and still delivers all of it', async () => {
    const proxy = await start();
    proxy.add({ path: /blobs/, fault: { kind: 'drip', chunkBytes: 50_000, intervalMs: 100, forMs: 250 } });
    const started = Date.now();
    const got = await fetchRaw(proxy, 'GET', '/v2/x/blobs/a');
    assert.deepEqual([got.bytes, got.ending], [BODY.length, 'end']);
    assert.ok(Date.now() - started >= 250);
  });
});

/**
 * `gantry serve --metrics` (issue 16): real servers, pushed to and pulled from with gantry's own
 * client, scraped with a real HTTP client, the exposition text parsed here (a small parser of
 * the text format: `name{label="value",…} number`):
 * - exactly the manifest PUTs made are counted with status 201; bytes in cover the blobs pushed,
 *   bytes out the blobs pulled; latency histograms count the same requests; no repository name
 *   appears in any label;
 * - upload sessions and storage size (memory maps; a walk of directory storage);
 * - a pull-through cache: the first pull misses, the second hits;
 * - a separate metrics listener is open while the registry's own /metrics is behind its auth;
 * - /healthz, and /readyz answering 503 while the server drains on close.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { connectRegistry } from '../../src/client/connect.js';
import { copy } from '../../src/image/transports.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { connectUpstream } from '../../src/upstream/connect-upstream.js';
import { pushImage, type PushedImage } from '../helpers/client-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-serve-metrics-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const out = (): string => join(root, `out-${++n}`);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition format 0.0.4 (comments skipped, label values unescaped). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[k as string] = (v as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1] as string, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `where`. */
function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

interface Reply {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      })
      .on('error', reject);
  });
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<{ samples: Sample[]; text: string }> {
  const r = await get(`${url}/metrics`, headers);
  assert.equal(r.status, 200, r.text);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return { samples: parseExposition(r.text), text: r.text };
}

async function push(host: string, repository: string, tags: string[]): Promise<PushedImage[]> {
  const { client, close } = await connectRegistry(host, 'push', { anonymous: true });
  try {
    const pushed: PushedImage[] = [];
    for (const [i, tag] of tags.entries()) pushed.push(await pushImage(client.repository(repository), tag, 100 + i));
    return pushed;
  } finally {
    await close();
  }
}

const hostOf = (s: RegistryServer): string => new URL(s.url).host;

describe('gantry serve --metrics: requests, bytes, storage', () => {
  let server: RegistryServer;
  let pushed: PushedImage[];
  before(async () => {
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', metrics: true });
    pushed = await push(hostOf(server), 'metrics/app', ['1', '2']);
    await copy(`docker://${hostOf(server)}/metrics/app:1`, `oci:${out()}:1`);
  });
  after(() => server.close());

  test('counts exactly the manifest PUTs made, by route, method and status; the histogram agrees', async () => {
    const { samples, text } = await scrape(server.url);
    assert.equal(total(samples, 'gantry_http_requests_total', { route: 'manifest', method: 'PUT', status: '201' }), 2);
    assert.equal(total(samples, 'gantry_http_requests_total', { route: 'manifest', method: 'PUT' }), 2);
    assert.equal(total(samples, 'gantry_http_request_duration_seconds_count', { route: 'manifest', method: 'PUT', status: '201' }), 2);
    assert.ok(total(samples, 'gantry_http_requests_total', { route: 'manifest', method: 'GET', status: '200' }) >= 1);
    assert.ok(total(samples, 'gantry_http_requests_total', { route: 'blob', method: 'GET', status: '200' }) >= 2, 'config and layer pulled');
    assert.ok(total(samples, 'gantry_http_requests_total', { route: 'upload' }) >= 4, 'two blobs per image pushed');
    for (const s of samples.filter((x) => x.name === 'gantry_http_requests_total')) {
      assert.ok(['base', 'catalog', 'tags', 'manifest', 'blob', 'upload', 'referrers', 'token', 'ui', 'metrics', 'health', 'other'].includes(s.labels.route as string), s.labels.route);
    }
    assert.ok(!text.includes('metrics/app'), 'no repository name in a label');
  });

  test('bytes in cover the blobs pushed, bytes out the blobs pulled', async () => {
    const { samples } = await scrape(server.url);
    const pushedBytes = pushed.reduce((a, p) => a + p.config.size + p.layer.size, 0);
    assert.ok(total(samples, 'gantry_http_request_bytes_total', { route: 'upload' }) >= pushedBytes);
    assert.ok(total(samples, 'gantry_http_request_bytes_total', { route: 'manifest' }) >= pushed.reduce((a, p) => a + p.bytes.length, 0));
    const first = pushed[0] as PushedImage;
    assert.ok(total(samples, 'gantry_http_response_bytes_total', { route: 'blob' }) >= first.config.size + first.layer.size);
  });

  test('storage size from memory storage, and upload sessions open now', async () => {
    let { samples } = await scrape(server.url);
    const blobBytes = pushed.reduce((a, p) => a + p.config.size + p.layer.size, 0);
    assert.ok(total(samples, 'gantry_storage_blob_bytes') >= blobBytes);
    assert.ok(total(samples, 'gantry_storage_blobs') >= 4);
    assert.equal(total(samples, 'gantry_storage_walk_complete'), 1);
    assert.equal(total(samples, 'gantry_upload_sessions'), 0);
    const started = await new Promise<number>((resolve, reject) => {
      http.request(`${server.url}/v2/metrics/app/blobs/uploads/`, { method: 'POST', agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject).end();
    });
    assert.equal(started, 202);
    ({ samples } = await scrape(server.url));
    assert.equal(total(samples, 'gantry_upload_sessions'), 1);
  });

  test('/healthz answers ok without auth; /readyz answers ready', async () => {
    assert.deepEqual(await get(`${server.url}/healthz`).then((r) => [r.status, r.text]), [200, 'ok']);
    assert.deepEqual(await get(`${server.url}/readyz`).then((r) => [r.status, r.text]), [200, 'ready']);
  });
});

describe('gantry serve --metrics-listen: a separate, open listener; the registry\'s /metrics behind its auth', () => {
  let server: RegistryServer;
  const basic = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;
  before(async () => {
    const htpasswd = join(root, 'htpasswd');
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync('wonderland', 4)}\n`);
    server = await createRegistryServer({
      listen: { host: '127.0.0.1', port: 0 },
      storage: join(root, 'dir-storage'),
      auth: { type: 'htpasswd', file: htpasswd },
      metrics: { listen: { host: '127.0.0.1', port: 0 } },
    });
    const { client, close } = await connectRegistry(hostOf(server), 'push', { credentials: { username: 'alice', password: 'wonderland' } });
    try {
      await pushImage(client.repository('team/app'), 'v1', 7);
    } finally {
      await close();
    }
  });
  after(() => server.close());

  test('the metrics listener needs no credentials and walks directory storage', async () => {
    assert.ok(server.metricsUrl, 'metricsUrl set');
    assert.notEqual(server.metricsUrl, server.url);
    const { samples } = await scrape(server.metricsUrl);
    assert.equal(total(samples, 'gantry_http_requests_total', { route: 'manifest', method: 'PUT', status: '201' }), 1);
    assert.ok(total(samples, 'gantry_storage_blobs') >= 3, 'config, layer, manifest');
    assert.ok(total(samples, 'gantry_storage_blob_bytes') > 0);
    assert.equal((await get(`${server.metricsUrl}/v2/`)).status, 404, 'the metrics listener serves no registry API');
    assert.equal((await get(`${server.metricsUrl}/healthz`)).text, 'ok');
  });

  test('with a metrics listener the registry\'s own address has no /metrics; /healthz needs no auth', async () => {
    assert.equal((await get(`${server.url}/metrics`, { authorization: basic })).status, 404);
    assert.equal((await get(`${server.url}/healthz`)).status, 200);
  });
});

describe('gantry serve --metrics on the registry\'s own address with auth', () => {
  let server: RegistryServer;
  before(async () => {
    const htpasswd = join(root, 'htpasswd-2');
    writeFileSync(htpasswd, `bob:${bcrypt.hashSync('builder', 4)}\n`);
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', auth: { type: 'htpasswd', file: htpasswd }, metrics: true });
  });
  after(() => server.close());

  test('/metrics asks for the registry\'s credentials', async () => {
    const anonymous = await get(`${server.url}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['www-authenticate']), /^Basic /);
    await scrape(server.url, { authorization: `Basic ${Buffer.from('bob:builder').toString('base64')}` });
  });
});

describe('gantry serve --metrics in proxy mode: cache hits and misses', () => {
  let upstream: RegistryServer;
  let cache: RegistryServer;
  before(async () => {
    upstream = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
    await push(hostOf(upstream), 'library/app', ['1']);
    cache = await createRegistryServer({
      listen: { host: '127.0.0.1', port: 0 },
      storage: 'memory',
      metrics: true,
      proxy: { remoteUrl: upstream.url, connect: (remote) => connectUpstream(remote, { retry: { maxAttempts: 2, baseDelayMs: 50 } }) },
    });
  });
  after(async () => {
    await cache?.close();
    await upstream?.close();
  });

  test('the first pull misses, the second hits; the upstream is asked for each blob once', async () => {
    let { samples } = await scrape(cache.url);
    assert.equal(total(samples, 'gantry_proxy_cache_requests_total', { kind: 'blob', result: 'miss' }), 0, 'shown at 0 from the start');
    await copy(`docker://${hostOf(cache)}/library/app:1`, `oci:${out()}:1`);
    ({ samples } = await scrape(cache.url));
    assert.equal(total(samples, 'gantry_proxy_cache_requests_total', { kind: 'blob', result: 'miss' }), 2, 'config and layer');
    assert.equal(total(samples, 'gantry_proxy_cache_requests_total', { kind: 'blob', result: 'hit' }), 0);
    assert.ok(total(samples, 'gantry_proxy_cache_requests_total', { kind: 'manifest', result: 'miss' }) >= 1);
    assert.equal(total(samples, 'gantry_proxy_upstream_requests_total', { operation: 'get_blob' }), 2);

    await copy(`docker://${hostOf(cache)}/library/app:1`, `oci:${out()}:1`);
    ({ samples } = await scrape(cache.url));
    assert.equal(total(samples, 'gantry_proxy_cache_requests_total', { kind: 'blob', result: 'miss' }), 2);
    assert.equal(total(samples, 'gantry_proxy_cache_requests_total', { kind: 'blob', result: 'hit' }), 2);
    assert.ok(total(samples, 'gantry_proxy_cache_requests_total', { kind: 'manifest', result: 'hit' }) >= 1, 'the tag within its TTL');
    assert.equal(total(samples, 'gantry_proxy_upstream_requests_total', { operation: 'get_blob' }), 2);
  });
});

describe('/readyz while the server closes', () => {
  test('answers 503 on the metrics listener while a request in progress drains, then the server closes', async () => {
    const server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', metrics: { listen: { host: '127.0.0.1', port: 0 } }, drainTimeoutMs: 10_000 });
    const metricsUrl = server.metricsUrl as string;
    assert.equal((await get(`${metricsUrl}/readyz`)).status, 200);
    const start = await new Promise<string>((resolve, reject) => {
      http.request(`${server.url}/v2/drain/app/blobs/uploads/`, { method: 'POST', agent: false }, (res) => (res.resume(), resolve(res.headers.location as string))).on('error', reject).end();
    });
    // A PATCH whose body is still coming when close() is called.
    let patchStatus = 0;
    const patch = http.request(new URL(start, server.url), { method: 'PATCH', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': '8' } });
    const patched = new Promise<void>((resolve, reject) => {
      patch.on('response', (res) => {
        patchStatus = res.statusCode ?? 0;
        res.resume();
        res.on('end', resolve);
      });
      patch.on('error', reject);
    });
    patch.write('1234');
    await new Promise((r) => setTimeout(r, 100));
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    const during = await get(`${metricsUrl}/readyz`);
    assert.deepEqual([during.status, during.text], [503, 'closing']);
    assert.equal((await get(`${metricsUrl}/healthz`)).status, 200, 'still alive');
    assert.equal(closed, false, 'waits for the request in progress');
    patch.end('5678');
    await patched;
    assert.equal(patchStatus, 202, 'the request in progress finished');
    await closing;
    await assert.rejects(get(`${metricsUrl}/healthz`), /ECONNREFUSED/);
  });
});

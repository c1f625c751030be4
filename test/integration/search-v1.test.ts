/**
 * docker search against in-process v1 indexes on loopback (Docker Hub itself is out of
 * reach): the `_ping` rules and endpoint validation of moby's search_endpoint_v1_test.go,
 * and the rows of its search_test.go (both in
 * https://github.com/moby/moby/tree/master/daemon/pkg/registry): the fake answer, the errors
 * with a server that always fails (filter errors send nothing), the filter success matrix.
 * The rules are in docs/docker-rules.md#search.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isGantryError } from '../../src/errors.js';
import { search } from '../../src/search/search.js';
import { INDEX_SERVER, parseV1Endpoint, pingV1, resolveV1Endpoint } from '../../src/search/v1-endpoint.js';
import { Transport, type TransportOptions } from '../../src/transport/transport.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';
import { startHttpServer, startHttpsServer, type TestServer } from '../helpers/servers.js';

let pki: TestPki;
let certsDir: string;
const servers: TestServer[] = [];
const transports: Transport[] = [];

before(() => {
  pki = createTestPki();
  certsDir = mkdtempSync(join(tmpdir(), 'gantry-search-certs-'));
});
after(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all(servers.map((s) => s.close()));
  rmSync(certsDir, { recursive: true, force: true });
  pki.cleanup();
});

const transport = (options: TransportOptions = {}): Transport => {
  const t = new Transport({ certsDir, retry: false, ...options });
  transports.push(t);
  return t;
};

type Answer = { status?: number; headers?: Record<string, string>; body?: string };
/** A v1 index: `_ping` and `search` answers, 404 elsewhere. */
function v1Index(ping: Answer, answer: (req: IncomingMessage) => Answer = () => ({ status: 404 })) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    const a = path === '/v1/_ping' ? ping : path === '/v1/search' ? answer(req) : { status: 404 };
    res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers });
    res.end(a.body ?? '');
  };
}
async function http(handler: Parameters<typeof startHttpServer>[0]): Promise<TestServer> {
  const s = await startHttpServer(handler);
  servers.push(s);
  return s;
}
async function https(handler: Parameters<typeof startHttpServer>[0]): Promise<TestServer> {
  const cert = pki.server(['127.0.0.1']);
  const s = await startHttpsServer({ cert: cert.certPem, key: cert.keyPem }, handler);
  servers.push(s);
  return s;
}
/** A port nothing listens on: a server started and closed. */
async function closedPort(): Promise<number> {
  const s = await startHttpServer();
  await s.close();
  return s.port;
}

describe('v1 _ping (TestV1EndpointPing)', () => {
  const rows: [string, Answer, boolean][] = [
    ['body true, no header', { body: 'true' }, true],
    ['no body', {}, true],
    ['{"standalone": false}', { body: '{"standalone": false}' }, false],
    ['{"Standalone": false} (Go matches keys in any case)', { body: '{"Standalone": false}' }, false],
    ['{"standalone": "no"} (undecodable: default)', { body: '{"standalone": "no"}' }, true],
    ['header 1', { headers: { 'x-docker-registry-standalone': '1' }, body: '{"standalone": false}' }, true],
    ['header TRUE', { headers: { 'x-docker-registry-standalone': 'TRUE' } }, true],
    ['header false wins over the body', { headers: { 'x-docker-registry-standalone': 'false' }, body: '{"standalone": true}' }, false],
    ['header yes is not true', { headers: { 'x-docker-registry-standalone': 'yes' } }, false],
    ['401 with a Basic challenge still answers', { status: 401, headers: { 'www-authenticate': 'Basic realm="localhost"' } }, true],
  ];
  for (const [name, answer, standalone] of rows) {
    test(`${name} → standalone ${standalone}`, async () => {
      const s = await http(v1Index(answer));
      assert.deepEqual(await pingV1(transport(), parseV1Endpoint(`http://${s.host}`)), { standalone });
      assert.equal(s.seen.at(-1)?.url, '/v1/_ping');
    });
  }

  test('a TLS index answers too', async () => {
    const s = await https(v1Index({ body: 'true' }));
    assert.deepEqual(await pingV1(transport(), parseV1Endpoint(`https://${s.host}`)), { standalone: true });
  });

  test('the public index is not pinged', async () => {
    const looked: string[] = [];
    const t = transport({ lookup: (host, _o, cb) => (looked.push(host), (cb as (e: Error) => void)(new Error('no DNS'))) });
    assert.deepEqual(await pingV1(t, parseV1Endpoint(INDEX_SERVER)), { standalone: false });
    assert.deepEqual(looked, []);
  });
});

describe('v1 endpoint validation (TestV1EndpointValidate, newV1Endpoint)', () => {
  test('an http index named by URL, URL/v1/ or host:port expands to <url>/v1/ when insecure', async () => {
    const s = await http(v1Index({ body: 'true' }));
    for (const address of [`http://${s.host}`, `http://${s.host}/v1/`, s.host]) {
      const { endpoint } = await resolveV1Endpoint(transport(), address, s.host);
      assert.equal(endpoint.base.href, `http://${s.host}/`, address);
    }
  });

  test('a 401 Basic-only server validates as an http v1 endpoint', async () => {
    const s = await http((_req, res) => res.writeHead(401, { 'www-authenticate': 'Basic realm="localhost"' }).end());
    const { endpoint } = await resolveV1Endpoint(transport(), s.host, s.host);
    assert.equal(endpoint.base.protocol, 'http:');
  });

  test('the same http index when secure: no http fallback, Docker\'s --insecure-registry advice with the real certs dir', async () => {
    const s = await http(v1Index({ body: 'true' }));
    await assert.rejects(resolveV1Endpoint(transport({ tlsVerify: true }), s.host, s.host), (err: unknown) => {
      const m = (err as Error).message;
      assert.ok(m.startsWith(`invalid registry endpoint https://${s.host}/v1/: GET https://${s.host}/v1/_ping: `), m);
      assert.ok(
        m.endsWith(
          `. If this private registry supports only HTTP or HTTPS with an unknown CA certificate, please add \`--insecure-registry ${s.host}\` to the daemon's arguments. ` +
            `In the case of HTTPS, if you have access to the registry's CA certificate, no need for the flag; simply place the CA certificate at ${certsDir}/${s.host}/ca.crt`,
        ),
        m,
      );
      return true;
    });
    assert.deepEqual(s.seen, [], 'a plain http server gets no request over http');
  });

  test('a self-signed-CA https index when secure: certificate signed by unknown authority (TLS)', async () => {
    const s = await https(v1Index({ body: 'true' }));
    await assert.rejects(resolveV1Endpoint(transport({ tlsVerify: true }), s.host, s.host), (err: unknown) => isGantryError(err, 'TLS') && /certificate signed by unknown authority.*insecure-registry/.test((err as Error).message));
  });

  test('the same https index when its CA is in certs.d, or when insecure', async () => {
    const s = await https(v1Index({ body: 'true' }));
    mkdirSync(join(certsDir, s.host), { recursive: true });
    copyFileSync(pki.ca.certFile, join(certsDir, s.host, 'ca.crt'));
    assert.equal((await resolveV1Endpoint(transport({ tlsVerify: true }), s.host, s.host)).endpoint.base.protocol, 'https:');
    const other = await https(v1Index({ body: 'true' }));
    assert.equal((await resolveV1Endpoint(transport(), other.host, other.host)).endpoint.base.protocol, 'https:', 'loopback is insecure: verification off');
  });

  test('nothing listening: both attempts named when insecure, for every spelling of the address', async () => {
    const port = await closedPort();
    const host = `127.0.0.1:${port}`;
    for (const address of [`http://${host}/v1/`, `https://${host}/v1/`, `http://${host}`, `https://${host}`, host]) {
      await assert.rejects(resolveV1Endpoint(transport(), address, host), (err: unknown) => {
        const m = (err as Error).message;
        return isGantryError(err, 'CONNECTION') && m.startsWith(`invalid registry endpoint "http://${host}/v1/". HTTPS attempt: GET https://${host}/v1/_ping: `) && m.includes(`. HTTP attempt: GET http://${host}/v1/_ping: `);
      }, address);
    }
  });
});

const FAKE_ANSWER = '{"query":"fakequery","num_results":1,"results":[{"name":"fakeimage","star_count":42}]}';

describe('search (TestSearchRepositories, TestSearch)', () => {
  test('the fake v1 registry: one result, its query and stars; q, n and X-Docker-Token sent', async () => {
    const s = await http(v1Index({ body: 'true' }, () => ({ body: FAKE_ANSWER })));
    const r = await search(`${s.host}/fakequery`, { limit: 25, transportOptions: { certsDir } });
    assert.deepEqual(r, { query: 'fakequery', results: [{ name: 'fakeimage', description: '', starCount: 42, isOfficial: false, isAutomated: false }] });
    const req = s.seen.find((x) => x.url.startsWith('/v1/search'))!;
    assert.equal(req.url, '/v1/search?q=fakequery&n=25');
    assert.equal(req.headers['x-docker-token'], 'true');
    assert.equal(req.headers.authorization, undefined);
  });

  test('limit 0 asks for 25; the term is query-escaped', async () => {
    const s = await http(v1Index({ body: 'true' }, () => ({ body: FAKE_ANSWER })));
    await search(`${s.host}/team/my app`, { limit: 0, transportOptions: { certsDir } });
    assert.equal(s.seen.at(-1)?.url, '/v1/search?q=team%2Fmy+app&n=25');
  });

  describe('errors from a server that always answers 500', () => {
    let s: TestServer;
    before(async () => {
      s = await http((_req, res) => res.writeHead(500).end('boom'));
    });
    test('no filters → unexpected status code 500, without retries', async () => {
      const n = s.seen.length;
      await assert.rejects(search(`${s.host}/term`, { transportOptions: { certsDir } }), (err: unknown) => isGantryError(err, 'REGISTRY') && (err as Error).message === 'unexpected status code 500');
      assert.deepEqual(s.seen.slice(n).map((x) => x.url), ['/v1/_ping', '/v1/search?q=term&n=25']);
    });
    const filterErrors: [string[], RegExp][] = [
      [['type=custom'], /^invalid filter 'type'$/],
      [['is-automated=invalid'], /^invalid filter 'is-automated=\[invalid\]'$/],
      [['is-automated=true', 'is-automated=false'], /^invalid filter 'is-automated/],
      [['is-official=invalid'], /^invalid filter 'is-official=\[invalid\]'$/],
      [['is-official=true', 'is-official=false'], /^invalid filter 'is-official/],
      [['stars=invalid'], /^invalid filter 'stars=invalid'/],
      [['stars=1', 'stars=invalid'], /^invalid filter 'stars=invalid'/],
    ];
    for (const [filters, message] of filterErrors) {
      test(`${filters.join(' ')} → ${message.source}, no request sent`, async () => {
        const n = s.seen.length;
        await assert.rejects(search(`${s.host}/term`, { filters, transportOptions: { certsDir } }), (err: unknown) => isGantryError(err, 'INVALID_CONFIG') && message.test((err as Error).message));
        assert.equal(s.seen.length, n);
      });
    }
    test('limit 101 and a term with a scheme fail before any request', async () => {
      const n = s.seen.length;
      await assert.rejects(search(`${s.host}/term`, { limit: 101, transportOptions: { certsDir } }), { message: 'limit 101 is outside the range of [1, 100]' });
      await assert.rejects(search(`http://${s.host}/term`, { transportOptions: { certsDir } }), { message: `invalid repository name: repository name (http://${s.host}/term) should not have a scheme` });
      assert.equal(s.seen.length, n);
    });
  });

  test('an answer that is not search results → error decoding registry search results', async () => {
    const s = await http(v1Index({ body: 'true' }, () => ({ body: '<html>' })));
    await assert.rejects(search(`${s.host}/term`, { transportOptions: { certsDir } }), (err: unknown) => isGantryError(err, 'INVALID_RESPONSE') && (err as Error).message.startsWith('error decoding registry search results: '));
  });

  describe('filter success matrix (term <host>/term, limit 0)', () => {
    const r = (name: string, star_count: number, is_official: boolean, is_automated = false) => ({ name, star_count, is_official, is_automated });
    const rows: [string, object[], string[], [string, number, boolean][]][] = [
      ['empty result', [], [], []],
      ['no filter', [r('name', 1, false)], [], [['name', 1, false]]],
      ['is-automated=true, even with automated results', [r('name', 1, false, true)], ['is-automated=true'], []],
      ['is-automated=false keeps an automated result, reported not automated', [r('name', 1, false, true)], ['is-automated=false'], [['name', 1, false]]],
      ['is-official=true', [r('name', 1, false), r('official', 1, true)], ['is-official=true'], [['official', 1, true]]],
      ['is-official=false', [r('name', 1, false), r('official', 1, true)], ['is-official=false'], [['name', 1, false]]],
      ['stars=0 keeps 0 stars', [r('name', 0, false)], ['stars=0'], [['name', 0, false]]],
      ['stars=1 drops 0 stars, keeps 1', [r('zero', 0, false), r('one', 1, false)], ['stars=1'], [['one', 1, false]]],
      ['stars=1 is-official=true is-automated=true', [r('name', 1, true, true)], ['stars=1', 'is-official=true', 'is-automated=true'], []],
    ];
    for (const [name, results, filters, expected] of rows) {
      test(name, async () => {
        const s = await http(v1Index({ body: 'true' }, () => ({ body: JSON.stringify({ query: 'term', num_results: results.length, results }) })));
        const out = await search(`${s.host}/term`, { limit: 0, filters, transportOptions: { certsDir } });
        assert.deepEqual(out.results.map((x) => [x.name, x.starCount, x.isOfficial]), expected);
        assert.ok(out.results.every((x) => x.isAutomated === false));
        if (filters.includes('is-automated=true')) assert.deepEqual(s.seen, [], 'is-automated=true sends nothing');
      });
    }
  });
});

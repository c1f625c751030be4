/**
 * Credentials in docker search (docs/docker-rules.md#search and #redirects): Basic to a private
 * index, never on the ping, never to another host a redirect points at; a v2 bearer token for
 * `registry:catalog:search` when an identity token is held; Docker Hub reached without a
 * ping, its redirects between trusted Docker hosts keeping the credentials and a redirect
 * elsewhere dropping them (Hub's names routed to a loopback TLS server through a CONNECT proxy).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Credentials, CredentialSource } from '../../src/auth/keychain.js';
import { ServiceConfig } from '../../src/config/service-config.js';
import { search } from '../../src/search/search.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';
import { startHttpServer, startHttpsServer, type TestServer, startConnectProxy, type TestProxy } from '../helpers/servers.js';

const ANSWER = '{"query":"q","num_results":1,"results":[{"name":"found","star_count":7,"is_official":true}]}';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let pki: TestPki;
let certsDir: string;
const servers: TestServer[] = [];
before(() => {
  pki = createTestPki();
  certsDir = mkdtempSync(join(tmpdir(), 'gantry-search-auth-'));
});
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(certsDir, { recursive: true, force: true });
  pki.cleanup();
});

/** Fixed credentials; remembers which index they were asked for. */
function source(creds: Omit<Credentials, 'serverAddress'>): CredentialSource & { asked: string[] } {
  const asked: string[] = [];
  return { asked, resolve: (host) => (asked.push(host), Promise.resolve({ ...creds, serverAddress: host })) };
}

function answer(res: ServerResponse, status = 200, body = ANSWER): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(body);
}

async function http(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const s = await startHttpServer(handler);
  servers.push(s);
  return s;
}

describe('Basic credentials on a private index', () => {
  test('the search request carries them, the ping does not; asked for by host:port', async () => {
    const s = await http((req, res) => (req.url === '/v1/_ping' ? answer(res, 200, 'true') : answer(res)));
    const creds = source({ username: 'alice', password: 's3cret' });
    const out = await search(`${s.host}/app`, { credentials: creds, transportOptions: { certsDir } });
    assert.equal(out.results[0]?.name, 'found');
    assert.deepEqual(creds.asked, [s.host]);
    assert.equal(s.seen[0]?.url, '/v1/_ping');
    assert.equal(s.seen[0]?.headers.authorization, undefined);
    assert.equal(s.seen[1]?.headers.authorization, basic('alice', 's3cret'));
  });

  test('over https to a standalone index as well', async () => {
    const cert = pki.server(['127.0.0.1']);
    const s = await startHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => (req.url === '/v1/_ping' ? answer(res, 200, '{"standalone": true}') : answer(res)));
    servers.push(s);
    await search(`${s.host}/app`, { credentials: source({ username: 'bob', password: 'pw' }), transportOptions: { certsDir } });
    assert.equal(s.seen.at(-1)?.headers.authorization, basic('bob', 'pw'));
  });

  test('a redirect to another host drops Authorization and keeps the other headers', async () => {
    const b = await http((_req, res) => answer(res));
    const a = await http((req, res) => {
      if (req.url === '/v1/_ping') answer(res, 200, 'true');
      else res.writeHead(302, { location: `http://${b.host}${req.url}` }).end();
    });
    const out = await search(`${a.host}/app`, { credentials: source({ username: 'alice', password: 's3cret' }), transportOptions: { certsDir } });
    assert.equal(out.results[0]?.name, 'found');
    assert.equal(a.seen.at(-1)?.headers.authorization, basic('alice', 's3cret'));
    assert.equal(b.seen.length, 1);
    assert.equal(b.seen[0]?.url, '/v1/search?q=app&n=25');
    assert.equal(b.seen[0]?.headers.authorization, undefined, 'no credentials for a host that was not asked');
    assert.equal(b.seen[0]?.headers['x-docker-token'], 'true');
  });
});

describe('identity token: a v2 bearer token for registry:catalog:search', () => {
  test('ping /v2/, OAuth2 refresh-token exchange, Bearer on the search', async () => {
    const forms: URLSearchParams[] = [];
    const s = await http((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path === '/v1/_ping') return answer(res, 200, 'true');
      if (path === '/v2/') return res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="test-registry"` }).end();
      if (path === '/token' && req.method === 'POST') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          forms.push(new URLSearchParams(body));
          answer(res, 200, '{"access_token":"search-token","expires_in":300}');
        });
        return;
      }
      if (path === '/v1/search') return req.headers.authorization === 'Bearer search-token' ? answer(res) : answer(res, 401, '{}');
      answer(res, 404, '{}');
    });
    const out = await search(`${s.host}/app`, { credentials: source({ username: 'carol', identityToken: 'refresh-me' }), transportOptions: { certsDir } });
    assert.equal(out.results[0]?.name, 'found');
    assert.equal(forms.length, 1);
    const form = forms[0]!;
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('refresh_token'), 'refresh-me');
    assert.equal(form.get('scope'), 'registry:catalog:search');
    assert.equal(form.get('service'), 'test-registry');
    const searchReq = s.seen.find((x) => x.url.startsWith('/v1/search'))!;
    assert.equal(searchReq.headers.authorization, 'Bearer search-token');
  });
});

describe('Docker Hub (index.docker.io routed to loopback)', () => {
  const hosts = ['index.docker.io', 'search.docker.io', 'evil.test'];
  let hub: TestServer;
  let tunnel: TestProxy;
  before(async () => {
    const cert = pki.server(hosts);
    hub = await startHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      const host = req.headers.host ?? '';
      const url = new URL(req.url ?? '/', `https://${host}`);
      if (host === 'index.docker.io' && url.pathname === '/v1/search') {
        const to = url.searchParams.get('q') === 'trusted' ? 'search.docker.io' : 'evil.test';
        return res.writeHead(302, { location: `https://${to}${url.pathname}${url.search}` }).end();
      }
      answer(res);
    });
    servers.push(hub);
    for (const h of hosts) {
      mkdirSync(join(certsDir, h), { recursive: true });
      copyFileSync(pki.ca.certFile, join(certsDir, h, 'ca.crt'));
    }
    tunnel = await startConnectProxy(hub.port);
  });
  after(() => tunnel.close());

  const hubSearch = (term: string, creds: CredentialSource) =>
    search(term, {
      credentials: creds,
      transportOptions: { certsDir, env: { HTTPS_PROXY: tunnel.url }, config: ServiceConfig.create({ lookup: () => Promise.reject(new Error('no DNS in tests')) }) },
    });

  test('no ping; library/ stripped; credentials of docker.io kept on a redirect to another Docker host', async () => {
    const n = hub.seen.length;
    const creds = source({ username: 'hubuser', password: 'hubpass' });
    const out = await hubSearch('library/trusted', creds);
    assert.equal(out.results[0]?.name, 'found');
    assert.deepEqual(creds.asked, ['docker.io']);
    const seen = hub.seen.slice(n);
    assert.deepEqual(seen.map((x) => `${x.headers.host}${x.url}`), ['index.docker.io/v1/search?q=trusted&n=25', 'search.docker.io/v1/search?q=trusted&n=25']);
    assert.ok(seen.every((x) => x.headers.authorization === basic('hubuser', 'hubpass')));
    assert.ok(tunnel.connects.every((c) => c.endsWith(':443')));
  });

  test('a redirect from Hub to a host outside docker.com/docker.io drops Authorization', async () => {
    const n = hub.seen.length;
    await hubSearch('someone/untrusted', source({ username: 'hubuser', password: 'hubpass' }));
    const seen = hub.seen.slice(n);
    assert.deepEqual(seen.map((x) => x.headers.host), ['index.docker.io', 'evil.test']);
    assert.equal(seen[0]?.headers.authorization, basic('hubuser', 'hubpass'));
    assert.equal(seen[1]?.headers.authorization, undefined);
    assert.equal(seen[1]?.headers['x-docker-token'], 'true');
  });
});

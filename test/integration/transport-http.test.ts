/**
 * The transport's HTTP behaviour against real loopback servers: proxies from the
 * environment (a CONNECT proxy used for a host outside NO_PROXY and not for one inside,
 * with the host's TLS profile inside the tunnel), redirects (Authorization kept on the same
 * origin, dropped across origins, https→http refused, hop limit), User-Agent and meta
 * headers on every hop.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceConfig } from '../../src/config/service-config.js';
import { negotiate } from '../../src/transport/endpoint.js';
import { Transport } from '../../src/transport/transport.js';
import { isGantryError } from '../../src/errors.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';
import { startConnectProxy, startHttpServer, startHttpsServer, testLookup, type TestProxy, type TestServer } from '../helpers/servers.js';

const noDns = async (): Promise<string[]> => {
  throw new Error('no DNS in tests');
};

let pki: TestPki;
let certsRoot: string;
let proxy: TestProxy;
const servers: TestServer[] = [];

before(async () => {
  pki = createTestPki();
  certsRoot = mkdtempSync(join(tmpdir(), 'gantry-certsd-'));
  proxy = await startConnectProxy();
});

after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await proxy.close();
  rmSync(certsRoot, { recursive: true, force: true });
  pki.cleanup();
});

describe('proxies from the environment', () => {
  test('HTTPS_PROXY is used outside NO_PROXY, with certs.d TLS and the client pair inside the tunnel', async () => {
    const cert = pki.server(['outside.test', 'inside.test']);
    const s = await startHttpsServer({ cert: cert.certPem, key: cert.keyPem, clientCa: [pki.ca.certPem] });
    servers.push(s);
    const client = pki.client('tunnelled');
    for (const name of ['outside.test', 'inside.test']) {
      const dir = join(certsRoot, `${name}:${s.port}`);
      mkdirSync(dir, { recursive: true });
      copyFileSync(pki.ca.certFile, join(dir, 'ca.crt'));
      copyFileSync(client.certFile, join(dir, 'client.cert'));
      copyFileSync(client.keyFile, join(dir, 'client.key'));
    }
    const env = { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,.inside.test,inside.test' };
    const t = new Transport({ certsDir: certsRoot, lookup: testLookup, env, config: ServiceConfig.create({ lookup: noDns }) });
    const out = await negotiate(t, `outside.test:${s.port}`);
    assert.equal(out.status, 200);
    assert.equal(out.tlsVerified, true);
    assert.deepEqual(proxy.connects, [`outside.test:${s.port}`]);
    assert.equal(s.seen.at(-1)?.clientCn, 'tunnelled');
    const inside = await negotiate(t, `inside.test:${s.port}`);
    assert.equal(inside.status, 200);
    assert.deepEqual(proxy.connects, [`outside.test:${s.port}`], 'no CONNECT for a host inside NO_PROXY');
    await t.close();
  });

  test('loopback is never proxied', async () => {
    const s = await startHttpServer();
    servers.push(s);
    const before = proxy.connects.length;
    const t = new Transport({ certsDir: certsRoot, env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url } });
    const r = await negotiate(t, s.host);
    assert.equal(r.status, 200);
    assert.equal(proxy.connects.length, before);
    await t.close();
  });
});

describe('redirects', () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    b = await startHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`b saw ${req.url}`);
    });
    a = await startHttpServer((req, res) => {
      if (req.url === '/cross') res.writeHead(307, { location: `http://${b.host}/blob` }).end();
      else if (req.url === '/same') res.writeHead(302, { location: '/final' }).end();
      else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (req.url === '/see-other') res.writeHead(303, { location: '/final' }).end();
      else res.writeHead(200).end(`a saw ${req.method} ${req.url}`);
    });
    servers.push(a, b);
  });

  const send = async (t: Transport, url: string, init: { method?: string; body?: string } = {}) => {
    const res = await t.send({ method: init.method ?? 'GET', url: new URL(url), headers: { authorization: 'Bearer sekrit', 'x-keep': '1' }, ...(init.body ? { body: init.body } : {}) });
    return { status: res.status, text: await res.body.text(), url: res.url };
  };

  test('a cross-origin redirect carries no Authorization but keeps other headers', async () => {
    const t = new Transport({ certsDir: certsRoot });
    const r = await send(t, `http://${a.host}/cross`);
    assert.equal(r.text, 'b saw /blob');
    const atB = b.seen.at(-1)!;
    assert.equal(atB.headers.authorization, undefined);
    assert.equal(atB.headers['x-keep'], '1');
    assert.equal(a.seen.at(-1)?.headers.authorization, 'Bearer sekrit');
    await t.close();
  });

  test('a same-origin redirect keeps Authorization', async () => {
    const t = new Transport({ certsDir: certsRoot });
    const r = await send(t, `http://${a.host}/same`);
    assert.equal(r.text, 'a saw GET /final');
    assert.equal(a.seen.at(-1)?.headers.authorization, 'Bearer sekrit');
    await t.close();
  });

  test('303 turns a POST into a GET', async () => {
    const t = new Transport({ certsDir: certsRoot });
    const r = await send(t, `http://${a.host}/see-other`, { method: 'POST', body: 'x' });
    assert.equal(r.text, 'a saw GET /final');
    await t.close();
  });

  test('a redirect loop stops after 10 hops', async () => {
    const t = new Transport({ certsDir: certsRoot });
    const before = a.seen.length;
    await assert.rejects(send(t, `http://${a.host}/loop`), (err: unknown) => isGantryError(err, 'REDIRECT') && /10 redirects/.test((err as Error).message));
    assert.equal(a.seen.length - before, 11);
    await t.close();
  });

  test('https to http is refused', async () => {
    const cert = pki.server(['127.0.0.1']);
    const s = await startHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.writeHead(302, { location: `http://${b.host}/leak` }).end());
    servers.push(s);
    const t = new Transport({ certsDir: certsRoot });
    const seenAtB = b.seen.length;
    await assert.rejects(send(t, `https://${s.host}/v2/`), (err: unknown) => isGantryError(err, 'REDIRECT') && /https to http/.test((err as Error).message));
    assert.equal(b.seen.length, seenAtB, 'the http host was never contacted');
    await t.close();
  });

  test('User-Agent goes on every hop, meta headers only to the registry origin', async () => {
    const t = new Transport({ certsDir: certsRoot, userAgent: 'ci-bot/1.0', headers: { 'X-Meta-Source': 'tests' } });
    t.origins.add(`http://${a.host}`, a.host);
    await send(t, `http://${a.host}/cross`);
    for (const seen of [a.seen.at(-1)!, b.seen.at(-1)!]) {
      assert.match(String(seen.headers['user-agent']), /^gantry\/\d+\.\d+\.\d+ node\/\d+\.\d+\.\d+ linux\/\w+ ci-bot\/1\.0$/);
    }
    assert.equal(a.seen.at(-1)!.headers['x-meta-source'], 'tests');
    assert.equal(b.seen.at(-1)!.headers['x-meta-source'], undefined, 'the redirect target is another origin');
    await t.close();
  });
});

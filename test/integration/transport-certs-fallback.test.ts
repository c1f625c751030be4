/**
 * The certs.d client-pair fallback (src/transport/endpoint.ts, Docker's rule): the `*.cert` +
 * `*.key` pairs in `<certs-dir>/<host:port>/` are tried in file-name order; when the server
 * refuses the handshake, or the ping of /v2/ answers 403, 404 or 5xx, the next pair is tried,
 * and the pair that worked is the one later requests present. Checked through the public
 * `ping()` result and through `connectRegistry()` against https servers on loopback that
 * record the client certificate's CN of every request: one decides its answer by that CN
 * (requestCert, rejectUnauthorized false), one accepts only pairs its client CA signed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { connectRegistry, ping, type PingOptions } from '../../src/index.js';
import { NoEndpointError } from '../../src/transport/endpoint.js';
import { createTestPki, type PemFiles, type TestPki } from '../helpers/pki.js';
import { startHttpsServer, type TestServer } from '../helpers/servers.js';

/** The pair tried first (by file name) and the one after it. */
const FIRST = { cn: 'first-pair', file: '1-first' };
const SECOND = { cn: 'second-pair', file: '2-second' };
const CREDENTIALS = { username: 'alice', password: 'certs-fallback-pw' };
const BASIC = `Basic ${Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64')}`;
const TAGS = JSON.stringify({ name: 'app', tags: ['v1'] });

let pki: TestPki;
let other: TestPki;
let certsRoot: string;
let serverCert: PemFiles;
const closers: (() => Promise<void>)[] = [];

before(() => {
  pki = createTestPki();
  other = pki.otherCa();
  serverCert = pki.server(['127.0.0.1']);
  certsRoot = mkdtempSync(join(tmpdir(), 'gantry-certs-fallback-'));
});
after(async () => {
  await Promise.all(closers.map((c) => c()));
  rmSync(certsRoot, { recursive: true, force: true });
  pki?.cleanup();
});

/** `<certsRoot>/<host:port>/` with our CA and the given pairs, named `<file>.cert` / `<file>.key`. */
function certsDirFor(host: string, pairs: { file: string; pair: PemFiles }[]): string {
  const dir = join(certsRoot, host);
  mkdirSync(dir, { recursive: true });
  copyFileSync(pki.ca.certFile, join(dir, 'ca.crt'));
  for (const { file, pair } of pairs) {
    copyFileSync(pair.certFile, join(dir, `${file}.cert`));
    copyFileSync(pair.keyFile, join(dir, `${file}.key`));
  }
  return dir;
}

/** The usual folder: FIRST's pair then SECOND's, each signed by the CA given (the test CA by default). */
function firstAndSecond(host: string, signers: { first: TestPki; second: TestPki } = { first: pki, second: pki }): string {
  return certsDirFor(host, [
    { file: FIRST.file, pair: signers.first.client(FIRST.cn) },
    { file: SECOND.file, pair: signers.second.client(SECOND.cn) },
  ]);
}

interface Seen {
  cn: string;
  path: string;
}

/** The CN of the client certificate a request came with, `(none)` without one. */
function clientCn(req: IncomingMessage): string {
  const cn = (req.socket as TLSSocket).getPeerCertificate()?.subject?.CN;
  return cn ? String(cn) : '(none)';
}

/**
 * An https registry that asks for a client certificate but lets any through, and answers the
 * ping by the certificate's CN: `byCn[cn]`, or 403 for a CN it does not know. Past the ping,
 * only the CN whose ping answered 200 or 401 gets the tags (401 also wants the credentials).
 */
async function startCnRegistry(byCn: Record<string, number>): Promise<{ host: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server: Server = createServer({ cert: serverCert.certPem, key: serverCert.keyPem, requestCert: true, rejectUnauthorized: false });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const cn = clientCn(req);
    const path = req.url ?? '';
    seen.push({ cn, path });
    req.resume();
    const status = byCn[cn] ?? 403;
    if (path === '/v2/') {
      const challenge = status === 401 ? { 'www-authenticate': 'Basic realm="certs-fallback"' } : {};
      res.writeHead(status, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0', ...challenge });
      res.end(status === 200 ? '{}' : JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `ping answered ${status} for ${cn}` }] }));
      return;
    }
    const allowed = (status === 200 || (status === 401 && req.headers.authorization === BASIC)) && path.startsWith('/v2/app/tags/list');
    res.writeHead(allowed ? 200 : 403, { 'content-type': 'application/json' });
    res.end(allowed ? TAGS : JSON.stringify({ errors: [{ code: 'DENIED', message: `not for ${cn}` }] }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A registry that refuses, in the handshake, any client pair its client CA (ours) did not sign. */
async function startStrictRegistry(): Promise<TestServer> {
  const s = await startHttpsServer({ cert: serverCert.certPem, key: serverCert.keyPem, clientCa: [pki.ca.certPem] }, (req, res) => {
    req.resume();
    if (req.url === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' });
      res.end('{}');
      return;
    }
    res.writeHead(req.url?.startsWith('/v2/app/tags/list') ? 200 : 404, { 'content-type': 'application/json' });
    res.end(TAGS);
  });
  closers.push(() => s.close());
  return s;
}

/** The tags of `app` through connectRegistry: a request after the negotiation. */
async function tagsThroughClient(host: string, options: PingOptions & { credentials?: typeof CREDENTIALS }): Promise<string[]> {
  const { client, close } = await connectRegistry(host, 'pull', options);
  try {
    const tags: string[] = [];
    for await (const tag of client.repository('app').tags()) tags.push(tag);
    return tags;
  } finally {
    await close();
  }
}

const pingUrl = (host: string): string => `https://${host}/v2/`;

describe('certs.d client pairs: a ping answering 404 or 5xx moves on to the next pair', () => {
  for (const refused of [404, 500, 503]) {
    for (const accepted of [200, 401]) {
      test(`first pair ${refused}, second ${accepted}: ping settles on the second; later requests present it`, async () => {
        const reg = await startCnRegistry({ [FIRST.cn]: refused, [SECOND.cn]: accepted });
        firstAndSecond(reg.host);
        const options: PingOptions = { certsDir: certsRoot, tlsVerify: true };

        const r = await ping(reg.host, options);
        assert.equal(r.status, accepted);
        assert.equal(r.clientCertificate, `${SECOND.file}.cert`);
        assert.equal(r.certsDir, join(certsRoot, reg.host));
        assert.deepEqual(r.attempts, [
          { url: pingUrl(reg.host), status: refused, clientCertificate: `${FIRST.file}.cert` },
          { url: pingUrl(reg.host), status: accepted, clientCertificate: `${SECOND.file}.cert` },
        ]);
        if (accepted === 401) assert.deepEqual(r.challenges, ['Basic realm="certs-fallback"']);
        assert.deepEqual(reg.seen, [
          { cn: FIRST.cn, path: '/v2/' },
          { cn: SECOND.cn, path: '/v2/' },
        ]);

        // A client of its own negotiates again, then every request carries the second pair.
        reg.seen.length = 0;
        const tags = await tagsThroughClient(reg.host, { ...options, ...(accepted === 401 ? { credentials: CREDENTIALS } : {}) });
        assert.deepEqual(tags, ['v1']);
        assert.deepEqual(reg.seen.map((s) => s.cn), [FIRST.cn, SECOND.cn, SECOND.cn], JSON.stringify(reg.seen));
        assert.equal(reg.seen[0]?.path, '/v2/');
        assert.match(reg.seen.at(-1)?.path ?? '', /^\/v2\/app\/tags\/list/);
      });
    }
  }

  test('a loopback registry (insecure by default) falls back the same way', async () => {
    const reg = await startCnRegistry({ [FIRST.cn]: 503, [SECOND.cn]: 200 });
    firstAndSecond(reg.host);
    const r = await ping(reg.host, { certsDir: certsRoot });
    assert.equal(r.url, pingUrl(reg.host));
    assert.equal(r.clientCertificate, `${SECOND.file}.cert`);
    assert.deepEqual(r.attempts.map((a) => [a.clientCertificate, a.status]), [[`${FIRST.file}.cert`, 503], [`${SECOND.file}.cert`, 200]]);
    reg.seen.length = 0;
    assert.deepEqual(await tagsThroughClient(reg.host, { certsDir: certsRoot }), ['v1']);
    assert.deepEqual(reg.seen.map((s) => s.cn), [FIRST.cn, SECOND.cn, SECOND.cn]);
  });

  test('file-name order: a working pair that sorts first is the only one tried', async () => {
    const reg = await startCnRegistry({ [FIRST.cn]: 200, [SECOND.cn]: 404 });
    // Written second-first, so the order cannot come from creation order.
    certsDirFor(reg.host, [
      { file: SECOND.file, pair: pki.client(SECOND.cn) },
      { file: FIRST.file, pair: pki.client(FIRST.cn) },
    ]);
    const r = await ping(reg.host, { certsDir: certsRoot, tlsVerify: true });
    assert.equal(r.clientCertificate, `${FIRST.file}.cert`);
    assert.equal(r.attempts.length, 1);
    assert.deepEqual(reg.seen.map((s) => s.cn), [FIRST.cn]);
  });

  test('when every pair answers 5xx, the last pair\'s answer is the result (Docker returns the last response)', async () => {
    const reg = await startCnRegistry({ [FIRST.cn]: 500, [SECOND.cn]: 503 });
    firstAndSecond(reg.host);
    const r = await ping(reg.host, { certsDir: certsRoot, tlsVerify: true });
    assert.equal(r.status, 503);
    assert.equal(r.clientCertificate, `${SECOND.file}.cert`);
    assert.deepEqual(r.attempts.map((a) => [a.clientCertificate, a.status]), [[`${FIRST.file}.cert`, 500], [`${SECOND.file}.cert`, 503]]);
  });
});

describe('certs.d client pairs: a refused handshake moves on to the next pair', () => {
  test('the first pair (another CA) is refused, the second (the server\'s client CA) is settled and presented', async () => {
    const s = await startStrictRegistry();
    firstAndSecond(s.host, { first: other, second: pki });
    const options: PingOptions = { certsDir: certsRoot, tlsVerify: true };
    const r = await ping(s.host, options);
    assert.equal(r.status, 200);
    assert.equal(r.clientCertificate, `${SECOND.file}.cert`);
    assert.equal(r.attempts.length, 2);
    assert.equal(r.attempts[0]?.clientCertificate, `${FIRST.file}.cert`);
    assert.equal(r.attempts[0]?.status, undefined);
    assert.ok(r.attempts[0]?.error, 'the first pair failed in the handshake');
    assert.deepEqual([r.attempts[1]?.clientCertificate, r.attempts[1]?.status], [`${SECOND.file}.cert`, 200]);
    // The refused pair never got a request through.
    assert.deepEqual(s.seen.map((x) => x.clientCn), [SECOND.cn]);

    s.seen.length = 0;
    assert.deepEqual(await tagsThroughClient(s.host, options), ['v1']);
    assert.deepEqual(s.seen.map((x) => [x.clientCn, x.url.split('?')[0]]), [[SECOND.cn, '/v2/'], [SECOND.cn, '/v2/app/tags/list']]);
  });

  test('no pair works: the error lists every attempt, pair by pair', async () => {
    const s = await startStrictRegistry();
    firstAndSecond(s.host, { first: other, second: other });
    const options: PingOptions = { certsDir: certsRoot, tlsVerify: true };
    const check = (err: unknown): true => {
      assert.ok(err instanceof NoEndpointError, `a NoEndpointError, got ${String(err)}`);
      assert.deepEqual(err.attempts.map((a) => [a.url, a.clientCertificate, a.status]), [
        [pingUrl(s.host), `${FIRST.file}.cert`, undefined],
        [pingUrl(s.host), `${SECOND.file}.cert`, undefined],
      ]);
      assert.ok(err.attempts.every((a) => a.error), 'each attempt says what it met');
      assert.ok(err.message.startsWith(`no endpoint of ${s.host} answered: `), err.message);
      assert.ok(err.message.includes(`${pingUrl(s.host)} (client certificate ${FIRST.file}.cert): `), err.message);
      assert.ok(err.message.includes(`${pingUrl(s.host)} (client certificate ${SECOND.file}.cert): `), err.message);
      return true;
    };
    await assert.rejects(ping(s.host, options), check);
    await assert.rejects(tagsThroughClient(s.host, options), check);
    assert.deepEqual(s.seen, [], 'no request got through');
  });
});

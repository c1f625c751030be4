import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { exchangeStatsKey, TokenIssuer } from '../../src/server/token/issuer.js';
import type { TokenIssuerOptions } from '../../src/server/token/issuer.js';
import { libtrustKeyId } from '../../src/server/token/key-id.js';
import { repositoryScope } from '../../src/ref/scope.js';

const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: Record<string, unknown>;
}

async function serve(options: Partial<TokenIssuerOptions> = {}): Promise<{ issuer: TokenIssuer; url: string; close(): Promise<void> }> {
  const issuer = new TokenIssuer({
    issuer: 'test-issuer',
    service: 'test-service',
    signingKeyPem: ecKey,
    users: {
      alice: { password: bcrypt.hashSync('alice-pw', 4), access: [{ repository: 'team/*', actions: ['pull', 'push'] }, { repository: 'solo', actions: ['*'] }] },
      bob: { password: 'bob-pw', access: [{ repository: 'team/app', actions: ['pull'] }] },
    },
    anonymous: [{ repository: 'public/*', actions: ['pull'] }],
    catalogUsers: ['alice'],
    ...options,
  });
  const server = http.createServer((req, res) => void issuer.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return { issuer, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const basic = (u: string, p: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
const form = (fields: Record<string, string>): { method: string; headers: Record<string, string>; body: string } => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});
const decode = (token: string, part: 0 | 1): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[part] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

describe('TokenIssuer', () => {
  let srv: Awaited<ReturnType<typeof serve>>;
  before(async () => (srv = await serve()));
  after(() => srv.close());

  test('GET with basic auth: the grant is the intersection of asked and allowed', async () => {
    const q = new URLSearchParams([['service', 'test-service'], ['scope', 'repository:team/app:pull,push,delete'], ['scope', 'repository:other:pull'], ['scope', 'repository:solo:delete'], ['account', 'alice']]);
    const r = await request(`${srv.url}?${q}`, { headers: basic('alice', 'alice-pw') });
    assert.equal(r.status, 200);
    assert.equal(r.json.token, r.json.access_token);
    assert.equal(r.json.expires_in, 300);
    assert.equal(typeof r.json.issued_at, 'string');
    assert.equal(r.json.refresh_token, undefined, 'no refresh token without offline_token=true');
    const token = r.json.token as string;
    const header = decode(token, 0);
    assert.deepEqual(header, { typ: 'JWT', alg: 'ES256', kid: srv.issuer.keyId });
    const claims = decode(token, 1);
    assert.equal(claims.iss, 'test-issuer');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.aud, 'test-service');
    assert.equal((claims.exp as number) - (claims.iat as number), 300);
    assert.equal(claims.nbf, claims.iat);
    assert.match(claims.jti as string, /^[0-9a-f]{32}$/);
    assert.deepEqual(claims.access, [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'solo', actions: ['delete'] },
    ]);
    assert.deepEqual(srv.issuer.verify(token), { subject: 'alice', access: claims.access });
  });

  test('anonymous: only the anonymous rules; the catalog only for catalog users', async () => {
    const q = 'service=test-service&scope=repository:public/x:pull,push&scope=repository:team/app:pull&scope=registry:catalog:*';
    const anon = await request(`${srv.url}?${q}`);
    assert.equal(anon.status, 200);
    assert.deepEqual(srv.issuer.verify(anon.json.token as string), { subject: '', access: [{ type: 'repository', name: 'public/x', actions: ['pull'] }] });
    const alice = await request(`${srv.url}?${q}`, { headers: basic('alice', 'alice-pw') });
    assert.deepEqual(srv.issuer.verify(alice.json.token as string)?.access, [
      { type: 'repository', name: 'public/x', actions: ['pull'] },
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    const bob = await request(`${srv.url}?${q}`, { headers: basic('bob', 'bob-pw') });
    assert.deepEqual(srv.issuer.verify(bob.json.token as string)?.access.map((a) => a.name), ['public/x', 'team/app']);
  });

  test('bad credentials → 401 with a registry-style error body', async () => {
    for (const headers of [basic('alice', 'wrong'), basic('nobody', 'x'), basic('bob', ''), { authorization: 'Basic !!!' }, { authorization: 'Bearer x' }]) {
      const r = await request(`${srv.url}?service=test-service&scope=repository:team/app:pull`, { headers });
      assert.equal(r.status, 401);
      assert.deepEqual(r.json, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
    }
  });

  test('offline_token=true returns a refresh token; the OAuth2 refresh grant uses it', async () => {
    const login = await request(`${srv.url}?service=test-service&offline_token=true&client_id=docker`, { headers: basic('bob', 'bob-pw') });
    const refresh = login.json.refresh_token as string;
    assert.ok(refresh && refresh.length >= 40);
    assert.deepEqual(srv.issuer.verify(login.json.token as string)?.access, [], 'an empty scope only fetches a refresh token');
    const r = await request(srv.url, form({ grant_type: 'refresh_token', refresh_token: refresh, client_id: 'docker', service: 'test-service', scope: 'repository:team/app:pull,push repository:public/a:pull' }));
    assert.equal(r.status, 200);
    assert.deepEqual(srv.issuer.verify(r.json.access_token as string), {
      subject: 'bob',
      access: [
        { type: 'repository', name: 'team/app', actions: ['pull'] },
        { type: 'repository', name: 'public/a', actions: ['pull'] },
      ],
    });
    const bad = await request(srv.url, form({ grant_type: 'refresh_token', refresh_token: 'forged', client_id: 'docker', service: 'test-service' }));
    assert.equal(bad.status, 401);
  });

  test('OAuth2 password grant with access_type=offline', async () => {
    const r = await request(srv.url, form({ grant_type: 'password', username: 'alice', password: 'alice-pw', access_type: 'offline', client_id: 'gantry', service: 'test-service', scope: 'repository:solo:pull' }));
    assert.equal(r.status, 200);
    assert.equal(typeof r.json.refresh_token, 'string');
    assert.equal(srv.issuer.verify(r.json.token as string)?.subject, 'alice');
    assert.equal((await request(srv.url, form({ grant_type: 'password', username: 'alice', password: 'nope', client_id: 'gantry', service: 'test-service' }))).status, 401);
    assert.equal((await request(srv.url, form({ grant_type: 'password', username: 'alice', password: 'alice-pw', service: 'test-service' }))).status, 400, 'client_id is required');
    assert.equal((await request(srv.url, form({ grant_type: 'authorization_code', client_id: 'x', service: 'test-service' }))).status, 400);
  });

  test('malformed requests', async () => {
    assert.equal((await request(`${srv.url}?service=test-service&scope=repository:x`)).status, 400);
    assert.equal((await request(`${srv.url}?service=other-service&scope=repository:public/x:pull`)).status, 400);
    assert.equal((await request(srv.url, { method: 'PUT' })).status, 405);
  });

  test('stats count exchanges per subject and scope set', async () => {
    const s = await serve();
    try {
      for (let i = 0; i < 3; i++) await request(`${s.url}?service=test-service&scope=repository:public/x:pull`);
      await request(`${s.url}?service=test-service&scope=repository:team/app:pull&scope=repository:public/x:pull`, { headers: basic('bob', 'bob-pw') });
      assert.equal(s.issuer.stats.get(exchangeStatsKey('', [repositoryScope('public/x', ['pull'])])), 3);
      assert.equal(s.issuer.stats.get(exchangeStatsKey('bob', [repositoryScope('public/x', ['pull']), repositoryScope('team/app', ['pull'])])), 1);
      assert.equal(s.issuer.stats.size, 2);
    } finally {
      await s.close();
    }
  });
});

describe('tokens', () => {
  test('kid is the libtrust key id: SHA-256 of the DER SPKI, 30 bytes, base32, groups of 4', () => {
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    // The DER comes from openssl, not from node, and the base32 is spelled out bit by bit here.
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pem });
    const bits = [...createHash('sha256').update(der).digest().subarray(0, 30)].map((b) => b.toString(2).padStart(8, '0')).join('');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    let b32 = '';
    for (let i = 0; i < bits.length; i += 5) b32 += alphabet[parseInt(bits.slice(i, i + 5), 2)];
    const want = b32.replace(/(.{4})(?!$)/g, '$1:');
    assert.equal(want.length, 59);
    assert.equal(libtrustKeyId(createPublicKey(pem)), want);
  });

  test('a generated signer: its certificate carries the signing key', () => {
    const issuer = TokenIssuer.withGeneratedKey({ issuer: 'gen', service: 's' });
    assert.ok(issuer.certificatePem);
    assert.equal(libtrustKeyId(new X509Certificate(issuer.certificatePem).publicKey), issuer.keyId);
  });

  test('RS256 for RSA keys; other keys are refused with the option named', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const issuer = new TokenIssuer({ issuer: 'i', service: 's', signingKeyPem: rsa });
    assert.ok(issuer.keyId);
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => new TokenIssuer({ issuer: 'i', service: 's', signingKeyPem: ed }), /option "signingKeyPem"/);
    assert.throws(() => new TokenIssuer({ issuer: 'i', service: 's', signingKeyPem: 'nope' }), /option "signingKeyPem"/);
    assert.throws(() => new TokenIssuer({ issuer: '', service: 's', signingKeyPem: ecKey }), /option "issuer"/);
  });

  test('verify rejects tampered, expired, not-yet-valid and foreign tokens', async () => {
    let now = Date.UTC(2026, 0, 1);
    const s = await serve({ now: () => now, ttlSeconds: 60 });
    try {
      const token = (await request(`${s.url}?service=test-service&scope=repository:public/x:pull`)).json.token as string;
      assert.ok(s.issuer.verify(token));
      const [h, c, sig] = token.split('.') as [string, string, string];
      const claims = decode(token, 1);
      const forged = Buffer.from(JSON.stringify({ ...claims, access: [{ type: 'repository', name: 'team/app', actions: ['push'] }] })).toString('base64url');
      assert.equal(s.issuer.verify(`${h}.${forged}.${sig}`), undefined, 'changed claims');
      const flipped = Buffer.from(sig, 'base64url');
      flipped[0] = (flipped[0] ?? 0) ^ 1;
      assert.equal(s.issuer.verify(`${h}.${c}.${flipped.toString('base64url')}`), undefined, 'changed signature');
      const noneHeader = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'none', kid: s.issuer.keyId })).toString('base64url');
      assert.equal(s.issuer.verify(`${noneHeader}.${c}.`), undefined, 'alg none');
      assert.equal(s.issuer.verify('garbage'), undefined);
      now += 59_000;
      assert.ok(s.issuer.verify(token), 'still valid just before exp');
      now += 1_000;
      assert.equal(s.issuer.verify(token), undefined, 'expired at exp');
      now -= 3_600_000;
      assert.equal(s.issuer.verify(token), undefined, 'before nbf');
      now += 3_600_000 - 60_000;
      const other = new TokenIssuer({ issuer: 'test-issuer', service: 'test-service', signingKeyPem: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), now: () => now });
      assert.equal(other.verify(token), undefined, 'another key');
      const otherAudience = new TokenIssuer({ issuer: 'test-issuer', service: 'another-service', signingKeyPem: ecKey, now: () => now });
      assert.equal(otherAudience.verify(token), undefined, 'another audience');
      const otherIssuer = new TokenIssuer({ issuer: 'another-issuer', service: 'test-service', signingKeyPem: ecKey, now: () => now });
      assert.equal(otherIssuer.verify(token), undefined, 'another issuer');
    } finally {
      await s.close();
    }
  });
});

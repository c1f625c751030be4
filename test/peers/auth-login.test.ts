/**
 * Authentication against the real CNCF registry: htpasswd (gantry login as a separate
 * process, then authenticated requests with the stored credentials) and token auth through
 * the project's token issuer (anonymous pull, denied anonymous push, authenticated push,
 * one token exchange per scope, login storing an identity token). No output or error may
 * contain a password or a token.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Authorizer } from '../../src/auth/authorizer.js';
import { Keychain, StaticKeychain } from '../../src/auth/keychain.js';
import { repositoryScope } from '../../src/ref/scope.js';
import { TokenIssuer } from '../../src/server/token/issuer.js';
import { negotiate } from '../../src/transport/endpoint.js';
import { errorFromResponse } from '../../src/transport/errors.js';
import { Transport } from '../../src/transport/transport.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';
import { runGantry, type CliRun } from '../helpers/cli.js';
import { peerPath, requirePeer } from '../helpers/peers.js';
import type { CredentialSource } from '../../src/auth/keychain.js';

const outputs: string[] = [];

async function cli(args: string[], stdin?: string): Promise<CliRun> {
  const r = await runGantry(args, { env: { ...process.env, DOCKER_CONFIG: '/nonexistent' }, ...(stdin !== undefined ? { stdin } : {}) });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function authedTransport(host: string, credentials?: CredentialSource) {
  const authorizer = new Authorizer(credentials ? { credentials } : {});
  const transport = new Transport({ layers: [authorizer.layer()] });
  const ping = await negotiate(transport, host);
  authorizer.learn(new URL(ping.url), ping.challenges);
  return { transport, authorizer, base: new URL(ping.url) };
}

const SECRET = 'wonderland-Pa$$word';
const TOKEN_USER_PW = 'token-user-secret-9';

describe('htpasswd registry', () => {
  let reg: RunningRegistry;
  let configDir: string;
  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'gantry-config-'));
    if (!peerPath('docker-registry')) return;
    reg = await startDockerRegistry({ htpasswd: { users: { alice: SECRET } } });
  });
  after(async () => {
    await reg?.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  test('a wrong password fails with 401 Unauthorized and stores nothing', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const r = await cli(['login', reg.host, '-u', 'alice', '--password-stdin', '--config', configDir], 'not-the-password\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /401 Unauthorized/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal(existsSync(join(configDir, 'config.json')), false);
  });

  test('the right password: Login Succeeded, stored 0600, later requests authenticated', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const r = await cli(['login', reg.host, '-u', 'alice', '--password-stdin', '--config', configDir], `${SECRET}\n`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Login Succeeded\n');
    assert.match(r.stderr, /WARNING! Your credentials are stored unencrypted/);
    const file = join(configDir, 'config.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(saved.auths[reg.host].auth, Buffer.from(`alice:${SECRET}`).toString('base64'));
    const keychain = await Keychain.load({ configDir });
    const { transport, base } = await authedTransport(reg.host, keychain);
    const res = await transport.send({ method: 'GET', url: new URL('_catalog', base) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.body.json(), { repositories: [] });
    await transport.close();
    const anon = await authedTransport(reg.host);
    const denied = await anon.transport.send({ method: 'GET', url: new URL('_catalog', anon.base) });
    assert.equal(denied.status, 401);
    await denied.body.dump();
    await anon.transport.close();
  });

  test('logout removes the credentials', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const r = await cli(['logout', reg.host, '--config', configDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Removing login credentials for ${reg.host}\n`);
    const saved = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'));
    assert.deepEqual(saved.auths, {});
  });
});

describe('token auth through the project issuer', () => {
  let reg: RunningRegistry;
  let server: http.Server;
  let issuer: TokenIssuer;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-token-'));
    issuer = TokenIssuer.withGeneratedKey({
      issuer: 'gantry-issuer',
      service: 'gantry-registry',
      users: { bob: { password: TOKEN_USER_PW, access: [{ repository: 'public/*', actions: ['pull', 'push'] }] } },
      anonymous: [{ repository: 'public/*', actions: ['pull'] }],
    });
    writeFileSync(join(dir, 'bundle.pem'), issuer.certificatePem ?? '');
    server = http.createServer((req, res) => void issuer.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    if (!peerPath('docker-registry')) return;
    reg = await startDockerRegistry({
      token: { realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, service: 'gantry-registry', issuer: 'gantry-issuer', rootCertBundleFile: join(dir, 'bundle.pem') },
    });
  });
  after(async () => {
    await reg?.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('anonymous pull is allowed, with one token exchange for the scope however many requests', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const { transport, authorizer, base } = await authedTransport(reg.host);
    for (let i = 0; i < 3; i++) {
      const res = await transport.send({ method: 'GET', url: new URL('public/app/tags/list', base) });
      assert.equal(res.status, 404, 'authorized: the repository simply does not exist');
      const err = await errorFromResponse({ method: 'GET', url: new URL('public/app/tags/list', base) }, res);
      assert.equal(err.errors[0]?.code, 'NAME_UNKNOWN');
    }
    assert.equal([...authorizer.exchanges.values()].reduce((a, b) => a + b, 0), 1);
    assert.equal(issuer.stats.get('(anonymous) repository:public/app:pull'), 1);
    await transport.close();
  });

  test('anonymous push is denied with Docker\'s message', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const { transport, base } = await authedTransport(reg.host);
    const url = new URL('public/app/blobs/uploads/', base);
    const res = await transport.send({ method: 'POST', url });
    assert.equal(res.status, 401);
    const err = await errorFromResponse({ method: 'POST', url }, res);
    assert.equal(err.code, 'DENIED');
    assert.match(err.message, /: denied: requested access to the resource is denied$/);
    await transport.close();
  });

  test('authenticated push works', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const { transport, base } = await authedTransport(reg.host, new StaticKeychain({ username: 'bob', password: TOKEN_USER_PW }));
    const res = await transport.send({ method: 'POST', url: new URL('public/app/blobs/uploads/', base), scopes: [repositoryScope('public/app', ['pull', 'push'])] });
    assert.equal(res.status, 202);
    assert.ok(res.headers.location);
    await res.body.dump();
    await transport.close();
  });

  test('login stores an identity token, not the password; a wrong password says unauthorized', async (t) => {
    if (!requirePeer(t, 'docker-registry')) return;
    const configDir = mkdtempSync(join(tmpdir(), 'gantry-config-'));
    try {
      const bad = await cli(['login', reg.host, '-u', 'bob', '--password-stdin', '--config', configDir], 'nope\n');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /unauthorized/);
      assert.ok(bad.stderr.includes(`${reg.host}/v2/`), bad.stderr);
      const ok = await cli(['login', reg.host, '-u', 'bob', '--password-stdin', '--config', configDir, '--debug'], TOKEN_USER_PW);
      assert.match(ok.stderr, /debug: > GET .*\/token\?/, 'the debug trail shows the token request');
      assert.match(ok.stderr, /authorization":"Basic \[redacted\]"/, 'with its credentials redacted');
      assert.equal(ok.code, 0, ok.stderr);
      const saved = JSON.parse(readFileSync(join(configDir, 'config.json'), 'utf8'));
      const entry = saved.auths[reg.host];
      assert.ok(entry.identitytoken, 'identity token stored');
      assert.ok(!Buffer.from(entry.auth ?? '', 'base64').toString().includes(TOKEN_USER_PW), 'password not stored');
      // The identity token works for a later push (OAuth2 refresh grant).
      const { transport, base } = await authedTransport(reg.host, await Keychain.load({ configDir }));
      const res = await transport.send({ method: 'POST', url: new URL('public/other/blobs/uploads/', base) });
      assert.equal(res.status, 202);
      await res.body.dump();
      await transport.close();
      outputs.push(entry.identitytoken);
    } finally {
      rmSync(configDir, { recursive: true, force: true });
    }
  });

  test('no output contains a password or a token', () => {
    const tokens = outputs.length > 0 ? [outputs.pop() as string] : [];
    const text = outputs.join('\n');
    for (const secret of [SECRET, TOKEN_USER_PW, ...tokens]) assert.ok(!text.includes(secret), 'a secret leaked into output');
    assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/, 'no JWT (access token) in any output, the --debug trail included');
    assert.doesNotMatch(text, /Basic [A-Za-z0-9+/=]{8,}/, 'no Basic credentials in any output');
  });
});

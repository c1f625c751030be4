/**
 * Auth on the embedded registry: htpasswd (bcrypt, as the CNCF registry reads it) and bearer
 * tokens from the project's token issuer served by the same process at `/token`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { registryServerOptionsFromCli } from '../../src/server/cli-options.js';
import { TokenIssuer } from '../../src/server/token/issuer.js';
import { ConfigError } from '../../src/errors.js';
import { call, errorCodes, sha256 } from '../conformance/client.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A blob push with the given Authorization header; returns the final status. */
async function push(base: string, repo: string, blob: Buffer, authorization: string): Promise<number> {
  const r = await call(base, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { headers: { authorization, 'content-type': 'application/octet-stream' }, body: blob });
  return r.status;
}

describe('embedded registry: htpasswd', () => {
  let dir: string;
  let server: RegistryServer;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const lines: string[] = [];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-htpasswd-'));
    // Apache's htpasswd -B writes `$2y$`; bcryptjs writes `$2b$`: one user of each.
    const y = bcrypt.hashSync(password, 4).replace(/^\$2b\$/, '$2y$');
    writeFileSync(join(dir, 'htpasswd'), `# users\nalice:${y}\nbob:${bcrypt.hashSync('bobs-password', 4)}\n`);
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', auth: { type: 'htpasswd', file: join(dir, 'htpasswd') }, log: (l) => lines.push(l) });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without credentials: 401 UNAUTHORIZED with a Basic challenge', async () => {
    for (const path of ['/v2/', '/v2/x/tags/list', '/v2/_catalog']) {
      const r = await call(server.url, 'GET', path);
      assert.equal(r.status, 401, path);
      assert.equal(r.header('www-authenticate'), 'Basic realm="gantry"');
      assert.deepEqual(errorCodes(r), ['UNAUTHORIZED']);
    }
  });

  test('a wrong password or unknown user is 401', async () => {
    assert.equal((await call(server.url, 'GET', '/v2/', { headers: { authorization: basic('alice', 'nope') } })).status, 401);
    assert.equal((await call(server.url, 'GET', '/v2/', { headers: { authorization: basic('mallory', password) } })).status, 401);
    assert.equal((await push(server.url, 'team/app', randomBytes(32), basic('alice', 'nope'))), 401);
  });

  test('valid users ($2y$ and $2b$ hashes) push and pull', async () => {
    const blob = randomBytes(256);
    assert.equal(await push(server.url, 'team/app', blob, basic('alice', password)), 201);
    const r = await call(server.url, 'GET', `/v2/team/app/blobs/${sha256(blob)}`, { headers: { authorization: basic('bob', 'bobs-password') } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, blob);
  });

  test('no password or Authorization value reaches the log', () => {
    assert.ok(lines.length > 0);
    for (const l of lines) {
      assert.ok(!l.includes(password) && !l.includes('bobs-password') && !l.includes('Basic '), l);
    }
  });

  test('only bcrypt entries are accepted, and the error does not echo the line', async () => {
    const bad = join(dir, 'htpasswd-md5');
    writeFileSync(bad, 'carol:$apr1$secret$hashhashhashhash\n');
    await assert.rejects(
      createRegistryServer({ listen: { port: 0 }, storage: 'memory', auth: { type: 'htpasswd', file: bad } }),
      (err: unknown) => err instanceof ConfigError && /:1: .*bcrypt/.test(err.message) && !err.message.includes('apr1'),
    );
  });
});

describe('embedded registry: token auth', () => {
  let server: RegistryServer;
  let issuer: TokenIssuer;
  before(async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    issuer = new TokenIssuer({
      issuer: 'gantry-test-issuer',
      service: 'gantry-test',
      signingKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      users: {
        alice: { password: bcrypt.hashSync('alice-pw', 4), access: [{ repository: 'team/*', actions: ['pull', 'push', 'delete'] }] },
        bob: { password: 'bob-pw', access: [{ repository: 'team/*', actions: ['pull'] }] },
      },
      anonymous: [{ repository: 'public/*', actions: ['pull'] }],
      catalogUsers: ['alice'],
    });
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', auth: { type: 'token', issuer, service: 'gantry-test' } });
  });
  after(() => server.close());

  /** Follows the challenge like a client: parse it, ask the realm, return the token. */
  async function token(path: string, method: string, authorization?: string): Promise<{ token: string; challenge: string }> {
    const first = await call(server.url, method, path);
    assert.equal(first.status, 401);
    const challenge = first.header('www-authenticate') ?? '';
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const realm = new URL(params.realm as string);
    realm.searchParams.set('service', params.service as string);
    if (params.scope) realm.searchParams.set('scope', params.scope);
    const r = await call(realm.origin, 'GET', realm.pathname + realm.search, authorization ? { headers: { authorization } } : {});
    assert.equal(r.status, 200, r.text);
    return { token: (JSON.parse(r.text) as { token: string }).token, challenge };
  }

  test('the challenge names the realm served at /token, the service and the scope of the request', async () => {
    const get = await call(server.url, 'GET', '/v2/team/app/tags/list');
    assert.equal(get.status, 401);
    assert.equal(get.header('www-authenticate'), `Bearer realm="${server.url}/token",service="gantry-test",scope="repository:team/app:pull"`);
    const post = await call(server.url, 'POST', '/v2/team/app/blobs/uploads/');
    assert.match(post.header('www-authenticate') ?? '', /scope="repository:team\/app:pull,push"/);
    const del = await call(server.url, 'DELETE', `/v2/team/app/blobs/${sha256('x')}`);
    assert.match(del.header('www-authenticate') ?? '', /scope="repository:team\/app:delete"/);
    const catalog = await call(server.url, 'GET', '/v2/_catalog');
    assert.match(catalog.header('www-authenticate') ?? '', /scope="registry:catalog:\*"/);
  });

  test('a user with push pushes; a pull-only user reads but cannot push (insufficient_scope)', async () => {
    const blob = randomBytes(300);
    const alice = await token(`/v2/team/app/blobs/uploads/?digest=${sha256(blob)}`, 'POST', basic('alice', 'alice-pw'));
    assert.equal(await push(server.url, 'team/app', blob, `Bearer ${alice.token}`), 201);
    const bobPull = await token(`/v2/team/app/blobs/${sha256(blob)}`, 'GET', basic('bob', 'bob-pw'));
    const got = await call(server.url, 'GET', `/v2/team/app/blobs/${sha256(blob)}`, { headers: { authorization: `Bearer ${bobPull.token}` } });
    assert.equal(got.status, 200);
    const bobPush = await token('/v2/team/app/blobs/uploads/', 'POST', basic('bob', 'bob-pw'));
    const refused = await call(server.url, 'POST', '/v2/team/app/blobs/uploads/', { headers: { authorization: `Bearer ${bobPush.token}` } });
    assert.equal(refused.status, 401);
    assert.match(refused.header('www-authenticate') ?? '', /error="insufficient_scope"/);
  });

  test('anonymous pull where allowed, nothing else', async () => {
    const anon = await token('/v2/public/thing/tags/list', 'GET');
    const r = await call(server.url, 'GET', '/v2/public/thing/tags/list', { headers: { authorization: `Bearer ${anon.token}` } });
    assert.equal(r.status, 404, 'authorised: the repository just does not exist');
    const team = await token('/v2/team/app/tags/list', 'GET');
    assert.equal((await call(server.url, 'GET', '/v2/team/app/tags/list', { headers: { authorization: `Bearer ${team.token}` } })).status, 401);
  });

  test('a forged or foreign token is 401 invalid_token', async () => {
    const r = await call(server.url, 'GET', '/v2/team/app/tags/list', { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' } });
    assert.equal(r.status, 401);
    assert.match(r.header('www-authenticate') ?? '', /error="invalid_token"/);
  });

  test('catalog needs registry:catalog:*', async () => {
    const alice = await token('/v2/_catalog', 'GET', basic('alice', 'alice-pw'));
    assert.equal((await call(server.url, 'GET', '/v2/_catalog', { headers: { authorization: `Bearer ${alice.token}` } })).status, 200);
    const bob = await token('/v2/_catalog', 'GET', basic('bob', 'bob-pw'));
    assert.equal((await call(server.url, 'GET', '/v2/_catalog', { headers: { authorization: `Bearer ${bob.token}` } })).status, 401);
  });

  test('a mount needs pull on the source: 201 with it, a new session (202) without it', async () => {
    const blob = randomBytes(128);
    const alice = await token(`/v2/team/src/blobs/uploads/?digest=${sha256(blob)}`, 'POST', basic('alice', 'alice-pw'));
    assert.equal(await push(server.url, 'team/src', blob, `Bearer ${alice.token}`), 201);
    const mountPath = `/v2/team/dst/blobs/uploads/?mount=${sha256(blob)}&from=team/src`;
    const dstOnly = await token(mountPath, 'POST', basic('alice', 'alice-pw'));
    const without = await call(server.url, 'POST', mountPath, { headers: { authorization: `Bearer ${dstOnly.token}` } });
    assert.equal(without.status, 202, 'the challenge scope covers team/dst only');
    const both = await call(server.url, 'GET', '/token?service=gantry-test&scope=repository:team/dst:pull,push&scope=repository:team/src:pull', {
      headers: { authorization: basic('alice', 'alice-pw') },
    });
    const withPull = await call(server.url, 'POST', mountPath, { headers: { authorization: `Bearer ${(JSON.parse(both.text) as { token: string }).token}` } });
    assert.equal(withPull.status, 201);
  });
});

describe('embedded registry: token auth from a config file (gantry serve --token-config)', () => {
  test('users and anonymous rules from the file decide, through the /token endpoint', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-token-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'token.json'), JSON.stringify({
      service: 'from-file',
      users: { carol: { password: bcrypt.hashSync('carol-pw', 4), access: [{ repository: 'carol/*', actions: ['pull', 'push'] }] } },
      anonymous: [{ repository: 'carol/*', actions: ['pull'] }],
    }));
    const options = await registryServerOptionsFromCli({ listen: '127.0.0.1:0', storage: 'memory', tokenConfig: join(dir, 'token.json') });
    const server = await createRegistryServer(options);
    t.after(() => server.close());
    const blob = randomBytes(64);
    const scope = 'repository:carol/app:pull,push';
    const tokenFor = async (authorization?: string): Promise<string> => {
      const r = await call(server.url, 'GET', `/token?service=from-file&scope=${scope}`, authorization ? { headers: { authorization } } : {});
      assert.equal(r.status, 200, r.text);
      return (JSON.parse(r.text) as { token: string }).token;
    };
    assert.equal(await push(server.url, 'carol/app', blob, `Bearer ${await tokenFor(basic('carol', 'carol-pw'))}`), 201);
    const anonymous = await tokenFor();
    assert.equal(await push(server.url, 'carol/app', randomBytes(64), `Bearer ${anonymous}`), 401, 'anonymous may not push');
    const pulled = await call(server.url, 'GET', `/v2/carol/app/blobs/${sha256(blob)}`, { headers: { authorization: `Bearer ${anonymous}` } });
    assert.equal(pulled.status, 200, 'anonymous may pull');
    assert.equal((await call(server.url, 'GET', `/token?service=from-file&scope=${scope}`, { headers: { authorization: basic('carol', 'wrong') } })).status, 401);
  });
});

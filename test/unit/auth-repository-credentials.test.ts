/**
 * The auth layer asks for credentials per (registry host, repository): two repositories of one
 * registry whose auth.json keys differ (`host/team-a` → a, `host` → b) get different
 * credentials, with Basic (the repository of the request's path) and with token auth (the
 * repository of the scopes, the one pushed to for a cross-repository mount); pings and the
 * catalog get the host's; tokens and refresh tokens are never shared between credentials.
 * Real servers on 127.0.0.1: the embedded registry (`gantry/testing`'s startTestRegistry with
 * htpasswd, and with its token issuer). The rules are in docs/docker-rules.md#token-auth and
 * #containers-tools-credentials-and-certsd.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Authorizer, credentialRepository, repositoryOfPath, scopesFor } from '../../src/auth/authorizer.js';
import { Keychain, type Credentials, type CredentialSource } from '../../src/auth/keychain.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { repositoryScope, registryScope } from '../../src/ref/scope.js';
import { createRegistryServer, TokenIssuer, type RegistryServer } from '../../src/server/index.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/registry.js';
import { Transport } from '../../src/transport/transport.js';
import type { Layer, Send, TransportContext } from '../../src/transport/types.js';
import { pushImage } from '../helpers/client-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-repo-creds-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const NO_CERTS = join(root, 'no-certs.d');

/** A named auth.json mapping each key to `user:password`. */
function authFile(keys: Record<string, [string, string]>): string {
  const file = join(root, `auth${++n}.json`);
  writeFileSync(file, JSON.stringify({ auths: Object.fromEntries(Object.entries(keys).map(([k, [u, p]]) => [k, { auth: Buffer.from(`${u}:${p}`).toString('base64') }])) }), { mode: 0o600 });
  return file;
}

interface Hop {
  method: string;
  path: string;
  /** The user of a Basic Authorization header; `bearer` for a token; undefined for none. */
  as: string | undefined;
}

/** Who each hop below the auth layer was sent as: registry requests and token requests alike. */
function recorder(hops: Hop[]): Layer {
  return (next) => async (req) => {
    const h = req.headers?.authorization;
    const as = h === undefined ? undefined : h.startsWith('Basic ') ? Buffer.from(h.slice(6), 'base64').toString('utf8').split(':')[0] : 'bearer';
    hops.push({ method: req.method, path: req.url.pathname + req.url.search, as });
    return next(req);
  };
}

/** Records every resolve call, then asks the keychain. */
function asking(keychain: Keychain, asked: [string, string | undefined][]): CredentialSource {
  return {
    resolve: (host, repository) => {
      asked.push([host, repository]);
      return keychain.resolve(host, repository);
    },
  };
}

const transports: Transport[] = [];
after(() => Promise.all(transports.map((t) => t.close())));

/** A client wired like connectRegistry, with a recorder below the auth layer. */
function connect(host: string, credentials: CredentialSource, hops: Hop[], options: { offlineAccess?: boolean } = {}): { client: RegistryClient; authorizer: Authorizer } {
  const authorizer = new Authorizer({ credentials, ...options });
  const transport = new Transport({ certsDir: NO_CERTS, layers: [authorizer.layer(), recorder(hops)] });
  transports.push(transport);
  const client = RegistryClient.create({ host, transport, purpose: 'push', onEndpoint: (ping) => authorizer.learn(new URL(ping.url), ping.challenges) });
  return { client, authorizer };
}

describe('which repository a hop is for', () => {
  const url = (path: string): URL => new URL(`http://r.example${path}`);

  test('Basic: the repository of the /v2/<repo>/ path; none for the ping and the catalog', () => {
    assert.equal(repositoryOfPath(url('/v2/team/app/manifests/1')), 'team/app');
    assert.equal(repositoryOfPath(url('/v2/team/sub/app/blobs/uploads/abc')), 'team/sub/app');
    assert.equal(repositoryOfPath(url('/v2/team/app/tags/list')), 'team/app');
    assert.equal(repositoryOfPath(url('/prefix/v2/team/app/referrers/sha256:00')), 'team/app');
    assert.equal(repositoryOfPath(url('/v2/')), undefined);
    assert.equal(repositoryOfPath(url('/v2/_catalog')), undefined);
    assert.deepEqual(scopesFor('GET', url('/v2/_catalog')), [registryScope('catalog', ['*'])], 'scopesFor is unchanged');
  });

  test('Bearer: the repository pushed to, else the first; none for registry scopes or no scope', () => {
    assert.equal(credentialRepository([repositoryScope('team/dst', ['pull', 'push']), repositoryScope('team/src', ['pull'])]), 'team/dst');
    assert.equal(credentialRepository([repositoryScope('team/src', ['pull']), repositoryScope('team/dst', ['pull', 'push'])]), 'team/dst', 'whatever the order');
    assert.equal(credentialRepository([repositoryScope('a/x', ['pull']), repositoryScope('b/y', ['pull'])]), 'a/x');
    assert.equal(credentialRepository([registryScope('catalog', ['*'])]), undefined);
    assert.equal(credentialRepository([]), undefined);
  });
});

describe('Basic auth: credentials per repository', () => {
  let registry: TestRegistry;
  before(async () => {
    registry = await startTestRegistry({ users: { a: 'a-pw', b: 'b-pw' } });
  });
  after(() => registry.close());

  test('team-a/* gets the host/team-a key, team-b and team-ab the host key, the catalog the host key; one lookup each', async () => {
    const host = registry.host;
    const keychain = await Keychain.load({ authFile: authFile({ [`${host}/team-a`]: ['a', 'a-pw'], [host]: ['b', 'b-pw'] }), env: {} });
    const hops: Hop[] = [];
    const asked: [string, string | undefined][] = [];
    const { client } = connect(host, asking(keychain, asked), hops);
    await pushImage(client.repository('team-a/x'), 'v1', 1);
    await pushImage(client.repository('team-b/y'), 'v1', 2);
    await pushImage(client.repository('team-ab/z'), 'v1', 3);
    assert.equal((await client.repository('team-a/x').getManifest('v1')).mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const repos: string[] = [];
    for await (const r of client.catalog()) repos.push(r);
    assert.deepEqual(repos.sort(), ['team-a/x', 'team-ab/z', 'team-b/y']);

    const sentAs = (prefix: string): Set<string | undefined> => new Set(hops.filter((h) => h.path.startsWith(prefix)).map((h) => h.as));
    assert.deepEqual(sentAs('/v2/team-a/'), new Set(['a']));
    assert.deepEqual(sentAs('/v2/team-b/'), new Set(['b']));
    assert.deepEqual(sentAs('/v2/team-ab/'), new Set(['b']), 'host/team-a is no key for team-ab');
    assert.deepEqual(sentAs('/v2/_catalog'), new Set(['b']));
    for (const h of hops.filter((x) => x.path === '/v2/')) assert.ok(h.as === undefined || h.as === 'b', JSON.stringify(h));
    assert.deepEqual(
      asked.sort((x, y) => String(x[1]).localeCompare(String(y[1]))),
      [[host, 'team-a/x'], [host, 'team-ab/z'], [host, 'team-b/y'], [host, undefined]],
      'cached per (host, repository)',
    );
  });

  test('only the right key works: wrong host credentials do not touch team-a, wrong team-a credentials do not touch team-b', async () => {
    const host = registry.host;
    const wrongHost = connect(host, await Keychain.load({ authFile: authFile({ [`${host}/team-a`]: ['a', 'a-pw'], [host]: ['b', 'wrong'] }), env: {} }), []).client;
    assert.ok(await wrongHost.repository('team-a/x').headManifest('v1'));
    await assert.rejects(wrongHost.repository('team-b/y').headManifest('v1'), { code: 'UNAUTHORIZED' });
    const wrongRepo = connect(host, await Keychain.load({ authFile: authFile({ [`${host}/team-a`]: ['a', 'wrong'], [host]: ['b', 'b-pw'] }), env: {} }), []).client;
    await assert.rejects(wrongRepo.repository('team-a/x').headManifest('v1'), { code: 'UNAUTHORIZED' });
    assert.ok(await wrongRepo.repository('team-b/y').headManifest('v1'));
  });
});

describe('token auth: credentials per repository', () => {
  let server: RegistryServer;
  let issuer: TokenIssuer;
  let host: string;
  before(async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    issuer = new TokenIssuer({
      issuer: 'gantry-test-issuer',
      service: 'gantry-test',
      signingKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      users: {
        alice: { password: 'alice-pw', access: [{ repository: 'team-a/*', actions: ['pull', 'push'] }] },
        bob: { password: 'bob-pw', access: [{ repository: 'team-b/*', actions: ['pull', 'push'] }] },
      },
      catalogUsers: ['bob'],
    });
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', auth: { type: 'token', issuer, service: 'gantry-test' } });
    host = `127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  /** Who the token server issued tokens to, per scope set it was asked for. */
  const subjects = (scope: string): Set<string> => new Set([...issuer.stats.keys()].filter((k) => k.includes(scope)).map((k) => k.split(' ')[0]!));

  test('team-a is pushed with alice, team-b with bob; a mount into team-b asks as bob; the catalog as bob', async () => {
    const file = authFile({ [`${host}/team-a`]: ['alice', 'alice-pw'], [host]: ['bob', 'bob-pw'] });
    const hops: Hop[] = [];
    const { client, authorizer } = connect(host, await Keychain.load({ authFile: file, env: {} }), hops);
    // Each push succeeds only with the right user: alice has no access to team-b, bob none to team-a.
    const a = await pushImage(client.repository('team-a/x'), 'v1', 11);
    await pushImage(client.repository('team-b/y'), 'v1', 12);
    // A cross-repository mount asks for team-b/dst (push) and team-a/x (pull) in one token: bob's,
    // who may not read team-a, so the registry starts an upload instead of mounting.
    const layer = { digest: a.layer.digest, size: a.layer.size };
    assert.equal((await client.repository('team-b/dst').uploadBlob(layer, () => Readable.from([a.layer.data]), { mountFrom: 'team-a/x' })).status, 'uploaded');
    const repos: string[] = [];
    for await (const r of client.catalog()) repos.push(r);
    assert.deepEqual(repos.sort(), ['team-a/x', 'team-b/dst', 'team-b/y']);

    assert.deepEqual(subjects('repository:team-a/x:'), new Set(['alice', 'bob']), 'bob only in the mount, as the one pushing');
    assert.deepEqual(subjects('repository:team-b/y:'), new Set(['bob']));
    assert.deepEqual(subjects('repository:team-b/dst:'), new Set(['bob']));
    assert.deepEqual(subjects('registry:catalog:'), new Set(['bob']));
    const mount = [...issuer.stats.keys()].filter((k) => k.includes('team-b/dst') && k.includes('team-a/x'));
    assert.ok(mount.length > 0 && mount.every((k) => k.startsWith('bob ')), JSON.stringify(mount));
    // The realm saw each user's Basic credentials only for their own repository's token.
    const tokenHops = (repos: string[]): Set<string | undefined> =>
      new Set(
        hops
          .filter((h) => h.path.startsWith('/token'))
          .filter((h) => JSON.stringify(new URL(h.path, 'http://x').searchParams.getAll('scope').map((sc) => sc.split(':')[1]).sort()) === JSON.stringify(repos))
          .map((h) => h.as),
      );
    assert.deepEqual(tokenHops(['team-a/x']), new Set(['alice']));
    assert.deepEqual(tokenHops(['team-b/y']), new Set(['bob']));
    assert.deepEqual(tokenHops(['team-a/x', 'team-b/dst']), new Set(['bob']));
    // Tokens are cached per credentials: alice's and bob's never share a cache entry.
    const keys = [...authorizer.exchanges.keys()];
    const idsFor = (repo: string): Set<string> => new Set(keys.filter((k) => k.includes(`repository:${repo}:`)).map((k) => /cred#\d+/.exec(k)?.[0] ?? ''));
    assert.equal(idsFor('team-b/y').size, 1);
    assert.notDeepEqual(idsFor('team-a/x'), idsFor('team-b/y'));
  });

  test('the same scopes with other credentials: a new exchange, never the cached token', async () => {
    let context: TransportContext | undefined;
    const capture: Layer = (next, ctx) => {
      context = ctx;
      return next;
    };
    const transport = new Transport({ certsDir: NO_CERTS, layers: [capture] }); // the stack is built here: `context` is set
    transports.push(transport);
    const send: Send = (req) => transport.send(req);
    const authorizer = new Authorizer();
    const registryUrl = new URL(`http://${host}/v2/`);
    const challenge = { scheme: 'bearer', parameters: { realm: `http://${host}/token`, service: 'gantry-test' } };
    const scopes = [repositoryScope('team-a/x', ['pull'])];
    const alice: Credentials = { serverAddress: `${host}/team-a`, username: 'alice', password: 'alice-pw' };
    const bob: Credentials = { serverAddress: host, username: 'bob', password: 'bob-pw' };
    const first = await authorizer.token(send, registryUrl, challenge, scopes, alice, context);
    assert.equal((await authorizer.token(send, registryUrl, challenge, scopes, { ...alice }, context)).token, first.token, 'equal credentials share the token');
    const second = await authorizer.token(send, registryUrl, challenge, scopes, bob, context);
    assert.notEqual(second.token, first.token);
    assert.equal([...authorizer.exchanges.values()].reduce((x, y) => x + y, 0), 2);
    const claims = (t: string): { sub: string; access: unknown[] } => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString('utf8')) as { sub: string; access: unknown[] };
    assert.equal(claims(first.token).sub, 'alice');
    assert.equal(claims(second.token).sub, 'bob');
    assert.deepEqual(claims(second.token).access, [], 'bob may not read team-a: the token grants nothing');
  });

  test("a refresh token stays with the credentials that earned it: team-b is never asked with alice's", async () => {
    const file = authFile({ [`${host}/team-a`]: ['alice', 'alice-pw'], [host]: ['bob', 'bob-pw'] });
    const hops: Hop[] = [];
    const { client } = connect(host, await Keychain.load({ authFile: file, env: {} }), hops, { offlineAccess: true });
    // alice's exchange brings a refresh token; bob's must still be his own password (alice's
    // refresh token would earn a token that grants nothing on team-b: a 401).
    assert.ok(await client.repository('team-a/x').headManifest('v1'));
    assert.ok(await client.repository('team-b/y').headManifest('v1'));
    // Another team-a repository: alice's refresh token, in the OAuth2 POST form.
    assert.equal(await client.repository('team-a/other').headManifest('v1'), undefined);
    const exchanges = hops.filter((h) => h.path.startsWith('/token'));
    assert.deepEqual(exchanges.map((h) => `${h.method} ${h.as ?? '-'}`), ['GET alice', 'GET bob', 'POST -']);
    assert.deepEqual(subjects('repository:team-a/other:'), new Set(['alice']));
  });
});

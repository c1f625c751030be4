/**
 * Trust at origin boundaries (issue 12), against hostile hosts on three loopback addresses:
 * what each host received is asserted, not what gantry says it sent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRegistry } from '../../src/client/connect.js';
import { ServiceConfig } from '../../src/config/service-config.js';
import { ErrorCode, GantryError } from '../../src/errors.js';
import { Digest } from '../../src/ref/digest.js';
import { ping } from '../../src/transport/endpoint.js';
import { Transport } from '../../src/transport/transport.js';
import { runGantry } from '../helpers/cli.js';
import { challenge, drip, redirectTo, startHostileHost, startHostileHosts, stallBody, type HostileHost, type Script } from '../helpers/hostile-registry.js';
import { createTestPki, type TestPki } from '../helpers/pki.js';
import { startHttpServer, startHttpsServer, testLookup, type TestServer } from '../helpers/servers.js';

const USER = 'alice';
const PASSWORD = 'Sup3r-Secret-pw';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const BLOB = Buffer.from('a blob that lives on a storage host\n'.repeat(200));
const BLOB_DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;
const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: BLOB_DIGEST, size: BLOB.length }, layers: [] }));
const MANIFEST_DIGEST = `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`;

let hosts: Awaited<ReturnType<typeof startHostileHosts>>;
let a: HostileHost;
let b: HostileHost;
let c: HostileHost;
const noCerts = join(tmpdir(), 'gantry-origins-no-certs.d');

before(async () => {
  hosts = await startHostileHosts();
  ({ a, b, c } = hosts);
});
after(() => hosts.close());

function reset(): void {
  for (const h of [a, b, c]) h.received.length = 0;
}

/** Registry A: Basic auth for alice; `/v2/` answers 401 to anyone else. */
function basicRegistry(onAuthorized: Script): void {
  a.script = (req, res, host) => {
    if (req.headers.authorization !== BASIC) return challenge(res, `Basic realm="${host.host}"`);
    if (req.url === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    onAuthorized(req, res, host);
  };
}

describe('credentials stay with the origin they belong to', () => {
  const VIA = {
    credentials: 'credentials given',
    authFile: 'credentials from an auth.json, --authfile',
    repositoryKey: "an auth.json repository key (host/app) beside a host key with another password",
  } as const;
  // The host key's password, which the registry refuses: only the repository key's may reach it.
  const DECOY = Buffer.from(`${USER}:host-key-password`).toString('base64');
  for (const via of ['credentials', 'authFile', 'repositoryKey'] as const) {
  test(`a storage host that answers 401 with a foreign realm gets no credentials, and neither does the realm (${VIA[via]})`, async () => {
    reset();
    const authDir = mkdtempSync(join(tmpdir(), 'gantry-origins-authfile-'));
    const authFile = join(authDir, 'auth.json');
    const auths = via === 'repositoryKey' ? { [a.host]: { auth: DECOY }, [`${a.host}/app`]: { auth: BASIC.slice('Basic '.length) } } : { [a.host]: { auth: BASIC.slice('Basic '.length) } };
    writeFileSync(authFile, JSON.stringify({ auths }), { mode: 0o600 });
    const access = via === 'credentials' ? { credentials: { username: USER, password: PASSWORD } } : { authFile };
    basicRegistry((req, res) => redirectTo(res, `${b.origin}${req.url}`));
    b.script = (req, res) => {
      if (req.headers.authorization === 'Bearer anonymous-token') return void res.writeHead(200, { 'content-length': String(BLOB.length) }).end(BLOB);
      challenge(res, `Bearer realm="${c.origin}/token",service="storage"`);
    };
    c.script = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"anonymous-token","expires_in":300}');
    const reg = await connectRegistry(a.host, 'pull', { certsDir: noCerts, ...access });
    try {
      const stream = await reg.client.repository('app').getBlob({ digest: Digest.parse(BLOB_DIGEST), size: BLOB.length });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(BLOB));
    } finally {
      await reg.close();
      rmSync(authDir, { recursive: true, force: true });
    }
    assert.ok(a.received.some((r) => r.headers.authorization === BASIC), 'the registry got its credentials');
    for (const h of [b, c]) {
      assert.ok(h.received.length > 0, `${h.host} was asked`);
      assert.ok(!h.allHeaderText().includes(BASIC.slice(6)), `${h.host} received the registry's credentials`);
      assert.ok(!h.allHeaderText().includes(DECOY), `${h.host} received the host key's credentials`);
    }
    // The realm was asked anonymously: no Authorization at all, and no account.
    assert.ok(c.received.every((r) => r.headers.authorization === undefined && !r.url.includes('account=')), JSON.stringify(c.received));
  });
  }

  test("a storage host's Basic challenge is an error, not a reason to hand it the registry's password", async () => {
    reset();
    basicRegistry((req, res) => redirectTo(res, `${b.origin}${req.url}`));
    b.script = (_req, res) => challenge(res, 'Basic realm="storage"');
    const reg = await connectRegistry(a.host, 'pull', { certsDir: noCerts, credentials: { username: USER, password: PASSWORD } });
    try {
      await assert.rejects(reg.client.repository('app').getBlob({ digest: Digest.parse(BLOB_DIGEST), size: BLOB.length }), (err: GantryError) => err.code === ErrorCode.UNAUTHORIZED);
    } finally {
      await reg.close();
    }
    assert.ok(b.received.length >= 1);
    assert.ok(b.received.every((r) => r.headers.authorization === undefined), JSON.stringify(b.received.map((r) => r.headers.authorization)));
  });

  test('a token fetched with the registry credentials is not reused for a foreign origin naming the same realm', async () => {
    reset();
    // A and B both challenge with C's realm; C issues a token per caller: with Basic → "user-token".
    const realm = `Bearer realm="${c.origin}/token",service="shared"`;
    a.script = (req, res) => {
      if (req.headers.authorization === 'Bearer user-token') {
        if (req.url?.includes('/blobs/')) return redirectTo(res, `${b.origin}${req.url}`);
        return void res.writeHead(200).end('{}');
      }
      challenge(res, realm);
    };
    b.script = (req, res) => {
      if (req.headers.authorization === 'Bearer anon-token') return void res.writeHead(200, { 'content-length': String(BLOB.length) }).end(BLOB);
      challenge(res, realm);
    };
    c.script = (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: req.headers.authorization === BASIC ? 'user-token' : 'anon-token' }));
    const reg = await connectRegistry(a.host, 'pull', { certsDir: noCerts, credentials: { username: USER, password: PASSWORD } });
    try {
      const stream = await reg.client.repository('app').getBlob({ digest: Digest.parse(BLOB_DIGEST), size: BLOB.length });
      for await (const _ of stream) void _;
    } finally {
      await reg.close();
    }
    assert.ok(!b.allHeaderText().includes('user-token'), 'the user token crossed to the storage host');
    assert.ok(b.received.some((r) => r.headers.authorization === 'Bearer anon-token'));
  });

  test("a registry token (config.json's registrytoken) never reaches the storage host", async () => {
    reset();
    a.script = (req, res) => {
      if (req.headers.authorization !== 'Bearer REGISTRY-T0KEN') return challenge(res, `Bearer realm="${c.origin}/token",service="reg"`);
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      redirectTo(res, `${b.origin}${req.url}`);
    };
    b.script = (req, res) => {
      if (req.headers.authorization === 'Bearer anonymous-token') return void res.writeHead(200, { 'content-length': String(BLOB.length) }).end(BLOB);
      challenge(res, `Bearer realm="${c.origin}/token",service="storage"`);
    };
    c.script = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"anonymous-token"}');
    const reg = await connectRegistry(a.host, 'pull', { certsDir: noCerts, credentials: { resolve: async (host: string) => ({ registryToken: 'REGISTRY-T0KEN', serverAddress: host }) } });
    try {
      const stream = await reg.client.repository('app').getBlob({ digest: Digest.parse(BLOB_DIGEST), size: BLOB.length });
      for await (const _ of stream) void _;
    } finally {
      await reg.close();
    }
    assert.ok(a.received.some((r) => r.headers.authorization === 'Bearer REGISTRY-T0KEN'));
    for (const h of [b, c]) assert.ok(!h.allHeaderText().includes('REGISTRY-T0KEN'), `${h.host} received the registry token`);
  });

  test("a caller's own Authorization and Cookie headers stop at the redirect to another origin", async () => {
    reset();
    a.script = (req, res) => redirectTo(res, `${b.origin}${req.url}`);
    b.script = (_req, res) => res.writeHead(200, { 'content-length': '2' }).end('ok');
    const t = new Transport({ certsDir: noCerts });
    try {
      const res = await t.send({ method: 'GET', url: new URL(`${a.origin}/v2/app/blobs/x`), headers: { authorization: 'Bearer caller-S3CR3T', cookie: 'session=caller-S3CR3T', accept: 'application/json' } });
      await res.body.dump();
      assert.equal(res.status, 200);
    } finally {
      await t.close();
    }
    assert.equal(a.received[0]?.headers.authorization, 'Bearer caller-S3CR3T');
    assert.equal(b.received.length, 1);
    assert.ok(!b.allHeaderText().includes('caller-S3CR3T'), b.allHeaderText());
    assert.equal(b.received[0]?.headers.accept, 'application/json', 'other headers are carried');
  });

  for (const given of ['certs.d', 'certDir'] as const) {
  test(`a registry's client certificate (${given === 'certs.d' ? 'from certs.d' : 'from --src-cert-dir, the certDir option'}) is not presented to the https host it redirects to (127.0.0.2)`, async () => {
    const pki = createTestPki();
    const certsRoot = mkdtempSync(join(tmpdir(), 'gantry-origins-mtls-'));
    const tls = { ...(({ certPem, keyPem }) => ({ cert: certPem, key: keyPem }))(pki.server(['127.0.0.1', '127.0.0.2'])), requestCert: true };
    const [ta, tb] = await Promise.all([startHostileHost('127.0.0.1', { tls }), startHostileHost('127.0.0.2', { tls })]);
    try {
      ta.script = (req, res) => {
        if (req.url === '/v2/') return void res.writeHead(200).end('{}');
        redirectTo(res, `${tb.origin}${req.url}`);
      };
      tb.script = (_req, res) => res.writeHead(200, { 'content-length': String(BLOB.length) }).end(BLOB);
      const client = pki.client('registry-a-client');
      // certs.d: <root>/<host>/; certDir: one folder for this registry's host only, the root empty.
      const dir = given === 'certs.d' ? join(certsRoot, ta.host) : join(certsRoot, 'given-folder');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'client.cert'), client.certPem);
      writeFileSync(join(dir, 'client.key'), client.keyPem);
      // Loopback is insecure by default: https without verification, so no CA is needed.
      const reg = await connectRegistry(ta.host, 'pull', { certsDir: certsRoot, anonymous: true, ...(given === 'certDir' ? { certDir: dir } : {}) });
      try {
        const stream = await reg.client.repository('app').getBlob({ digest: Digest.parse(BLOB_DIGEST), size: BLOB.length });
        for await (const _ of stream) void _;
      } finally {
        await reg.close();
      }
      assert.ok(ta.received.length >= 2 && ta.received.every((r) => r.clientCn === 'registry-a-client'), JSON.stringify(ta.received.map((r) => r.clientCn)));
      assert.ok(tb.received.length >= 1);
      assert.ok(tb.received.every((r) => r.clientCn === undefined), 'the storage host was shown the registry\'s client certificate');
    } finally {
      await Promise.all([ta.close(), tb.close()]);
      pki.cleanup();
      rmSync(certsRoot, { recursive: true, force: true });
    }
  });
  }

  test('--header values go to the registry only, never to a redirect target (CLI)', async () => {
    reset();
    a.script = (req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      redirectTo(res, `${b.origin}${req.url}`);
    };
    b.script = (_req, res) => res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': MANIFEST_DIGEST, 'content-length': String(MANIFEST.length) }).end();
    const r = await runGantry(['digest', '--certs-dir', noCerts, '--header', 'Authorization: Bearer user-header-secret', '--header', 'Cookie: session=cookie-secret', '--header', 'X-Meta-Build: 42', `${a.host}/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), MANIFEST_DIGEST);
    const head = a.received.find((x) => x.method === 'HEAD');
    assert.equal(head?.headers.authorization, 'Bearer user-header-secret');
    assert.equal(head?.headers['x-meta-build'], '42');
    assert.ok(b.received.length >= 1);
    for (const x of b.received) {
      assert.equal(x.headers.authorization, undefined);
      assert.equal(x.headers.cookie, undefined);
      assert.equal(x.headers['x-meta-build'], undefined);
      assert.match(String(x.headers['user-agent']), /^gantry\//);
    }
  });
});

describe('--debug prints no secret of a response header', () => {
  test('signed-URL queries in Location and the user info and query of a realm are redacted', async () => {
    reset();
    const secrets = ['S3CR3T-sig', 'S3CR3T-cred', 'S3CR3T-azsig', 'S3CR3T-skoid', 'S3CR3T-apikey', 'S3CR3T-realmpw', 'S3CR3T-realmtoken'];
    a.script = (req, res) => {
      if (req.headers.authorization !== 'Bearer t') return challenge(res, `Bearer realm="http://bob:${secrets[5]}@${c.host}/token?token=${secrets[6]}",service="reg"`);
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      redirectTo(res, `${b.origin}${req.url}?X-Amz-Signature=${secrets[0]}&X-Amz-Credential=${secrets[1]}&sig=${secrets[2]}&skoid=${secrets[3]}&api_key=${secrets[4]}`);
    };
    b.script = (_req, res) => res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': MANIFEST_DIGEST, 'content-length': String(MANIFEST.length) }).end();
    c.script = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t"}');
    const r = await runGantry(['digest', '--debug', '--certs-dir', noCerts, `${a.host}/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /location/, 'the trail shows the redirect');
    assert.match(r.stderr, /www-authenticate/, 'the trail shows the challenge');
    for (const s of secrets) assert.ok(!r.stderr.includes(s) && !r.stdout.includes(s), `${s} printed:\n${r.stderr}`);
  });
});

describe('stricter than Docker: no credentials to a plain-http token realm', () => {
  let pki: TestPki;
  let certsRoot: string;
  let registry: TestServer;
  let realm: TestServer;
  const realmSaw: (string | undefined)[] = [];
  /** The realm the registry's challenge names; a test may point it at another host. */
  let realmUrl = '';
  before(async () => {
    pki = createTestPki();
    certsRoot = mkdtempSync(join(tmpdir(), 'gantry-origins-certs-'));
    realm = await startHttpServer((req, res) => {
      realmSaw.push(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"issued"}');
    });
    const cert = pki.server(['registry.test']);
    registry = await startHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      if (req.headers.authorization !== 'Bearer issued') return challenge(res, `Bearer realm="${realmUrl}",service="reg"`);
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': MANIFEST_DIGEST }).end(MANIFEST);
    });
    realmUrl = `http://auth.test:${realm.port}/token`;
    const dir = join(certsRoot, `registry.test:${registry.port}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ca.crt'), pki.ca.certPem);
  });
  after(async () => {
    await Promise.all([registry.close(), realm.close()]);
    pki.cleanup();
    rmSync(certsRoot, { recursive: true, force: true });
  });
  const noDns = async (): Promise<string[]> => {
    throw Object.assign(new Error('no DNS in tests'), { code: 'ENOTFOUND' });
  };

  test('refused, naming the realm and the flag, and the realm is never contacted', async () => {
    realmSaw.length = 0;
    const reg = await connectRegistry(`registry.test:${registry.port}`, 'pull', { certsDir: certsRoot, lookup: testLookup, config: ServiceConfig.create({ lookup: noDns }), credentials: { username: USER, password: PASSWORD } });
    try {
      await assert.rejects(reg.client.repository('app').getManifest('1'), (err: GantryError) => {
        assert.equal(err.code, ErrorCode.INSECURE_TRANSPORT);
        assert.match(err.message, new RegExp(`http://auth\\.test:${realm.port}/token`));
        assert.match(err.message, new RegExp(`--insecure-registry auth\\.test:${realm.port}`));
        assert.ok(!err.message.includes(PASSWORD));
        return true;
      });
    } finally {
      await reg.close();
    }
    assert.deepEqual(realmSaw, []);
  });

  test('allowed when the realm host is configured insecure', async () => {
    realmSaw.length = 0;
    const config = ServiceConfig.create({ lookup: noDns, insecureRegistries: [`auth.test:${realm.port}`] });
    const reg = await connectRegistry(`registry.test:${registry.port}`, 'pull', { certsDir: certsRoot, lookup: testLookup, config, credentials: { username: USER, password: PASSWORD } });
    try {
      assert.equal((await reg.client.repository('app').getManifest('1')).digest.toString(), MANIFEST_DIGEST);
    } finally {
      await reg.close();
    }
    assert.deepEqual(realmSaw, [BASIC]);
  });

  test('an identity token is refused to a plain-http realm too', async () => {
    realmSaw.length = 0;
    const credentials = { resolve: async (host: string) => ({ username: USER, identityToken: 'refresh-S3CR3T', serverAddress: host }) };
    const reg = await connectRegistry(`registry.test:${registry.port}`, 'pull', { certsDir: certsRoot, lookup: testLookup, config: ServiceConfig.create({ lookup: noDns }), credentials });
    try {
      await assert.rejects(reg.client.repository('app').getManifest('1'), (err: GantryError) => err.code === ErrorCode.INSECURE_TRANSPORT && !err.message.includes('refresh-S3CR3T'));
    } finally {
      await reg.close();
    }
    assert.deepEqual(realmSaw, []);
  });

  test('a plain-http realm on another host (127.0.0.3) gets nothing when that host is not insecure (--tls-verify=true)', async () => {
    reset();
    c.script = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"issued"}');
    realmUrl = `${c.origin}/token`;
    try {
      const reg = await connectRegistry(`registry.test:${registry.port}`, 'pull', { certsDir: certsRoot, lookup: testLookup, tlsVerify: true, credentials: { username: USER, password: PASSWORD } });
      try {
        await assert.rejects(reg.client.repository('app').getManifest('1'), (err: GantryError) => err.code === ErrorCode.INSECURE_TRANSPORT && err.message.includes(`--insecure-registry ${c.host}`));
      } finally {
        await reg.close();
      }
    } finally {
      realmUrl = `http://auth.test:${realm.port}/token`;
    }
    assert.equal(c.received.length, 0, 'the realm host was contacted');
  });

  test('anonymous token requests to a plain-http realm are not refused (nothing secret is sent)', async () => {
    realmSaw.length = 0;
    const reg = await connectRegistry(`registry.test:${registry.port}`, 'pull', { certsDir: certsRoot, lookup: testLookup, config: ServiceConfig.create({ lookup: noDns }), anonymous: true });
    try {
      assert.equal((await reg.client.repository('app').getManifest('1')).digest.toString(), MANIFEST_DIGEST);
    } finally {
      await reg.close();
    }
    assert.deepEqual(realmSaw, [undefined]);
  });
});

/** Fails the test if `p` has not settled within `ms`: a timeout that does not fire must not hang the suite. */
async function within<T>(ms: number, p: Promise<T>): Promise<{ value?: T; error?: unknown; elapsed: number }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    const value = await Promise.race([p, guard]);
    return { value, elapsed: performance.now() - started };
  } catch (error) {
    if ((error as Error).message?.startsWith('did not settle')) throw error;
    return { error, elapsed: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof GantryError && err.code === ErrorCode.TIMEOUT;
}

describe('each timeout fires at the stage where the server stalls', () => {
  test('connect: a name lookup that never answers', async () => {
    const t = new Transport({ certsDir: noCerts, lookup: () => undefined, retry: false, timeouts: { connectMs: 300 } });
    const r = await within(5000, t.send({ method: 'GET', url: new URL('http://stalled-dns.test:5000/v2/') }));
    await t.close();
    assert.ok(isTimeout(r.error), String(r.error));
    assert.match((r.error as Error).message, /connect timed out after 0\.3s/);
    assert.ok(r.elapsed >= 250, `fired after ${r.elapsed} ms`);
  });

  test('TLS handshake: a server that accepts the connection and never speaks', async () => {
    const sockets: Socket[] = [];
    const silent: NetServer = createNetServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as { port: number }).port;
    const t = new Transport({ certsDir: noCerts, tlsVerify: true, retry: false, timeouts: { handshakeMs: 300 } });
    const r = await within(5000, t.send({ method: 'GET', url: new URL(`https://127.0.0.1:${port}/v2/`) }));
    await t.close();
    for (const s of sockets) s.destroy();
    silent.close();
    assert.ok(isTimeout(r.error), String(r.error));
    assert.ok(r.elapsed >= 250 && r.elapsed < 4000, `fired after ${r.elapsed} ms`);
  });

  test('ping: a registry that takes the request and never answers', async () => {
    reset();
    a.script = () => undefined; // never answers
    const r = await within(5000, ping(a.host, { certsDir: noCerts, timeouts: { pingMs: 300 } }));
    // https first (refused: plain http on the port), then http, which stalls.
    assert.ok(r.error instanceof GantryError, String(r.error));
    assert.match((r.error as Error).message, /http:\/\/127\.0\.0\.1:\d+\/v2\/: timed out after 0\.3s$/);
    a.script = (_req, res) => res.writeHead(404).end();
  });

  test('token: a realm that never answers', async () => {
    reset();
    a.script = (_req, res) => challenge(res, `Bearer realm="${c.origin}/token",service="reg"`);
    c.script = () => undefined;
    const reg = await connectRegistry(a.host, 'pull', { certsDir: noCerts, anonymous: true, retry: false, timeouts: { pingMs: 300 } });
    const r = await within(5000, reg.client.repository('app').getManifest('1'));
    await reg.close();
    assert.ok(isTimeout(r.error), String(r.error));
    assert.ok(c.received.length >= 1, 'the realm was asked');
  });

  test('idle body: headers and a few bytes, then silence', async () => {
    reset();
    a.script = (req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      stallBody(res, 4096, 10, 10_000);
    };
    const reg = await connectRegistry(a.host, 'pull', { certsDir: noCerts, anonymous: true, retry: false, timeouts: { bodyIdleMs: 300 } });
    const r = await within(5000, reg.client.repository('app').getManifest('1'));
    await reg.close();
    assert.ok(isTimeout(r.error), String(r.error));
    assert.ok(r.elapsed < 4000, `fired after ${r.elapsed} ms`);
  });

  test('low speed: a blob that drips is resumed with Range, then fails with a clear error', async () => {
    reset();
    a.script = (req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      // 2 bytes every 50 ms: 40 B/s, far under the limit, and never idle for long.
      drip(req, res, BLOB, { bytesPerTick: 2, intervalMs: 50, maxMs: 20_000, head: 100 });
    };
    const reg = await connectRegistry(a.host, 'pull', { certsDir: noCerts, anonymous: true, timeouts: { lowSpeed: { bytesPerSecond: 1024, windowMs: 400 } } });
    const r = await within(
      20_000,
      (async () => {
        const stream = await reg.client.repository('app').getBlob({ digest: Digest.parse(BLOB_DIGEST), size: BLOB.length });
        for await (const _ of stream) void _;
      })(),
    );
    await reg.close();
    assert.ok(isTimeout(r.error), String(r.error));
    assert.match((r.error as Error).message, /stalled \d+ times \(under the low-speed limit\)/);
    const ranges = a.received.filter((x) => x.url.includes('/blobs/')).map((x) => x.headers.range);
    assert.equal(ranges[0], undefined);
    assert.ok(ranges.length >= 3, `resumed ${ranges.length - 1} times`);
    const starts = ranges.slice(1).map((v) => Number(/^bytes=(\d+)-$/.exec(String(v))?.[1]));
    assert.ok(starts.every((s, i) => s > 0 && (i === 0 || s > starts[i - 1]!)), `each resume starts further on: ${ranges.join(', ')}`);
  });

  test('low speed: a body that has fully arrived is not judged, however long it waits unread', async () => {
    reset();
    a.script = (_req, res) => res.writeHead(200, { 'content-length': '100' }).end(Buffer.alloc(100, 0x62));
    const t = new Transport({ certsDir: noCerts, timeouts: { lowSpeed: { bytesPerSecond: 1024, windowMs: 200 } } });
    try {
      const res = await t.send({ method: 'GET', url: new URL(`${a.origin}/v2/app/blobs/x`) });
      await new Promise((r) => setTimeout(r, 1000)); // five windows with the body unread
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) chunks.push(chunk as Buffer);
      assert.equal(Buffer.concat(chunks).length, 100);
    } finally {
      await t.close();
    }
  });

  test('the defaults are Docker’s, and a bad timeout is an INVALID_OPTION naming it', () => {
    const t = new Transport({ certsDir: noCerts });
    assert.deepEqual({ ...t.timeouts, lowSpeed: { ...(t.timeouts.lowSpeed as object) } }, { connectMs: 30_000, handshakeMs: 10_000, pingMs: 15_000, headersMs: 300_000, bodyIdleMs: 60_000, lowSpeed: { bytesPerSecond: 1024, windowMs: 60_000 } });
    void t.close();
    assert.throws(() => new Transport({ timeouts: { connectMs: NaN } }), (err: GantryError) => err.code === ErrorCode.INVALID_OPTION && /timeouts\.connectMs/.test(err.message));
    assert.throws(() => new Transport({ timeouts: { lowSpeed: { bytesPerSecond: -1 } } }), (err: GantryError) => err.code === ErrorCode.INVALID_OPTION && /timeouts\.lowSpeed\.bytesPerSecond/.test(err.message));
  });
});

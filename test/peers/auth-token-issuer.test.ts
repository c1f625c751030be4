import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenIssuer } from '../../src/server/token/issuer.js';
import { createCertificateAuthority } from '../../src/pki/x509.js';
import type { KeyType } from '../../src/pki/x509.js';
import { parseWwwAuthenticate } from '../../src/auth/challenge.js';
import { parseTokenResponse } from '../../src/auth/token-response.js';
import { parseScope } from '../../src/ref/scope.js';
import { requirePeer } from '../helpers/peers.js';
import { startDockerRegistry } from '../helpers/docker-registry.js';
import type { RunningRegistry } from '../helpers/docker-registry.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

for (const keyType of ['ec-p256', 'rsa-2048'] as KeyType[]) {
  describe(`token issuer (${keyType}) against docker-registry 2.8`, () => {
    let registry: RunningRegistry | undefined;
    let server: http.Server | undefined;
    let realm = '';
    let issuer: TokenIssuer;
    let dir = '';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'gantry-issuer-'));
      issuer = TokenIssuer.withGeneratedKey(
        {
          issuer: 'gantry-test-issuer',
          service: 'gantry-test-registry',
          users: { alice: { password: 'alice-pw', access: [{ repository: 'x', actions: ['pull'] }] } },
          anonymous: [{ repository: 'public/*', actions: ['pull'] }],
        },
        keyType,
      );
      writeFileSync(join(dir, 'rootcerts.pem'), issuer.certificatePem ?? '');
      server = http.createServer((req, res) => void issuer.handle(req, res));
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    });

    after(async () => {
      await registry?.stop();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('the registry challenges with our realm and accepts our tokens', async (t) => {
      if (!requirePeer(t, 'docker-registry')) return;
      registry = await startDockerRegistry({
        token: { realm, service: 'gantry-test-registry', issuer: 'gantry-test-issuer', rootCertBundleFile: join(dir, 'rootcerts.pem') },
      });

      const ping = await get(`${registry.url}/v2/`);
      assert.equal(ping.status, 401);
      const [challenge] = parseWwwAuthenticate(ping.headers['www-authenticate']);
      assert.equal(challenge?.scheme, 'bearer');
      assert.equal(challenge?.parameters.realm, realm);
      assert.equal(challenge?.parameters.service, 'gantry-test-registry');

      // alice may pull x: the registry takes the token and answers for the (empty) repository.
      const pull = await get(`${realm}?service=gantry-test-registry&scope=repository:x:pull&account=alice`, { authorization: basic('alice', 'alice-pw') });
      assert.equal(pull.status, 200);
      const { token } = parseTokenResponse(pull.body, new Date());
      const tags = await get(`${registry.url}/v2/x/tags/list`, { authorization: `Bearer ${token}` });
      assert.equal(tags.status, 404, registry.logs());
      assert.equal((JSON.parse(tags.body) as { errors: { code: string }[] }).errors[0]?.code, 'NAME_UNKNOWN');

      // Asking for push gets pull only; the registry then refuses an upload.
      const push = await get(`${realm}?service=gantry-test-registry&scope=repository:x:pull,push`, { authorization: basic('alice', 'alice-pw') });
      const pushToken = parseTokenResponse(push.body, new Date()).token;
      const upload = await new Promise<Reply>((resolve, reject) => {
        const req = http.request(`${registry!.url}/v2/x/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${pushToken}` }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' }));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(upload.status, 401);
      const denied = parseWwwAuthenticate(upload.headers['www-authenticate'])[0];
      assert.equal(denied?.parameters.error, 'insufficient_scope');
      // The registry lists the actions in map order, so compare them as a set.
      const asked = parseScope(denied?.parameters.scope ?? '');
      assert.equal(asked?.name, 'x');
      assert.deepEqual([...(asked?.actions ?? [])].sort(), ['pull', 'push']);

      // Anonymous pull of a public repository works; of alice's repository it does not.
      const anon = parseTokenResponse((await get(`${realm}?service=gantry-test-registry&scope=repository:public/a:pull`)).body, new Date());
      assert.equal((await get(`${registry.url}/v2/public/a/tags/list`, { authorization: `Bearer ${anon.token}` })).status, 404);
      const anonX = parseTokenResponse((await get(`${realm}?service=gantry-test-registry&scope=repository:x:pull`)).body, new Date());
      assert.equal((await get(`${registry.url}/v2/x/tags/list`, { authorization: `Bearer ${anonX.token}` })).status, 401);

      // A token from a key the registry does not trust is refused.
      const stranger = new TokenIssuer({
        issuer: 'gantry-test-issuer',
        service: 'gantry-test-registry',
        signingKeyPem: createCertificateAuthority({ commonName: 'stranger', keyType }).keyPem,
        anonymous: [{ repository: '*', actions: ['*'] }],
      });
      const strangerToken = await issue(stranger, '/token?service=gantry-test-registry&scope=repository:x:pull');
      assert.equal((await get(`${registry.url}/v2/x/tags/list`, { authorization: `Bearer ${strangerToken}` })).status, 401);
    });
  });
}

/** Runs one GET exchange against an issuer served on a throw-away loopback server. */
async function issue(issuer: TokenIssuer, path: string): Promise<string> {
  const server = http.createServer((req, res) => void issuer.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const reply = await get(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
    return parseTokenResponse(reply.body, new Date()).token;
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

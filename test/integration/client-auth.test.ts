/**
 * The client with the auth layer, against the embedded registry with token auth: the scopes
 * each operation names are the ones the token server must grant (a mount needs the source's
 * pull scope too), a push is served by one `pull,push` token, streamed bodies are sent
 * already authorized, and a user without push rights gets DENIED.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Authorizer } from '../../src/auth/authorizer.js';
import { StaticKeychain } from '../../src/auth/keychain.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { ErrorCode, type GantryError } from '../../src/errors.js';
import { Digest } from '../../src/ref/digest.js';
import { createRegistryServer, TokenIssuer, type RegistryServer } from '../../src/server/index.js';
import { Transport } from '../../src/transport/transport.js';
import { prngStream, pushImage } from '../helpers/client-fixtures.js';

const MiB = 1024 * 1024;

describe('client with the auth layer (token auth)', () => {
  let server: RegistryServer;
  const transports: Transport[] = [];
  before(async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const issuer = new TokenIssuer({
      issuer: 'gantry-test-issuer',
      service: 'gantry-test',
      signingKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      users: {
        alice: { password: 'alice-pw', access: [{ repository: 'team/*', actions: ['pull', 'push', 'delete'] }] },
        bob: { password: 'bob-pw', access: [{ repository: 'team/*', actions: ['pull'] }] },
      },
      catalogUsers: ['alice'],
    });
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory', auth: { type: 'token', issuer, service: 'gantry-test' } });
  });
  after(async () => {
    await Promise.all(transports.map((t) => t.close()));
    await server.close();
  });

  function clientFor(user: string, password: string): { client: RegistryClient; authorizer: Authorizer } {
    const authorizer = new Authorizer({ credentials: new StaticKeychain({ username: user, password }) });
    const transport = new Transport({ certsDir: join(tmpdir(), 'gantry-client-test-no-certs.d'), layers: [authorizer.layer()] });
    transports.push(transport);
    return { client: RegistryClient.create({ host: `127.0.0.1:${server.port}`, transport, purpose: 'push' }), authorizer };
  }

  test('push (streamed and chunked), mount, pull, list, delete: every scope granted, one token per operation kind', async () => {
    const { client, authorizer } = clientFor('alice', 'alice-pw');
    const src = client.repository('team/src');
    const size = 3 * MiB + 1;
    const hash = await (async () => {
      const chunks: Buffer[] = [];
      for await (const c of prngStream(size, 5)) chunks.push(c as Buffer);
      return Digest.fromBytes(Buffer.concat(chunks));
    })();
    const desc = { digest: hash, size };
    assert.equal((await src.uploadBlob(desc, (o) => prngStream(size, 5, o))).status, 'uploaded');
    const image = await pushImage(src, 'v1', 6);
    const dst = client.repository('team/dst');
    assert.equal((await dst.uploadBlob(desc, () => prngStream(size, 5), { mountFrom: 'team/src' })).status, 'mounted');
    const chunked = { digest: image.layer.digest, size: image.layer.size };
    assert.equal((await client.repository('team/other').uploadBlob(chunked, () => Readable.from([image.layer.data]), { chunkSize: 256 })).status, 'uploaded');
    let received = 0;
    for await (const c of await dst.getBlob(desc)) received += (c as Buffer).length;
    assert.equal(received, size);
    assert.equal((await src.getManifest('v1')).digest.toString(), image.digest.toString());
    const tags = [];
    for await (const t of src.tags()) tags.push(t);
    assert.deepEqual(tags, ['v1']);
    const repos = [];
    for await (const r of client.catalog()) repos.push(r);
    assert.deepEqual(repos.sort(), ['team/dst', 'team/other', 'team/src']);
    await src.deleteManifest(image.digest);
    assert.equal(await src.headManifest('v1'), undefined);
    const scopes = [...authorizer.exchanges.keys()].join('\n');
    assert.match(scopes, /repository:team\/src:(pull,push|push,pull)/);
    assert.match(scopes, /repository:team\/src:pull/);
    assert.match(scopes, /registry:catalog:\*/);
    assert.match(scopes, /repository:team\/src:delete/);
    // One exchange per scope set: the many requests of the pushes reuse their token.
    assert.ok([...authorizer.exchanges.values()].every((n) => n === 1), JSON.stringify([...authorizer.exchanges]));
  });

  test('a user without push rights: DENIED, nothing uploaded', async () => {
    const { client } = clientFor('bob', 'bob-pw');
    const data = Buffer.from('bob was here');
    const desc = { digest: Digest.fromBytes(data), size: data.length };
    await assert.rejects(client.repository('team/src').uploadBlob(desc, () => Readable.from([data])), (err: GantryError) => {
      assert.ok(err.code === ErrorCode.DENIED || err.code === ErrorCode.UNAUTHORIZED, err.code);
      return true;
    });
    const { client: alice } = clientFor('alice', 'alice-pw');
    assert.equal(await alice.repository('team/src').headBlob(desc.digest), undefined);
  });
});

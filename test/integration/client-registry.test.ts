/**
 * The client against gantry's embedded registry, for the v1.1 features distribution 2.8
 * lacks: tag pagination (`n`, `last`, `Link`), the referrers API with its `artifactType`
 * filter. Also platform selection from an index and the ImageSource/ImageDestination pair.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient } from '../../src/client/registry-client.js';
import { RegistryImageDestination, RegistryImageSource } from '../../src/image/registry.js';
import { Digest } from '../../src/ref/digest.js';
import { Reference } from '../../src/ref/reference.js';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { copyImage } from '../../src/image/copy.js';
import { Transport } from '../../src/transport/transport.js';
import type { Layer } from '../../src/transport/types.js';
import { OCI_INDEX, OCI_MANIFEST, pushImage } from '../helpers/client-fixtures.js';

describe('client against the embedded registry', () => {
  let server: RegistryServer;
  let transport: Transport;
  let client: RegistryClient;
  before(async () => {
    server = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
    transport = new Transport({ certsDir: join(tmpdir(), 'gantry-client-test-no-certs.d') });
    client = RegistryClient.create({ host: `127.0.0.1:${server.port}`, transport, purpose: 'push' });
  });
  after(async () => {
    await transport.close();
    await server.close();
  });

  test('tags: pages of n, following Link, and starting after last', async () => {
    const repo = client.repository('paged');
    const tags = ['a1', 'a2', 'b1', 'b2', 'c1'];
    for (const t of tags) await pushImage(repo, t, 1);
    const pages = [];
    for await (const page of repo.tagPages({ n: 2 })) pages.push(page);
    assert.deepEqual(pages.map((p) => p.items), [['a1', 'a2'], ['b1', 'b2'], ['c1']]);
    assert.ok(pages[0]?.next?.searchParams.get('last') === 'a2');
    const all = [];
    for await (const t of repo.tags({ n: 2 })) all.push(t);
    assert.deepEqual(all, tags);
    const rest = [];
    for await (const t of repo.tags({ n: 2, last: 'b1' })) rest.push(t);
    assert.deepEqual(rest, ['b2', 'c1']);
  });

  test('catalog: paginated too', async () => {
    await pushImage(client.repository('cat/one'), 'x', 2);
    await pushImage(client.repository('cat/two'), 'x', 3);
    const names = [];
    for await (const name of client.catalog({ n: 1 })) names.push(name);
    assert.ok(names.includes('cat/one') && names.includes('cat/two'), names.join(','));
    assert.deepEqual(names, [...names].sort());
  });

  test('referrers API, with and without the artifactType filter', async () => {
    const repo = client.repository('refs');
    const subject = await pushImage(repo, 'v1', 4);
    const subjectDesc = { mediaType: OCI_MANIFEST, digest: subject.digest.toString(), size: subject.bytes.length };
    const sig = await pushImage(repo, undefined, 5, { artifactType: 'application/vnd.example.signature', subject: subjectDesc });
    const sbom = await pushImage(repo, undefined, 6, { artifactType: 'application/vnd.example.sbom', subject: subjectDesc });
    const all = await repo.referrers(subject.digest);
    assert.equal(all.source, 'api');
    assert.deepEqual(all.manifests.map((m) => m.digest.toString()).sort(), [sig.digest.toString(), sbom.digest.toString()].sort());
    const sigs = await repo.referrers(subject.digest, { artifactType: 'application/vnd.example.signature' });
    assert.deepEqual(sigs.manifests.map((m) => [m.digest.toString(), m.artifactType]), [[sig.digest.toString(), 'application/vnd.example.signature']]);
    assert.deepEqual((await repo.referrers(sig.digest)).manifests, []);
  });

  test('platform selection from an index; the index comes back too', async () => {
    const repo = client.repository('multi');
    const amd = await pushImage(repo, undefined, 7);
    const arm = await pushImage(repo, undefined, 8);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: amd.digest.toString(), size: amd.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: OCI_MANIFEST, digest: arm.digest.toString(), size: arm.bytes.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      }),
    );
    await repo.putManifest('latest', index, OCI_INDEX);
    const top = await repo.getManifest('latest');
    assert.equal(top.manifest.kind, 'index');
    assert.equal(top.digest.toString(), Digest.fromBytes(index).toString());
    const chosen = await repo.getManifest('latest', { platform: 'linux/arm64' });
    assert.equal(chosen.digest.toString(), arm.digest.toString());
    assert.equal(chosen.index?.digest.toString(), top.digest.toString());
  });

  test('RegistryImageSource → RegistryImageDestination copies an image, mounting its blobs', async () => {
    const src = client.repository('copy/src');
    const image = await pushImage(src, 'v1', 9);
    const host = `127.0.0.1:${server.port}`;
    const posts: [string | null, number][] = [];
    const record: Layer = (next) => async (req) => {
      const res = await next(req);
      if (req.method === 'POST') posts.push([req.url.searchParams.get('mount'), res.status]);
      return res;
    };
    const recording = new Transport({ certsDir: join(tmpdir(), 'gantry-client-test-no-certs.d'), layers: [record] });
    after(() => recording.close());
    const pushClient = RegistryClient.create({ host, transport: recording, purpose: 'push' });
    const source = new RegistryImageSource(client, Reference.parse(`${host}/copy/src:v1`));
    const dest = new RegistryImageDestination(pushClient, Reference.parse(`${host}/copy/dst:v1`), { mountFrom: ['copy/src'] });
    const m = await source.getManifest();
    assert.equal(m.digest.toString(), image.digest.toString());
    for (const d of [image.config, image.layer]) {
      const desc = { mediaType: 'application/octet-stream', ...d };
      assert.equal(await dest.hasBlob(desc), false);
      await dest.putBlob(desc, await source.getBlob(desc));
      assert.equal(await dest.hasBlob(desc), true);
    }
    assert.deepEqual(posts, [[image.config.digest.toString(), 201], [image.layer.digest.toString(), 201]]);
    assert.equal(await dest.hasManifest(m.digest), false);
    await dest.putManifest(m, { isTop: true });
    await dest.commit();
    assert.equal(await dest.hasManifest(m.digest), true);
    const copied = await client.repository('copy/dst').getManifest('v1');
    assert.ok(copied.bytes.equals(image.bytes));
    await source.close();
  });

  test('copyImage between two repositories of the registry mounts every blob', async () => {
    const host = `127.0.0.1:${server.port}`;
    const image = await pushImage(client.repository('engine/src'), 'v1', 10);
    const source = new RegistryImageSource(client, Reference.parse(`${host}/engine/src:v1`));
    const dest = new RegistryImageDestination(client, Reference.parse(`${host}/engine/dst:v1`));
    const result = await copyImage(source, dest);
    assert.deepEqual(result.blobs, { total: 2, copied: 0, existed: 0, mounted: 2 });
    const copied = await client.repository('engine/dst').getManifest('v1');
    assert.ok(copied.bytes.equals(image.bytes));
    const again = await copyImage(source, dest);
    assert.equal(again.upToDate, true);
  });

  test('copyImage to another registry streams the blobs, verified', async () => {
    const other = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
    after(() => other.close());
    const host = `127.0.0.1:${server.port}`;
    const image = await pushImage(client.repository('far/src'), 'v1', 11);
    const otherClient = RegistryClient.create({ host: `127.0.0.1:${other.port}`, transport, purpose: 'push' });
    const source = new RegistryImageSource(client, Reference.parse(`${host}/far/src:v1`));
    const dest = new RegistryImageDestination(otherClient, Reference.parse(`127.0.0.1:${other.port}/far/dst:v2`));
    const result = await copyImage(source, dest);
    assert.deepEqual(result.blobs, { total: 2, copied: 2, existed: 0, mounted: 0 });
    const copied = await otherClient.repository('far/dst').getManifest('v2');
    assert.ok(copied.bytes.equals(image.bytes));
    const layer = await otherClient.repository('far/dst').getBlob(image.layer);
    const chunks: Buffer[] = [];
    for await (const c of layer) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(image.layer.data));
  });
});

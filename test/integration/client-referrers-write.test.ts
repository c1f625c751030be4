/**
 * Writing referrers (distribution-spec v1.1 "Pushing Manifests with Subject"): against the CNCF
 * registry 2.8, which stores a manifest's subject but has no referrers API, the client keeps the
 * `sha256-<hex>` tag index; against the embedded registry, which answers `OCI-Subject`, it leaves
 * the tag alone. Writers racing on one subject's tag never lose an entry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient, type RepositoryClient } from '../../src/client/registry-client.js';
import { referrersTag } from '../../src/client/referrers.js';
import { Digest } from '../../src/ref/digest.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/index.js';
import { Transport } from '../../src/transport/transport.js';
import { OCI_INDEX, OCI_MANIFEST, pushImage, type PushedImage } from '../helpers/client-fixtures.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';

const EMPTY = Buffer.from('{}');
const EMPTY_DESC = { mediaType: 'application/vnd.oci.empty.v1+json', digest: Digest.fromBytes(EMPTY).toString(), size: 2 };

/** An artifact manifest (empty config, no layers) referring to `subject`. */
function artifact(subject: PushedImage, artifactType: string, n: number): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: EMPTY_DESC,
      layers: [EMPTY_DESC],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest.toString(), size: subject.bytes.length },
      annotations: { n: String(n) },
    }),
  );
}

let distribution: RunningRegistry;
let embedded: TestRegistry;
let transport: Transport;

before(async () => {
  distribution = await startDockerRegistry();
  embedded = await startTestRegistry();
  transport = new Transport({ certsDir: join(tmpdir(), 'gantry-referrers-write-no-certs.d') });
});
after(async () => {
  await transport.close();
  await distribution?.stop();
  await embedded?.close();
});

async function repoOn(host: string, name: string): Promise<RepositoryClient> {
  const repo = RegistryClient.create({ host, transport, purpose: 'push' }).repository(name);
  await repo.uploadBlob({ digest: Digest.fromBytes(EMPTY), size: 2 }, () => Readable.from([EMPTY]));
  return repo;
}

describe('putReferrer', () => {
  test('docker-registry 2.8: the referrers tag index is written, with artifactType and annotations', async () => {
    const repo = await repoOn(distribution.host, 'refs/one');
    const subject = await pushImage(repo, 'v1', 11);
    const sig = artifact(subject, 'application/vnd.example.sig', 1);
    const result = await repo.putReferrer(sig, OCI_MANIFEST);
    assert.equal(result.indexedBy, 'tag');
    const index = await repo.getManifest(referrersTag(subject.digest));
    assert.equal(index.mediaType, OCI_INDEX);
    assert.equal(index.digest.toString(), result.tagDigest?.toString());
    assert.ok(index.manifest.kind === 'index');
    assert.deepEqual(
      index.manifest.manifests.map((m) => [m.digest.toString(), m.artifactType, m.annotations?.n, m.size]),
      [[Digest.fromBytes(sig).toString(), 'application/vnd.example.sig', '1', sig.length]],
    );
    // The listing reads it back through the tag schema.
    const listed = await repo.referrers(subject.digest);
    assert.equal(listed.source, 'tag');
    assert.deepEqual(listed.manifests.map((m) => m.digest.toString()), [Digest.fromBytes(sig).toString()]);
    // Pushing the same referrer again changes nothing.
    const again = await repo.putReferrer(sig, OCI_MANIFEST);
    assert.equal(again.tagDigest, undefined);
    assert.equal((await repo.getManifest(referrersTag(subject.digest))).digest.toString(), index.digest.toString());
  });

  test('docker-registry 2.8: eight writers racing on one subject all end up in the index', async () => {
    const repo = await repoOn(distribution.host, 'refs/race');
    const subject = await pushImage(repo, 'v1', 12);
    const sigs = Array.from({ length: 8 }, (_, i) => artifact(subject, 'application/vnd.example.sig', i));
    // Separate clients, as separate processes would be.
    const writers = sigs.map(async (sig) => {
      const own = new Transport({ certsDir: join(tmpdir(), 'gantry-referrers-write-no-certs.d') });
      try {
        return await RegistryClient.create({ host: distribution.host, transport: own, purpose: 'push' }).repository('refs/race').putReferrer(sig, OCI_MANIFEST);
      } finally {
        await own.close();
      }
    });
    await Promise.all(writers);
    const listed = await repo.referrers(subject.digest);
    assert.deepEqual(listed.manifests.map((m) => m.digest.toString()).sort(), sigs.map((s) => Digest.fromBytes(s).toString()).sort());
  });

  test('the embedded registry indexes the subject itself: no referrers tag is written', async () => {
    const repo = await repoOn(embedded.host, 'refs/api');
    const subject = await pushImage(repo, 'v1', 13);
    const sbom = artifact(subject, 'application/vnd.example.sbom', 2);
    const result = await repo.putReferrer(sbom, OCI_MANIFEST);
    assert.equal(result.indexedBy, 'api');
    assert.equal(result.subject, subject.digest.toString());
    assert.equal(await repo.headManifest(referrersTag(subject.digest)), undefined);
    const listed = await repo.referrers(subject.digest);
    assert.equal(listed.source, 'api');
    assert.deepEqual(listed.manifests.map((m) => m.digest.toString()), [Digest.fromBytes(sbom).toString()]);
  });

  test('a manifest without subject is refused before anything is sent', async () => {
    const repo = await repoOn(embedded.host, 'refs/none');
    const subject = await pushImage(repo, 'v1', 14);
    await assert.rejects(repo.putReferrer(subject.bytes, OCI_MANIFEST), /has no subject/);
  });
});

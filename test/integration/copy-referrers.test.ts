/**
 * `copy --referrers` against real servers: the CNCF registry 2.8 (no referrers API: the
 * `sha256-<hex>` tag schema) and the embedded registry (the API, `OCI-Subject`). On each, an
 * image with a signature and an SBOM, a signature of the SBOM (nested) and a cosign-style
 * `sha256-<hex>.sig` tag; and an index with a signature of its own and, on its amd64 image, an
 * SBOM, a signature of that SBOM and a cosign tag. Copied in the four directions between the
 * two, through an OCI layout and an OCI archive, with `--platform`, and without `--referrers`;
 * checked at the destination with `RepositoryClient.referrers()`. Then the tree
 * (`referrerTree`, `gantry referrers --json`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient, type RepositoryClient } from '../../src/client/registry-client.js';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { Digest } from '../../src/ref/digest.js';
import { referrerTree } from '../../src/image/referrers.js';
import { copy } from '../../src/image/transports.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/index.js';
import { Transport } from '../../src/transport/transport.js';
import { runGantry } from '../helpers/cli.js';
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, pushImage, type PushedImage } from '../helpers/client-fixtures.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';

const EMPTY = Buffer.from('{}');
const EMPTY_DESC = { mediaType: 'application/vnd.oci.empty.v1+json', digest: Digest.fromBytes(EMPTY).toString(), size: 2 };
const SIG = 'application/vnd.example.signature';
const SBOM = 'application/spdx+json';

interface Subject {
  digest: Digest;
  bytes: Buffer;
  mediaType: string;
}

/** Uploads `bytes` as a blob and returns its descriptor's JSON. */
async function blob(repo: RepositoryClient, bytes: Buffer, mediaType: string): Promise<Record<string, unknown>> {
  const digest = Digest.fromBytes(bytes);
  await repo.uploadBlob({ digest, size: bytes.length }, () => Readable.from([bytes]));
  return { mediaType, digest: digest.toString(), size: bytes.length };
}

/** An artifact referring to `subject`, pushed with putReferrer; its one layer is `payload`. */
async function attach(repo: RepositoryClient, subject: Subject, artifactType: string, payload: string): Promise<Digest> {
  const layer = await blob(repo, Buffer.from(payload), 'application/octet-stream');
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: EMPTY_DESC,
      layers: [layer],
      subject: { mediaType: subject.mediaType, digest: subject.digest.toString(), size: subject.bytes.length },
      annotations: { 'org.example.what': payload },
    }),
  );
  await repo.putReferrer(bytes, OCI_MANIFEST);
  return Digest.fromBytes(bytes);
}

/** A cosign-style signature (no subject) under `sha256-<hex>.sig` of `signed`. */
async function cosignSign(repo: RepositoryClient, signed: Subject): Promise<{ tag: string; digest: Digest }> {
  const config = await blob(repo, Buffer.from('{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}'), OCI_CONFIG);
  const payload = await blob(repo, Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': signed.digest.toString() } } })), 'application/vnd.dev.cosign.simplesigning.v1+json');
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [{ ...payload, annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ' } }] }));
  const tag = `sha256-${signed.digest.encoded}.sig`;
  await repo.putManifest(tag, bytes, OCI_MANIFEST);
  return { tag, digest: Digest.fromBytes(bytes) };
}

interface ImageGraph {
  subject: Subject;
  sig: Digest;
  sbom: Digest;
  sigOfSbom: Digest;
  cosign: { tag: string; digest: Digest };
}

interface IndexGraph {
  index: Subject;
  amd: Subject;
  sigIndex: Digest;
  sbomAmd: Digest;
  sigOfSbomAmd: Digest;
  cosignAmd: { tag: string; digest: Digest };
}

const asSubject = (p: PushedImage): Subject => ({ digest: p.digest, bytes: p.bytes, mediaType: OCI_MANIFEST });

async function seedImage(repo: RepositoryClient): Promise<ImageGraph> {
  await blob(repo, EMPTY, EMPTY_DESC.mediaType);
  const subject = asSubject(await pushImage(repo, 'v1', 101));
  const sig = await attach(repo, subject, SIG, 'signature of the image');
  const sbom = await attach(repo, subject, SBOM, '{"spdxVersion":"SPDX-2.3","name":"image"}');
  const sbomSubject = { digest: sbom, mediaType: OCI_MANIFEST, bytes: (await repo.getManifest(sbom)).bytes };
  const sigOfSbom = await attach(repo, sbomSubject, SIG, 'signature of the sbom');
  return { subject, sig, sbom, sigOfSbom, cosign: await cosignSign(repo, subject) };
}

async function seedIndex(repo: RepositoryClient): Promise<IndexGraph> {
  await blob(repo, EMPTY, EMPTY_DESC.mediaType);
  const amd = await pushImage(repo, undefined, 201);
  const arm = await pushImage(repo, undefined, 202);
  const entry = (p: PushedImage, architecture: string) => ({ mediaType: OCI_MANIFEST, digest: p.digest.toString(), size: p.bytes.length, platform: { os: 'linux', architecture } });
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry(amd, 'amd64'), entry(arm, 'arm64')] }));
  await repo.putManifest('v1', bytes, OCI_INDEX);
  const index = { digest: Digest.fromBytes(bytes), bytes, mediaType: OCI_INDEX };
  const sigIndex = await attach(repo, index, SIG, 'signature of the index');
  const sbomAmd = await attach(repo, asSubject(amd), SBOM, '{"spdxVersion":"SPDX-2.3","name":"amd64"}');
  const sigOfSbomAmd = await attach(repo, { digest: sbomAmd, mediaType: OCI_MANIFEST, bytes: (await repo.getManifest(sbomAmd)).bytes }, SIG, 'signature of the amd64 sbom');
  return { index, amd: asSubject(amd), sigIndex, sbomAmd, sigOfSbomAmd, cosignAmd: await cosignSign(repo, asSubject(amd)) };
}

let distribution: RunningRegistry;
let embedded: TestRegistry;
let transport: Transport;
let work: string;
const image: Record<string, ImageGraph> = {};
const index: Record<string, IndexGraph> = {};
const hosts: Record<string, string> = {};
/** How each registry lists referrers. */
const LISTED_BY: Record<string, 'api' | 'tag'> = { distribution: 'tag', embedded: 'api' };

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'gantry-copy-referrers-'));
  distribution = await startDockerRegistry();
  embedded = await startTestRegistry();
  transport = new Transport({ certsDir: join(work, 'no-certs.d') });
  hosts.distribution = distribution.host;
  hosts.embedded = embedded.host;
  for (const name of ['distribution', 'embedded']) {
    image[name] = await seedImage(repoOn(name, 'refs/image'));
    index[name] = await seedIndex(repoOn(name, 'refs/index'));
  }
});
after(async () => {
  await transport?.close();
  await distribution?.stop();
  await embedded?.close();
  rmSync(work, { recursive: true, force: true });
});

function repoOn(registry: string, path: string): RepositoryClient {
  return RegistryClient.create({ host: hosts[registry] as string, transport, purpose: 'push' }).repository(path);
}

async function referrerDigests(repo: RepositoryClient, subject: Digest, source: 'api' | 'tag'): Promise<string[]> {
  const listed = await repo.referrers(subject);
  assert.equal(listed.source, source);
  return listed.manifests.map((m) => m.digest.toString()).sort();
}

const sorted = (...d: Digest[]): string[] => d.map((x) => x.toString()).sort();

/** The destination repository holds the image graph: the same digests, the nested one, the cosign tag. */
async function expectImageGraph(registry: string, path: string, g: ImageGraph): Promise<void> {
  const repo = repoOn(registry, path);
  const by = LISTED_BY[registry] as 'api' | 'tag';
  assert.equal((await repo.getManifest('v1')).digest.toString(), g.subject.digest.toString());
  assert.deepEqual(await referrerDigests(repo, g.subject.digest, by), sorted(g.sig, g.sbom));
  assert.deepEqual(await referrerDigests(repo, g.sbom, by), sorted(g.sigOfSbom));
  assert.equal((await repo.getManifest(g.cosign.tag)).digest.toString(), g.cosign.digest.toString());
}

async function expectIndexGraph(registry: string, path: string, g: IndexGraph): Promise<void> {
  const repo = repoOn(registry, path);
  const by = LISTED_BY[registry] as 'api' | 'tag';
  assert.equal((await repo.getManifest('v1')).digest.toString(), g.index.digest.toString());
  assert.deepEqual(await referrerDigests(repo, g.index.digest, by), sorted(g.sigIndex));
  assert.deepEqual(await referrerDigests(repo, g.amd.digest, by), sorted(g.sbomAmd));
  assert.deepEqual(await referrerDigests(repo, g.sbomAmd, by), sorted(g.sigOfSbomAmd));
  assert.equal((await repo.getManifest(g.cosignAmd.tag)).digest.toString(), g.cosignAmd.digest.toString());
}

describe('copy --referrers', () => {
  const directions = [
    ['distribution', 'distribution'],
    ['distribution', 'embedded'],
    ['embedded', 'distribution'],
    ['embedded', 'embedded'],
  ] as const;
  for (const [from, to] of directions) {
    test(`${from} → ${to}: an image and an index, with every referrer, nested ones and cosign tags`, async () => {
      const dest = `copied/${from}`;
      const r1 = await copy(`${hosts[from]}/refs/image:v1`, `${hosts[to]}/${dest}/image:v1`, { referrers: true });
      assert.equal(r1.referrers, 4);
      await expectImageGraph(to, `${dest}/image`, image[from] as ImageGraph);
      const r2 = await copy(`${hosts[from]}/refs/index:v1`, `${hosts[to]}/${dest}/index:v1`, { referrers: true });
      assert.equal(r2.referrers, 4);
      assert.equal(r2.manifests, 3);
      await expectIndexGraph(to, `${dest}/index`, index[from] as IndexGraph);
      // Again: the image is up to date, the referrers are there already; the copy says so and writes none of them again.
      const again = await copy(`${hosts[from]}/refs/index:v1`, `${hosts[to]}/${dest}/index:v1`, { referrers: true });
      assert.equal(again.upToDate, true);
      assert.equal(again.referrers, 0);
      assert.equal(again.blobs.copied, 0);
      await expectIndexGraph(to, `${dest}/index`, index[from] as IndexGraph);
    });
  }

  test('without --referrers, none is copied (nor the cosign tag)', async () => {
    for (const [from, to] of directions) {
      const dest = `plain/${from}-${to}`;
      const r = await copy(`${hosts[from]}/refs/image:v1`, `${hosts[to]}/${dest}:v1`);
      assert.equal(r.referrers, undefined);
      const repo = repoOn(to, dest);
      const g = image[from] as ImageGraph;
      assert.deepEqual(await referrerDigests(repo, g.subject.digest, LISTED_BY[to] as 'api' | 'tag'), []);
      assert.equal(await repo.headManifest(g.cosign.tag), undefined);
    }
  });

  test('registry → OCI layout → registry, and registry → OCI archive → registry', async () => {
    const dir = join(work, 'layout');
    const pulled = await copy(`${hosts.embedded}/refs/index:v1`, `oci:${dir}:v1`, { referrers: true });
    assert.equal(pulled.referrers, 4);
    assert.equal((await copy(`${hosts.embedded}/refs/image:v1`, `oci:${dir}:image`, { referrers: true })).referrers, 4);
    const pushed = await copy(`oci:${dir}:v1`, `${hosts.distribution}/from-layout/index:v1`, { referrers: true });
    assert.equal(pushed.referrers, 4);
    await expectIndexGraph('distribution', 'from-layout/index', index.embedded as IndexGraph);
    assert.equal((await copy(`oci:${dir}:image`, `${hosts.distribution}/from-layout/image:v1`, { referrers: true })).referrers, 4);
    await expectImageGraph('distribution', 'from-layout/image', image.embedded as ImageGraph);

    const file = join(work, 'index.tar');
    assert.equal((await copy(`${hosts.distribution}/refs/index:v1`, `oci-archive:${file}:v1`, { referrers: true })).referrers, 4);
    assert.equal((await copy(`oci-archive:${file}:v1`, `${hosts.embedded}/from-archive/index:v1`, { referrers: true })).referrers, 4);
    await expectIndexGraph('embedded', 'from-archive/index', index.distribution as IndexGraph);
  });

  test('--platform: the chosen image with its referrers and the index\'s; the index itself is not copied', async () => {
    for (const [from, to] of [['distribution', 'embedded'], ['embedded', 'distribution']] as const) {
      const g = index[from] as IndexGraph;
      const dest = `platform/${from}`;
      const r = await copy(`${hosts[from]}/refs/index:v1`, `${hosts[to]}/${dest}:amd`, { platform: 'linux/amd64', referrers: true });
      assert.equal(r.digest, g.amd.digest.toString());
      assert.equal(r.referrers, 4);
      const repo = repoOn(to, dest);
      const by = LISTED_BY[to] as 'api' | 'tag';
      assert.equal((await repo.getManifest('amd')).digest.toString(), g.amd.digest.toString());
      assert.deepEqual(await referrerDigests(repo, g.amd.digest, by), sorted(g.sbomAmd));
      assert.deepEqual(await referrerDigests(repo, g.sbomAmd, by), sorted(g.sigOfSbomAmd));
      assert.equal((await repo.getManifest(g.cosignAmd.tag)).digest.toString(), g.cosignAmd.digest.toString());
      assert.deepEqual(await referrerDigests(repo, g.index.digest, by), sorted(g.sigIndex));
      assert.equal(await repo.headManifest(g.index.digest), undefined);
    }
  });

  test('a docker-archive destination is refused before any blob moves, naming --referrers', async () => {
    const file = join(work, 'docker.tar');
    await assert.rejects(copy(`${hosts.embedded}/refs/image:v1`, `docker-archive:${file}`, { referrers: true }), (e: unknown) => isGantryError(e, ErrorCode.USAGE) && /--referrers/.test((e as Error).message));
    assert.ok(!existsSync(file));
  });
});

describe('referrerTree', () => {
  for (const name of ['distribution', 'embedded']) {
    test(`${name}: the index, each platform's referrers, nested, with the cosign tag`, async () => {
      const g = index[name] as IndexGraph;
      const tree = await referrerTree(`${hosts[name]}/refs/index:v1`);
      assert.equal(tree.digest, g.index.digest.toString());
      assert.equal(tree.count, 4);
      assert.deepEqual(tree.referrers.map((r) => [r.digest, r.artifactType]), [[g.sigIndex.toString(), SIG]]);
      const amd = tree.manifests?.find((m) => m.platform === 'linux/amd64');
      assert.ok(amd);
      const sbom = amd.referrers.find((r) => r.digest === g.sbomAmd.toString());
      assert.equal(sbom?.artifactType, SBOM);
      assert.deepEqual(sbom?.referrers.map((r) => [r.digest, r.artifactType]), [[g.sigOfSbomAmd.toString(), SIG]]);
      assert.deepEqual(amd.referrers.filter((r) => r.tag).map((r) => [r.tag, r.digest]), [[g.cosignAmd.tag, g.cosignAmd.digest.toString()]]);
      assert.deepEqual(tree.manifests?.find((m) => m.platform === 'linux/arm64')?.referrers, []);
      const sboms = await referrerTree(`${hosts[name]}/refs/image:v1`, { artifactType: SBOM });
      assert.deepEqual(sboms.referrers.map((r) => r.digest), [(image[name] as ImageGraph).sbom.toString()]);
      assert.deepEqual(sboms.referrers[0]?.referrers, [], 'the filter applies at every level');
    });
  }
});

// Runs the built CLI: it passes once `referrersCommand` is registered in src/cli/main.ts and
// `--referrers` is added to `gantry copy` (src/cli/commands/images.ts).
describe('the CLI', () => {
  test('gantry referrers --json prints the tree as one JSON document', async () => {
    const g = image.embedded as ImageGraph;
    const r = await runGantry(['referrers', '--json', `${hosts.embedded}/refs/image:v1`]);
    assert.equal(r.code, 0, r.stderr);
    const tree = JSON.parse(r.stdout) as { digest: string; count: number; referrers: { digest: string; referrers: { digest: string }[] }[] };
    assert.equal(tree.digest, g.subject.digest.toString());
    assert.equal(tree.count, 4);
    assert.deepEqual(tree.referrers.find((x) => x.digest === g.sbom.toString())?.referrers.map((x) => x.digest), [g.sigOfSbom.toString()]);
    const text = await runGantry(['referrers', `${hosts.embedded}/refs/image:v1`]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^Name: docker://.*/refs/image:v1\\nDigest: ${g.subject.digest.toString()}\\nReferrers:\\n`));
  });

  test('gantry copy --referrers --json reports the referrers copied', async () => {
    const r = await runGantry(['copy', '--referrers', '--json', `${hosts.embedded}/refs/image:v1`, `${hosts.distribution}/cli/image:v1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { referrers: number }).referrers, 4);
    await expectImageGraph('distribution', 'cli/image', image.embedded as ImageGraph);
  });
});

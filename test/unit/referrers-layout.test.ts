/**
 * Referrers without a registry: a source in memory that has them, copied with
 * `referrers: true` into OCI layouts and OCI archives (untagged `index.json` entries found by
 * their `subject`; cosign's tags as ref names), read back from both, walked into a tree (the
 * library call and the `gantry referrers` command on a layout), and the bounds, the option
 * checks and the destinations that cannot hold referrers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { ANNOTATION_REF_NAME, type Descriptor } from '../../src/oci/descriptor.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Digest } from '../../src/ref/digest.js';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination } from '../../src/image/docker-archive.js';
import { isAttachmentTag, referrerEntry, updatedIndexJson } from '../../src/image/layout-index.js';
import { OciArchiveSource } from '../../src/image/oci-archive.js';
import { OciLayoutDestination, OciLayoutSource } from '../../src/image/oci-layout.js';
import { MAX_REFERRER_DEPTH, MAX_REFERRERS, referrerTree, walkReferrers } from '../../src/image/referrers.js';
import { copy } from '../../src/image/transports.js';
import type { RawManifest, ReferrerSource } from '../../src/image/types.js';
import { referrersCommand } from '../../src/cli/commands/referrers.js';
import { makeIndex, MemorySource } from '../helpers/image-fixture.js';

const EMPTY = Buffer.from('{}');
const EMPTY_DESC = { mediaType: MediaType.OCI_EMPTY, digest: Digest.fromBytes(EMPTY).toString(), size: 2 };

function raw(bytes: Buffer): RawManifest {
  return { bytes, mediaType: parseManifest(bytes).mediaType, digest: Digest.fromBytes(bytes) };
}

/** An ImageSource in memory that also answers referrers questions, from every manifest it holds. */
class MemoryReferrerSource extends MemorySource implements ReferrerSource {
  constructor(
    top: RawManifest,
    private readonly all: Map<string, Buffer>,
    private readonly tags: Map<string, RawManifest> = new Map(),
  ) {
    super(top, all);
  }

  async referrers(digest: Digest, query: { artifactType?: string } = {}): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    for (const bytes of this.all.values()) {
      let m;
      try {
        m = parseManifest(bytes);
      } catch {
        continue; // a blob, not a manifest
      }
      if (m.kind === 'schema1' || !m.subject?.digest.equals(digest)) continue;
      const d = referrerEntry(m);
      if (query.artifactType === undefined || d.artifactType === query.artifactType) out.push(d);
    }
    return out;
  }

  async taggedManifest(tag: string): Promise<RawManifest | undefined> {
    return this.tags.get(tag);
  }
}

/** An artifact (empty config, one layer of `payload`) referring to `subject`; its blobs and itself go into `blobs`. */
function artifact(subject: RawManifest, artifactType: string, payload: string, blobs: Map<string, Buffer>): RawManifest {
  const layer = Buffer.from(payload);
  blobs.set(Digest.fromBytes(EMPTY).toString(), EMPTY);
  blobs.set(Digest.fromBytes(layer).toString(), layer);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      artifactType,
      config: EMPTY_DESC,
      layers: [{ mediaType: 'application/octet-stream', digest: Digest.fromBytes(layer).toString(), size: layer.length }],
      subject: { mediaType: subject.mediaType, digest: subject.digest.toString(), size: subject.bytes.length },
    }),
  );
  blobs.set(Digest.fromBytes(bytes).toString(), bytes);
  return raw(bytes);
}

/** A cosign-style signature manifest (no subject), tagged `sha256-<hex>.sig` of `signed`. */
function cosignSignature(signed: RawManifest, blobs: Map<string, Buffer>): { tag: string; manifest: RawManifest } {
  const config = Buffer.from('{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}');
  const payload = Buffer.from(JSON.stringify({ critical: { image: { 'docker-manifest-digest': signed.digest.toString() } } }));
  blobs.set(Digest.fromBytes(config).toString(), config);
  blobs.set(Digest.fromBytes(payload).toString(), payload);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OCI_MANIFEST,
      config: { mediaType: MediaType.OCI_CONFIG, digest: Digest.fromBytes(config).toString(), size: config.length },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: Digest.fromBytes(payload).toString(), size: payload.length, annotations: { 'dev.cosignproject.cosign/signature': 'MEUC' } }],
    }),
  );
  blobs.set(Digest.fromBytes(bytes).toString(), bytes);
  return { tag: `sha256-${signed.digest.encoded}.sig`, manifest: raw(bytes) };
}

const SIG = 'application/vnd.example.signature';
const SBOM = 'application/spdx+json';

interface Graph {
  source: MemoryReferrerSource;
  index: RawManifest;
  amd: RawManifest;
  sigIndex: RawManifest;
  sbomAmd: RawManifest;
  sigOfSbom: RawManifest;
  cosign: { tag: string; manifest: RawManifest };
}

/** A two-platform index; a signature of the index; an SBOM of its amd64 image and a signature of that SBOM; a cosign tag on the amd64 image. */
async function graph(): Promise<Graph> {
  const fixture = await makeIndex();
  const blobs = new Map(fixture.blobs);
  const amd = fixture.children[0]!.manifest;
  const sigIndex = artifact(fixture.index, SIG, 'signature of the index', blobs);
  const sbomAmd = artifact(amd, SBOM, '{"spdxVersion":"SPDX-2.3"}', blobs);
  const sigOfSbom = artifact(sbomAmd, SIG, 'signature of the sbom', blobs);
  const cosign = cosignSignature(amd, blobs);
  const source = new MemoryReferrerSource(fixture.index, blobs, new Map([[cosign.tag, cosign.manifest]]));
  return { source, index: fixture.index, amd, sigIndex, sbomAmd, sigOfSbom, cosign };
}

const root = mkdtempSync(join(tmpdir(), 'gantry-referrers-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => join(root, `${name}-${++n}`);

const digests = (list: readonly Descriptor[]): string[] => list.map((d) => d.digest.toString()).sort();

describe('referrers in OCI layouts', () => {
  let g: Graph;
  let layout: string;
  before(async () => {
    g = await graph();
    layout = fresh('layout');
    const r = await copyImage(g.source, new OciLayoutDestination(layout, { tag: 'v1' }), { referrers: true });
    assert.equal(r.digest, g.index.digest.toString());
    assert.equal(r.referrers, 4);
  });

  test('index.json names the image by its tag, the referrers untagged with their artifactType, the cosign signature by its tag', () => {
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[] };
    const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
    assert.equal(byDigest.get(g.index.digest.toString())?.annotations?.[ANNOTATION_REF_NAME], 'v1');
    for (const [m, type] of [[g.sigIndex, SIG], [g.sbomAmd, SBOM], [g.sigOfSbom, SIG]] as const) {
      const entry = byDigest.get(m.digest.toString());
      assert.ok(entry, `${m.digest.toString()} is in index.json`);
      assert.equal(entry.artifactType, type);
      assert.equal(entry.annotations, undefined, 'a referrer has no ref name');
    }
    assert.equal(byDigest.get(g.cosign.manifest.digest.toString())?.annotations?.[ANNOTATION_REF_NAME], g.cosign.tag);
    assert.equal(index.manifests.length, 5);
  });

  test('the layout is read back: referrers by subject, the cosign tag, and the image without a tag', async () => {
    const src = new OciLayoutSource(layout);
    assert.equal((await src.getManifest()).digest.toString(), g.index.digest.toString(), 'the one entry that is not a referrer or an attachment');
    assert.deepEqual(digests(await src.referrers(g.index.digest)), [g.sigIndex.digest.toString()]);
    assert.deepEqual(digests(await src.referrers(g.amd.digest)), [g.sbomAmd.digest.toString()]);
    assert.deepEqual(digests(await src.referrers(g.sbomAmd.digest)), [g.sigOfSbom.digest.toString()]);
    assert.deepEqual(digests(await src.referrers(g.amd.digest, { artifactType: SIG })), []);
    assert.equal((await src.taggedManifest(g.cosign.tag))?.digest.toString(), g.cosign.manifest.digest.toString());
    assert.equal(await src.taggedManifest('sha256-0000.sig'), undefined);
  });

  test('layout to layout keeps the whole graph; without referrers none is copied', async () => {
    const again = fresh('again');
    const r = await copy(`oci:${layout}:v1`, `oci:${again}:v2`, { referrers: true });
    assert.equal(r.referrers, 4);
    const src = new OciLayoutSource(again, { tag: 'v2' });
    assert.deepEqual(digests(await src.referrers(g.sbomAmd.digest)), [g.sigOfSbom.digest.toString()]);
    const bare = fresh('bare');
    const plain = await copy(`oci:${layout}:v1`, `oci:${bare}:v1`);
    assert.equal(plain.referrers, undefined);
    const index = JSON.parse(readFileSync(join(bare, 'index.json'), 'utf8')) as { manifests: unknown[] };
    assert.equal(index.manifests.length, 1);
    assert.deepEqual(await new OciLayoutSource(bare).referrers(g.amd.digest), []);
  });

  test('a copy up to date still copies referrers added since', async () => {
    const dir = fresh('later');
    await copy(`oci:${layout}:v1`, `oci:${dir}:v1`);
    const r = await copy(`oci:${layout}:v1`, `oci:${dir}:v1`, { referrers: true });
    assert.equal(r.upToDate, true);
    assert.equal(r.manifests, 0);
    assert.equal(r.referrers, 4);
    assert.deepEqual(digests(await new OciLayoutSource(dir, { tag: 'v1' }).referrers(g.index.digest)), [g.sigIndex.digest.toString()]);
  });

  test('oci-archive: written and read back the same way', async () => {
    const dir = fresh('archive');
    mkdirSync(dir);
    const file = join(dir, 'image.tar');
    const r = await copy(`oci:${layout}:v1`, `oci-archive:${file}:v1`, { referrers: true });
    assert.equal(r.referrers, 4);
    const src = new OciArchiveSource(file);
    assert.equal((await src.getManifest()).digest.toString(), g.index.digest.toString());
    assert.deepEqual(digests(await src.referrers(g.sbomAmd.digest)), [g.sigOfSbom.digest.toString()]);
    assert.equal((await src.taggedManifest(g.cosign.tag))?.digest.toString(), g.cosign.manifest.digest.toString());
    const back = fresh('from-archive');
    assert.equal((await copy(`oci-archive:${file}:v1`, `oci:${back}:v1`, { referrers: true })).referrers, 4);
  });

  test('--platform: the chosen image and its referrers, and the index\'s; the index itself is not copied', async () => {
    const dir = fresh('platform');
    const r = await copy(`oci:${layout}:v1`, `oci:${dir}:amd`, { platform: 'linux/amd64', referrers: true });
    assert.equal(r.digest, g.amd.digest.toString());
    assert.equal(r.referrers, 4);
    const src = new OciLayoutSource(dir, { tag: 'amd' });
    assert.deepEqual(digests(await src.referrers(g.amd.digest)), [g.sbomAmd.digest.toString()]);
    assert.deepEqual(digests(await src.referrers(g.sbomAmd.digest)), [g.sigOfSbom.digest.toString()]);
    assert.deepEqual(digests(await src.referrers(g.index.digest)), [g.sigIndex.digest.toString()]);
    assert.ok(await src.taggedManifest(g.cosign.tag));
  });

  test('referrerTree: the index, its platform manifests, and the nested referrers', async () => {
    const tree = await referrerTree(`oci:${layout}:v1`);
    assert.equal(tree.digest, g.index.digest.toString());
    assert.equal(tree.count, 4);
    assert.deepEqual(tree.referrers.map((r) => [r.digest, r.artifactType]), [[g.sigIndex.digest.toString(), SIG]]);
    const amd = tree.manifests?.find((m) => m.platform === 'linux/amd64');
    assert.ok(amd);
    const sbom = amd.referrers.find((r) => r.digest === g.sbomAmd.digest.toString());
    assert.equal(sbom?.artifactType, SBOM);
    assert.deepEqual(sbom?.referrers.map((r) => r.digest), [g.sigOfSbom.digest.toString()]);
    assert.deepEqual(amd.referrers.filter((r) => r.tag !== undefined).map((r) => [r.tag, r.digest]), [[g.cosign.tag, g.cosign.manifest.digest.toString()]]);
    const filtered = await referrerTree(`oci:${layout}:v1`, { artifactType: SBOM });
    assert.equal(filtered.count, 1, 'the filter applies at every level');
    await assert.rejects(referrerTree(`oci:${layout}:v1`, { artifactType: 7 as never }), (e: unknown) => isGantryError(e, ErrorCode.INVALID_OPTION));
  });

  test('gantry referrers --json and the text tree (the command on its own program)', async () => {
    const run = async (args: string[]): Promise<string> => {
      const program = new Command('gantry').exitOverride();
      referrersCommand(program);
      const chunks: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      // The command writes strings; the test runner's own reports (bytes) pass through.
      process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        if (typeof chunk !== 'string') return write(chunk, ...rest);
        chunks.push(chunk);
        return true;
      }) as typeof process.stdout.write;
      try {
        await program.parseAsync(['node', 'gantry', 'referrers', ...args]);
      } finally {
        process.stdout.write = write;
      }
      return chunks.join('');
    };
    const json = JSON.parse(await run(['--json', `oci:${layout}:v1`])) as { digest: string; count: number; manifests: { referrers: { digest: string; referrers: { digest: string }[] }[] }[] };
    assert.equal(json.digest, g.index.digest.toString());
    assert.equal(json.count, 4);
    const nested = json.manifests.flatMap((m) => m.referrers).find((r) => r.digest === g.sbomAmd.digest.toString());
    assert.deepEqual(nested?.referrers.map((r) => r.digest), [g.sigOfSbom.digest.toString()]);
    const text = await run([`oci:${layout}:v1`]);
    assert.match(text, new RegExp(`^Name: oci:.*:v1\\nDigest: ${g.index.digest.toString()}\\nChildren:\\n`));
    assert.match(text, new RegExp(`\\n {6}- ${g.sbomAmd.digest.toString()}: ${SBOM.replace('+', '\\+')}\\n {8}Referrers:\\n {10}- ${g.sigOfSbom.digest.toString()}: ${SIG}\\n`));
    assert.match(text, new RegExp(`- ${g.cosign.manifest.digest.toString()}: ${MediaType.OCI_CONFIG.replace(/[.+]/g, '\\$&')} \\(tag ${g.cosign.tag}\\)`));
    assert.match(text, new RegExp(`\\nReferrers:\\n {2}- ${g.sigIndex.digest.toString()}: ${SIG}\\n$`));
  });
});

describe('referrers: refusals and bounds', () => {
  test('a docker-archive destination is refused before any manifest is read or anything written, naming --referrers', async () => {
    const g = await graph();
    const file = join(fresh('docker'), 'x.tar');
    let asked = 0;
    const counting = Object.assign(Object.create(g.source) as MemoryReferrerSource, {
      getManifest: async () => {
        asked++;
        throw new Error('read');
      },
    });
    await assert.rejects(copyImage(counting, new DockerArchiveDestination(file), { referrers: true }), (e: unknown) => isGantryError(e, ErrorCode.USAGE) && /--referrers/.test((e as Error).message));
    assert.equal(asked, 0);
    assert.ok(!existsSync(file));
  });

  test('referrers must be a boolean', async () => {
    const g = await graph();
    await assert.rejects(copyImage(g.source, new OciLayoutDestination(fresh('x')), { referrers: 'yes' as never }), (e: unknown) => isGantryError(e, ErrorCode.INVALID_OPTION) && /invalid option referrers/.test((e as Error).message));
  });

  test(`a chain deeper than ${MAX_REFERRER_DEPTH} levels is TOO_LARGE`, async () => {
    const g = await graph();
    const blobs = new Map<string, Buffer>();
    let subject = g.amd;
    for (let i = 0; i <= MAX_REFERRER_DEPTH; i++) subject = artifact(subject, SIG, `level ${i}`, blobs);
    const source = new MemoryReferrerSource(g.amd, blobs);
    await assert.rejects(walkReferrers(source, [g.amd.digest], { read: false }), (e: unknown) => isGantryError(e, ErrorCode.TOO_LARGE) && /levels/.test((e as Error).message));
    // One level less is walked whole.
    const shallow = new Map<string, Buffer>();
    subject = g.amd;
    for (let i = 0; i < MAX_REFERRER_DEPTH; i++) subject = artifact(subject, SIG, `level ${i}`, shallow);
    assert.equal((await walkReferrers(new MemoryReferrerSource(g.amd, shallow), [g.amd.digest], { read: false })).length, MAX_REFERRER_DEPTH);
  });

  test(`more than ${MAX_REFERRERS} referrers is TOO_LARGE`, async () => {
    const g = await graph();
    const blobs = new Map<string, Buffer>();
    for (let i = 0; i <= MAX_REFERRERS; i++) artifact(g.amd, SIG, `sig ${i}`, blobs);
    await assert.rejects(walkReferrers(new MemoryReferrerSource(g.amd, blobs), [g.amd.digest], { read: false }), (e: unknown) => isGantryError(e, ErrorCode.TOO_LARGE) && new RegExp(`more than ${MAX_REFERRERS}`).test((e as Error).message));
  });

  test('referrers of a manifest converted to OCI (a Docker image into a layout) are refused unless digests are preserved', async () => {
    const fixture = await makeIndex({ docker: true });
    const blobs = new Map(fixture.blobs);
    artifact(fixture.children[0]!.manifest, SIG, 'sig of a docker image', blobs);
    const source = new MemoryReferrerSource(fixture.index, blobs);
    const dir = fresh('converted');
    await assert.rejects(copyImage(source, new OciLayoutDestination(dir, { tag: 'v1' }), { referrers: true }), (e: unknown) => isGantryError(e, ErrorCode.USAGE) && /--preserve-digests/.test((e as Error).message));
    assert.ok(!existsSync(join(dir, 'index.json')));
    const kept = await copyImage(source, new OciLayoutDestination(fresh('kept'), { tag: 'v1' }), { referrers: true, preserveDigests: true });
    assert.equal(kept.referrers, 1);
    assert.equal(kept.digest, fixture.index.digest.toString());
    // The arm64 image has no referrers: nothing to refuse, and it is converted.
    const arm = await copyImage(source, new OciLayoutDestination(fresh('arm'), { tag: 'v1' }), { referrers: true, platform: 'linux/arm64' });
    assert.equal(arm.referrers, 0);
    assert.ok(arm.convertedFrom);
  });
});

describe('layout-index helpers', () => {
  test('attachment tags', () => {
    const hex = 'a'.repeat(64);
    for (const t of [`sha256-${hex}`, `sha256-${hex}.sig`, `sha256-${hex}.att`, `sha256-${hex}.sbom`]) assert.ok(isAttachmentTag(t), t);
    for (const t of ['v1', `sha256-${hex}.foo`, 'sha256-abc.sig', undefined]) assert.ok(!isAttachmentTag(t), String(t));
  });

  test('updatedIndexJson adds further entries by the same rule', () => {
    const d = (s: string): Descriptor => ({ mediaType: MediaType.OCI_MANIFEST, digest: Digest.fromBytes(Buffer.from(s)), size: s.length });
    const first = updatedIndexJson(undefined, d('top'), 'v1', [{ desc: { ...d('ref'), artifactType: SIG } }, { desc: d('sig'), tag: 'sha256-x.sig' }]);
    const again = updatedIndexJson(Buffer.from(first), d('top'), 'v1', [{ desc: { ...d('ref'), artifactType: SIG } }, { desc: d('sig2'), tag: 'sha256-x.sig' }]);
    const entries = (JSON.parse(again) as { manifests: { digest: string; artifactType?: string; annotations?: Record<string, string> }[] }).manifests;
    assert.deepEqual(
      entries.map((e) => [e.digest, e.annotations?.[ANNOTATION_REF_NAME] ?? null, e.artifactType ?? null]),
      [
        [d('top').digest.toString(), 'v1', null],
        [d('ref').digest.toString(), null, SIG],
        [d('sig2').digest.toString(), 'sha256-x.sig', null],
      ],
    );
  });
});

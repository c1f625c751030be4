/**
 * Artifacts end to end through real registries: the CNCF registry 2.8 (stores a subject but
 * has no referrers API, so an attach must write the `sha256-<hex>` referrers tag) and the
 * embedded registry (indexes referrers itself). The bytes are checked from the spec's side:
 * the manifest as stored, its media types, the empty config descriptor exactly, the
 * artifactType and titles; the pulled files are the pushed ones, a 5 MiB one streamed. Then
 * the pull's path rules: hostile titles and symlinks refused with nothing written anywhere,
 * existing files kept without `overwrite`, untitled layers skipped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryClient, type RepositoryClient } from '../../src/client/registry-client.js';
import { referrersTag } from '../../src/client/referrers.js';
import type { RegistryAccessOptions } from '../../src/client/connect.js';
import { isGantryError } from '../../src/errors.js';
import { pushArtifact, type PushedArtifactLayer } from '../../src/image/artifact.js';
import { pullArtifact } from '../../src/image/artifact-pull.js';
import { Digest } from '../../src/ref/digest.js';
import { startTestRegistry, type TestRegistry } from '../../src/testing/index.js';
import { Transport } from '../../src/transport/transport.js';
import { prngStream } from '../helpers/client-fixtures.js';
import { startDockerRegistry, type RunningRegistry } from '../helpers/docker-registry.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EMPTY_CONFIG_JSON = '{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}';
const TITLE = 'org.opencontainers.image.title';
const CREATED = 'org.opencontainers.image.created';
/** Above the 1 MiB single-PUT limit and the 4 MiB worker-hash threshold, and not a multiple of a chunk. */
const BIG = 5 * 1024 * 1024 + 7;

let work: string;
let files: { big: string; hello: string; empty: string; sbom: string };
let distribution: RunningRegistry;
let embedded: TestRegistry;
let transport: Transport;
let access: RegistryAccessOptions;

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'gantry-artifact-'));
  const src = join(work, 'src');
  mkdirSync(src);
  files = { big: join(src, 'big.bin'), hello: join(src, 'hello.txt'), empty: join(src, 'empty'), sbom: join(src, 'sbom.json') };
  await pipeline(prngStream(BIG, 7), createWriteStream(files.big));
  writeFileSync(files.hello, 'hello, artifact\n');
  writeFileSync(files.empty, '');
  writeFileSync(files.sbom, '{"spdxVersion":"SPDX-2.3"}\n');
  access = { certsDir: join(work, 'certs.d'), configDir: join(work, 'docker-config') };
  transport = new Transport({ certsDir: join(work, 'certs.d') });
  [distribution, embedded] = await Promise.all([startDockerRegistry(), startTestRegistry()]);
});
after(async () => {
  await transport?.close();
  await distribution?.stop();
  await embedded?.close();
  rmSync(work, { recursive: true, force: true });
});

function repoOn(host: string, name: string): RepositoryClient {
  return RegistryClient.create({ host, transport, purpose: 'push' }).repository(name);
}

interface ManifestJson {
  schemaVersion: number;
  mediaType: string;
  artifactType?: string;
  config: Record<string, unknown>;
  layers: { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }[];
  subject?: { mediaType: string; digest: string; size: number };
  annotations?: Record<string, string>;
}

/** The manifest exactly as the registry stores it, and parsed. */
async function rawManifest(repo: RepositoryClient, target: string): Promise<{ raw: string; json: ManifestJson; digest: string; mediaType: string }> {
  const got = await repo.getManifest(target, { accept: [OCI_MANIFEST] });
  const raw = got.bytes.toString('utf8');
  return { raw, json: JSON.parse(raw) as ManifestJson, digest: got.digest.toString(), mediaType: got.mediaType };
}

const registries = [
  { name: 'docker-registry 2.8', host: () => distribution.host, indexedBy: 'tag' as const },
  { name: 'embedded registry', host: () => embedded.host, indexedBy: 'api' as const },
];

for (const r of registries) {
  describe(`artifacts on the ${r.name}`, () => {
    test('push: an OCI manifest with artifactType, the empty config and one titled layer per file; pull gives the same files', async () => {
      const before = Date.now();
      const seen: PushedArtifactLayer[] = [];
      const pushed = await pushArtifact(`${r.host()}/art/files:v1`, [files.big, { path: files.hello, mediaType: 'text/plain' }, files.empty], {
        artifactType: 'application/vnd.example.bundle.v1',
        annotations: { 'com.example.note': 'first' },
        access,
        onFile: (l) => seen.push(l),
      });
      assert.equal(pushed.reference, `${r.host()}/art/files:v1`);
      assert.equal(pushed.tag, 'v1');
      assert.equal(pushed.mediaType, OCI_MANIFEST);
      assert.deepEqual(seen.map((l) => [l.title, l.status]), [['big.bin', 'uploaded'], ['hello.txt', 'uploaded'], ['empty', 'uploaded']]);

      const repo = repoOn(r.host(), 'art/files');
      const m = await rawManifest(repo, 'v1');
      assert.equal(m.digest, pushed.digest);
      assert.equal(m.mediaType, OCI_MANIFEST);
      assert.equal(m.json.schemaVersion, 2);
      assert.equal(m.json.mediaType, OCI_MANIFEST);
      assert.equal(m.json.artifactType, 'application/vnd.example.bundle.v1');
      assert.ok(m.raw.includes(`"config":${EMPTY_CONFIG_JSON}`), m.raw);
      assert.deepEqual(m.json.layers, [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await sha256File(files.big), size: BIG, annotations: { [TITLE]: 'big.bin' } },
        { mediaType: 'text/plain', digest: await sha256File(files.hello), size: 16, annotations: { [TITLE]: 'hello.txt' } },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: Digest.fromBytes('').toString(), size: 0, annotations: { [TITLE]: 'empty' } },
      ]);
      assert.equal(m.json.subject, undefined);
      assert.equal(m.json.annotations?.['com.example.note'], 'first');
      const created = m.json.annotations?.[CREATED] ?? '';
      assert.match(created, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.ok(Date.parse(created) >= Math.floor(before / 1000) * 1000 && Date.parse(created) <= Date.now());
      // The config blob is the two bytes `{}`.
      const config = await repo.getBlob({ digest: Digest.parse('sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a'), size: 2 });
      assert.equal(Buffer.concat(await config.toArray()).toString(), '{}');

      const out = join(work, `pull-${r.indexedBy}`, 'not', 'yet');
      const pulled = await pullArtifact(`${r.host()}/art/files:v1`, out, { access });
      assert.equal(pulled.digest, pushed.digest);
      assert.equal(pulled.artifactType, 'application/vnd.example.bundle.v1');
      assert.deepEqual(pulled.skipped, []);
      assert.deepEqual(pulled.files.map((f) => [f.title, f.path, f.size]), [['big.bin', join(out, 'big.bin'), BIG], ['hello.txt', join(out, 'hello.txt'), 16], ['empty', join(out, 'empty'), 0]]);
      assert.deepEqual(readdirSync(out).sort(), ['big.bin', 'empty', 'hello.txt']);
      assert.equal(await sha256File(join(out, 'big.bin')), await sha256File(files.big));
      assert.equal(readFileSync(join(out, 'hello.txt'), 'utf8'), 'hello, artifact\n');
      assert.equal(readFileSync(join(out, 'empty'), 'utf8'), '');

      // Pushed again: every blob is there already, and the manifest differs only by its created time.
      const again = await pushArtifact(`${r.host()}/art/files:v2`, [files.hello], { access, annotations: { [CREATED]: '2024-05-01T12:00:00Z' } });
      assert.deepEqual(again.layers.map((l) => l.status), ['exists']);
      const m2 = await rawManifest(repo, 'v2');
      assert.equal(m2.json.annotations?.[CREATED], '2024-05-01T12:00:00Z');
      assert.equal(m2.json.artifactType, 'application/vnd.unknown.artifact.v1');
    });

    test('a push without a tag is by digest only; an artifact without files has the empty layer', async () => {
      const pushed = await pushArtifact(`${r.host()}/art/untagged`, [], { access, annotations: { 'com.example.only': 'annotations' } });
      assert.equal(pushed.tag, undefined);
      assert.equal(pushed.reference, `${r.host()}/art/untagged@${pushed.digest}`);
      const repo = repoOn(r.host(), 'art/untagged');
      const m = await rawManifest(repo, pushed.digest);
      assert.ok(m.raw.includes(`"layers":[${EMPTY_CONFIG_JSON}]`), m.raw);
      const tags: string[] = [];
      try {
        for await (const t of repo.tags()) tags.push(t);
      } catch (err) {
        // docker-registry answers NAME_UNKNOWN for a repository without tags.
        assert.ok(isGantryError(err), String(err));
      }
      assert.deepEqual(tags, []);
    });

    test(`attach: a referrer pushed by digest with the subject's descriptor, listed by referrers() (${r.indexedBy})`, async () => {
      const subject = await pushArtifact(`${r.host()}/art/signed:v1`, [files.hello], { access });
      const subjectBytes = (await repoOn(r.host(), 'art/signed').getManifest('v1')).bytes;
      const sig = await pushArtifact(`${r.host()}/art/signed`, [files.sbom], { access, subject: `${r.host()}/art/signed:v1`, artifactType: 'application/spdx+json' });
      assert.equal(sig.tag, undefined);
      assert.deepEqual(sig.subject, { digest: subject.digest, mediaType: OCI_MANIFEST, size: subjectBytes.length, indexedBy: r.indexedBy });

      const repo = repoOn(r.host(), 'art/signed');
      const m = await rawManifest(repo, sig.digest);
      assert.deepEqual(m.json.subject, { mediaType: OCI_MANIFEST, digest: subject.digest, size: subjectBytes.length });
      assert.ok(m.raw.includes(`"subject":{"mediaType":"${OCI_MANIFEST}","digest":"${subject.digest}","size":${subjectBytes.length}}`));
      assert.equal(m.json.artifactType, 'application/spdx+json');

      const listed = await repo.referrers(subject.digest);
      assert.equal(listed.source, r.indexedBy);
      assert.deepEqual(listed.manifests.map((d) => [d.digest.toString(), d.artifactType]), [[sig.digest, 'application/spdx+json']]);
      const tagIndex = await repo.headManifest(referrersTag(Digest.parse(subject.digest)));
      if (r.indexedBy === 'tag') assert.ok(tagIndex, 'docker-registry needs the referrers tag sha256-<hex>');
      else assert.equal(tagIndex, undefined, 'the embedded registry indexes referrers itself: no tag is written');

      // With a tag on the destination, the referrer is also tagged; a bare digest names the subject too.
      const tagged = await pushArtifact(`${r.host()}/art/signed:sig`, [files.hello], { access, subject: subject.digest, artifactType: 'application/vnd.example.sig' });
      assert.equal((await repo.headManifest('sig'))?.digest?.toString(), tagged.digest);
      const both = await repo.referrers(subject.digest);
      assert.deepEqual(both.manifests.map((d) => d.digest.toString()).sort(), [sig.digest, tagged.digest].sort());
      const filtered = await repo.referrers(subject.digest, { artifactType: 'application/vnd.example.sig' });
      assert.deepEqual(filtered.manifests.map((d) => d.digest.toString()), [tagged.digest]);
    });

    test('a missing subject is NOT_FOUND, and nothing is tagged', async () => {
      await assert.rejects(pushArtifact(`${r.host()}/art/signed:orphan`, [files.hello], { access, subject: `${r.host()}/art/signed:missing` }), (err: unknown) => isGantryError(err, 'NOT_FOUND'));
      assert.equal(await repoOn(r.host(), 'art/signed').headManifest('orphan'), undefined);
    });
  });
}

/** Pushes a hand-made artifact whose layers carry these titles (undefined: no title). */
async function pushTitles(repo: RepositoryClient, tag: string, titles: readonly (string | undefined)[]): Promise<string> {
  const empty = Buffer.from('{}');
  await repo.uploadBlob({ digest: Digest.fromBytes(empty), size: 2 }, () => Readable.from([empty]));
  const layers = [];
  for (const [i, title] of titles.entries()) {
    const bytes = Buffer.from(`layer ${i}: ${title ?? 'untitled'}\n`);
    await repo.uploadBlob({ digest: Digest.fromBytes(bytes), size: bytes.length }, () => Readable.from([bytes]));
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: Digest.fromBytes(bytes).toString(), size: bytes.length, ...(title !== undefined ? { annotations: { [TITLE]: title } } : {}) });
  }
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.example.t', config: JSON.parse(EMPTY_CONFIG_JSON), layers }));
  await repo.putManifest(tag, manifest, OCI_MANIFEST);
  return Digest.fromBytes(manifest).toString();
}

/** Every path under `dir`, relative, sorted (symlinks listed, not followed). */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe('pull: where files may go', () => {
  let repo: RepositoryClient;
  let ref: (tag: string) => string;
  before(() => {
    repo = repoOn(embedded.host, 'art/paths');
    ref = (tag) => `${embedded.host}/art/paths:${tag}`;
  });

  const hostile: [string, string][] = [
    ['dotdot', '../x'],
    ['absolute', '/etc/x'],
    ['nested-dotdot', 'a/../../x'],
    ['backslash', 'a\\..\\x'],
    ['nul', 'a\0x'],
  ];
  for (const [tag, title] of hostile) {
    test(`title ${JSON.stringify(title)} is refused before any byte is written`, async () => {
      const etcBefore = existsSync('/etc/x');
      // A good layer first: it must not be written either.
      await pushTitles(repo, tag, ['good.txt', title]);
      const base = mkdtempSync(join(work, 'hostile-'));
      const out = join(base, 'out');
      await assert.rejects(pullArtifact(ref(tag), out, { access }), (err: unknown) => isGantryError(err, 'INVALID_RESPONSE') && err.message.includes(JSON.stringify(title)));
      assert.equal(existsSync(out), false, 'the directory is not even made');
      assert.deepEqual(readdirSync(base), []);
      assert.equal(existsSync(join(base, 'x')), false);
      assert.equal(existsSync('/etc/x'), etcBefore);
      // An existing, empty directory stays empty.
      mkdirSync(out);
      await assert.rejects(pullArtifact(ref(tag), out, { access, overwrite: true }), (err: unknown) => isGantryError(err, 'INVALID_RESPONSE'));
      assert.deepEqual(tree(base), ['out']);
    });
  }

  test('a symlink inside DIR, as a parent or as the file itself, is refused and its target stays empty', async () => {
    const base = mkdtempSync(join(work, 'symlink-'));
    const outside = join(base, 'outside');
    const out = join(base, 'out');
    mkdirSync(outside);
    mkdirSync(join(out, 'real'), { recursive: true });
    symlinkSync(outside, join(out, 'link'));
    symlinkSync(outside, join(out, 'real', 'deeper'));
    symlinkSync(join(outside, 'target.txt'), join(out, 'file.txt'));
    const cases: [string, string][] = [['link-parent', 'link/x'], ['deep-parent', 'real/deeper/sub/x'], ['link-file', 'file.txt']];
    for (const [tag, title] of cases) {
      await pushTitles(repo, tag, ['good.txt', title]);
      for (const overwrite of [false, true]) {
        await assert.rejects(pullArtifact(ref(tag), out, { access, overwrite }), (err: unknown) => isGantryError(err, 'USAGE') && /symlink/.test(err.message), `${title}, overwrite ${overwrite}`);
        assert.deepEqual(readdirSync(outside), [], `${title}: nothing written through the symlink`);
        assert.deepEqual(tree(out), ['file.txt', 'link', 'real', 'real/deeper'], `${title}: nothing written in DIR`);
      }
    }
  });

  test('an existing file is kept without overwrite (nothing else is written) and replaced with it', async () => {
    await pushTitles(repo, 'exists', ['new.txt', 'sub/kept.txt']);
    const out = mkdtempSync(join(work, 'overwrite-'));
    mkdirSync(join(out, 'sub'));
    writeFileSync(join(out, 'sub', 'kept.txt'), 'mine\n');
    await assert.rejects(pullArtifact(ref('exists'), out, { access }), (err: unknown) => isGantryError(err, 'USAGE') && /exists/.test(err.message) && /overwrite/.test(err.message));
    assert.deepEqual(tree(out), ['sub', 'sub/kept.txt']);
    assert.equal(readFileSync(join(out, 'sub', 'kept.txt'), 'utf8'), 'mine\n');
    const pulled = await pullArtifact(ref('exists'), out, { access, overwrite: true });
    assert.deepEqual(pulled.files.map((f) => f.title), ['new.txt', 'sub/kept.txt']);
    assert.equal(readFileSync(join(out, 'sub', 'kept.txt'), 'utf8'), 'layer 1: sub/kept.txt\n');
    assert.equal(readFileSync(join(out, 'new.txt'), 'utf8'), 'layer 0: new.txt\n');
    // No temporary is left behind.
    assert.deepEqual(tree(out), ['new.txt', 'sub', 'sub/kept.txt']);
  });

  test('layers without a title are skipped and listed', async () => {
    const digest = await pushTitles(repo, 'untitled', [undefined, 'named.txt', undefined]);
    const out = mkdtempSync(join(work, 'untitled-'));
    const pulled = await pullArtifact(ref('untitled'), out, { access });
    assert.equal(pulled.digest, digest);
    assert.deepEqual(pulled.files.map((f) => f.title), ['named.txt']);
    assert.deepEqual(pulled.skipped.map((s) => [s.reason, s.size]), [['untitled', 'layer 0: untitled\n'.length], ['untitled', 'layer 2: untitled\n'.length]]);
    assert.deepEqual(tree(out), ['named.txt']);
  });

  test('a blob that is not what its layer says fails the pull: the files before it stay, no partial file, no temporary', async () => {
    const storage = mkdtempSync(join(work, 'storage-'));
    const onDisk = await startTestRegistry({ storage });
    try {
      const good = join(work, 'src', 'hello.txt');
      const bad = join(work, 'src', 'bad.bin');
      writeFileSync(bad, Buffer.alloc(300_000, 1));
      const pushed = await pushArtifact(`${onDisk.host}/art/corrupt:v1`, [good, bad], { access });
      // The registry serves whatever its disk holds: the same length, other bytes.
      const badDigest = Digest.parse(pushed.layers[1]!.digest);
      writeFileSync(join(storage, 'blobs', 'sha256', badDigest.encoded.slice(0, 2), badDigest.encoded), Buffer.alloc(300_000, 2));
      const out = mkdtempSync(join(work, 'corrupt-'));
      await assert.rejects(pullArtifact(`${onDisk.host}/art/corrupt:v1`, out, { access }), (err: unknown) => isGantryError(err, 'DIGEST_MISMATCH'));
      assert.deepEqual(tree(out), ['hello.txt']);
      assert.equal(readFileSync(join(out, 'hello.txt'), 'utf8'), 'hello, artifact\n');
    } finally {
      await onDisk.close();
    }
  });

  test('an index is not an artifact: refused', async () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
    await repo.putManifest('index', index, 'application/vnd.oci.image.index.v1+json');
    const out = join(work, 'index-out');
    await assert.rejects(pullArtifact(ref('index'), out, { access }), (err: unknown) => isGantryError(err, 'USAGE') && /an index/.test(err.message));
    assert.equal(existsSync(out), false);
  });
});

/**
 * Docker-format images copied into OCI layouts and archives become OCI images (as skopeo
 * writes them), so that every OCI tool reads the layout; `preserveDigests` keeps the bytes
 * (crane's behaviour) and fails before any blob moves where bytes cannot be kept. The real
 * skopeo and umoci read the converted layout (peers: fail under CI when missing).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyImage } from '../../src/image/copy.js';
import { DockerArchiveDestination } from '../../src/image/docker-archive.js';
import { OciArchiveDestination } from '../../src/image/oci-archive.js';
import { OciLayoutDestination, OciLayoutSource } from '../../src/image/oci-layout.js';
import type { Descriptor } from '../../src/oci/descriptor.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { Digest } from '../../src/ref/digest.js';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { MemorySource, makeImage, makeIndex } from '../helpers/image-fixture.js';
import { requirePeer, runPeer } from '../helpers/peers.js';
import { runGantry } from '../helpers/cli.js';
import { startTestRegistry } from '../../src/testing/index.js';
import { connectRegistry } from '../../src/client/connect.js';
import { RegistryImageDestination } from '../../src/image/registry.js';
import { Reference } from '../../src/ref/reference.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-convert-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string): string => join(root, `${name}-${++n}`);
/** A new empty folder. */
const folder = (name: string): string => {
  const dir = fresh(name);
  mkdirSync(dir);
  return dir;
};

/** A Docker manifest list over two Docker images, as a source. */
async function dockerList(): Promise<{ source: MemorySource; list: { digest: Digest } }> {
  const { index, blobs } = await makeIndex({ docker: true });
  return { source: new MemorySource(index, blobs), list: index };
}

function indexJson(dir: string): { manifests: { mediaType: string; digest: string; annotations?: Record<string, string> }[] } {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { mediaType: string; digest: string; annotations?: Record<string, string> }[] };
}

function blobOf(dir: string, digest: string): Buffer {
  return readFileSync(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)));
}

describe('Docker format into an OCI layout', () => {
  test('an image manifest becomes an OCI manifest: config and layers retyped, the blobs the same bytes', async () => {
    const img = await makeImage({ docker: true });
    const dir = fresh('image');
    const r = await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));
    assert.equal(r.convertedFrom, img.manifest.digest.toString());
    assert.notEqual(r.digest, img.manifest.digest.toString());
    assert.equal(r.mediaType, MediaType.OCI_MANIFEST);
    const entry = indexJson(dir).manifests[0]!;
    assert.equal(entry.mediaType, MediaType.OCI_MANIFEST);
    assert.equal(entry.digest, r.digest);
    const bytes = blobOf(dir, r.digest);
    assert.equal(Digest.fromBytes(bytes).toString(), r.digest, 'the digest is of the bytes written');
    const m = parseManifest(bytes, { mediaType: MediaType.OCI_MANIFEST });
    assert.equal(m.kind, 'image');
    if (m.kind !== 'image') return;
    assert.equal(m.config.mediaType, MediaType.OCI_CONFIG);
    assert.deepEqual(m.layers.map((l) => l.mediaType), [MediaType.OCI_LAYER_GZIP, MediaType.OCI_LAYER_GZIP]);
    assert.deepEqual([m.config, ...m.layers].map((d) => d.digest.toString()), [img.config, ...img.layers].map((d) => ('digest' in d ? d.digest.toString() : Digest.fromBytes(d).toString())));
    for (const l of img.layers) assert.ok(blobOf(dir, l.digest.toString()).equals(img.blobs.get(l.digest.toString())!));
    // gantry reads its own converted layout back.
    const back = new OciLayoutSource(dir, { tag: 'v1' });
    assert.equal((await back.getManifest()).digest.toString(), r.digest);
  });

  test('a manifest list becomes an OCI index naming the converted children, platforms kept', async () => {
    const { source, list } = await dockerList();
    const dir = fresh('list');
    const r = await copyImage(source, new OciLayoutDestination(dir, { tag: 'v1' }));
    assert.equal(r.convertedFrom, list.digest.toString());
    assert.equal(r.mediaType, MediaType.OCI_INDEX);
    const index = parseManifest(blobOf(dir, r.digest), { mediaType: MediaType.OCI_INDEX });
    assert.equal(index.kind, 'index');
    if (index.kind !== 'index') return;
    assert.deepEqual(index.manifests.map((d) => [d.mediaType, d.platform?.architecture]), [[MediaType.OCI_MANIFEST, 'amd64'], [MediaType.OCI_MANIFEST, 'arm64']]);
    for (const d of index.manifests) {
      const child = blobOf(dir, d.digest.toString());
      assert.equal(child.length, d.size);
      assert.equal(parseManifest(child, { mediaType: d.mediaType }).mediaType, MediaType.OCI_MANIFEST);
    }
    // With --platform the one image is converted, and it is the index's arm64 child.
    const one = await copyImage((await dockerList()).source, new OciLayoutDestination(fresh('one'), { tag: 'v1' }), { platform: 'linux/arm64' });
    assert.equal(one.digest, index.manifests[1]!.digest.toString());
  });

  test('preserveDigests keeps the bytes in a layout; an OCI image is never rewritten', async () => {
    const img = await makeImage({ docker: true });
    const dir = fresh('kept');
    const r = await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 'v1' }), { preserveDigests: true });
    assert.equal(r.digest, img.manifest.digest.toString());
    assert.equal(r.convertedFrom, undefined);
    assert.equal(indexJson(dir).manifests[0]!.mediaType, MediaType.DOCKER_MANIFEST);
    const oci = await makeImage();
    const plain = await copyImage(new MemorySource(oci.manifest, oci.blobs), new OciLayoutDestination(fresh('oci'), { tag: 'v1' }));
    assert.equal(plain.digest, oci.manifest.digest.toString());
    assert.equal(plain.convertedFrom, undefined);
  });

  test('an OCI archive converts too; a docker archive with preserveDigests fails before any blob moves', async () => {
    const img = await makeImage({ docker: true });
    const archive = join(folder('archive'), 'out.tar');
    const r = await copyImage(new MemorySource(img.manifest, img.blobs), new OciArchiveDestination(archive, { tag: 'v1' }));
    assert.equal(r.convertedFrom, img.manifest.digest.toString());
    const file = join(folder('docker-archive'), 'out.tar');
    let blobReads = 0;
    const source = new MemorySource(img.manifest, img.blobs);
    const getBlob = source.getBlob.bind(source);
    source.getBlob = (d: Descriptor) => {
      blobReads++;
      return getBlob(d);
    };
    await assert.rejects(copyImage(source, new DockerArchiveDestination(file), { preserveDigests: true }), (e) => isGantryError(e, ErrorCode.USAGE) && /preserve-digests/.test((e as Error).message));
    assert.equal(blobReads, 0);
    assert.equal(existsSync(file), false);
    assert.deepEqual(readdirSync(join(file, '..')), [], 'no temporary left');
  });
});

describe('OCI tools read the converted layout', () => {
  test('skopeo inspects it and umoci unpacks it; the file inside is the one built', async (t) => {
    if (!requirePeer(t, 'skopeo') || !requirePeer(t, 'umoci')) return;
    const img = await makeImage({ docker: true, seed: 'for-oci-tools' });
    const dir = fresh('tools');
    const r = await copyImage(new MemorySource(img.manifest, img.blobs), new OciLayoutDestination(dir, { tag: 'v1' }));
    const inspected = await runPeer('skopeo', ['--insecure-policy', 'inspect', `oci:${dir}:v1`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, r.digest);
    const bundle = join(fresh('bundle'), 'b');
    const unpacked = await runPeer('umoci', ['unpack', '--image', `${dir}:v1`, bundle]);
    assert.equal(unpacked.code, 0, unpacked.stderr);
    assert.equal(readFileSync(join(bundle, 'rootfs', 'etc', 'hello'), 'utf8'), 'hello for-oci-tools\n');
  });
});

describe('the CLI', () => {
  test('pull of a Docker-format image prints the converted digest; --preserve-digests keeps the source\'s', async () => {
    const registry = await startTestRegistry();
    try {
      const img = await makeImage({ docker: true, seed: 'cli' });
      const pushed = await connectRegistry(registry.host, 'push');
      try {
        await copyImage(new MemorySource(img.manifest, img.blobs), new RegistryImageDestination(pushed.client, Reference.parse(`${registry.host}/convert/app:1`)));
      } finally {
        await pushed.close();
      }
      const dir = fresh('cli');
      const r = await runGantry(['copy', '--json', `${registry.host}/convert/app:1`, `oci:${dir}:1`]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { digest: string; convertedFrom?: string };
      assert.equal(out.convertedFrom, img.manifest.digest.toString());
      assert.equal(indexJson(dir).manifests[0]!.digest, out.digest);
      const plain = await runGantry(['copy', '--quiet', `${registry.host}/convert/app:1`, `oci:${fresh('cli-text')}:1`]);
      assert.equal(plain.code, 0, plain.stderr);
      const kept = fresh('cli-kept');
      const k = await runGantry(['copy', '--preserve-digests', `${registry.host}/convert/app:1`, `oci:${kept}:1`]);
      assert.equal(k.code, 0, k.stderr);
      assert.match(k.stdout, new RegExp(`^${img.manifest.digest.toString()} `));
      assert.equal(indexJson(kept).manifests[0]!.mediaType, MediaType.DOCKER_MANIFEST);
      const text = await runGantry(['copy', `${registry.host}/convert/app:1`, `oci:${fresh('cli-summary')}:1`]);
      assert.match(text.stdout, new RegExp(`converted to OCI from ${img.manifest.digest.toString()}`));
      const refused = await runGantry(['copy', '--preserve-digests', `${registry.host}/convert/app:1`, `docker-archive:${join(folder('cli-archive'), 'x.tar')}`]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /^gantry: .*--preserve-digests/);
    } finally {
      await registry.close();
    }
  });
});

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { ManifestError } from '../../src/oci/errors.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../../src/oci/manifest.js';
import { ACCEPT_MANIFESTS, MediaType, isImageManifest, isIndex, isSchema1 } from '../../src/oci/media-types.js';
import { Digest } from '../../src/ref/digest.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const D3 = `sha256:${'3'.repeat(64)}`;

const config = { mediaType: MediaType.OCI_CONFIG, digest: D1, size: 10 };
const layer = (digest = D2, size: unknown = 20) => ({ mediaType: MediaType.OCI_LAYER_GZIP, digest, size });

function bytes(v: unknown, space?: number): Buffer {
  return Buffer.from(JSON.stringify(v, null, space));
}

describe('media types', () => {
  test('classifiers', () => {
    assert.ok(isIndex(MediaType.OCI_INDEX) && isIndex(MediaType.DOCKER_MANIFEST_LIST));
    assert.ok(isImageManifest(MediaType.OCI_MANIFEST) && isImageManifest(MediaType.DOCKER_MANIFEST));
    assert.ok(!isImageManifest(MediaType.OCI_INDEX) && !isIndex(MediaType.DOCKER_MANIFEST));
    assert.ok(isSchema1(MediaType.DOCKER_SCHEMA1_SIGNED_MANIFEST) && isSchema1(MediaType.DOCKER_SCHEMA1_MANIFEST));
    assert.equal(MediaType.OCI_EMPTY, 'application/vnd.oci.empty.v1+json');
  });

  test('Accept list: OCI and Docker v2 first, schema 1 last', () => {
    assert.deepEqual(ACCEPT_MANIFESTS.slice(0, 4), [MediaType.OCI_MANIFEST, MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST, MediaType.DOCKER_MANIFEST_LIST]);
    assert.ok(ACCEPT_MANIFESTS.slice(4).every(isSchema1));
  });
});

describe('parseManifest', () => {
  test('an image manifest keeps its bytes and is digested as served, whitespace included', () => {
    const body = bytes({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers: [layer()], annotations: { a: 'b' } }, 3);
    const m = parseManifest(body);
    assert.equal(m.kind, 'image');
    assert.equal(m.bytes, body);
    assert.equal(m.digest.toString(), Digest.fromBytes(body).toString());
    if (m.kind !== 'image') return;
    assert.equal(m.config.digest.toString(), D1);
    assert.equal(m.layers[0]?.size, 20);
    assert.deepEqual(m.annotations, { a: 'b' });
  });

  const kinds: { name: string; body: unknown; contentType?: string; mediaType: string; kind: string }[] = [
    { name: 'body mediaType wins', body: { schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST, config, layers: [] }, mediaType: MediaType.DOCKER_MANIFEST, kind: 'image' },
    { name: 'Content-Type when the body says nothing', body: { schemaVersion: 2, manifests: [] }, contentType: `${MediaType.DOCKER_MANIFEST_LIST}; charset=utf-8`, mediaType: MediaType.DOCKER_MANIFEST_LIST, kind: 'index' },
    { name: 'inferred index', body: { schemaVersion: 2, manifests: [] }, mediaType: MediaType.OCI_INDEX, kind: 'index' },
    { name: 'inferred image, application/json ignored', body: { schemaVersion: 2, config, layers: [] }, contentType: 'application/json', mediaType: MediaType.OCI_MANIFEST, kind: 'image' },
    { name: 'schema 1 signed', body: { schemaVersion: 1, name: 'x', signatures: [] }, mediaType: MediaType.DOCKER_SCHEMA1_SIGNED_MANIFEST, kind: 'schema1' },
    { name: 'schema 1 by Content-Type', body: { schemaVersion: 1, name: 'x' }, contentType: MediaType.DOCKER_SCHEMA1_MANIFEST, mediaType: MediaType.DOCKER_SCHEMA1_MANIFEST, kind: 'schema1' },
  ];
  for (const row of kinds) {
    test(`media type: ${row.name}`, () => {
      const m = parseManifest(bytes(row.body), row.contentType === undefined ? {} : { mediaType: row.contentType });
      assert.equal(m.mediaType, row.mediaType);
      assert.equal(m.kind, row.kind);
    });
  }

  test('index children keep platforms (os.version, variant)', () => {
    const m = parseManifest(
      bytes({
        schemaVersion: 2,
        mediaType: MediaType.OCI_INDEX,
        manifests: [{ mediaType: MediaType.OCI_MANIFEST, digest: D1, size: 5, platform: { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' } }],
        subject: { mediaType: MediaType.OCI_MANIFEST, digest: D3, size: 1 },
      }),
    );
    assert.equal(m.kind, 'index');
    if (m.kind !== 'index') return;
    assert.deepEqual(m.manifests[0]?.platform, { os: 'windows', architecture: 'amd64', osVersion: '10.0.17763.1' });
    assert.equal(m.subject?.digest.toString(), D3);
  });

  const invalid: { name: string; body: unknown; contentType?: string; message: RegExp }[] = [
    { name: 'negative layer size', body: { schemaVersion: 2, config, layers: [layer(), layer(D3), layer(D3, -1)] }, message: /^manifest sha256:[0-9a-f]{64}: layers\[2\]\.size: must be a non-negative integer, got -1$/ },
    { name: 'fractional size', body: { schemaVersion: 2, config, layers: [layer(D2, 1.5)] }, message: /layers\[0\]\.size: must be a non-negative integer/ },
    { name: 'size as string', body: { schemaVersion: 2, config, layers: [layer(D2, '20')] }, message: /layers\[0\]\.size/ },
    { name: 'bad digest', body: { schemaVersion: 2, config: { ...config, digest: 'sha256:xyz' }, layers: [] }, message: /config\.digest: invalid checksum digest length/ },
    { name: 'unsupported algorithm', body: { schemaVersion: 2, config, layers: [layer('md5:abc')] }, message: /layers\[0\]\.digest: unsupported digest algorithm/ },
    { name: 'missing mediaType', body: { schemaVersion: 2, config: { digest: D1, size: 1 }, layers: [] }, message: /config\.mediaType: must be a non-empty string/ },
    { name: 'layers not an array', body: { schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers: {} }, message: /layers: must be an array/ },
    { name: 'annotation not a string', body: { schemaVersion: 2, config, layers: [{ ...layer(), annotations: { a: 1 } }] }, message: /layers\[0\]\.annotations\["a"\]: must be a string/ },
    { name: 'index child without platform os', body: { schemaVersion: 2, manifests: [{ mediaType: MediaType.OCI_MANIFEST, digest: D1, size: 1, platform: { architecture: 'amd64' } }] }, message: /manifests\[0\]\.platform\.os: must be a string/ },
    { name: 'Content-Type contradicts body', body: { schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config, layers: [] }, contentType: MediaType.OCI_INDEX, message: /served as application\/vnd\.oci\.image\.index\.v1\+json but its mediaType field says application\/vnd\.oci\.image\.manifest\.v1\+json/ },
    { name: 'schemaVersion 3', body: { schemaVersion: 3, config, layers: [] }, message: /schemaVersion: must be 2/ },
    { name: 'unknown media type', body: { schemaVersion: 2, mediaType: 'text/html', config, layers: [] }, message: /unsupported manifest media type "text\/html"/ },
    { name: 'shape unknown', body: { schemaVersion: 2 }, message: /no mediaType/ },
    { name: 'index with layers', body: { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [], layers: [] }, message: /has config\/layers fields/ },
    { name: 'not an object', body: [1, 2], message: /must be a JSON object/ },
  ];
  for (const row of invalid) {
    test(`invalid: ${row.name}`, () => {
      assert.throws(
        () => parseManifest(bytes(row.body), row.contentType === undefined ? {} : { mediaType: row.contentType }),
        (err: unknown) => err instanceof ManifestError && err.code === ErrorCode.INVALID_RESPONSE && row.message.test(err.message),
      );
    });
  }

  test('malformed JSON names the manifest', () => {
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":')), /^ManifestError: manifest sha256:[0-9a-f]{64}: not valid JSON/);
  });

  test('expected digest mismatch is DIGEST_MISMATCH', () => {
    const body = bytes({ schemaVersion: 2, config, layers: [] });
    const wrong = Digest.fromBytes('other');
    assert.throws(() => parseManifest(body, { expectedDigest: wrong }), (err: unknown) => isGantryError(err, ErrorCode.DIGEST_MISMATCH) && err.message.includes(wrong.toString()));
    assert.equal(parseManifest(body, { expectedDigest: Digest.fromBytes(body) }).kind, 'image');
  });

  test('sha512 expected digests are checked with sha512', () => {
    const body = bytes({ schemaVersion: 2, config, layers: [] });
    const m = parseManifest(body, { expectedDigest: Digest.fromBytes(body, 'sha512') });
    assert.equal(m.digest.algorithm, 'sha512');
  });

  test('more than 4 MiB is TOO_LARGE', () => {
    assert.throws(() => parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x20)), (err: unknown) => isGantryError(err, ErrorCode.TOO_LARGE));
  });
});

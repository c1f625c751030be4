/**
 * Conformance: the spec's "Pull" workflow (distribution-spec `conformance/02_pull_test.go`,
 * spec sections "Pulling manifests" and "Pulling blobs"), against every target.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { conformanceTargets } from './targets.js';
import { call, errorCodes, OCI_MANIFEST, pushImage, sha256, type TestImage } from './client.js';

for (const target of conformanceTargets()) {
  describe(`conformance pull: ${target.name}`, () => {
    const repo = 'conformance/pull';
    let image: TestImage;
    before(async () => {
      await target.start();
      if (target.url) image = await pushImage(target.url, repo, 'latest');
    });
    after(() => target.stop());

    test('GET /v2/ answers 200 with the API version header', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', '/v2/');
      assert.equal(r.status, 200);
      assert.equal(r.header('docker-distribution-api-version'), 'registry/2.0');
    });

    test('HEAD manifest by tag: 200, digest and length, no body', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'HEAD', `/v2/${repo}/manifests/latest`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(r.status, 200);
      assert.equal(r.header('docker-content-digest'), image.digest);
      assert.equal(Number(r.header('content-length')), image.manifest.length);
      assert.equal(r.body.length, 0);
    });

    test('HEAD of a missing manifest is 404', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'HEAD', `/v2/${repo}/manifests/no-such-tag`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(r.status, 404);
    });

    test('GET manifest by tag and by digest returns the pushed bytes and media type', async (t) => {
      if (!target.available(t)) return;
      for (const reference of ['latest', image.digest]) {
        const r = await call(target.url, 'GET', `/v2/${repo}/manifests/${reference}`, { headers: { accept: OCI_MANIFEST } });
        assert.equal(r.status, 200, reference);
        assert.deepEqual(r.body, image.manifest, reference);
        assert.equal(r.header('content-type'), OCI_MANIFEST);
        assert.equal(r.header('docker-content-digest'), image.digest);
      }
    });

    test('GET of a missing manifest is 404 MANIFEST_UNKNOWN in the spec error body', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/manifests/no-such-tag`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(r.status, 404);
      assert.ok(errorCodes(r).includes('MANIFEST_UNKNOWN'), r.text);
    });

    test('HEAD blob: 200 with Content-Length and Docker-Content-Digest', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'HEAD', `/v2/${repo}/blobs/${sha256(image.layer)}`);
      assert.equal(r.status, 200);
      assert.equal(Number(r.header('content-length')), image.layer.length);
      assert.equal(r.header('docker-content-digest'), sha256(image.layer));
    });

    test('GET blob returns its bytes; a missing blob is 404 BLOB_UNKNOWN', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/blobs/${sha256(image.layer)}`);
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(image.layer));
      const missing = await call(target.url, 'GET', `/v2/${repo}/blobs/${sha256('not pushed ' + target.name)}`);
      assert.equal(missing.status, 404);
      assert.ok(errorCodes(missing).includes('BLOB_UNKNOWN'), missing.text);
      const head = await call(target.url, 'HEAD', `/v2/${repo}/blobs/${sha256('not pushed ' + target.name)}`);
      assert.equal(head.status, 404);
    });

    test('GET blob with Range returns 206 and exactly those bytes', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/blobs/${sha256(image.layer)}`, { headers: { range: 'bytes=10-99' } });
      assert.equal(r.status, 206);
      assert.deepEqual(r.body, image.layer.subarray(10, 100));
      assert.equal(r.header('content-range'), `bytes 10-99/${image.layer.length}`);
    });

    test('a blob of another repository is not visible here', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/conformance/other-pull/blobs/${sha256(image.layer)}`);
      assert.equal(r.status, 404);
    });
  });
}

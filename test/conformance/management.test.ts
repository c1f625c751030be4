/**
 * Conformance: the spec's "Content Management" workflow (distribution-spec
 * `conformance/05_management_test.go`, spec sections "Deleting tags", "Deleting manifests",
 * "Deleting blobs").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { conform, conformanceTargets } from './targets.js';
import { call, errorCodes, OCI_MANIFEST, pushBlob, pushImage, putManifest, sha256, testImage } from './client.js';

for (const target of conformanceTargets()) {
  describe(`conformance content management: ${target.name}`, () => {
    const repo = 'conformance/management';
    before(() => target.start());
    after(() => target.stop());

    test('DELETE of a tag removes the tag and keeps the manifest', async (t) => {
      if (!target.available(t)) return;
      const image = await pushImage(target.url, repo, 'doomed-tag');
      const del = await call(target.url, 'DELETE', `/v2/${repo}/manifests/doomed-tag`);
      await conform(target, 'delete-tag', {
        spec: async () => {
          assert.equal(del.status, 202, del.text);
          assert.equal((await call(target.url, 'GET', `/v2/${repo}/manifests/doomed-tag`, { headers: { accept: OCI_MANIFEST } })).status, 404);
          assert.equal((await call(target.url, 'GET', `/v2/${repo}/manifests/${image.digest}`, { headers: { accept: OCI_MANIFEST } })).status, 200);
        },
        gap: () => {
          assert.notEqual(del.status, 202, 'docker-registry now deletes tags: remove the known gap');
          assert.ok(del.status >= 400 && del.status < 500, `a client error, got ${del.status}`);
        },
      });
    });

    test('DELETE of a manifest by digest: 202, then GET by digest and by tag are 404', async (t) => {
      if (!target.available(t)) return;
      const image = await pushImage(target.url, repo, 'to-delete');
      const del = await call(target.url, 'DELETE', `/v2/${repo}/manifests/${image.digest}`);
      assert.equal(del.status, 202, del.text);
      const byDigest = await call(target.url, 'GET', `/v2/${repo}/manifests/${image.digest}`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(byDigest.status, 404);
      const byTag = await call(target.url, 'GET', `/v2/${repo}/manifests/to-delete`, { headers: { accept: OCI_MANIFEST } });
      assert.equal(byTag.status, 404);
    });

    test('DELETE of a manifest that does not exist is 404', async (t) => {
      if (!target.available(t)) return;
      const del = await call(target.url, 'DELETE', `/v2/${repo}/manifests/${sha256(randomBytes(16))}`);
      assert.equal(del.status, 404);
      assert.ok(errorCodes(del).includes('MANIFEST_UNKNOWN'), del.text);
    });

    test('DELETE of a blob: 202, then GET is 404 BLOB_UNKNOWN', async (t) => {
      if (!target.available(t)) return;
      const blob = randomBytes(1024);
      await pushBlob(target.url, repo, blob);
      const del = await call(target.url, 'DELETE', `/v2/${repo}/blobs/${sha256(blob)}`);
      assert.equal(del.status, 202, del.text);
      const get = await call(target.url, 'GET', `/v2/${repo}/blobs/${sha256(blob)}`);
      assert.equal(get.status, 404);
      assert.ok(errorCodes(get).includes('BLOB_UNKNOWN'), get.text);
    });

    test('DELETE of a blob that does not exist is 404 BLOB_UNKNOWN', async (t) => {
      if (!target.available(t)) return;
      const del = await call(target.url, 'DELETE', `/v2/${repo}/blobs/${sha256(randomBytes(16))}`);
      assert.equal(del.status, 404);
      assert.ok(errorCodes(del).includes('BLOB_UNKNOWN'), del.text);
    });

    test('a deleted referrer is no longer listed', async (t) => {
      if (!target.available(t)) return;
      const subject = await pushImage(target.url, repo, 'subject');
      const referrer = testImage({ artifactType: 'application/vnd.example.note', subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length } });
      await pushBlob(target.url, repo, referrer.config);
      await pushBlob(target.url, repo, referrer.layer);
      assert.equal((await putManifest(target.url, repo, referrer.digest, referrer.manifest)).status, 201);
      assert.equal((await call(target.url, 'DELETE', `/v2/${repo}/manifests/${referrer.digest}`)).status, 202);
      const r = await call(target.url, 'GET', `/v2/${repo}/referrers/${subject.digest}`);
      await conform(target, 'referrers-api', {
        spec: () => {
          assert.equal(r.status, 200, r.text);
          assert.deepEqual((JSON.parse(r.text) as { manifests: unknown[] }).manifests, []);
        },
        gap: () => assert.equal(r.status, 404, 'docker-registry now has the referrers API: remove the known gap'),
      });
    });
  });
}

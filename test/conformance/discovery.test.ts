/**
 * Conformance: the spec's "Content Discovery" workflow (distribution-spec
 * `conformance/04_discovery_test.go`, spec sections "Listing tags" and "Listing referrers"),
 * plus the catalog every registry client also uses.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { conform, conformanceTargets } from './targets.js';
import { call, errorCodes, OCI_INDEX, OCI_MANIFEST, pushBlob, pushImage, putManifest, testImage, type TestImage } from './client.js';

const TAGS = ['beta', 'alpha', 'v1.0', 'v1.1', 'latest'];
const SORTED = [...TAGS].sort();

for (const target of conformanceTargets()) {
  describe(`conformance content discovery: ${target.name}`, () => {
    const repo = 'conformance/discovery';
    let subject: TestImage;
    const referrers: TestImage[] = [];
    before(async () => {
      await target.start();
      if (!target.url) return;
      subject = await pushImage(target.url, repo, 'v1.0');
      for (const tag of TAGS) assert.equal((await putManifest(target.url, repo, tag, subject.manifest)).status, 201);
      for (const name of ['a', 'b', 'c']) await pushImage(target.url, `conformance/catalog-${name}`, 'latest');
      for (const artifactType of ['application/vnd.example.sbom', 'application/vnd.example.signature']) {
        const r = testImage({ artifactType, subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length } });
        await pushBlob(target.url, repo, r.config);
        await pushBlob(target.url, repo, r.layer);
        assert.equal((await putManifest(target.url, repo, r.digest, r.manifest)).status, 201);
        referrers.push(r);
      }
    });
    after(() => target.stop());

    test('tags list: every tag, lexically sorted', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/tags/list`);
      assert.equal(r.status, 200);
      const body = JSON.parse(r.text) as { name: string; tags: string[] };
      await conform(target, 'tags-sorted', {
        spec: () => assert.deepEqual(body, { name: repo, tags: SORTED }),
        gap: () => assert.deepEqual({ name: body.name, tags: [...body.tags].sort() }, { name: repo, tags: SORTED }),
      });
    });

    test('tags list with n: the first n tags and a Link to the next page', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/tags/list?n=2`);
      assert.equal(r.status, 200);
      if (target.knownGaps.has('tags-pagination')) {
        assert.equal((JSON.parse(r.text) as { tags: string[] }).tags.length, TAGS.length, 'docker-registry now honours n: remove the known gap');
        assert.equal(r.header('link'), undefined);
        return;
      }
      assert.deepEqual((JSON.parse(r.text) as { tags: string[] }).tags, SORTED.slice(0, 2));
      const link = r.header('link');
      assert.ok(link, 'a Link header when more tags remain');
      const m = /^<([^>]+)>;\s*rel="next"$/.exec(link);
      assert.ok(m, `Link header form: ${link}`);
      const next = new URL(m[1] as string, target.url);
      assert.equal(next.searchParams.get('last'), SORTED[1]);
      assert.equal(next.searchParams.get('n'), '2');
      const page2 = await call(target.url, 'GET', next.pathname + next.search);
      assert.deepEqual((JSON.parse(page2.text) as { tags: string[] }).tags, SORTED.slice(2, 4));
    });

    test('tags list with n and last: the tags after last', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/tags/list?n=10&last=${SORTED[2]}`);
      assert.equal(r.status, 200);
      if (target.knownGaps.has('tags-pagination')) {
        assert.equal((JSON.parse(r.text) as { tags: string[] }).tags.length, TAGS.length, 'docker-registry now honours last: remove the known gap');
        return;
      }
      assert.deepEqual((JSON.parse(r.text) as { tags: string[] }).tags, SORTED.slice(3));
      assert.equal(r.header('link'), undefined, 'no Link on the last page');
    });

    test('tags list of an unknown repository is 404 NAME_UNKNOWN', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', '/v2/conformance/never-pushed/tags/list');
      assert.equal(r.status, 404);
      assert.ok(errorCodes(r).includes('NAME_UNKNOWN'), r.text);
    });

    test('catalog: sorted repositories, paginated with n, last and Link', async (t) => {
      if (!target.available(t)) return;
      const all = await call(target.url, 'GET', '/v2/_catalog');
      assert.equal(all.status, 200);
      const repositories = (JSON.parse(all.text) as { repositories: string[] }).repositories;
      assert.deepEqual(repositories, ['conformance/catalog-a', 'conformance/catalog-b', 'conformance/catalog-c', repo]);
      const first = await call(target.url, 'GET', '/v2/_catalog?n=2');
      assert.deepEqual((JSON.parse(first.text) as { repositories: string[] }).repositories, repositories.slice(0, 2));
      assert.match(first.header('link') ?? '', /^<\/v2\/_catalog\?[^>]*last=conformance(%2F|\/)catalog-b[^>]*>; rel="next"$/);
      const rest = await call(target.url, 'GET', '/v2/_catalog?n=10&last=conformance/catalog-b');
      assert.deepEqual((JSON.parse(rest.text) as { repositories: string[] }).repositories, repositories.slice(2));
    });

    test('referrers: an OCI index of the manifests whose subject is the digest', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/referrers/${subject.digest}`);
      await conform(target, 'referrers-api', {
        spec: () => {
          assert.equal(r.status, 200, r.text);
          assert.equal(r.header('content-type'), OCI_INDEX);
          const index = JSON.parse(r.text) as { schemaVersion: number; mediaType: string; manifests: Array<{ digest: string; artifactType?: string; size: number; mediaType: string }> };
          assert.equal(index.schemaVersion, 2);
          assert.equal(index.mediaType, OCI_INDEX);
          assert.deepEqual(index.manifests.map((m) => m.digest).sort(), referrers.map((x) => x.digest).sort());
          for (const m of index.manifests) {
            const pushed = referrers.find((x) => x.digest === m.digest) as TestImage;
            assert.equal(m.size, pushed.manifest.length);
            assert.equal(m.mediaType, OCI_MANIFEST);
          }
          assert.deepEqual(index.manifests.map((m) => m.artifactType).sort(), ['application/vnd.example.sbom', 'application/vnd.example.signature']);
        },
        gap: () => assert.equal(r.status, 404, 'docker-registry now has the referrers API: remove the known gap'),
      });
    });

    test('referrers with artifactType: filtered, and OCI-Filters-Applied says so', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/referrers/${subject.digest}?artifactType=application/vnd.example.sbom`);
      await conform(target, 'referrers-api', {
        spec: () => {
          assert.equal(r.status, 200, r.text);
          assert.equal(r.header('oci-filters-applied'), 'artifactType');
          const index = JSON.parse(r.text) as { manifests: Array<{ digest: string }> };
          assert.deepEqual(index.manifests.map((m) => m.digest), [referrers[0]?.digest]);
        },
        gap: () => assert.equal(r.status, 404, 'docker-registry now has the referrers API: remove the known gap'),
      });
    });

    test('referrers of a digest nothing refers to: 200 with an empty index, never 404', async (t) => {
      if (!target.available(t)) return;
      const r = await call(target.url, 'GET', `/v2/${repo}/referrers/${referrers[0]?.digest}`);
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

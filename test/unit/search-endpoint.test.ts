/**
 * Where a search goes: the term split, the `://` check, `library/` stripped for Docker Hub,
 * the v1 endpoint derived from an address (rows of moby's search_endpoint_v1_test.go), Go's
 * QueryEscape, response parsing and the result filter (search_test.go). The rules are in
 * docs/docker-rules.md#search.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { INDEX_SERVER, parseV1Endpoint, v1EndpointString } from '../../src/search/v1-endpoint.js';
import { applyCriteria, parseSearchResults, queryEscape, searchTarget, type SearchResult } from '../../src/search/search.js';
import { isGantryError } from '../../src/errors.js';

describe('v1 endpoint from an address (TestV1EndpointParse)', () => {
  const rows: [string, string][] = [
    [INDEX_SERVER, INDEX_SERVER],
    ['https://0.0.0.0:5000/v1/', 'https://0.0.0.0:5000/v1/'],
    ['https://0.0.0.0:5000', 'https://0.0.0.0:5000/v1/'],
    ['0.0.0.0:5000', 'https://0.0.0.0:5000/v1/'],
    ['https://0.0.0.0:5000/nonversion/', 'https://0.0.0.0:5000/nonversion/v1/'],
    ['https://0.0.0.0:5000/v0/', 'https://0.0.0.0:5000/v0/v1/'],
    ['http://127.0.0.1:5000/v1', 'http://127.0.0.1:5000/v1/'],
    ['localhost:5000', 'https://localhost:5000/v1/'],
  ];
  for (const [address, expected] of rows) {
    test(`${address} → ${expected}`, () => assert.equal(v1EndpointString(parseV1Endpoint(address)), expected));
  }
  for (const [address, shown] of [
    ['https://0.0.0.0:5000/v2/', 'https://0.0.0.0:5000/v2/'],
    ['0.0.0.0:5000/v2', 'https://0.0.0.0:5000/v2'],
  ]) {
    test(`${address} → search is not supported on v2 endpoints`, () => {
      assert.throws(() => parseV1Endpoint(address!), (err: unknown) => isGantryError(err, 'INVALID_CONFIG') && (err as Error).message === `search is not supported on v2 endpoints: ${shown}`);
    });
  }
});

describe('search term → index and remote name', () => {
  const rows: [string, { indexName: string; official: boolean; remoteName: string }][] = [
    ['ubuntu', { indexName: 'docker.io', official: true, remoteName: 'ubuntu' }],
    ['library/ubuntu', { indexName: 'docker.io', official: true, remoteName: 'ubuntu' }],
    ['library/library/x', { indexName: 'docker.io', official: true, remoteName: 'library/x' }],
    ['user/app', { indexName: 'docker.io', official: true, remoteName: 'user/app' }],
    ['docker.io/library/nginx', { indexName: 'docker.io', official: true, remoteName: 'nginx' }],
    ['index.docker.io/user/app', { indexName: 'docker.io', official: true, remoteName: 'user/app' }],
    ['localhost/app', { indexName: 'localhost', official: false, remoteName: 'app' }],
    ['localhost:5000/library/app', { indexName: 'localhost:5000', official: false, remoteName: 'library/app' }],
    ['127.0.0.1:5000/team/app', { indexName: '127.0.0.1:5000', official: false, remoteName: 'team/app' }],
    ['registry.example.com/x', { indexName: 'registry.example.com', official: false, remoteName: 'x' }],
    ['Upper/x', { indexName: 'docker.io', official: true, remoteName: 'Upper/x' }],
    ['fake term with spaces', { indexName: 'docker.io', official: true, remoteName: 'fake term with spaces' }],
  ];
  for (const [term, expected] of rows) test(`${term}`, () => assert.deepEqual(searchTarget(term), expected));

  test('a term with a scheme is refused with Docker\'s text', () => {
    for (const term of ['https://example.com/x', 'ftp://x', 'a://b']) {
      assert.throws(() => searchTarget(term), (err: unknown) => isGantryError(err, 'INVALID_REFERENCE') && (err as Error).message === `invalid repository name: repository name (${term}) should not have a scheme`);
    }
  });
});

describe('Go url.QueryEscape', () => {
  const rows: [string, string][] = [
    ['ubuntu', 'ubuntu'],
    ['team/app', 'team%2Fapp'],
    ['a b', 'a+b'],
    ["it's (a)*!", 'it%27s+%28a%29%2A%21'],
    ['a-b_c.d~e', 'a-b_c.d~e'],
    ['ü+&=?#', '%C3%BC%2B%26%3D%3F%23'],
  ];
  for (const [input, out] of rows) test(`${JSON.stringify(input)} → ${out}`, () => assert.equal(queryEscape(input), out));
});

describe('search response parsing', () => {
  test('the search_test.go answer', () => {
    const r = parseSearchResults('{"query":"fakequery","num_results":1,"results":[{"name":"fakeimage","star_count":42}]}');
    assert.deepEqual(r, { query: 'fakequery', results: [{ name: 'fakeimage', description: '', starCount: 42, isOfficial: false, isAutomated: false }] });
  });
  test('keys match without regard to case, as in Go', () => {
    const r = parseSearchResults('{"Query":"q","Results":[{"Name":"n","Star_Count":3,"IS_OFFICIAL":true,"Description":"d"}]}');
    assert.deepEqual(r.results, [{ name: 'n', description: 'd', starCount: 3, isOfficial: true, isAutomated: false }]);
    assert.equal(r.query, 'q');
  });
  test('null results and fields are zero values', () => {
    assert.deepEqual(parseSearchResults('{"results":null}'), { query: '', results: [] });
    assert.deepEqual(parseSearchResults('{"results":[{"name":"x","description":null}]}').results[0]?.description, '');
  });
  for (const [body, fragment] of [
    ['not json', 'invalid JSON'],
    ['[1,2]', 'expected a JSON object'],
    ['{"results":{}}', 'results: expected an array'],
    ['{"results":[{"star_count":"many"}]}', 'results[0].star_count: expected an integer'],
    ['{"results":[{"star_count":1.5}]}', 'results[0].star_count: expected an integer'],
    ['{"results":[{"is_official":"yes"}]}', 'results[0].is_official: expected a boolean'],
    ['{"query":7}', 'query: expected a string'],
  ] as const) {
    test(`${body} is refused (${fragment})`, () => assert.throws(() => parseSearchResults(body), (err: unknown) => (err as Error).message.includes(fragment)));
  }
});

describe('result filter', () => {
  const r = (name: string, starCount: number, isOfficial: boolean, isAutomated = false): SearchResult => ({ name, description: '', starCount, isOfficial, isAutomated });
  const all = [r('a', 0, true), r('b', 1, false, true), r('c', 5, false)];
  const names = (rs: SearchResult[]) => rs.map((x) => x.name);
  test('no criteria: everything, is_automated forced false', () => {
    const out = applyCriteria(all, { onlyAutomated: false });
    assert.deepEqual(names(out), ['a', 'b', 'c']);
    assert.ok(out.every((x) => x.isAutomated === false));
  });
  test('is-official', () => {
    assert.deepEqual(names(applyCriteria(all, { onlyAutomated: false, official: true })), ['a']);
    assert.deepEqual(names(applyCriteria(all, { onlyAutomated: false, official: false })), ['b', 'c']);
  });
  test('stars is a minimum', () => {
    assert.deepEqual(names(applyCriteria(all, { onlyAutomated: false, minStars: 0 })), ['a', 'b', 'c']);
    assert.deepEqual(names(applyCriteria(all, { onlyAutomated: false, minStars: 1 })), ['b', 'c']);
    assert.deepEqual(names(applyCriteria(all, { onlyAutomated: false, minStars: 2, official: false })), ['c']);
  });
});

/**
 * Challenge parsing and storage, and token scopes. The parser rows come from distribution's
 * `internal/client/auth/challenge/authchallenge_test.go`
 * (https://github.com/distribution/distribution/tree/main/internal/client/auth); the rules are
 * in docs/docker-rules.md#token-auth.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChallengeStore, endpointKey, parseWwwAuthenticate, pingPathFor } from '../../src/auth/challenge.js';
import { formatScope, mergeScopes, parseScope, parseScopeList, registryScope, repositoryScope, scopesCover, scopeSetKey } from '../../src/ref/scope.js';

describe('parseWwwAuthenticate', () => {
  test('distribution authchallenge_test: quoted strings, escapes, bare tokens', () => {
    const got = parseWwwAuthenticate('Bearer realm="https://auth.example.com/token",service="registry.example.com",other=fun,slashed="he\\"\\l\\lo"');
    assert.deepEqual(got, [
      {
        scheme: 'bearer',
        parameters: { realm: 'https://auth.example.com/token', service: 'registry.example.com', other: 'fun', slashed: 'he"llo' },
      },
    ]);
  });

  const rows: [string, string | string[], unknown][] = [
    ['scheme and names lower-cased, values kept', 'BASIC Realm="Gantry Test"', [{ scheme: 'basic', parameters: { realm: 'Gantry Test' } }]],
    ['several header values', ['Basic realm="a"', 'Bearer realm="b",service="s"'], [
      { scheme: 'basic', parameters: { realm: 'a' } },
      { scheme: 'bearer', parameters: { realm: 'b', service: 's' } },
    ]],
    ['several challenges in one value', 'Bearer realm="https://a/token", scope="repository:x:pull,push", Basic realm="b"', [
      { scheme: 'bearer', parameters: { realm: 'https://a/token', scope: 'repository:x:pull,push' } },
      { scheme: 'basic', parameters: { realm: 'b' } },
    ]],
    ['token68 tolerated', 'Negotiate YWJjZA==, Basic realm="x"', [
      { scheme: 'negotiate', parameters: {}, token68: 'YWJjZA==' },
      { scheme: 'basic', parameters: { realm: 'x' } },
    ]],
    ['token68 without padding', 'Negotiate abcd', [{ scheme: 'negotiate', parameters: {}, token68: 'abcd' }]],
    ['a scheme without parameters', 'Basic', [{ scheme: 'basic', parameters: {} }]],
    ['spaces around = and commas', 'Bearer realm = "r" ,  service=s', [{ scheme: 'bearer', parameters: { realm: 'r', service: 's' } }]],
    ['stops at the first malformed parameter, keeping earlier ones', 'Bearer realm="r",service=he"llo,scope="x"', [
      { scheme: 'bearer', parameters: { realm: 'r', service: 'he' } },
    ]],
    ['an unterminated quoted string ends the header', 'Bearer realm="r",service="abc', [{ scheme: 'bearer', parameters: { realm: 'r' } }]],
    ['an empty value is dropped', 'Bearer realm="r",service=,scope="s"', [{ scheme: 'bearer', parameters: { realm: 'r' } }]],
    ['nothing parsable', '"quoted"', []],
    ['empty', '', []],
  ];
  for (const [name, input, want] of rows) {
    test(name, () => assert.deepEqual(parseWwwAuthenticate(input), want));
  }

  test('undefined header', () => assert.deepEqual(parseWwwAuthenticate(undefined), []));
});

describe('ChallengeStore', () => {
  test('challenges registered under odd spellings are found with the canonical host:port', () => {
    const challenge = { scheme: 'bearer', parameters: { realm: 'https://auth/token' } };
    for (const host of ['reg.EXAMPLE.com', 'reg.example.com:80']) {
      const store = new ChallengeStore();
      store.set(`http://${host}/v2/`, [challenge]);
      assert.deepEqual(store.get('http://reg.example.com:80/v2/x/manifests/latest'), [challenge], host);
      assert.deepEqual(store.get('http://reg.example.com/v2/'), [challenge], host);
      assert.equal(store.get('https://reg.example.com/v2/'), undefined, 'another scheme is another endpoint');
      assert.equal(store.get('http://reg.example.com:5000/v2/'), undefined, 'another port is another endpoint');
    }
  });

  test('a 200 ping stores an empty list, distinct from never pinged', () => {
    const store = new ChallengeStore();
    store.set('https://r.example/v2/', []);
    assert.deepEqual(store.get('https://r.example:443/v2/'), []);
    assert.equal(store.get('https://other.example/v2/'), undefined);
  });

  test('endpoint keys: canonical host:port and the ping path', () => {
    assert.equal(endpointKey('https://Reg.Example.com/v2/'), 'https://reg.example.com:443/v2/');
    assert.equal(endpointKey('https://reg.example.com'), 'https://reg.example.com:443/v2/');
    assert.equal(endpointKey('http://[::1]:5000/v2/x/blobs/uploads/'), 'http://[::1]:5000/v2/');
    assert.equal(endpointKey(new URL('http://127.0.0.1/v2/')), 'http://127.0.0.1:80/v2/');
    assert.equal(endpointKey('https://proxy.example/a/v2/x/manifests/1'), 'https://proxy.example:443/a/v2/');
  });

  test('registries under different path prefixes keep their own challenges', () => {
    const store = new ChallengeStore();
    store.set('https://proxy.example/a/v2/', [{ scheme: 'basic', parameters: { realm: 'a' } }]);
    store.set('https://proxy.example/b/v2/', []);
    assert.equal(store.get('https://proxy.example/a/v2/x/tags/list')?.[0]?.parameters.realm, 'a');
    assert.deepEqual(store.get('https://proxy.example/b/v2/x/tags/list'), []);
    assert.equal(store.get('https://proxy.example/v2/'), undefined);
  });
});

test('pingPathFor', () => {
  assert.equal(pingPathFor('/v2/library/alpine/manifests/latest'), '/v2/');
  assert.equal(pingPathFor('/v2/'), '/v2/');
  assert.equal(pingPathFor('/prefix/v2/x/blobs/sha256:1'), '/prefix/v2/');
  assert.equal(pingPathFor('/v1/search'), '/v2/');
  assert.equal(pingPathFor('/mirror/v1/repositories/x'), '/mirror/v2/');
  assert.equal(pingPathFor('/token'), undefined);
  assert.equal(pingPathFor('/v2'), undefined);
});

describe('scopes', () => {
  test('format: Docker drops the `image` class and keeps others', () => {
    assert.equal(formatScope(repositoryScope('library/alpine', ['pull'])), 'repository:library/alpine:pull');
    assert.equal(formatScope(repositoryScope('a/b', ['pull', 'push'], 'image')), 'repository:a/b:pull,push');
    assert.equal(formatScope(repositoryScope('vieux/sshfs', ['pull'], 'plugin')), 'repository(plugin):vieux/sshfs:pull');
    assert.equal(formatScope(registryScope('catalog', ['*'])), 'registry:catalog:*');
  });

  test('parse: a host:port name keeps its colon', () => {
    assert.deepEqual(parseScope('repository:localhost:5000/app:pull,push'), { type: 'repository', name: 'localhost:5000/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository(plugin):p:pull'), { type: 'repository', class: 'plugin', name: 'p', actions: ['pull'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.deepEqual(parseScope('repository:x:'), { type: 'repository', name: 'x', actions: [] });
    for (const bad of ['repository', 'repository:x', 'repository::pull', 'repository:a:b:c:pull', ':x:pull', 'repo sitory:x:pull', 'repository:x:pu;ll']) {
      assert.equal(parseScope(bad), undefined, bad);
    }
    assert.deepEqual(parseScopeList('repository:a:pull  repository:b:push').map(formatScope), ['repository:a:pull', 'repository:b:push']);
  });

  test('merging: union of actions per resource, first-seen order', () => {
    const merged = mergeScopes(
      [repositoryScope('dst', ['push']), repositoryScope('src', ['pull'])],
      [repositoryScope('dst', ['pull', 'push']), repositoryScope('plug', ['pull'], 'plugin'), repositoryScope('plug', ['pull'])],
    );
    assert.deepEqual(merged.map(formatScope), ['repository:dst:push,pull', 'repository:src:pull', 'repository(plugin):plug:pull', 'repository:plug:pull']);
    assert.ok(scopesCover(merged, [repositoryScope('dst', ['pull'])]));
    assert.ok(!scopesCover(merged, [repositoryScope('src', ['push'])]));
    assert.ok(scopesCover([registryScope('catalog', ['*'])], [registryScope('catalog', ['search'])]));
  });

  test('the cache key ignores order and duplicates, and tells different sets apart', () => {
    const a = scopeSetKey([repositoryScope('a', ['push', 'pull']), repositoryScope('b', ['pull'])]);
    const b = scopeSetKey([repositoryScope('b', ['pull']), repositoryScope('a', ['pull']), repositoryScope('a', ['push', 'pull'])]);
    assert.equal(a, b);
    assert.notEqual(a, scopeSetKey([repositoryScope('a', ['pull']), repositoryScope('b', ['pull'])]));
    assert.notEqual(scopeSetKey([repositoryScope('a', ['pull'], 'plugin')]), scopeSetKey([repositoryScope('a', ['pull'])]));
  });
});

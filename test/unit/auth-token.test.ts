/**
 * Token answers, the token cache and auth error mapping. The cache rows come from
 * distribution's `internal/client/auth/session_test.go`, the error rows from its
 * `HandleErrorResponse` (`internal/client/errors.go`), both in
 * https://github.com/distribution/distribution/tree/main/internal/client; the rules are in
 * docs/docker-rules.md#token-auth.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTokenResponse, TokenCache, tokenCacheKey } from '../../src/auth/token-response.js';
import type { TokenResponse } from '../../src/auth/token-response.js';
import { AuthError, authErrorFromResponse } from '../../src/auth/errors.js';
import { repositoryScope } from '../../src/ref/scope.js';
import { GantryError } from '../../src/errors.js';

const NOW = new Date('2026-01-02T03:04:05Z');
const SECRET = 'tok-3f9a-very-secret';

describe('parseTokenResponse', () => {
  test('access_token wins over token; expires_in counts from now when issued_at is absent', () => {
    const t = parseTokenResponse(JSON.stringify({ token: 'old', access_token: SECRET, expires_in: 300 }), NOW);
    assert.equal(t.token, SECRET);
    assert.equal(t.issuedAt.getTime(), NOW.getTime());
    assert.equal(t.expiresAt.getTime(), NOW.getTime() + 300_000);
    assert.equal(t.refreshToken, undefined);
  });

  test('token alone, default and minimum lifetime 60 s, refresh token kept', () => {
    const a = parseTokenResponse(Buffer.from('{"token":"statictoken"}'), NOW);
    assert.equal(a.token, 'statictoken');
    assert.equal(a.expiresAt.getTime() - NOW.getTime(), 60_000);
    const b = parseTokenResponse('{"token":"t","expires_in":10,"refresh_token":"r"}', NOW);
    assert.equal(b.expiresAt.getTime() - NOW.getTime(), 60_000);
    assert.equal(b.refreshToken, 'r');
  });

  test('issued_at (RFC 3339) is the start of the lifetime; keys match case-insensitively like Go', () => {
    const t = parseTokenResponse('{"Token":"t","Expires_In":3001,"issued_at":"2026-01-02T00:00:00.5+01:00"}', NOW);
    assert.equal(t.issuedAt.toISOString(), '2026-01-01T23:00:00.500Z');
    assert.equal(t.expiresAt.getTime() - t.issuedAt.getTime(), 3_001_000);
  });

  const bad: [string, string][] = [
    ['not json', 'unable to decode token response: '],
    ['[]', 'unable to decode token response: not a JSON object'],
    ['{"expires_in":300}', 'authorization server did not include a token in the response'],
    ['{"token":""}', 'authorization server did not include a token in the response'],
    [`{"token":"${SECRET}","expires_in":"300"}`, 'unable to decode token response: field "expires_in" is not an integer'],
    [`{"token":"${SECRET}","issued_at":"yesterday"}`, 'unable to decode token response: field "issued_at" is not an RFC 3339 time'],
    [`{"token":{"v":"${SECRET}"}}`, 'unable to decode token response: field "token" is not a string'],
    [`{"access_token":12,"token":"${SECRET}"}`, 'unable to decode token response: field "access_token" is not a string'],
    [`{"token":"${SECRET}","refresh_token":true}`, 'unable to decode token response: field "refresh_token" is not a string'],
  ];
  for (const [body, message] of bad) {
    test(`malformed: ${body}`, () => {
      assert.throws(
        () => parseTokenResponse(body, NOW),
        (err: unknown) => {
          assert.ok(err instanceof GantryError);
          assert.equal(err.code, 'INVALID_RESPONSE');
          assert.ok(err.message.startsWith(message), err.message);
          assert.ok(!err.message.includes(SECRET), 'the token is never echoed');
          return true;
        },
      );
    });
  }

  test('an undecodable body never echoes the token', () => {
    for (const body of [`{"token":"${SECRET}`, `token=${SECRET}`, `{"token":"${SECRET}" x}`]) {
      assert.throws(() => parseTokenResponse(body, NOW), (err: Error) => err.message.startsWith('unable to decode token response: ') && !err.message.includes(SECRET), body);
    }
  });
});

describe('TokenCache', () => {
  const key = tokenCacheKey({ realm: 'https://auth/token', service: 'registry', scopes: [repositoryScope('some/registry', ['pull', 'push'])] });

  for (const withIssuedAt of [false, true]) {
    test(`expires_in 3001 with a clock moving 1000 s per request: one exchange until t=4000${withIssuedAt ? ' (issued_at)' : ''}`, async () => {
      let t = 0;
      const cache = new TokenCache({ now: () => new Date(t * 1000) });
      let exchanges = 0;
      const fetch = (): Promise<TokenResponse> => {
        exchanges++;
        const body = withIssuedAt ? { token: `t${exchanges}`, expires_in: 3001, issued_at: new Date(t * 1000).toISOString() } : { token: `t${exchanges}`, expires_in: 3001 };
        return Promise.resolve(parseTokenResponse(JSON.stringify(body), new Date(t * 1000)));
      };
      for (const at of [0, 1000, 2000, 3000]) {
        t = at;
        assert.equal((await cache.getOrFetch(key, fetch)).token, 't1', `t=${at}`);
      }
      assert.equal(exchanges, 1);
      t = 4000;
      assert.equal((await cache.getOrFetch(key, fetch)).token, 't2');
      assert.equal(exchanges, 2);
    });
  }

  test('valid while now <= expiry, gone after', () => {
    let now = 0;
    const cache = new TokenCache({ now: () => new Date(now) });
    cache.set('k', { token: 't', issuedAt: new Date(0), expiresAt: new Date(60_000) });
    now = 60_000;
    assert.equal(cache.get('k')?.token, 't');
    now = 60_001;
    assert.equal(cache.get('k'), undefined);
  });

  test('concurrent callers share one in-flight exchange; a failure is not cached', async () => {
    const cache = new TokenCache();
    let exchanges = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fetch = async (): Promise<TokenResponse> => {
      exchanges++;
      await gate;
      return { token: 'shared', issuedAt: new Date(), expiresAt: new Date(Date.now() + 60_000) };
    };
    const all = Promise.all([1, 2, 3, 4, 5].map(() => cache.getOrFetch(key, fetch)));
    release();
    assert.deepEqual((await all).map((t) => t.token), ['shared', 'shared', 'shared', 'shared', 'shared']);
    assert.equal(exchanges, 1);

    const failing = new TokenCache();
    let attempts = 0;
    const boom = (): Promise<TokenResponse> => {
      attempts++;
      return Promise.reject(new Error('token server down'));
    };
    await Promise.all([assert.rejects(failing.getOrFetch(key, boom)), assert.rejects(failing.getOrFetch(key, boom))]);
    assert.equal(attempts, 1);
    await assert.rejects(failing.getOrFetch(key, boom));
    assert.equal(attempts, 2);
  });

  test('the key depends on realm, service and the scope set, not on scope order', () => {
    const a = repositoryScope('a', ['pull']);
    const b = repositoryScope('b', ['push', 'pull']);
    const base = { realm: 'https://auth/token', service: 's' };
    assert.equal(tokenCacheKey({ ...base, scopes: [a, b] }), tokenCacheKey({ ...base, scopes: [b, a] }));
    assert.notEqual(tokenCacheKey({ ...base, scopes: [a] }), tokenCacheKey({ ...base, scopes: [a, b] }));
    assert.notEqual(tokenCacheKey({ ...base, scopes: [a] }), tokenCacheKey({ ...base, service: 't', scopes: [a] }));
    assert.notEqual(tokenCacheKey({ ...base, scopes: [a] }), tokenCacheKey({ ...base, realm: 'https://other/token', scopes: [a] }));
  });
});

describe('authErrorFromResponse (HandleErrorResponse)', () => {
  const json = { 'content-type': 'application/json' };
  const rows: [string, number, Record<string, string>, string, string, string][] = [
    ['bearer invalid_token', 401, { 'www-authenticate': 'Bearer realm="r",error="invalid_token"' }, '', 'UNAUTHORIZED', 'unauthorized: authentication required'],
    ['bearer insufficient_scope with description', 403, { 'www-authenticate': 'Bearer realm="r",error="insufficient_scope",error_description="no push for you"' }, '', 'DENIED', 'denied: no push for you'],
    ['details body, 401', 401, json, '{"details":"incorrect username or password"}', 'UNAUTHORIZED', 'unauthorized: incorrect username or password'],
    ['details body, 429', 429, json, '{"details":"slow down"}', 'TOO_MANY_REQUESTS', 'toomanyrequests: slow down'],
    ['details body, 404', 404, json, '{"details":"no such realm"}', 'REGISTRY', 'unknown: no such realm'],
    ['errors body', 403, json, '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', 'DENIED', 'denied: requested access to the resource is denied'],
    ['errors body without message gets the default', 429, json, '{"errors":[{"code":"TOOMANYREQUESTS"}]}', 'TOO_MANY_REQUESTS', 'toomanyrequests: too many requests'],
    ['several errors', 400, json, '{"errors":[{"code":"NAME_INVALID","message":"bad"},{"code":"DENIED","message":"no"}]}', 'REGISTRY', 'errors:\nname invalid: bad\ndenied: no\n'],
    ['non-JSON body, 403', 403, { 'content-type': 'text/plain' }, 'Forbidden by proxy\n', 'DENIED', 'denied: Forbidden by proxy'],
    ['non-JSON body, no content type, 401', 401, {}, 'go away', 'UNAUTHORIZED', 'unauthorized: go away'],
    ['empty 401', 401, {}, '', 'UNAUTHORIZED', 'unauthorized: authentication required'],
    ['unparsable JSON on 401', 401, json, '{"errors":', 'UNAUTHORIZED', 'unauthorized: authentication required'],
    ['JSON without errors on 401', 401, json, '{}', 'UNAUTHORIZED', 'unauthorized: authentication required'],
    ['unparsable JSON on 400', 400, json, '{"x":', 'REGISTRY', 'unknown: error parsing HTTP 400 response body: {"x":'],
  ];
  for (const [name, status, headers, body, code, message] of rows) {
    test(name, () => {
      const err = authErrorFromResponse(status, headers, body);
      assert.ok(err instanceof AuthError);
      assert.equal(err.code, code);
      assert.equal(err.status, status);
      assert.equal(err.message, message);
    });
  }

  test('the registry error list is kept, with details', () => {
    const err = authErrorFromResponse(403, new Headers(json), Buffer.from('{"errors":[{"code":"denied","message":"m","detail":{"a":1}}]}'));
    assert.deepEqual(err.errors, [{ code: 'DENIED', message: 'm', detail: { a: 1 } }]);
  });

  test('a bearer error comes first, body errors after', () => {
    const err = authErrorFromResponse(401, { 'www-authenticate': 'Bearer error="invalid_token"', ...json }, '{"errors":[{"code":"UNAUTHORIZED","message":"expired"}]}');
    assert.deepEqual(err.errors.map((e) => e.message), ['authentication required', 'expired']);
  });

  test('statuses outside 4xx', () => {
    const err = authErrorFromResponse(503, {}, 'upstream down', { statusText: 'Service Unavailable', url: 'https://auth.example/token?service=s&password=pw' });
    assert.equal(err.url, 'https://auth.example/token?service=s&password=%5Bredacted%5D');
    assert.equal(err.message, 'received unexpected HTTP status: 503 Service Unavailable');
    assert.equal(err.code, 'REGISTRY');
    assert.equal(err.retryable, true);
    assert.equal(authErrorFromResponse(429, {}, '').retryable, true);
    assert.equal(authErrorFromResponse(401, {}, '').retryable, false);
  });
});

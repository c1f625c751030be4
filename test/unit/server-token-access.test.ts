/** What a token grants: repository globs, `*` actions, the catalog, and partial grants. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { globMatches, grantAccess, type AccessRule } from '../../src/server/token/access.js';
import { registryScope, repositoryScope } from '../../src/ref/scope.js';

describe('globMatches', () => {
  const rows: [pattern: string, name: string, matches: boolean][] = [
    ['team/app', 'team/app', true],
    ['team/app', 'team/app2', false],
    ['team/*', 'team/app', true],
    ['team/*', 'team/a/b', true],
    ['team/*', 'team', false],
    ['*', 'anything/at/all', true],
    ['*/app', 'x/app', true],
    ['a.b/*', 'axb/c', false],
    ['a+b*', 'aab', false],
    ['a+b*', 'a+bc', true],
  ];
  for (const [pattern, name, matches] of rows) {
    test(`${pattern} ${matches ? 'matches' : 'does not match'} ${name}`, () => assert.equal(globMatches(pattern, name), matches));
  }
});

describe('grantAccess', () => {
  const rules: AccessRule[] = [
    { repository: 'team/*', actions: ['pull'] },
    { repository: 'team/app', actions: ['push'] },
    { repository: 'solo', actions: ['*'] },
  ];

  test('the intersection of asked and allowed, per resource; nothing granted is left out', () => {
    const scopes = [repositoryScope('team/app', ['pull', 'push', 'delete']), repositoryScope('other', ['pull']), repositoryScope('solo', ['delete', '*'])];
    assert.deepEqual(grantAccess(scopes, rules, false), [
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'solo', actions: ['delete', '*'] },
    ]);
  });

  test('scopes for one resource are merged first', () => {
    const scopes = [repositoryScope('team/x', ['pull']), repositoryScope('team/x', ['push', 'pull'])];
    assert.deepEqual(grantAccess(scopes, rules, false), [{ type: 'repository', name: 'team/x', actions: ['pull'] }]);
  });

  test('the catalog only when allowed; other registry resources never', () => {
    const scopes = [registryScope('catalog', ['*']), registryScope('other', ['*'])];
    assert.deepEqual(grantAccess(scopes, rules, false), []);
    assert.deepEqual(grantAccess(scopes, rules, true), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
  });
});

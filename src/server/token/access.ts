/**
 * Which access a token grants: the intersection of what the request asks for and what the
 * rules allow, per resource. A partial grant is not an error (the token spec: the server
 * returns what the client may have, and the registry refuses the rest;
 * https://distribution.github.io/distribution/spec/auth/token/).
 * Repositories are matched by name or by a glob; the catalog (`registry:catalog:*`) only for
 * the users named for it.
 */
import type { Scope } from '../../ref/scope.js';
import { mergeScopes } from '../../ref/scope.js';
import type { AccessEntry } from './jwt.js';

/** A grant rule: repositories matching `repository` (exact, or a glob where `*` matches anything) get `actions`. */
export interface AccessRule {
  /** A repository name (`team/app`), or a glob whose `*` matches any run of characters, `/` included (`team/*`). */
  repository: string;
  /** The actions granted on matching repositories; `*` stands for `pull`, `push` and `delete` (and `*` itself). */
  actions: ('pull' | 'push' | 'delete' | '*')[];
}

/** What `*` in a rule stands for: every repository action, and `*` itself. */
const ALL_REPOSITORY_ACTIONS = ['pull', 'push', 'delete'];

/** Whether `name` matches `pattern`: equal, or a glob whose `*` matches any run of characters, `/` included. */
export function globMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

/**
 * The access entries for `scopes` (merged per resource first) under `rules`; `catalog` says
 * whether the subject may list the catalog. Resources with nothing granted are left out.
 */
export function grantAccess(scopes: readonly Scope[], rules: readonly AccessRule[], catalog: boolean): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const s of mergeScopes(scopes)) {
    let allowed: string[] = [];
    if (s.type === 'repository') {
      for (const r of rules) {
        if (!globMatches(r.repository, s.name)) continue;
        allowed.push(...(r.actions.includes('*') ? [...ALL_REPOSITORY_ACTIONS, '*'] : r.actions));
      }
    } else if (s.type === 'registry' && s.name === 'catalog' && catalog) {
      allowed = ['*'];
    }
    const actions = s.actions.filter((a) => allowed.includes(a));
    if (actions.length > 0) out.push({ type: s.type, name: s.name, actions });
  }
  return out;
}

/**
 * Token scopes (https://distribution.github.io/distribution/spec/auth/scope/):
 * `resourcetype[(class)]:resourcename:action[,action]*`. A resource name may hold one `:`
 * (`localhost:5000/app`), so the actions are split at the LAST colon, never by a 3-way split.
 */

/** One token scope: a resource and the actions asked for (or granted) on it. */
export interface Scope {
  /** `repository`, `registry`, … */
  readonly type: string;
  /** Deprecated resource class (`plugin`); servers ignore it but Docker still sends it. */
  readonly class?: string;
  /** The resource name: a repository path such as `library/ubuntu`, or `catalog` for the registry type. */
  readonly name: string;
  /** The actions, e.g. `pull`, `push`, `delete` or `*`; may be empty. */
  readonly actions: readonly string[];
}

export function repositoryScope(name: string, actions: readonly string[], resourceClass?: string): Scope {
  // Docker drops the class when it is empty or `image`, for token servers that predate the
  // class grammar (distribution `auth/session.go`, `RepositoryScope.String`).
  const cls = resourceClass && resourceClass !== 'image' ? resourceClass : undefined;
  return cls ? { type: 'repository', class: cls, name, actions: [...actions] } : { type: 'repository', name, actions: [...actions] };
}

export function registryScope(name: string, actions: readonly string[]): Scope {
  return { type: 'registry', name, actions: [...actions] };
}

export function formatScope(scope: Scope): string {
  const type = scope.class ? `${scope.type}(${scope.class})` : scope.type;
  return `${type}:${scope.name}:${scope.actions.join(',')}`;
}

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/i;

/** Parses one scope; undefined when it does not follow the grammar. */
export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const m = TYPE.exec(text.slice(0, first));
  if (!m) return undefined;
  const name = text.slice(first + 1, last);
  // At most one more colon inside the name (host:port).
  if (!name || name.split(':').length > 2 || /\s/.test(name)) return undefined;
  const actionText = text.slice(last + 1);
  const actions = actionText === '' ? [] : actionText.split(',');
  if (actions.some((a) => !/^[a-z*]+$/i.test(a))) return undefined;
  const type = m[1] as string;
  return m[2] ? { type, class: m[2], name, actions } : { type, name, actions };
}

/** Parses a space-separated scope list (OAuth2 form), dropping malformed entries. */
export function parseScopeList(text: string): Scope[] {
  return text
    .split(' ')
    .filter((s) => s !== '')
    .map(parseScope)
    .filter((s): s is Scope => s !== undefined);
}

function resourceKey(s: Scope): string {
  return `${s.type}(${s.class ?? ''}):${s.name}`;
}

/**
 * Merges scope sets: one entry per resource, its actions the union of every request for it,
 * resources and actions in first-seen order (a few registries only read the first scope, so
 * callers put the push scope first and merging must not reorder it).
 */
export function mergeScopes(...sets: readonly (readonly Scope[])[]): Scope[] {
  const merged = new Map<string, { scope: Scope; actions: string[] }>();
  for (const set of sets) {
    for (const s of set) {
      const key = resourceKey(s);
      const entry = merged.get(key);
      if (!entry) {
        merged.set(key, { scope: s, actions: [...new Set(s.actions)] });
      } else {
        for (const a of s.actions) if (!entry.actions.includes(a)) entry.actions.push(a);
      }
    }
  }
  return [...merged.values()].map(({ scope, actions }) => ({ ...scope, actions }));
}

/** True when every action of every scope in `wanted` is already in `held`. */
export function scopesCover(held: readonly Scope[], wanted: readonly Scope[]): boolean {
  const byKey = new Map(mergeScopes(held).map((s) => [resourceKey(s), s.actions]));
  return wanted.every((w) => {
    const have = byKey.get(resourceKey(w));
    return have !== undefined && w.actions.every((a) => have.includes(a) || have.includes('*'));
  });
}

/**
 * An order-insensitive key for a scope set: the same resources and actions asked in any order
 * share one cached token.
 */
export function scopeSetKey(scopes: readonly Scope[]): string {
  return mergeScopes(scopes)
    .map((s) => formatScope({ ...s, actions: [...s.actions].sort() }))
    .sort()
    .join(' ');
}

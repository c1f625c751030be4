/**
 * The filters of a sync: repository patterns (globs or `/regex/`), tag selection (regex,
 * exclusion, semver range, the newest N) and immutable tags; the shard a tag belongs to is in
 * `shard.ts`. Pure functions over names; nothing here sends a request.
 */
import semver, { type SemVer } from 'semver';
import type { SyncTagFilter } from './config.js';

/**
 * A repository pattern: `/…/` is a regular expression (unanchored), anything else a glob
 * where `*` and `?` stay inside one path component and `**` crosses them (`team/**`).
 */
export function repositoryMatcher(pattern: string): (name: string) => boolean {
  if (pattern.length > 1 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const re = new RegExp(pattern.slice(1, -1));
    return (name) => re.test(name);
  }
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      // `a/**/b` also matches `a/b`.
      if (pattern[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}

/** Whether a discovered repository passes `include` (any; all when empty) and no `exclude`. */
export function repositoryFilter(include: readonly string[] = [], exclude: readonly string[] = []): (name: string) => boolean {
  const inc = include.map(repositoryMatcher);
  const exc = exclude.map(repositoryMatcher);
  return (name) => (inc.length === 0 || inc.some((m) => m(name))) && !exc.some((m) => m(name));
}

/** `[v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`: what counts as a version among tags (Masterminds semver's leniency, as skopeo's). */
const VERSION_TAG = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** The version a tag names (`1.25` is 1.25.0, `v2` is 2.0.0), or undefined when it is not one. */
export function tagVersion(tag: string): SemVer | undefined {
  const m = VERSION_TAG.exec(tag);
  if (!m) return undefined;
  const text = `${Number(m[1])}.${Number(m[2] ?? 0)}.${Number(m[3] ?? 0)}${m[4] ? `-${m[4]}` : ''}`;
  return semver.parse(text) ?? undefined;
}

/** The per-tag part of a filter (regex, exclusion, semver range): whether one tag passes. */
export function tagPredicate(filter: SyncTagFilter): (tag: string) => boolean {
  const include = filter.regex !== undefined ? new RegExp(filter.regex) : undefined;
  const exclude = filter.excludeRegex !== undefined ? new RegExp(filter.excludeRegex) : undefined;
  const prerelease = filter.prerelease ?? false;
  const range = filter.semver !== undefined ? new semver.Range(filter.semver, { includePrerelease: prerelease }) : undefined;
  const versionsOnly = range !== undefined || (filter.newest !== undefined && (filter.order ?? 'semver') === 'semver');
  return (tag) => {
    if (include && !include.test(tag)) return false;
    if (exclude && exclude.test(tag)) return false;
    if (!versionsOnly) return true;
    const v = tagVersion(tag);
    if (!v) return false;
    if (!prerelease && v.prerelease.length > 0) return false;
    return range ? range.test(v) : true;
  };
}

/**
 * The newest `n` tags seen, by a sort key (a version, or a creation time), kept in a list of
 * at most `n` (MAX_NEWEST) while a listing streams by. Ties go to the greater tag name, so
 * every shard of a sync picks the same tags.
 */
export class NewestTags<K> {
  private readonly kept: { tag: string; key: K }[] = [];

  constructor(
    private readonly n: number,
    private readonly compare: (a: K, b: K) => number,
  ) {}

  private order(a: { tag: string; key: K }, b: { tag: string; key: K }): number {
    return this.compare(a.key, b.key) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0);
  }

  /** Offers a tag; it is kept when it is among the newest n so far. */
  add(tag: string, key: K): void {
    const entry = { tag, key };
    // `kept` is ascending: the oldest first.
    if (this.kept.length >= this.n && this.order(entry, this.kept[0]!) <= 0) return;
    let lo = 0;
    let hi = this.kept.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.order(this.kept[mid]!, entry) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.kept.splice(lo, 0, entry);
    if (this.kept.length > this.n) this.kept.shift();
  }

  /** The tags kept, newest first. */
  tags(): string[] {
    return this.kept.map((e) => e.tag).reverse();
  }
}

/** Whether a tag is immutable under `rule` (`true`: every tag; a string: a regular expression). */
export function immutableRule(rule: boolean | string | undefined): (tag: string) => boolean {
  if (rule === undefined || rule === false) return () => false;
  if (rule === true) return () => true;
  const re = new RegExp(rule);
  return (tag) => re.test(tag);
}

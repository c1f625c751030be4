/**
 * Image references, normalised exactly as Docker's `ParseNormalizedNamed` does
 * (distribution/reference `normalize.go`, `reference.go`): `ubuntu` is
 * `docker.io/library/ubuntu`, `index.docker.io/x` is `docker.io/library/x`, and the
 * first path component is a registry only when it looks like one. References are parsed
 * once, at the edge, into frozen values; nothing past the edge handles raw strings.
 */
import { InvalidReferenceError } from '../errors.js';
import { Digest } from './digest.js';
import {
  ANCHORED_NAME_RE,
  DOMAIN_RE,
  IDENTIFIER_RE,
  NAME_TOTAL_LENGTH_MAX,
  REFERENCE_RE,
  REMOTE_NAME_RE,
  TAG_RE,
} from './grammar.js';

/** Docker Hub's canonical domain (`DefaultNamespace`, `IndexName`). */
export const DEFAULT_DOMAIN = 'docker.io';
/** The old Hub domain, normalised to `docker.io` wherever it appears as a registry. */
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** The namespace of Docker Hub's official images. */
export const OFFICIAL_REPO_PREFIX = 'library/';
/** The tag Docker adds when a reference names neither tag nor digest. */
export const DEFAULT_TAG = 'latest';

/** distribution/reference's error texts. */
export const REFERENCE_INVALID_FORMAT = 'invalid reference format';
export const NAME_TOO_LONG = `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`;
export const NAME_CONTAINS_UPPERCASE = 'repository name must be lowercase';
export const NAME_EMPTY = 'repository name must have at least one component';
export const TAG_INVALID_FORMAT = 'invalid tag format';

/** A repository: the registry domain and the path inside it. */
export class Repository {
  /** The registry, `host[:port]`; `docker.io` for Docker Hub. */
  readonly domain: string;
  /** The path inside the registry, e.g. `library/ubuntu`. */
  readonly path: string;

  private constructor(domain: string, path: string) {
    this.domain = domain;
    this.path = path;
    Object.freeze(this);
  }

  /** A repository from parts that are already canonical (a catalog entry on a known host). */
  static from(domain: string, path: string): Repository {
    if (!DOMAIN_RE.test(domain) || !REMOTE_NAME_RE.test(path)) throw new InvalidReferenceError(REFERENCE_INVALID_FORMAT);
    if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) throw new InvalidReferenceError(NAME_TOO_LONG);
    return new Repository(domain, path);
  }

  /** The canonical name, `domain/path`. */
  get name(): string {
    return `${this.domain}/${this.path}`;
  }

  /**
   * Docker's familiar name: `docker.io/` dropped, and `library/` dropped for one-level
   * official images (`library/a/b` keeps its prefix, as in distribution's `familiarizeName`).
   */
  get familiar(): string {
    if (this.domain !== DEFAULT_DOMAIN) return this.name;
    if (this.path.startsWith(OFFICIAL_REPO_PREFIX)) {
      const rest = this.path.slice(OFFICIAL_REPO_PREFIX.length);
      if (!rest.includes('/')) return rest;
    }
    return this.path;
  }

  /** An official Docker Hub image (`ParseRepositoryInfo`: familiar name without `/`). */
  get official(): boolean {
    return this.domain === DEFAULT_DOMAIN && !this.familiar.includes('/');
  }

  /** True when `other` has the same domain and path. */
  equals(other: Repository): boolean {
    return this.domain === other.domain && this.path === other.path;
  }

  /** The canonical name `domain/path`, e.g. `docker.io/library/ubuntu` (same as `name`). */
  toString(): string {
    return this.name;
  }

  /** The canonical name `domain/path`, so a repository serialises as that string. */
  toJSON(): string {
    return this.name;
  }
}

/** A repository with an optional tag and an optional digest (both may be present). */
export class Reference {
  /** The normalised repository, e.g. `docker.io/library/ubuntu` for `ubuntu`. */
  readonly repository: Repository;
  /** The tag as written; undefined when the reference names none (no `latest` is added). */
  readonly tag: string | undefined;
  /** The digest after `@`; undefined when the reference names none. */
  readonly digest: Digest | undefined;

  private constructor(repository: Repository, tag: string | undefined, digest: Digest | undefined) {
    this.repository = repository;
    this.tag = tag;
    this.digest = digest;
    Object.freeze(this);
  }

  /** Parses a reference the way `docker pull` does (`ParseNormalizedNamed`). */
  static parse(s: string): Reference {
    if (IDENTIFIER_RE.test(s)) {
      throw new InvalidReferenceError(`invalid repository name (${s}), cannot specify 64-byte hexadecimal strings`);
    }
    const [domain, remainder] = splitDockerDomain(s);
    const tagSep = remainder.indexOf(':');
    const remote = tagSep > -1 ? remainder.slice(0, tagSep) : remainder;
    if (remote.toLowerCase() !== remote) {
      throw new InvalidReferenceError(`${REFERENCE_INVALID_FORMAT}: repository name (${remote}) must be lowercase`);
    }
    return parseCanonical(`${domain}/${remainder}`);
  }

  /** A reference to `repository` with the given tag and/or digest. */
  static of(repository: Repository, options: { tag?: string; digest?: Digest } = {}): Reference {
    if (options.tag !== undefined) checkTag(options.tag);
    return new Reference(repository, options.tag, options.digest);
  }

  /** The canonical repository name, `domain/path`. */
  get name(): string {
    return this.repository.name;
  }

  /** What the registry is asked for: the digest when there is one, else the tag, else `latest`. */
  get identifier(): string {
    return this.digest?.toString() ?? this.tag ?? DEFAULT_TAG;
  }

  /** Docker's familiar string, e.g. `ubuntu:22.04` or `example.com/a/b@sha256:…`. */
  familiar(): string {
    return this.repository.familiar + this.suffix();
  }

  /** The fully qualified string, e.g. `docker.io/library/ubuntu:latest`. */
  canonical(): string {
    return this.repository.name + this.suffix();
  }

  /** The same repository with `tag`; a digest, if any, is kept (distribution's `WithTag`). */
  withTag(tag: string): Reference {
    checkTag(tag);
    return new Reference(this.repository, tag, this.digest);
  }

  /** The same repository with `digest`; a tag, if any, is kept (distribution's `WithDigest`). */
  withDigest(digest: Digest | string): Reference {
    return new Reference(this.repository, this.tag, typeof digest === 'string' ? Digest.parse(digest) : digest);
  }

  /** Adds `latest` when the reference names neither tag nor digest (Docker's `TagNameOnly`). */
  withDefaultTag(): Reference {
    return this.tag === undefined && this.digest === undefined ? this.withTag(DEFAULT_TAG) : this;
  }

  /** True when both have the same canonical form (repository, tag and digest). */
  equals(other: Reference): boolean {
    return this.canonical() === other.canonical();
  }

  /** The fully qualified form, as `canonical()`, e.g. `docker.io/library/ubuntu:22.04`. */
  toString(): string {
    return this.canonical();
  }

  /** The fully qualified form, as `canonical()`, so a reference serialises as that string. */
  toJSON(): string {
    return this.canonical();
  }

  private suffix(): string {
    return (this.tag === undefined ? '' : `:${this.tag}`) + (this.digest === undefined ? '' : `@${this.digest.toString()}`);
  }
}

/**
 * A repository name without tag or digest, normalised like a reference (`ubuntu` is
 * `docker.io/library/ubuntu`); for commands that act on a whole repository (tags, catalog).
 */
export function parseRepository(s: string): Repository {
  const ref = Reference.parse(s);
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new InvalidReferenceError(`${REFERENCE_INVALID_FORMAT}: ${s} names a repository, it must not have a tag or digest`);
  }
  return ref.repository;
}

/**
 * Splits a `docker search` term into its registry and remote name (`splitReposSearchTerm`):
 * the first component is a registry only if it holds `.` or `:` or is `localhost`; the
 * registry is returned as written (callers normalise it with the service configuration).
 */
export function splitReposSearchTerm(term: string): { indexName: string; remoteName: string } {
  const slash = term.indexOf('/');
  if (slash === -1) return { indexName: DEFAULT_DOMAIN, remoteName: term };
  const first = term.slice(0, slash);
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') {
    return { indexName: DEFAULT_DOMAIN, remoteName: term };
  }
  return { indexName: first, remoteName: term.slice(slash + 1) };
}

/**
 * distribution's `splitDockerDomain`: the first component is the registry when it is
 * `localhost`, holds `.` or `:`, or has upper case (repository paths cannot).
 */
function splitDockerDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash === -1) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let remainder: string;
  if (maybeDomain === 'localhost' || /[.:]/.test(maybeDomain) || maybeDomain.toLowerCase() !== maybeDomain) {
    domain = maybeDomain === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : maybeDomain;
    remainder = rest;
  } else {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  }
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [domain, remainder];
}

/** distribution's `Parse` on a string that already has its domain. */
function parseCanonical(s: string): Reference {
  const m = REFERENCE_RE.exec(s);
  if (m === null) {
    if (s === '') throw new InvalidReferenceError(NAME_EMPTY);
    if (REFERENCE_RE.test(s.toLowerCase())) throw new InvalidReferenceError(NAME_CONTAINS_UPPERCASE);
    throw new InvalidReferenceError(REFERENCE_INVALID_FORMAT);
  }
  const [, name = '', tag, digest] = m;
  if (name.length > NAME_TOTAL_LENGTH_MAX) throw new InvalidReferenceError(NAME_TOO_LONG);
  const parts = ANCHORED_NAME_RE.exec(name);
  const domain = parts?.[1];
  const path = parts?.[2];
  // ParseNormalizedNamed always supplies a domain; a missing one means the input was not a name.
  if (domain === undefined || path === undefined) throw new InvalidReferenceError(REFERENCE_INVALID_FORMAT);
  return Reference.of(Repository.from(domain, path), {
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest: Digest.parse(digest) }),
  });
}

function checkTag(tag: string): void {
  if (!TAG_RE.test(tag)) throw new InvalidReferenceError(TAG_INVALID_FORMAT);
}

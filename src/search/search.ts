/**
 * `docker search`: the Docker Hub v1 search API on any v1 index (docs/docker-rules.md#search;
 * moby `daemon/pkg/registry/search.go`, `search_session.go`). The steps, in Docker's order:
 *   filters → term (`://`, split, `library/`) → index and v1 endpoint (ping) → auth →
 *   `GET <base>/v1/search?q=<term>&n=<limit>` → results filtered by `is-official` / `stars`.
 * Auth: with an identity token and a user name, a v2 bearer token for `registry:catalog:search`
 * (ping `<base>/v2/` for the challenge, the token from the OAuth2 refresh-token exchange);
 * otherwise Basic with the stored user and password. Docker Hub's redirects between its own
 * https hosts keep the credentials (Docker's `trustedLocation`, docs/docker-rules.md#redirects);
 * every other redirect to another host drops them.
 */
import { Authorizer } from '../auth/authorizer.js';
import type { Credentials, CredentialSource } from '../auth/keychain.js';
import { ErrorCode, GantryError } from '../errors.js';
import { splitReposSearchTerm } from '../ref/reference.js';
import { registryScope, type Scope } from '../ref/scope.js';
import { readCapped } from '../transport/body.js';
import { Transport, type TransportOptions } from '../transport/transport.js';
import { headerValues, type TransportResponse } from '../transport/types.js';
import { parseFilters, searchCriteria, searchLimit, SearchOptionError, type SearchCriteria } from './filters.js';
import { INDEX_SERVER, resolveV1Endpoint, v1EndpointString, type V1Endpoint } from './v1-endpoint.js';

/** Hub pages are 100 results of short descriptions; anything near this is not a search answer. */
export const MAX_SEARCH_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Docker sets no deadline on search; gantry gives up after a minute rather than hang. */
export const SEARCH_TIMEOUT_MS = 60_000;
/** The token scope Docker asks for when searching with an identity token. */
export const CATALOG_SEARCH_SCOPE: Scope = Object.freeze(registryScope('catalog', ['search']));

/** One repository the index found. */
export interface SearchResult {
  /** The repository name as the index lists it, e.g. `ubuntu` or `bitnami/redis`; `''` when missing. */
  readonly name: string;
  /** Its short description; `''` when it has none. */
  readonly description: string;
  /** Its number of stars; 0 when the index did not say. */
  readonly starCount: number;
  /** Whether the index marks it official (a Docker Official Image); false when it did not say. */
  readonly isOfficial: boolean;
  /** Always false: Docker forces it, since Hub's value is deprecated and untrustworthy. */
  readonly isAutomated: boolean;
}

/** What {@link search} returns: the query the index ran, and its results after the filters. */
export interface SearchResponse {
  /** The query the index says it ran (the term as given when no request was needed). */
  readonly query: string;
  /** The results in the index's order, filtered by `filters` (`is-official`, `stars`). */
  readonly results: SearchResult[];
}

/** Options for {@link search}: `docker search`'s limit and filters, the transport, credentials and a signal. */
export interface SearchOptions {
  /** Results asked for, 1..100. Default (and 0): 25. */
  readonly limit?: number;
  /** `is-official=true`, `stars=3`, `is-automated=false` (docker search's `--filter`). Default none. */
  readonly filters?: readonly string[];
  /** How registries are reached (insecure registries, certs.d, proxies). Default: a plain transport. */
  readonly transportOptions?: TransportOptions;
  /** Where credentials come from, by index (`docker.io`, `host:port`). Default: anonymous. */
  readonly credentials?: CredentialSource;
  /** Cancels the search when it fires. */
  readonly signal?: AbortSignal;
}

/** The search request failed at the index: a bad status or an answer that is not search results. */
export class SearchError extends GantryError {
  readonly status: number | undefined;
  constructor(code: ErrorCode, message: string, options: { status?: number; cause?: unknown; retryable?: boolean } = {}) {
    super(code, message, { ...(options.cause !== undefined ? { cause: options.cause } : {}), retryable: options.retryable ?? false });
    this.name = 'SearchError';
    this.status = options.status;
  }
}

/** Go's `url.QueryEscape`: everything but `A-Za-z0-9-_.~` escaped, space as `+`. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** Where a search goes: the index (normalised name, official or not) and the remote name asked for. */
export function searchTarget(term: string): { indexName: string; official: boolean; remoteName: string } {
  if (term.includes('://')) {
    throw new SearchOptionError(`invalid repository name: repository name (${term}) should not have a scheme`, ErrorCode.INVALID_REFERENCE);
  }
  const split = splitReposSearchTerm(term);
  const indexName = split.indexName === 'index.docker.io' ? 'docker.io' : split.indexName;
  const official = indexName === 'docker.io';
  // Docker stores a pull of "library/foo" locally as "foo", and searches for it that way.
  const remoteName = official && split.remoteName.startsWith('library/') ? split.remoteName.slice('library/'.length) : split.remoteName;
  return { indexName, official, remoteName };
}

/** Searches an index for `term` (`ubuntu`, `localhost:5000/team/app`). */
export async function search(term: string, options: SearchOptions = {}): Promise<SearchResponse> {
  const criteria = searchCriteria(parseFilters(options.filters ?? []));
  // Docker answers `is-automated=true` before it even looks at the term or the limit.
  if (criteria.onlyAutomated) return { query: term, results: [] };
  const target = searchTarget(term);
  const limit = searchLimit(options.limit);
  const creds = options.credentials ? await options.credentials.resolve(target.indexName) : undefined;
  const useToken = !!(creds?.identityToken && creds.username);
  const authorizer = useToken ? new Authorizer({ credentials: { resolve: () => Promise.resolve(creds) }, offlineAccess: true }) : undefined;
  // Docker's search client does not retry (a 500 is reported at once) unless the caller asks.
  const transport = new Transport({
    ...options.transportOptions,
    retry: options.transportOptions?.retry ?? false,
    layers: [...(options.transportOptions?.layers ?? []), ...(authorizer ? [authorizer.layer()] : [])],
  });
  try {
    const address = target.official ? INDEX_SERVER : target.indexName;
    const { endpoint, ping } = await resolveV1Endpoint(transport, address, target.indexName, options.signal);
    // Docker Hub's index is a registry origin too (resolveV1Endpoint records the others).
    transport.origins.add(endpoint.base.origin, target.indexName);
    const headers: Record<string, string> = { 'x-docker-token': 'true' };
    if (authorizer) {
      await learnV2Challenge(transport, authorizer, endpoint, options.signal);
    } else if (creds) {
      const basic = basicAuthorization(creds, { always: v1EndpointString(endpoint) !== INDEX_SERVER && endpoint.base.protocol === 'https:' && ping.standalone });
      if (basic) headers.authorization = basic;
    }
    const url = new URL(`${v1EndpointString(endpoint)}search?q=${queryEscape(target.remoteName)}&n=${limit}`);
    const res = await transport.send({
      method: 'GET',
      url,
      headers,
      timeout: SEARCH_TIMEOUT_MS,
      trustedRedirects: true,
      ...(authorizer ? { scopes: [CATALOG_SEARCH_SCOPE] } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const unfiltered = await readSearchResults(res);
    return { query: unfiltered.query, results: applyCriteria(unfiltered.results, criteria) };
  } finally {
    await transport.close();
  }
}

/**
 * The v1 auth transport's Basic header: on every request to a standalone private index over
 * https; otherwise (search always sends `X-Docker-Token: true`) when a user name is stored.
 */
function basicAuthorization(creds: Credentials, { always }: { always: boolean }): string | undefined {
  const user = creds.username ?? '';
  const password = creds.password ?? '';
  if (!(always ? user || password : user)) return undefined;
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** `PingV2Registry`: `GET <base>/v2/`, any status; the challenges of a 401 are what auth answers. */
async function learnV2Challenge(transport: Transport, authorizer: Authorizer, endpoint: V1Endpoint, signal: AbortSignal | undefined): Promise<void> {
  const pingUrl = new URL(`${endpoint.base.href.replace(/\/$/, '')}/v2/`);
  const res = await transport.sendPlain({ method: 'GET', url: pingUrl, timeout: 'ping', ...(signal ? { signal } : {}) });
  await res.body.dump().catch(() => undefined);
  authorizer.learn(pingUrl, res.status === 401 ? headerValues(res.headers, 'www-authenticate') : []);
}

const STATUS_CODE: Record<number, ErrorCode> = { 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.DENIED, 404: ErrorCode.NOT_FOUND, 429: ErrorCode.TOO_MANY_REQUESTS };

async function readSearchResults(res: TransportResponse): Promise<SearchResponse> {
  if (res.status !== 200) {
    await res.body.dump().catch(() => undefined);
    throw new SearchError(STATUS_CODE[res.status] ?? ErrorCode.REGISTRY, `unexpected status code ${res.status}`, { status: res.status, retryable: res.status === 429 || res.status >= 500 });
  }
  let body: Buffer;
  try {
    body = await readCapped(res, MAX_SEARCH_RESPONSE_BYTES, `search response from ${res.url.origin}`);
  } catch (err) {
    const code = err instanceof GantryError ? err.code : ErrorCode.INVALID_RESPONSE;
    throw new SearchError(code, `error decoding registry search results: ${(err as Error).message}`, { status: res.status, cause: err });
  }
  try {
    return parseSearchResults(body.toString('utf8'));
  } catch (err) {
    throw new SearchError(ErrorCode.INVALID_RESPONSE, `error decoding registry search results: ${(err as Error).message}`, { status: res.status, cause: err });
  }
}

/** A JSON object's field, matched as Go's decoder does: exact key first, else any case. */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name];
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : obj[key];
}

function typed<T>(value: unknown, what: string, kind: 'string' | 'boolean' | 'integer', fallback: T): T {
  if (value === undefined || value === null) return fallback;
  const ok = kind === 'integer' ? Number.isSafeInteger(value) : typeof value === kind;
  if (!ok) throw new Error(`${what}: expected ${kind === 'integer' ? 'an integer' : `a ${kind}`}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** The index's answer: `{"query","num_results","results":[{name,description,star_count,is_official,is_automated}]}`. */
export function parseSearchResults(text: string): SearchResponse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`invalid JSON: ${(err as Error).message}`);
  }
  if (json === null) return { query: '', results: [] };
  if (typeof json !== 'object' || Array.isArray(json)) throw new Error('expected a JSON object');
  const obj = json as Record<string, unknown>;
  const query = typed(field(obj, 'query'), 'query', 'string', '');
  const raw = field(obj, 'results');
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) throw new Error('results: expected an array');
  const results = ((raw as unknown[] | null | undefined) ?? []).map((r, i): SearchResult => {
    const at = `results[${i}]`;
    if (r === null) return { name: '', description: '', starCount: 0, isOfficial: false, isAutomated: false };
    if (typeof r !== 'object' || Array.isArray(r)) throw new Error(`${at}: expected an object`);
    const o = r as Record<string, unknown>;
    return {
      name: typed(field(o, 'name'), `${at}.name`, 'string', ''),
      description: typed(field(o, 'description'), `${at}.description`, 'string', ''),
      starCount: typed(field(o, 'star_count'), `${at}.star_count`, 'integer', 0),
      isOfficial: typed(field(o, 'is_official'), `${at}.is_official`, 'boolean', false),
      isAutomated: typed(field(o, 'is_automated'), `${at}.is_automated`, 'boolean', false),
    };
  });
  return { query, results };
}

/** `Service.Search`'s result filter: `is-official` must match, `stars` is a minimum, `is_automated` forced false. */
export function applyCriteria(results: readonly SearchResult[], criteria: SearchCriteria): SearchResult[] {
  return results
    .filter((r) => criteria.official === undefined || r.isOfficial === criteria.official)
    .filter((r) => criteria.minStars === undefined || r.starCount >= criteria.minStars)
    .map((r) => ({ ...r, isAutomated: false }));
}

/**
 * Tag lists and the catalog, page by page (distribution-spec "Listing tags", Docker's
 * `_catalog`): the first request carries `n` and `last` when given; every next page is the
 * registry's own `Link: <…>; rel="next"`, resolved against the URL that answered, so the
 * registry's query parameters (and any it adds) are kept. Pages are read with a size cap.
 */
import { ErrorCode, GantryError } from '../errors.js';
import { headerValues, type TransportResponse } from '../transport/types.js';
import { expectStatus, InvalidResponseError } from './errors.js';
import { readCapped } from '../transport/body.js';
import { readRateLimit, type RateLimit } from './rate-limit.js';
import type { RegistryClient, RepositoryClient } from './registry-client.js';

/** The largest page gantry reads (a page of 10 000 long tag names is ~1 MiB; this leaves room). */
export const MAX_LIST_PAGE_BYTES = 16 * 1024 * 1024;
/** Pages followed before giving up on a registry whose `Link`s never end. */
export const MAX_LIST_PAGES = 100_000;

export interface ListOptions {
  /** Page size (`n`). Default: the registry's own (distribution: 100 for the catalog, all tags). */
  readonly n?: number;
  /** Start after this entry (`last`). */
  readonly last?: string;
  readonly signal?: AbortSignal;
}

export interface ListPage {
  readonly items: readonly string[];
  /** The URL of the next page, when the registry gave one. */
  readonly next?: URL;
  readonly rateLimit?: RateLimit;
}

/** The `rel="next"` target of RFC 8288 `Link` values. */
export function nextLink(res: TransportResponse): URL | undefined {
  for (const value of headerValues(res.headers, 'link')) {
    for (const part of value.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
      if (!m) continue;
      const rel = /(?:^|;)\s*rel\s*=\s*"?([^";]+)"?/i.exec(m[2] ?? '');
      if (rel && rel[1]!.split(/\s+/).includes('next')) {
        try {
          return new URL(m[1]!, res.url);
        } catch {
          throw new InvalidResponseError(`GET ${res.url.pathname}: malformed Link header ${JSON.stringify(value)}`);
        }
      }
    }
  }
  return undefined;
}

function checkN(n: number | undefined): void {
  if (n !== undefined && (!Number.isSafeInteger(n) || n <= 0)) {
    throw new GantryError(ErrorCode.INVALID_CONFIG, `list option n must be a positive integer, got ${n}`);
  }
}

async function* pages(client: RegistryClient, first: URL, key: 'tags' | 'repositories', scopes: string[], signal: AbortSignal | undefined): AsyncGenerator<ListPage> {
  let url: URL | undefined = first;
  const seen = new Set<string>();
  for (let page = 0; url; page++) {
    if (page >= MAX_LIST_PAGES || seen.has(url.href)) {
      throw new InvalidResponseError(`GET ${first.pathname}: the registry's Link headers loop (${url.href} again after ${page} pages)`);
    }
    seen.add(url.href);
    const req = { method: 'GET', url, headers: { accept: 'application/json' }, scopes, ...(signal ? { signal } : {}) };
    const res = await client.send(req);
    await expectStatus(req, res, [200]);
    const body = await readCapped(res, MAX_LIST_PAGE_BYTES, `${key} page`);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw new InvalidResponseError(`GET ${url.pathname}: not JSON: ${(err as Error).message}`);
    }
    const list = (json as Record<string, unknown> | null)?.[key];
    if (list !== null && list !== undefined && (!Array.isArray(list) || list.some((x) => typeof x !== 'string'))) {
      throw new InvalidResponseError(`GET ${url.pathname}: "${key}" must be a list of strings`);
    }
    const next = nextLink(res);
    const rateLimit = readRateLimit(res.headers);
    yield { items: (list as string[] | null | undefined) ?? [], ...(next ? { next } : {}), ...(rateLimit ? { rateLimit } : {}) };
    url = next;
  }
}

export async function* tagPages(repo: RepositoryClient, options: ListOptions): AsyncGenerator<ListPage> {
  checkN(options.n);
  const first = await repo.url('tags/list', { n: options.n, last: options.last });
  yield* pages(repo.client, first, 'tags', repo.scopes('pull'), options.signal);
}

export async function* catalogPages(client: RegistryClient, options: ListOptions): AsyncGenerator<ListPage> {
  checkN(options.n);
  const first = await client.url('_catalog', { n: options.n, last: options.last });
  yield* pages(client, first, 'repositories', ['registry:catalog:*'], options.signal);
}

/** The items of every page, one by one. */
export async function* flatten<P>(source: AsyncIterable<P>, items: (page: P) => readonly string[]): AsyncGenerator<string> {
  for await (const page of source) yield* items(page);
}

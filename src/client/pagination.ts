/**
 * Tag lists and the catalog, page by page (distribution-spec "Listing tags", Docker's
 * `_catalog`): the first request carries `n` and `last` when given; every next page is the
 * registry's own `Link: <…>; rel="next"`, resolved against the URL that answered, so the
 * registry's query parameters (and any it adds) are kept. Pages are read with a size cap.
 *
 * Listings stream: a page is requested only when the caller asks for the next one, so memory
 * holds one page whatever the registry sends (issue "Trust at origin boundaries", item 6:
 * endless distinct 8 MiB pages drove `gantry tags` to GiBs before it printed a line). An
 * endless paginator still ends, at `maxPages` or at a `Link` already followed. Collecting a
 * whole listing into an array is capped separately (`collectItems`).
 */
import { createHash } from 'node:crypto';
import { ErrorCode, GantryError } from '../errors.js';
import { checkOptions } from '../options.js';
import { redactUrl } from '../redact.js';
import { headerValues, type TransportResponse } from '../transport/types.js';
import { expectStatus, InvalidResponseError } from './errors.js';
import { readCapped } from '../transport/body.js';
import { registryScope, type Scope } from '../ref/scope.js';
import { readRateLimit, type RateLimit } from '../transport/rate-limit.js';
import type { RegistryTarget, RepositoryTarget } from './target.js';

/** The largest page gantry reads (a page of 10 000 long tag names is ~1 MiB; this leaves room). */
export const MAX_LIST_PAGE_BYTES = 16 * 1024 * 1024;
/**
 * Pages followed before giving up on a registry whose `Link`s never end (the default of
 * `maxPages`): at distribution's default of 100 names a page, ten million names.
 */
export const MAX_LIST_PAGES = 100_000;
/**
 * The most a collecting helper (`listTags`, `listCatalog`) gathers into one array: the bytes of
 * the names, one newline each (the size of `gantry tags`'s output). A listing past it must be
 * iterated (`listTagPages`, `listCatalogPages`), which holds one page at a time.
 */
export const MAX_COLLECTED_LIST_BYTES = 32 * 1024 * 1024;
/** The most names a collecting helper gathers, however short (empty names cost memory too). */
export const MAX_COLLECTED_LIST_ENTRIES = 1_000_000;

/** Options for a tag or catalog listing: page size, where to start, a page limit, a signal; checked at once (code `INVALID_OPTION`). */
export interface ListOptions {
  /** Page size (`n`), a positive integer. Default: the registry's own (distribution: 100 for the catalog, all tags). */
  readonly n?: number;
  /** Start after this entry (`last`), a non-empty string. Default: from the first entry. */
  readonly last?: string;
  /**
   * Pages followed at most; one more `Link` fails with code `TOO_LARGE`. Default
   * 100 000 (MAX_LIST_PAGES). A `Link` to a page already followed fails at once (`INVALID_RESPONSE`).
   */
  readonly maxPages?: number;
  /** Cancels the listing's requests when it fires. */
  readonly signal?: AbortSignal;
}

/** One page of a listing, as one registry response gave it. */
export interface ListPage {
  /** The names on this page (tags, or repository names for the catalog), in the registry's order; empty when it listed none. */
  readonly items: readonly string[];
  /** The URL of the next page, when the registry gave one. */
  readonly next?: URL;
  /** The rate limit the registry announced with this page; undefined when it sent none. */
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

/** Throws INVALID_OPTION (naming `where` and the option) for list options that make no sense. */
export function checkListOptions(where: string, options: ListOptions | undefined): void {
  checkOptions(where, options).integer('n', 1).string('last').integer('maxPages', 1).signal('signal');
}

type ListKey = 'tags' | 'repositories';

/** One page, read (capped) and parsed; nothing of the response is kept but the page. */
async function fetchPage(client: RegistryTarget, url: URL, key: ListKey, scopes: readonly Scope[], signal: AbortSignal | undefined): Promise<ListPage> {
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
  return { items: (list as string[] | null | undefined) ?? [], ...(next ? { next } : {}), ...(rateLimit ? { rateLimit } : {}) };
}

async function* pages(client: RegistryTarget, first: URL, key: ListKey, scopes: readonly Scope[], options: ListOptions): AsyncGenerator<ListPage> {
  const maxPages = options.maxPages ?? MAX_LIST_PAGES;
  // Hashes, not the URLs: a registry's `last` values can be long, and this set lives as long as the listing.
  const seen = new Set<string>();
  let url: URL | undefined = first;
  for (let page = 0; url; page++) {
    if (page >= maxPages) {
      throw new GantryError(
        ErrorCode.TOO_LARGE,
        `GET ${first.pathname}: the registry's listing goes on past ${maxPages} pages (its Link headers may never end); gantry stopped there`,
      );
    }
    const id = createHash('sha256').update(url.href).digest('base64');
    if (seen.has(id)) {
      throw new InvalidResponseError(`GET ${first.pathname}: the registry's Link headers loop (${redactUrl(url)} again after ${page} pages)`);
    }
    seen.add(id);
    const got: ListPage = await fetchPage(client, url, key, scopes, options.signal);
    url = got.next;
    yield got;
  }
}

/**
 * A repository's tags, one page per registry response, fetched as the caller iterates.
 * The options are checked at once (INVALID_OPTION), before any request.
 */
export function tagPages(repo: RepositoryTarget, options: ListOptions = {}, where = 'RepositoryClient.tags'): AsyncGenerator<ListPage> {
  checkListOptions(where, options);
  return (async function* () {
    const first = await repo.url('tags/list', { n: options.n, last: options.last });
    yield* pages(repo.client, first, 'tags', repo.scopes('pull'), options);
  })();
}

/** A registry's repositories (`GET /v2/_catalog`), one page per response; options checked at once. */
export function catalogPages(client: RegistryTarget, options: ListOptions = {}, where = 'RegistryClient.catalog'): AsyncGenerator<ListPage> {
  checkListOptions(where, options);
  return (async function* () {
    const first = await client.url('_catalog', { n: options.n, last: options.last });
    yield* pages(client, first, 'repositories', [registryScope('catalog', ['*'])], options);
  })();
}

/** The items of every page, one by one. */
export async function* flatten<P>(source: AsyncIterable<P>, items: (page: P) => readonly string[]): AsyncGenerator<string> {
  for await (const page of source) yield* items(page);
}

/**
 * Every item of `source` in one array, up to MAX_COLLECTED_LIST_BYTES and
 * MAX_COLLECTED_LIST_ENTRIES; past either, TOO_LARGE naming `iterator`, the streaming
 * alternative. Stopping closes `source` (its `return()`), so no further page is requested.
 */
export async function collectItems(source: AsyncIterable<ListPage>, where: string, what: string, iterator: string): Promise<string[]> {
  const out: string[] = [];
  let bytes = 0;
  for await (const page of source) {
    for (const item of page.items) {
      bytes += Buffer.byteLength(item, 'utf8') + 1;
      if (out.length >= MAX_COLLECTED_LIST_ENTRIES || bytes > MAX_COLLECTED_LIST_BYTES) {
        throw new GantryError(
          ErrorCode.TOO_LARGE,
          `${where}: ${what} are more than ${where} collects (${MAX_COLLECTED_LIST_ENTRIES} names or ${MAX_COLLECTED_LIST_BYTES} bytes); iterate over ${iterator}() instead, which holds one page at a time`,
        );
      }
      out.push(item);
    }
  }
  return out;
}

/**
 * Listing as iterators (issue "Trust at origin boundaries", item 6): pages are requested only
 * as the caller iterates, leaving early requests nothing more and leaves no body unread, an
 * endless paginator ends at `maxPages` or at a repeated `Link`, the collecting helpers are
 * capped (TOO_LARGE, naming the iterator), and bad options fail before any request.
 * Against a small node:http registry on 127.0.0.1 whose pages the test scripts.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, GantryError } from '../../src/errors.js';
import { listCatalog, listCatalogPages, listTagPages, listTags } from '../../src/client/operations.js';
import { MAX_COLLECTED_LIST_BYTES, MAX_COLLECTED_LIST_ENTRIES, type ListPage } from '../../src/client/pagination.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { Transport } from '../../src/transport/transport.js';
import type { Layer, TransportResponse } from '../../src/transport/types.js';

/** Page `page` (counted from 0) of a listing: its names and `Link`, or 404. */
type PageScript = (page: number, url: URL) => { names: string[]; next?: string } | undefined;

let server: Server;
let port: number;
let host: string;
/** Requests for list pages, in order (pings left out). */
let pageRequests: string[] = [];
let script: PageScript = () => undefined;
const sockets = new Set<Socket>();
const access = { certsDir: join(tmpdir(), 'gantry-pagination-test-no-certs.d'), anonymous: true } as const;

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://registry');
  if (url.pathname === '/v2/' || url.pathname === '/v2') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
    return;
  }
  const key = url.pathname === '/v2/_catalog' ? 'repositories' : url.pathname === '/v2/x/tags/list' ? 'tags' : undefined;
  const page = key ? script(pageRequests.length, url) : undefined;
  if (key) pageRequests.push(`${url.pathname}${url.search}`);
  if (!page) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"no such repository"}]}');
    return;
  }
  const body = JSON.stringify(key === 'tags' ? { name: 'x', tags: page.names } : { repositories: page.names });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(page.next ? { link: `<${page.next}>; rel="next"` } : {}) });
  res.end(body);
}

/** `count` distinct names of page `p`, `width` characters each. */
function names(p: number, count: number, width = 8): string[] {
  return Array.from({ length: count }, (_, i) => `p${p}-${i}`.padEnd(width, 'x'));
}

/** Pages of `count` names, each linking to the next, without end. */
const endless =
  (count: number, width = 8): PageScript =>
  (p, url) => ({ names: names(p, count, width), next: `${url.pathname}?n=${count}&last=${names(p, count, width).at(-1)}` });

async function rejectsWith(work: Promise<unknown> | (() => unknown), code: ErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(async () => (typeof work === 'function' ? work() : work), (err: unknown) => {
    assert.ok(err instanceof GantryError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  server = createServer(handle);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  host = `127.0.0.1:${port}`;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  pageRequests = [];
  script = () => undefined;
});

describe('listing iterators', () => {
  test('a page is requested only when the iteration asks; break leaves no body unread and requests nothing more', async () => {
    script = endless(50);
    const responses: TransportResponse[] = [];
    const record: Layer = (next) => async (req) => {
      const res = await next(req);
      if (req.url.pathname.endsWith('/tags/list')) responses.push(res);
      return res;
    };
    const transport = new Transport({ certsDir: access.certsDir, layers: [record] });
    try {
      const repo = RegistryClient.create({ host, transport, purpose: 'pull' }).repository('x');
      const got: ListPage[] = [];
      for await (const page of repo.tagPages({ n: 50 })) {
        assert.equal(pageRequests.length, got.length + 1, 'one request per page, made when the page is asked for');
        got.push(page);
        if (got.length === 3) break;
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(got.map((p) => p.items[0]), ['p0-0xxxx', 'p1-0xxxx', 'p2-0xxxx']);
      assert.equal(pageRequests.length, 3, `no page after the break: ${pageRequests.join(' ')}`);
      assert.equal(responses.length, 3);
      for (const res of responses) assert.ok(res.body.readableEnded, 'every page body was read to its end');
      // The next page's URL was the registry's Link, kept as given.
      assert.equal(pageRequests[1], '/v2/x/tags/list?n=50&last=p0-49xxx');
    } finally {
      await transport.close();
    }
  });

  test('listTagPages: break closes its connection, and the server sees no further request', async () => {
    script = endless(10);
    let seen = 0;
    for await (const page of listTagPages(`${host}/x`, access)) {
      assert.equal(page.items.length, 10);
      if (++seen === 2) break;
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(pageRequests.length, 2, pageRequests.join(' '));
    for (let i = 0; i < 50 && sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sockets.size, 0, 'the helper closed its transport when the iteration ended');
  });

  test('an endless listing ends at maxPages with TOO_LARGE, after yielding those pages', async () => {
    script = endless(3);
    const items: string[] = [];
    await rejectsWith(
      (async () => {
        for await (const page of listTagPages(`${host}/x`, { ...access, maxPages: 5 })) items.push(...page.items);
      })(),
      ErrorCode.TOO_LARGE,
      /^GET \/v2\/x\/tags\/list: the registry's listing goes on past 5 pages/,
    );
    assert.equal(items.length, 15, 'every page before the limit reached the caller');
    assert.equal(pageRequests.length, 5);
  });

  test('a Link back to a page already followed fails at once (INVALID_RESPONSE)', async () => {
    script = (p) => ({ names: names(p, 2), next: p === 0 ? '/v2/x/tags/list?n=2&last=a' : '/v2/x/tags/list?last=a&n=2' });
    const pages: ListPage[] = [];
    await rejectsWith(
      (async () => {
        for await (const page of listTagPages(`${host}/x`, access)) pages.push(page);
      })(),
      ErrorCode.INVALID_RESPONSE,
      /Link headers loop \(http:\/\/127\.0\.0\.1:\d+\/v2\/x\/tags\/list\?last=a&n=2 again after 3 pages\)/,
    );
    assert.equal(pages.length, 3);
  });

  test('the catalog streams the same way', async () => {
    script = (p, url) => (p < 3 ? { names: names(p, 2), next: `${url.pathname}?n=2&last=p${p}-1xxxx` } : { names: [] });
    const got: string[] = [];
    for await (const page of listCatalogPages(host, { ...access, n: 2 })) got.push(...page.items);
    assert.deepEqual(got, ['p0-0xxxx', 'p0-1xxxx', 'p1-0xxxx', 'p1-1xxxx', 'p2-0xxxx', 'p2-1xxxx']);
    assert.equal(pageRequests[0], '/v2/_catalog?n=2');
    pageRequests = [];
    assert.deepEqual(await listCatalog(host, { ...access, n: 2 }), got);
  });
});

describe('collecting helpers are capped', () => {
  test('listTags: TOO_LARGE past MAX_COLLECTED_LIST_BYTES, naming listTagPages; no page after the cap', async () => {
    // 8 192 names of 1 023 characters (+1 newline): 8 MiB a page, so the cap falls in page 5.
    const width = 1023;
    const perPage = 8192;
    script = endless(perPage, width);
    await rejectsWith(
      listTags(`${host}/x`, access),
      ErrorCode.TOO_LARGE,
      new RegExp(`^listTags: the tags of 127\\.0\\.0\\.1:${port}/x are more than listTags collects \\(${MAX_COLLECTED_LIST_ENTRIES} names or ${MAX_COLLECTED_LIST_BYTES} bytes\\); iterate over listTagPages\\(\\) instead`),
    );
    assert.equal(pageRequests.length, Math.ceil(MAX_COLLECTED_LIST_BYTES / (perPage * (width + 1))) + 1, pageRequests.length.toString());
  });

  test('listCatalog: TOO_LARGE past MAX_COLLECTED_LIST_ENTRIES short names, naming listCatalogPages', async () => {
    script = endless(250_000, 2);
    await rejectsWith(listCatalog(host, access), ErrorCode.TOO_LARGE, /^listCatalog: the repositories of 127\.0\.0\.1:\d+ are more than listCatalog collects .*iterate over listCatalogPages\(\) instead/);
    assert.equal(pageRequests.length, 5, 'the cap (1 000 000 names) is crossed in the fifth page of 250 000');
  });

  test('a listing under the caps is collected whole', async () => {
    script = (p, url) => (p < 2 ? { names: names(p, 3), next: `${url.pathname}?n=3&last=p${p}-2xxxx` } : { names: ['last'] });
    assert.deepEqual(await listTags(`${host}/x`, access), [...names(0, 3), ...names(1, 3), 'last']);
  });
});

describe('list options are checked before any request (INVALID_OPTION)', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['n: 0', { n: 0 }, /invalid option n: 0 \(expected an integer ≥ 1\)/],
    ['n: 1.5', { n: 1.5 }, /invalid option n: 1\.5 \(expected an integer ≥ 1\)/],
    ['n: "10"', { n: '10' }, /invalid option n: "10"/],
    ['last: ""', { last: '' }, /invalid option last: "" \(expected a non-empty string\)/],
    ['maxPages: 0', { maxPages: 0 }, /invalid option maxPages: 0/],
    ['signal: {}', { signal: {} }, /invalid option signal: object \(expected an AbortSignal\)/],
  ];
  for (const [name, options, message] of bad) {
    test(name, async () => {
      script = endless(1);
      await rejectsWith(listTags(`${host}/x`, { ...access, ...options }), ErrorCode.INVALID_OPTION, new RegExp(`^listTags: ${message.source}`));
      await rejectsWith(listCatalog(host, { ...access, ...options }), ErrorCode.INVALID_OPTION, new RegExp(`^listCatalog: ${message.source}`));
      // The iterators refuse when called, before the first step.
      assert.throws(() => listTagPages(`${host}/x`, { ...access, ...options }), (err: unknown) => err instanceof GantryError && err.code === ErrorCode.INVALID_OPTION && err.message.startsWith('listTagPages: '));
      assert.throws(() => listCatalogPages(host, { ...access, ...options }), (err: unknown) => err instanceof GantryError && err.code === ErrorCode.INVALID_OPTION && err.message.startsWith('listCatalogPages: '));
      const transport = new Transport({ certsDir: access.certsDir });
      try {
        const client = RegistryClient.create({ host, transport, purpose: 'pull' });
        assert.throws(() => client.repository('x').tags(options), /^GantryError: RepositoryClient\.tags: invalid option|RepositoryClient\.tags: invalid option/);
        assert.throws(() => client.catalogPages(options), /RegistryClient\.catalog: invalid option/);
      } finally {
        await transport.close();
      }
      assert.equal(pageRequests.length, 0, 'no request was made');
    });
  }
});

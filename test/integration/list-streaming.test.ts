/**
 * `gantry tags` against a hostile registry (issue "Trust at origin boundaries", item 6): a
 * node:http server on 127.0.0.1 serving endless distinct tag pages of ~8 MiB, each with a
 * `Link` to the next, drove the CLI to GiBs of RSS with nothing printed, because every tag
 * was collected first. Now the listing streams: the first tags are on stdout while the server
 * is still serving, the child's peak RSS (VmHWM) stays flat, and the run ends with exit 1 and
 * one `gantry:` line. Bounded: after PAGES distinct pages the server links back to a page
 * already served (gantry's repeated-`Link` check ends the run; the 100 000-page limit would
 * take hours at this size), and a watchdog kills the child.
 * Runs the built CLI: `npm run build --silent` first.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GANTRY_BIN } from '../helpers/cli.js';

const MiB = 1024 * 1024;
/** Each page is about this large on the wire. */
const PAGE_BYTES = 8 * MiB;
/** Tag names are this wide: ~190 000 names a page. */
const NAME_WIDTH = 40;
const NAMES_PER_PAGE = Math.floor(PAGE_BYTES / (NAME_WIDTH + 3));
/** Distinct pages served before the link back; gantry before the fix held ~20 MiB a page (669 MiB at 32). */
const PAGES = 40;
/**
 * The child's peak RSS must stay under this. Measured 180–290 MiB (the high end with other
 * test files running): node and undici (~50 MiB) plus a few pages in flight (body chunks, the
 * joined body, its string, the parsed names) and V8's heap slack, whatever the listing's
 * length. Before the fix: 773 MiB after 46 pages, 1.5 GiB after 94.
 */
const RSS_LIMIT = 400 * MiB;
/** Pages printed when the "early" RSS is read: from there on a streaming listing stays flat. */
const EARLY_PAGES = 8;
/** Growth allowed from page EARLY_PAGES to PAGES (measured 30–105 MiB; collecting grows ~600 MiB). */
const RSS_GROWTH_LIMIT = 192 * MiB;
const WATCHDOG_MS = 120_000;

let dir: string;
let hermetic: string[];
let env: NodeJS.ProcessEnv;

interface Listing {
  /** Serves page `page` (from 0) or undefined for 404. */
  page(page: number, url: URL): { names: string[]; next?: string } | undefined;
}

interface Registry {
  server: Server;
  port: number;
  /** Tag-list pages fully sent so far. */
  served: number;
  requests: string[];
  close(): Promise<void>;
}

async function startRegistry(listing: Listing): Promise<Registry> {
  const server = createServer();
  const registry: Registry = {
    server,
    port: 0,
    served: 0,
    requests: [],
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    const page = url.pathname === '/v2/x/tags/list' ? listing.page(registry.requests.length, url) : undefined;
    if (url.pathname === '/v2/x/tags/list') registry.requests.push(`${url.pathname}${url.search}`);
    if (!page) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
      return;
    }
    const body = JSON.stringify({ name: 'x', tags: page.names });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(page.next ? { link: `<${page.next}>; rel="next"` } : {}) });
    res.end(body, () => registry.served++);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  registry.port = (server.address() as AddressInfo).port;
  return registry;
}

/** `count` distinct names of page `p`, `width` characters each. */
function names(p: number, count: number, width: number): string[] {
  const head = `t${p}-`;
  return Array.from({ length: count }, (_, i) => `${head}${String(i).padStart(width - head.length, '0')}`);
}

/** Distinct pages linking on (`?last=…&n=…`), then, after `pages`, a link back to the second page. */
function hostileListing(pages: number, count: number, width: number): Listing {
  let second: string | undefined;
  return {
    page(p, url) {
      const list = names(p, count, width);
      const next = p < pages - 1 ? `${url.pathname}?last=${list.at(-1)}&n=${count}` : second;
      if (p === 0) second = next;
      return { names: list, ...(next ? { next } : {}) };
    },
  };
}

interface StreamedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** The first chunk of stdout, and how many pages the server had sent when it came. */
  firstChunk: string;
  servedAtFirstOutput: number;
  stdoutBytes: number;
  lines: number;
  /** The last stdout bytes (for --json's tail). */
  tail: string;
  /** The child's VmHWM as last read from /proc, in bytes (0 where there is no /proc). */
  peakRss: number;
  /** VmHWM when `earlyLines` lines had been printed. */
  earlyRss: number;
}

/** Runs `gantry args…`, reading its stdout as it streams (nothing kept but counts) and its VmHWM. */
async function runStreaming(args: string[], registry: Registry, earlyLines = Infinity, closeStdoutAfterFirst = false): Promise<StreamedRun> {
  const child = spawn(process.execPath, [GANTRY_BIN, ...args, ...hermetic], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: StreamedRun = { code: null, signal: null, stderr: '', firstChunk: '', servedAtFirstOutput: -1, stdoutBytes: 0, lines: 0, tail: '', peakRss: 0, earlyRss: 0 };
  const status = `/proc/${child.pid}/status`;
  const sample = (): void => {
    try {
      const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(status, 'utf8'))?.[1];
      if (kb) run.peakRss = Math.max(run.peakRss, Number(kb) * 1024);
    } catch {
      // The child has exited: its last sample stands.
    }
  };
  const sampler = setInterval(sample, 25);
  const watchdog = setTimeout(() => child.kill('SIGKILL'), WATCHDOG_MS);
  child.stdout.on('data', (chunk: Buffer) => {
    if (run.stdoutBytes === 0) {
      run.firstChunk = chunk.subarray(0, 200).toString('utf8');
      run.servedAtFirstOutput = registry.served;
      if (closeStdoutAfterFirst) child.stdout.destroy();
    }
    run.stdoutBytes += chunk.length;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) run.lines++;
    run.tail = (run.tail + chunk.subarray(-200).toString('utf8')).slice(-200);
    sample();
    if (run.earlyRss === 0 && run.lines >= earlyLines) run.earlyRss = run.peakRss;
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => (run.stderr += s));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearInterval(sampler);
  clearTimeout(watchdog);
  run.code = code;
  run.signal = signal;
  return run;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gantry-list-streaming-'));
  mkdirSync(join(dir, 'certs.d'));
  mkdirSync(join(dir, 'docker'));
  writeFileSync(join(dir, 'daemon.json'), '{}');
  hermetic = ['--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json')];
  env = { ...process.env, DOCKER_CONFIG: join(dir, 'docker') };
  delete env.DOCKER_AUTH_CONFIG;
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('gantry tags streams a listing', () => {
  test('endless distinct 8 MiB pages: printed as they come, RSS flat, exit 1 with one gantry: line', { timeout: WATCHDOG_MS + 30_000 }, async (t) => {
    const registry = await startRegistry(hostileListing(PAGES, NAMES_PER_PAGE, NAME_WIDTH));
    try {
      const run = await runStreaming(['tags', `127.0.0.1:${registry.port}/x`], registry, EARLY_PAGES * NAMES_PER_PAGE);
      assert.equal(run.signal, null, `killed by the watchdog; stderr: ${run.stderr}`);
      // (c) The link back ends the run: exit 1, exactly one line on stderr.
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /^gantry: GET \/v2\/x\/tags\/list: the registry's Link headers loop \(.* again after \d+ pages\)\n$/);
      assert.equal(registry.requests.length, PAGES, 'no page requested after the loop was seen');
      // (a) The first tags reached stdout while the server still had most pages to serve.
      assert.equal(run.firstChunk.split('\n')[0], names(0, 1, NAME_WIDTH)[0]);
      assert.ok(run.servedAtFirstOutput >= 0 && run.servedAtFirstOutput <= 3, `first output after ${run.servedAtFirstOutput} of ${PAGES} pages`);
      // Everything that arrived was printed, one name a line.
      assert.equal(run.lines, PAGES * NAMES_PER_PAGE);
      assert.equal(run.stdoutBytes, PAGES * NAMES_PER_PAGE * (NAME_WIDTH + 1));
      // (b) Peak RSS stays flat, where collecting every page first grew ~16 MiB a page.
      if (existsSync('/proc/self/status')) {
        t.diagnostic(`child's peak RSS: ${(run.earlyRss / MiB).toFixed(0)} MiB after ${EARLY_PAGES} pages, ${(run.peakRss / MiB).toFixed(0)} MiB after ${PAGES}`);
        assert.ok(run.peakRss > 0, 'VmHWM was read');
        assert.ok(run.peakRss < RSS_LIMIT, `peak RSS ${(run.peakRss / MiB).toFixed(0)} MiB, limit ${RSS_LIMIT / MiB} MiB`);
        assert.ok(run.earlyRss > 0 && run.peakRss - run.earlyRss < RSS_GROWTH_LIMIT, `RSS grew ${((run.peakRss - run.earlyRss) / MiB).toFixed(0)} MiB from page ${EARLY_PAGES} to page ${PAGES}`);
      }
    } finally {
      await registry.close();
    }
  });

  test('--json streams the same object: whole when the listing ends, left open when it fails', async () => {
    const small = (pages: number): Listing => ({
      page: (p, url) => (p < pages ? { names: names(p, 3, 8), ...(p < pages - 1 ? { next: `${url.pathname}?last=${names(p, 3, 8).at(-1)}&n=3` } : {}) } : undefined),
    });
    const ok = await startRegistry(small(3));
    try {
      const run = await runStreaming(['tags', `127.0.0.1:${ok.port}/x`, '--json'], ok);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.equal(run.tail, `${JSON.stringify({ repository: `127.0.0.1:${ok.port}/x`, tags: [0, 1, 2].flatMap((p) => names(p, 3, 8)) })}\n`);
    } finally {
      await ok.close();
    }
    const looping = await startRegistry(hostileListing(3, 3, 8));
    try {
      const run = await runStreaming(['tags', `127.0.0.1:${looping.port}/x`, '--json'], looping);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^gantry: .*Link headers loop.*\n$/);
      const tags = [0, 1, 2].flatMap((p) => names(p, 3, 8));
      assert.equal(run.tail, `{"repository":"127.0.0.1:${looping.port}/x","tags":${JSON.stringify(tags).slice(0, -1)}`, 'the array is left open: no parser takes it for the whole');
    } finally {
      await looping.close();
    }
  });

  test('a reader that goes away (`| head`) ends the listing: exit 0, nothing on stderr, no more pages', async () => {
    const registry = await startRegistry(hostileListing(1000, 20_000, NAME_WIDTH));
    try {
      const run = await runStreaming(['tags', `127.0.0.1:${registry.port}/x`], registry, Infinity, true);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.ok(registry.requests.length < 10, `${registry.requests.length} pages requested`);
    } finally {
      await registry.close();
    }
  });

  test('a listing that fails at once prints nothing on stdout', async () => {
    const missing = await startRegistry({ page: () => undefined });
    try {
      for (const json of [false, true]) {
        const run = await runStreaming(['tags', `127.0.0.1:${missing.port}/x`, ...(json ? ['--json'] : [])], missing);
        assert.equal(run.code, 1);
        assert.equal(run.stdoutBytes, 0);
        assert.match(run.stderr, /^gantry: .*NAME_UNKNOWN.*\n$/);
      }
    } finally {
      await missing.close();
    }
  });
});

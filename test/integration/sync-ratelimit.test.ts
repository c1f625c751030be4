/**
 * Docker Hub's rate-limit headers against a mock (no real registry sends them to a test):
 * `gantry ratelimit` prints limit, remaining and source as regctl does; and a sync whose
 * source announces a shrinking `ratelimit-remaining` stops cleanly, with its report, before
 * the reserve is crossed, then a rerun finishes without redoing anything. The mock is a
 * hostile host (test/helpers/hostile-registry.ts) in front of the embedded registry, adding
 * the headers and counting down one per request.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { createRegistryServer, type RegistryServer } from '../../src/server/index.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { checkRateLimit, sync, type SyncConfig } from '../../src/sync/index.js';
import { ratelimitCommand } from '../../src/cli/commands/ratelimit.js';
import { syncCommands } from '../../src/cli/commands/sync.js';
import { pushImage } from '../helpers/client-fixtures.js';
import { startHostileHost, type HostileHost } from '../helpers/hostile-registry.js';

const LIMIT = 'ratelimit-limit';
const HUB_HEADERS = (remaining: number): Record<string, string> => ({
  [LIMIT]: '100;w=21600',
  'ratelimit-remaining': `${remaining};w=21600`,
  'docker-ratelimit-source': '203.0.113.7',
});

/** Runs one registered command in-process; stdout's strings are captured, the test runner's bytes pass. */
async function runCli(register: (p: Command) => void, args: string[], dir: string): Promise<{ out: string; err?: Error }> {
  const program = new Command('gantry').exitOverride();
  register(program);
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== 'string') return write(chunk, ...rest);
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'gantry', ...args, '--certs-dir', join(dir, 'certs.d'), '--daemon-config', join(dir, 'daemon.json'), '--registries-conf', join(dir, 'registries.conf')]);
    return { out };
  } catch (err) {
    return { out, err: err as Error };
  } finally {
    process.stdout.write = write;
  }
}

describe('rate limits', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-sync-ratelimit-'));
    writeFileSync(join(dir, 'daemon.json'), '{}');
    writeFileSync(join(dir, 'registries.conf'), '');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('gantry ratelimit REF: one HEAD; limit, remaining and source as regctl shows them', async () => {
    const hub = await startHostileHost('127.0.0.1');
    try {
      hub.script = (req, res) => {
        if (req.url === '/v2/') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': `sha256:${'a'.repeat(64)}`, 'content-length': '0', ...HUB_HEADERS(76) });
        res.end();
      };
      const json = await runCli(ratelimitCommand, ['ratelimit', `${hub.host}/library/alpine`, '--json'], dir);
      assert.equal(json.err, undefined, json.err?.message);
      assert.deepEqual(JSON.parse(json.out), { reference: `${hub.host}/library/alpine:latest`, digest: `sha256:${'a'.repeat(64)}`, limit: 100, remaining: 76, windowSeconds: 21600, source: '203.0.113.7' });
      const text = await runCli(ratelimitCommand, ['ratelimit', `${hub.host}/library/alpine:3.20`], dir);
      assert.equal(text.out, `Reference: ${hub.host}/library/alpine:3.20\nLimit:     100 per 21600 s (6 h)\nRemaining: 76\nSource:    203.0.113.7\n`);
      const quiet = await runCli(ratelimitCommand, ['ratelimit', `${hub.host}/library/alpine`, '--quiet'], dir);
      assert.equal(quiet.out, '76\n');
      const heads = hub.received.filter((r) => r.url.includes('/manifests/'));
      assert.ok(heads.every((r) => r.method === 'HEAD'), 'only HEADs, which Docker Hub does not count');
      // A registry that sends no headers: said so, not an error.
      hub.script = (req, res) => {
        res.writeHead(req.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json' });
        res.end(req.url === '/v2/' ? '{}' : '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}');
      };
      const none = await checkRateLimit(`${hub.host}/x/y`);
      assert.deepEqual(none, { reference: `${hub.host}/x/y:latest` });
    } finally {
      await hub.close();
    }
  });

  describe('sync inside the budget', () => {
    let upstream: RegistryServer;
    let hub: HostileHost;
    let remaining = 0;
    let lowest = Infinity;
    let refused429 = 0;
    const TAGS = Array.from({ length: 12 }, (_, i) => `v${i}`);
    before(async () => {
      upstream = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
      const port = Number(new URL(upstream.url).port);
      const client = RegistryClient.create({ host: `127.0.0.1:${port}` });
      for (const [i, tag] of TAGS.entries()) await pushImage(client.repository('library/app'), tag, 500 + i);
      await client.close();
      hub = await startHostileHost('127.0.0.1');
      hub.script = (req, res) => {
        // Docker Hub answers every request with the headers; here each one but the ping costs one.
        if (req.url !== '/v2/') remaining--;
        lowest = Math.min(lowest, remaining);
        if (remaining < 0) {
          refused429++;
          res.writeHead(429, { 'content-type': 'application/json', ...HUB_HEADERS(0) });
          res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}');
          return;
        }
        const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...HUB_HEADERS(remaining) });
          answer.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      };
    });
    after(async () => {
      await hub.close();
      await upstream.close();
    });

    test('stops before the reserve, with a report; a rerun with a fresh quota finishes and redoes nothing', async () => {
      const dest = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
      try {
        const config: SyncConfig = { sources: [{ registry: hub.host, repositories: ['library/app'], destinations: [{ registry: new URL(dest.url).host, stripPrefix: 'library' }] }] };
        remaining = 40;
        lowest = Infinity;
        const first = await sync(config, { rateLimitReserve: 10, jobs: 4 });
        assert.equal(first.stopped?.reason, 'rate-limit', JSON.stringify(first));
        assert.equal(first.stopped?.registry, hub.host);
        assert.equal(first.stopped?.reserve, 10);
        assert.ok(lowest >= 10, `the quota went down to ${lowest}, below the reserve`);
        assert.equal(refused429, 0);
        assert.ok(first.copied > 0 && first.copied < TAGS.length, `copied ${first.copied}`);
        assert.equal(first.failed, 0, JSON.stringify(first.items.filter((i) => i.action === 'failed')));
        assert.deepEqual(first.registries[hub.host]!.rateLimit, { limit: 100, remaining: first.stopped?.remaining, windowSeconds: 21600, source: '203.0.113.7' });
        // The next window.
        remaining = 100;
        const second = await sync(config, { rateLimitReserve: 10, jobs: 4 });
        assert.equal(second.stopped, undefined);
        assert.equal(second.copied + second.skipped, TAGS.length);
        assert.equal(second.skipped, first.copied, 'what the first run copied is not copied again');
        // Blobs an interrupted copy had already sent are found there.
        assert.ok(second.items.every((i) => i.action !== 'copied' || i.blobs!.copied + i.blobs!.existed === 2));
      } finally {
        await dest.close();
      }
    });

    test('a 429 with the quota spent stops the run at once; the CLI reports it and exits 1', async () => {
      const dest = await createRegistryServer({ listen: { host: '127.0.0.1', port: 0 }, storage: 'memory' });
      try {
        remaining = 0;
        refused429 = 0;
        const r = await sync({ sources: [{ registry: hub.host, repositories: ['library/app'], destinations: [{ registry: new URL(dest.url).host }] }] });
        assert.equal(r.stopped?.reason, 'too-many-requests');
        assert.equal(r.copied, 0);
        assert.equal(r.failed, 0);
        assert.ok(refused429 <= 2, `the run went on asking after the 429 (${refused429})`);
        remaining = 30;
        const cli = await runCli(syncCommands, ['sync', '--src', `${hub.host}/library/app`, '--dest', new URL(dest.url).host, '--rate-limit-reserve', '20', '--json'], dir);
        const report = JSON.parse(cli.out);
        assert.equal(report.stopped.reason, 'rate-limit');
        assert.match(cli.err?.message ?? '', /sync stopped early: .*stopped before the rate limit: \d+ requests remain of 100, and the reserve is 20/);
      } finally {
        await dest.close();
      }
    });
  });
});

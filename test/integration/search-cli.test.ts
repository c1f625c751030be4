/**
 * `gantry search` as users run it: the built CLI (`node bin/gantry.js`, after `npm run build`)
 * against an in-process v1 index on loopback. Checks docker search's table (45-column
 * descriptions with `…`, `--no-trunc`, `[OK]`), `--json`, the `is-automated` warning, the
 * credentials taken from `--config`, and exit codes for bad limits and filters.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpServer, type TestServer } from '../helpers/servers.js';
import { runGantry, type CliRun } from '../helpers/cli.js';

const LONG = 'The official build of a very fine image,\nwith a description much longer than forty-five columns';
const RESULTS = [
  { name: 'fine', description: LONG, star_count: 1234, is_official: true, is_automated: true },
  { name: 'team/other', description: 'short', star_count: 0, is_official: false, is_automated: false },
];

let index: TestServer;
let configDir: string;
let certsDir: string;

before(async () => {
  index = await startHttpServer((req, res) => {
    if (req.url === '/v1/_ping') return res.writeHead(200).end('true');
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('q');
    if (q === 'broken') return res.writeHead(500).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ query: q, num_results: RESULTS.length, results: RESULTS }));
  });
  configDir = mkdtempSync(join(tmpdir(), 'gantry-search-cli-config-'));
  certsDir = mkdtempSync(join(tmpdir(), 'gantry-search-cli-certs-'));
  writeFileSync(join(configDir, 'daemon.json'), '{}');
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({ auths: { [index.host]: { auth: Buffer.from('cliuser:clipass').toString('base64') } } }));
});
after(async () => {
  await index.close();
  rmSync(configDir, { recursive: true, force: true });
  rmSync(certsDir, { recursive: true, force: true });
});

function gantry(...args: string[]): Promise<CliRun> {
  return runGantry([...args, '--config', configDir, '--certs-dir', certsDir, '--daemon-config', join(configDir, 'daemon.json')], { timeoutMs: 30_000 });
}

describe('gantry search (built CLI)', () => {
  test('the table: truncated description, stars, [OK]; credentials from config.json', async () => {
    const r = await gantry('search', `${index.host}/fine`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'NAME         DESCRIPTION                                     STARS     OFFICIAL\n' +
        'fine         The official build of a very fine image, wit…   1234      [OK]\n' +
        'team/other   short                                           0         \n',
    );
    const req = index.seen.at(-1)!;
    assert.equal(req.url, '/v1/search?q=fine&n=25');
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('cliuser:clipass').toString('base64')}`);
  });

  test('--no-trunc, --limit, --filter is-official=true', async () => {
    const r = await gantry('search', `${index.host}/fine`, '--no-trunc', '--limit', '3', '--filter', 'is-official=true');
    assert.equal(r.code, 0, r.stderr);
    const flat = LONG.replace('\n', ' ');
    assert.equal(r.stdout, `NAME      DESCRIPTION${' '.repeat(flat.length + 3 - 'DESCRIPTION'.length)}STARS     OFFICIAL\nfine      ${flat}   1234      [OK]\n`);
    assert.equal(index.seen.at(-1)?.url, '/v1/search?q=fine&n=3');
  });

  test('--json prints the results, is_automated forced false; the is-automated filter warns', async () => {
    const r = await gantry('search', `${index.host}/fine`, '--json', '-f', 'is-automated=false');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      query: 'fine',
      results: [
        { name: 'fine', description: LONG, starCount: 1234, isOfficial: true, isAutomated: false },
        { name: 'team/other', description: 'short', starCount: 0, isOfficial: false, isAutomated: false },
      ],
    });
    assert.ok(r.stderr.includes('WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.'), r.stderr);
  });

  test('failures: Docker\'s texts, exit 1; a malformed filter is a usage error, exit 2', async () => {
    const limit = await gantry('search', `${index.host}/fine`, '--limit', '101');
    assert.equal(limit.code, 1);
    assert.equal(limit.stderr, 'gantry: limit 101 is outside the range of [1, 100]\n');
    const status = await gantry('search', `${index.host}/broken`);
    assert.equal(status.code, 1);
    assert.equal(status.stderr, 'gantry: unexpected status code 500\n');
    const filter = await gantry('search', `${index.host}/fine`, '--filter', 'colour=red');
    assert.equal(filter.code, 1);
    assert.equal(filter.stderr, "gantry: invalid filter 'colour'\n");
    const format = await gantry('search', `${index.host}/fine`, '--filter', 'is-official');
    assert.equal(format.code, 2);
    assert.match(format.stderr, /bad format of filter \(expected name=value\)/);
  });
});

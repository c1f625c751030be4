/**
 * `gantry serve gc` in-process: registered by `serveGcCommand` on the real `serve` command
 * (which has a `--storage` of its own), against a storage a running registry serves. Lines and
 * summary, `--json`, `--grace`, and the refusals (memory storage, a bad duration, no --storage).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { serveCommand } from '../../src/cli/commands/serve.js';
import { serveGcCommand } from '../../src/cli/commands/serve-gc.js';
import { ErrorCode, isGantryError } from '../../src/errors.js';
import { age, blobPath, pullVerified, pushBlob, pushImage, startRegistry, type Blob, type Registry } from './serve-gc-fixture.js';

const HOUR = 3_600_000;

function program(): Command {
  const p = new Command('gantry').exitOverride();
  p.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  serveCommand(p);
  serveGcCommand(p.commands.find((c) => c.name() === 'serve') as Command);
  return p;
}

/** Runs `gantry …args` in-process; what the command wrote to stdout and stderr, and what it threw. */
async function run(p: Command, args: string[]): Promise<{ out: string; err: string; error?: Error }> {
  let out = '';
  let err = '';
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  // The command writes strings; the test runner's own reports (bytes) pass through.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => (typeof chunk === 'string' ? ((out += chunk), true) : stdout(chunk, ...rest))) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => (typeof chunk === 'string' ? ((err += chunk), true) : stderr(chunk, ...rest))) as typeof process.stderr.write;
  try {
    await p.parseAsync(['node', 'gantry', ...args]);
    return { out, err };
  } catch (error) {
    return { out, err, error: error as Error };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
}

describe('gantry serve gc (CLI)', () => {
  let dir: string;
  let storage: string;
  let reg: Registry;
  let dangling: Blob;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-serve-gc-cli-'));
    storage = join(dir, 'registry');
    reg = await startRegistry(storage);
    await pushImage(reg.repo('cli/app'), 'v1');
    dangling = await pushBlob(reg.repo('cli/app'), randomBytes(2345));
    age(storage, 2 * HOUR);
  });
  after(async () => {
    await reg?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('--dry-run prints what would go and a summary; nothing goes', async () => {
    const r = await run(program(), ['serve', 'gc', '--storage', storage, '--dry-run']);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(r.out, [
      `would remove link cli/app → ${dangling.digest}`,
      `would remove blob ${dangling.digest} (2345 bytes)`,
      'dry run: would remove 1 blob, 1 link, 0 manifests, 0 referrers entries from 1 repository, reclaiming 2345 bytes (2.3 KiB)',
      '',
    ].join('\n'));
    assert.ok(existsSync(blobPath(storage, dangling.digest)));
  });

  test('--json: one document with what went and the bytes reclaimed; the image still pulls', async () => {
    const r = await run(program(), ['serve', 'gc', '--storage', storage, '--json', '--grace', '90m']);
    assert.equal(r.error, undefined, r.error?.message);
    const doc = JSON.parse(r.out) as { dryRun: boolean; graceMs: number; counts: Record<string, number>; bytes: number; removed: { kind: string }[] };
    assert.equal(doc.dryRun, false);
    assert.equal(doc.graceMs, 90 * 60_000);
    assert.deepEqual(doc.counts, { blobs: 1, links: 1, manifests: 0, referrers: 0 });
    assert.equal(doc.bytes, 2345);
    assert.equal(existsSync(blobPath(storage, dangling.digest)), false);
    await pullVerified(reg.repo('cli/app'), 'v1');
  });

  test('--grace 0 and --delete-untagged are accepted; the summary says what went', async () => {
    const r = await run(program(), ['serve', 'gc', '--storage', storage, '--grace', '0', '--delete-untagged']);
    assert.equal(r.error, undefined, r.error?.message);
    assert.match(r.out, /^removed 0 blobs, 0 links, 0 manifests, 0 referrers entries from 1 repository, reclaimed 0 bytes \(0 B\)\n$/);
  });

  test('refused: memory storage (usage), a bad duration (config), no --storage (usage)', async () => {
    const memory = await run(program(), ['serve', 'gc', '--storage', 'memory']);
    assert.ok(isGantryError(memory.error, ErrorCode.USAGE), memory.error?.message);
    assert.match(memory.error.message, /memory storage lives inside its server process/);
    const grace = await run(program(), ['serve', 'gc', '--storage', storage, '--grace', 'soon']);
    assert.ok(isGantryError(grace.error, ErrorCode.INVALID_CONFIG), grace.error?.message);
    assert.match(grace.error.message, /--grace/);
    const none = await run(program(), ['serve', 'gc', '--dry-run']);
    assert.ok(isGantryError(none.error, ErrorCode.USAGE), String(none.error));
    assert.match(none.error.message, /needs --storage DIR/);
    const unknown = await run(program(), ['serve', 'gc', '--storage', storage, '--bogus']);
    assert.ok(unknown.error instanceof CommanderError, String(unknown.error));
  });

  test('--storage before or after gc; serve alone keeps its own', async () => {
    const before = await run(program(), ['serve', '--storage', storage, 'gc', '--dry-run', '--json']);
    assert.equal(before.error, undefined, before.error?.message);
    assert.equal((JSON.parse(before.out) as { storage: string }).storage, storage);
    // Without gc, serve runs with its flags (a stand-in serve: the real one would listen).
    const p = new Command('gantry').exitOverride();
    let served: unknown;
    const serve = p.command('serve').option('--storage <dir>', 'storage', './gantry-registry').action((flags: { storage: string }) => {
      served = flags.storage;
    });
    serveGcCommand(serve);
    const r = await run(p, ['serve', '--storage', '/somewhere']);
    assert.equal(r.error, undefined, r.error?.message);
    assert.equal(served, '/somewhere');
  });
});

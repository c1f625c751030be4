/**
 * `gantry serve gc`: garbage collection of a `gantry serve` storage directory, safe while
 * registries serve it (docs/serve-gc.md). Flags to options, one `collectGarbage` call, one
 * line per removed item and a summary (or one JSON document); warnings on stderr.
 */
import type { Command } from 'commander';
import { ErrorCode, GantryError } from '../../errors.js';
import type { GarbageCollectionResult, GarbageItem } from '../../server/gc/collect.js';
import { DEFAULT_GC_GRACE_MS } from '../../server/gc/grace.js';
import { formatBytes } from '../progress.js';
import { printJson } from './output.js';

interface GcFlags {
  storage?: string;
  dryRun?: boolean;
  deleteUntagged?: boolean;
  grace?: string;
  json?: boolean;
}

/** `--grace`: a duration as `serve`'s flags take them, or zero (`0`, `0s`, `0h`…). */
async function parseGrace(value: string): Promise<number> {
  if (/^\s*0+(\.0+)?(ms|s|m|h)?\s*$/.test(value)) return 0;
  const { parseDuration } = await import('../../server/cli-options.js');
  return parseDuration('--grace', value);
}

function describe(item: GarbageItem): string {
  switch (item.kind) {
    case 'blob':
      return `blob ${item.digest} (${item.size} bytes)`;
    case 'link':
      return `link ${item.repository} → ${item.digest}`;
    case 'manifest':
      return `manifest ${item.repository}@${item.digest}`;
    case 'referrer':
      return `referrer ${item.repository}@${item.subject} ← ${item.digest}`;
  }
}

const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function summary(r: GarbageCollectionResult): string {
  const c = r.counts;
  const what = `${count(c.blobs, 'blob', 'blobs')}, ${count(c.links, 'link', 'links')}, ${count(c.manifests, 'manifest', 'manifests')}, ${count(c.referrers, 'referrers entry', 'referrers entries')}`;
  const bytes = `${r.bytes} bytes (${formatBytes(r.bytes)})`;
  return r.dryRun
    ? `dry run: would remove ${what} from ${count(r.repositories, 'repository', 'repositories')}, reclaiming ${bytes}\n`
    : `removed ${what} from ${count(r.repositories, 'repository', 'repositories')}, reclaimed ${bytes}\n`;
}

/**
 * The directory asked for. `serve` has a `--storage` of its own, and commander gives a flag that
 * both commands know to the parent (wherever it stands, unless the whole program takes
 * positional options): so `serve gc --storage DIR` arrives as serve's. Either is taken, as long
 * as it came from the command line, not from serve's default.
 */
function storageFlag(flags: GcFlags, serve: Command): string {
  const storage = flags.storage ?? (serve.getOptionValueSource('storage') === 'cli' ? (serve.getOptionValue('storage') as string) : undefined);
  if (storage === undefined) throw new GantryError(ErrorCode.USAGE, 'serve gc needs --storage DIR, the registry\'s storage directory');
  return storage;
}

/** Registers `gc` on the `serve` command. */
export function serveGcCommand(serve: Command): void {
  serve
    .command('gc')
    .description('remove what no tag keeps from a storage directory (safe while the registry runs)')
    .option('--storage <dir>', 'the registry\'s storage directory (required)')
    .option('--dry-run', 'print what would be removed, remove nothing')
    .option('--delete-untagged', 'also remove manifests no tag reaches (directly, as an index\'s child, or as a referrer of a kept manifest)')
    .option('--grace <duration>', `never remove what was written this recently: 1h, 30m, 10s, 0, or seconds (default: ${DEFAULT_GC_GRACE_MS / 3_600_000}h)`)
    .option('--json', 'print { storage, dryRun, deleteUntagged, graceMs, repositories, removed, counts, bytes, warnings, restored } as JSON')
    .addHelpText('after', '\nWithout --delete-untagged every manifest stays; blobs and repository links no manifest names go.\nSee docs/serve-gc.md for what a collection running beside the registry guarantees.\n')
    .action(async (flags: GcFlags) => {
      const storage = storageFlag(flags, serve);
      if (storage === 'memory') {
        throw new GantryError(ErrorCode.USAGE, 'serve gc needs a storage directory: memory storage lives inside its server process and goes with it');
      }
      const graceMs = flags.grace !== undefined ? await parseGrace(flags.grace) : undefined;
      // The collector is loaded when the command runs, not at start-up (docs/startup.md).
      const { collectGarbage } = await import('../../server/gc/collect.js');
      const result = await collectGarbage(storage, {
        dryRun: flags.dryRun === true,
        deleteUntagged: flags.deleteUntagged === true,
        ...(graceMs !== undefined ? { graceMs } : {}),
      });
      for (const warning of result.warnings) process.stderr.write(`gantry: warning: ${warning}\n`);
      if (flags.json) return printJson(result);
      const verb = result.dryRun ? 'would remove' : 'removed';
      for (const item of result.removed) process.stdout.write(`${verb} ${describe(item)}\n`);
      process.stdout.write(summary(result));
    });
}

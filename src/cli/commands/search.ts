/**
 * `gantry search TERM`: docker search on a v1 index (Docker Hub or a private one), printed as
 * docker/cli's default table (`cli/command/registry/formatter_search.go`): NAME, DESCRIPTION
 * (newlines as spaces, cut to 45 columns with `…` unless `--no-trunc`), STARS, OFFICIAL (`[OK]`),
 * laid out as Go's tabwriter does for docker (min width 10, padding 3).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { CredentialSource } from '../../auth/keychain.js';
import { ErrorCode, GantryError } from '../../errors.js';
import type { SearchResult } from '../../search/search.js';
import { addRegistryFlags, parseCreds, transportOptions, type RegistryFlags, dockerConfigDir } from '../options.js';
import { addOutputFlags, printJson, type OutputFlags } from './output.js';
import { sharedSide, withFlagHints } from './hints.js';

export interface SearchFlags extends RegistryFlags, OutputFlags {
  limit?: number;
  filter?: string[];
  /** False with `--no-trunc`. */
  trunc?: boolean;
}

/** docker's description column width. */
export const DESCRIPTION_WIDTH = 45;

/** Printed whenever `is-automated` is among the filters, as docker does. */
export const IS_AUTOMATED_WARNING = 'WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.';

/** Columns a code point takes on a terminal (go-runewidth's answer for the common cases). */
function runeWidth(cp: number): number {
  if (cp === 0 || (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  ) {
    return 2;
  }
  return 1;
}

/** docker/cli's `formatter.Ellipsis`: fits `s` in `max` display columns, the last one `…`. */
export function ellipsis(s: string, max: number): string {
  if (max <= 0) return '';
  const runes = [...s];
  if (max === 1) return runes[0] ?? '';
  let total = 0;
  const upTo: number[] = [];
  for (const r of runes) {
    total += runeWidth(r.codePointAt(0)!);
    upTo.push(total);
  }
  if (total <= max) return s;
  let keep = 0;
  while (keep < upTo.length && upTo[keep]! <= max - 1) keep++;
  // Go returns the string whole when not even the first rune fits before the ellipsis.
  return keep === 0 ? s : `${runes.slice(0, keep).join('')}…`;
}

/** The DESCRIPTION cell: CR and LF as spaces, cut unless `trunc` is false. */
export function descriptionCell(description: string, trunc: boolean): string {
  const flat = description.replaceAll('\n', ' ').replaceAll('\r', ' ');
  return trunc ? ellipsis(flat, DESCRIPTION_WIDTH) : flat;
}

/**
 * Go's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` as docker's formatter uses it: every cell
 * but the last of a line is padded to its column's widest cell (in runes) plus 3, at least 10.
 */
export function tabulate(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 10, [...cell].length + 3);
    });
  }
  return rows.map((row) => `${row.map((cell, i) => (i < row.length - 1 ? cell + ' '.repeat(widths[i]! - [...cell].length) : cell)).join('')}\n`).join('');
}

/** docker search's default table. */
export function searchTable(results: readonly SearchResult[], { trunc = true }: { trunc?: boolean } = {}): string {
  return tabulate([
    ['NAME', 'DESCRIPTION', 'STARS', 'OFFICIAL'],
    ...results.map((r) => [r.name, descriptionCell(r.description, trunc), String(r.starCount), r.isOfficial ? '[OK]' : '']),
  ]);
}

function parseLimit(value: string): number {
  if (!/^[+-]?\d+$/.test(value.trim())) throw new InvalidArgumentError(`--limit: expected an integer, got "${value}"`);
  return Number(value.trim());
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

async function runSearch(term: string, flags: SearchFlags): Promise<void> {
  // The library is loaded when the command runs, not at start-up (docs/startup.md).
  const [{ Keychain, StaticKeychain }, { parseFilters }, { search }] = await Promise.all([
    import('../../auth/keychain.js'),
    import('../../search/filters.js'),
    import('../../search/search.js'),
  ]);
  const filters = flags.filter ?? [];
  let names: string[];
  try {
    names = [...parseFilters(filters).keys()];
  } catch (err) {
    throw new GantryError(ErrorCode.USAGE, `--filter: ${(err as Error).message}`);
  }
  if (names.includes('is-automated')) process.stderr.write(`${IS_AUTOMATED_WARNING}\n`);
  let credentials: CredentialSource;
  if (flags.creds !== undefined) {
    credentials = new StaticKeychain(parseCreds('--creds', flags.creds));
  } else {
    const configDir = dockerConfigDir(flags);
    const keychain = await Keychain.load({ ...(configDir ? { configDir } : {}), ...(flags.authfile ? { authFile: flags.authfile } : {}) });
    // As for every command that reads credentials: a named auth file that is missing is an error, not anonymous access.
    keychain.requireAuthFile();
    if (keychain.envWarning) process.stderr.write(`${keychain.envWarning}\n`);
    credentials = keychain;
  }
  const response = await search(term, {
    filters,
    ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
    transportOptions: await transportOptions(flags),
    credentials,
  });
  if (flags.json) printJson(response, { pretty: true });
  else if (flags.quiet) process.stdout.write(response.results.map((r) => `${r.name}\n`).join(''));
  else process.stdout.write(searchTable(response.results, { trunc: flags.trunc !== false }));
}

export function searchCommand(program: Command): void {
  const cmd = addRegistryFlags(
    program
      .command('search')
      .argument('<term>', 'TERM, or REGISTRY/TERM for a private v1 index (e.g. localhost:5000/app)')
      .description('search Docker Hub (or a v1 index) for images'),
    { mirrors: false },
  )
    .option('--limit <n>', 'maximum number of results, 1..100 (default 25)', parseLimit)
    .option('-f, --filter <filter>', 'filter output: is-official=true|false, stars=N (repeatable)', collect)
    .option('--no-trunc', "don't truncate descriptions");
  addOutputFlags(cmd, {
    quiet: 'print only the names, one per line (no table)',
    json: '{ query, results: [{ name, description, starCount, isOfficial, isAutomated }] }',
  }).action((term: string, flags: SearchFlags) => withFlagHints(async () => [sharedSide((await import('../../search/search.js')).searchTarget(term).indexName, flags)], () => runSearch(term, flags)));
}

/**
 * `gantry ratelimit REF`: Docker Hub's pull limit for the caller, as `regctl image ratelimit`
 * shows it (the limit and its window, what remains, what it is counted against), from one
 * manifest HEAD, which Docker Hub does not count.
 */
import type { Command } from 'commander';
import type { RateLimitResult } from '../../sync/index.js';
import { accessOptions, addRegistryFlags, type RegistryFlags } from '../options.js';
import { addOutputFlags, printJson, type OutputFlags } from './output.js';
import { registryOf, sharedSide, withFlagHints } from './hints.js';

type Flags = RegistryFlags & OutputFlags;

function render(r: RateLimitResult): string {
  const rl = r.rateLimit;
  const rows: [string, string][] = [['Reference', r.reference]];
  if (!rl) rows.push(['Limit', 'none announced (the registry sends no rate-limit headers)']);
  else {
    const window = rl.windowSeconds !== undefined ? ` per ${rl.windowSeconds} s${rl.windowSeconds % 3600 === 0 ? ` (${rl.windowSeconds / 3600} h)` : ''}` : '';
    rows.push(['Limit', `${rl.limit}${window}`], ['Remaining', rl.remaining !== undefined ? String(rl.remaining) : 'not announced']);
    if (rl.source) rows.push(['Source', rl.source]);
  }
  return rows.map(([k, v]) => `${`${k}:`.padEnd(11)}${v}\n`).join('');
}

/** Registers `gantry ratelimit` on `program`. */
export function ratelimitCommand(program: Command): void {
  addOutputFlags(addRegistryFlags(program.command('ratelimit').argument('<reference>', 'image reference, e.g. alpine or docker.io/library/alpine:3.20')), {
    quiet: 'print only the remaining count',
    json: '{ reference, digest, limit, remaining, windowSeconds, source } (null where the registry said nothing)',
  })
    .description("show Docker Hub's pull rate limit (limit, remaining, source) from one manifest HEAD, which is not counted")
    .action((ref: string, flags: Flags) =>
      withFlagHints(
        async () => [sharedSide(await registryOf(ref.startsWith('docker://') ? ref : `docker://${ref}`), flags)],
        async () => {
          // sync/ratelimit.js itself, not sync/index.js: the rest of sync is not needed here.
          const { checkRateLimit } = await import('../../sync/ratelimit.js');
          const r = await checkRateLimit(ref, await accessOptions(flags));
          const rl = r.rateLimit;
          if (flags.json) {
            printJson({ reference: r.reference, digest: r.digest ?? null, limit: rl?.limit ?? null, remaining: rl?.remaining ?? null, windowSeconds: rl?.windowSeconds ?? null, source: rl?.source ?? null });
          } else if (flags.quiet) process.stdout.write(`${rl?.remaining ?? ''}\n`);
          else process.stdout.write(render(r));
        },
      ),
    );
}

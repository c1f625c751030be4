/**
 * What a command prints besides its result, the same way on every command:
 *
 * - `--json`: exactly one JSON document on stdout, nothing else there (progress, status lines
 *   and warnings go to stderr or nowhere); never a secret.
 * - `--quiet`: no chatter (progress, summaries, `Login Succeeded`…); the data the command was
 *   asked for still prints (`digest` its digest, `tags` its tags, as `docker images -q`).
 *   Errors and warnings still go to stderr.
 * - both: `--json` wins.
 */
import type { Command } from 'commander';

export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
}

/** The help line every command with `--json` ends with. */
const JSON_WINS = '--json wins over --quiet: the JSON document is printed either way.';

/**
 * Adds `--quiet` with what it leaves on stdout for this command, and the help lines that say
 * what `--json` prints. The shared registry flags add `--json` but not `--quiet` yet.
 */
export function addOutputFlags(cmd: Command, { quiet, json }: { quiet: string; json: string }): Command {
  return cmd.option('--quiet', quiet).addHelpText('after', `\n--json prints ${json}.\n${JSON_WINS}\n`);
}

/** The one JSON document of a command, on stdout. */
export function printJson(value: unknown, { pretty = false }: { pretty?: boolean } = {}): void {
  process.stdout.write(`${pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value)}\n`);
}

/** Human chatter on stdout: dropped with `--quiet` or `--json`. */
export function chatter(flags: OutputFlags, text: string): void {
  if (!flags.quiet && !flags.json) process.stdout.write(text);
}

/**
 * The `gantry` command line. Each command parses its flags, builds the library's options,
 * calls one library function and renders the result; the CLI makes no HTTP calls itself.
 * Exit codes: 0 success, 1 failure, 2 usage error (a bad flag or argument, a malformed reference).
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { ErrorCode, GantryError } from '../errors.js';
import { pingCommand } from './commands/ping.js';
import { loginCommands } from './commands/login.js';
import { serveCommand } from './commands/serve.js';
import { serveGcCommand } from './commands/serve-gc.js';
import { searchCommand } from './commands/search.js';
import { imageCommands } from './commands/images.js';
import { registryCommands } from './commands/registry.js';
import { referrersCommand } from './commands/referrers.js';
import { artifactCommands } from './commands/artifact.js';
import { syncCommands } from './commands/sync.js';
import { ratelimitCommand } from './commands/ratelimit.js';

export function buildProgram(): Command {
  const program = new Command('gantry')
    .description('A container-registry client: Docker registry semantics for Node.js')
    .version(VERSION, '-v, --version')
    .exitOverride()
    .showHelpAfterError(false);
  program
    .command('version')
    .description('print gantry\'s version')
    .option('--json', 'print { version, node, platform } as JSON')
    .action((flags: { json?: boolean }) => {
      const platform = `${process.platform}/${process.arch}`;
      if (flags.json) process.stdout.write(`${JSON.stringify({ version: VERSION, node: process.versions.node, platform })}\n`);
      else process.stdout.write(`gantry ${VERSION} node/${process.versions.node} ${platform}\n`);
    });
  imageCommands(program);
  registryCommands(program);
  referrersCommand(program);
  artifactCommands(program);
  syncCommands(program);
  ratelimitCommand(program);
  searchCommand(program);
  loginCommands(program);
  pingCommand(program);
  serveCommand(program);
  serveGcCommand(program.commands.find((c) => c.name() === 'serve') as Command);
  const every = (c: Command): Command[] => [c, ...c.commands.flatMap(every)];
  for (const command of every(program)) command.configureOutput({ outputError: (text, write) => write(usageError(command, text)) });
  return program;
}

/**
 * A usage error as every other error reads, a `gantry:` line, followed by the command's usage
 * and where its help is (commander's own text starts with `error: `).
 */
function usageError(command: Command, text: string): string {
  const message = text.replace(/^error: /, '').trim();
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  const path = ['gantry', ...names].join(' ');
  return `gantry: ${message}\nusage: ${path} ${command.usage()}\nsee '${path} --help'\n`;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    process.stderr.write(`gantry: ${err instanceof Error ? err.message : String(err)}\n`);
    // A reference the user typed that does not parse is a usage error, like a bad flag.
    return err instanceof GantryError && (err.code === ErrorCode.USAGE || err.code === ErrorCode.INVALID_REFERENCE) ? 2 : 1;
  }
}

/**
 * The `gantry` command line. Each command parses its flags, builds the library's options,
 * calls one library function and renders the result; the CLI makes no HTTP calls itself.
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { ErrorCode, GantryError } from '../errors.js';
import { pingCommand } from './commands/ping.js';
import { loginCommands } from './commands/login.js';
import { serveCommand } from './commands/serve.js';
import { searchCommand } from './commands/search.js';
import { imageCommands } from './commands/images.js';
import { registryCommands } from './commands/registry.js';

export function buildProgram(): Command {
  const program = new Command('gantry')
    .description('A container-registry client: Docker registry semantics for Node.js')
    .version(VERSION, '-v, --version')
    .exitOverride()
    .showHelpAfterError(false);
  program
    .command('version')
    .description('print gantry\'s version')
    .action(() => {
      process.stdout.write(`gantry ${VERSION} node/${process.versions.node} ${process.platform}/${process.arch}\n`);
    });
  imageCommands(program);
  registryCommands(program);
  searchCommand(program);
  loginCommands(program);
  pingCommand(program);
  serveCommand(program);
  return program;
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
    return err instanceof GantryError && err.code === ErrorCode.USAGE ? 2 : 1;
  }
}

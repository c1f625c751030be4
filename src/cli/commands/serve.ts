/**
 * `gantry serve`: the embedded registry on the command line. Runs until SIGINT/SIGTERM,
 * logging one line per request on stderr (secrets redacted by the server).
 */
import { Option, type Command } from 'commander';
import { DEFAULT_UPLOAD_PURGE_AGE_MS, DEFAULT_UPLOAD_PURGE_INTERVAL_MS, createRegistryServer } from '../../server/index.js';
import { registryServerOptionsFromCli, type RegistryServeFlags } from '../../server/cli-options.js';

const hours = (ms: number): string => `${ms / 3_600_000}h`;

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('run the embedded OCI registry')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:5000')
    .option('--storage <dir|memory>', 'storage directory, or "memory"', './gantry-registry')
    .option('--tls-cert <file>', 'serve https with this certificate (PEM)')
    .option('--tls-key <file>', 'the certificate\'s private key (PEM)')
    .option('--client-ca <file>', 'require client certificates signed by this CA (mutual TLS)')
    .option('--htpasswd <file>', 'Basic auth with a bcrypt htpasswd file')
    .option('--token-config <file>', 'token auth: users and their grants (JSON); the token server is served at /token')
    .option('--token-realm <url>', 'an external token realm instead of /token')
    .addOption(new Option('--no-delete', 'refuse DELETE requests'))
    .option('--upload-purge-age <duration>', `remove upload sessions started this long ago: 168h, 30m, 10s, 1h30m, or seconds (default: ${hours(DEFAULT_UPLOAD_PURGE_AGE_MS)})`)
    .option('--upload-purge-interval <duration>', `how often to look for them, same form (default: ${hours(DEFAULT_UPLOAD_PURGE_INTERVAL_MS)})`)
    .addOption(new Option('--no-upload-purging', 'keep abandoned upload sessions'))
    .option('--quiet', 'no request log (the "listening on" line, with the URL, still prints: it is what a script reads)')
    .action(async (flags: RegistryServeFlags & { delete?: boolean; quiet?: boolean }) => {
      const options = await registryServerOptionsFromCli({
        ...flags,
        deleteEnabled: flags.delete !== false,
        ...(flags.quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
      });
      const server = await createRegistryServer(options);
      process.stdout.write(`gantry registry listening on ${server.url} (storage: ${flags.storage})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    });
}

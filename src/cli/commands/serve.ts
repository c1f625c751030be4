/**
 * `gantry serve`: the embedded registry on the command line. Runs until SIGINT/SIGTERM,
 * logging one line per request on stderr (secrets redacted by the server). With
 * `--proxy-remote URL` it is a pull-through cache of that registry, reached with gantry's
 * client (`connectUpstream`), which this command hands to the server.
 */
import { Option, type Command } from 'commander';
import { ConfigError } from '../../errors.js';
import { DEFAULT_UPLOAD_PURGE_AGE_MS, DEFAULT_UPLOAD_PURGE_INTERVAL_MS, createRegistryServer, type RegistryServerOptions } from '../../server/index.js';
import { parseDuration, registryServerOptionsFromCli, type RegistryServeFlags } from '../../server/cli-options.js';
import { connectUpstream } from '../../upstream/connect-upstream.js';

interface ProxyFlags {
  proxyRemote?: string;
  proxyUsername?: string;
  proxyPasswordFile?: string;
  proxyTtl?: string;
}

/** `--proxy-*` flags to `RegistryServerOptions.proxy`; the server checks the URL itself. */
function proxyOptions(flags: ProxyFlags): RegistryServerOptions['proxy'] {
  if (flags.proxyRemote === undefined) {
    const stray = (['proxyUsername', 'proxyPasswordFile', 'proxyTtl'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw new ConfigError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --proxy-remote`);
    return undefined;
  }
  if ((flags.proxyUsername === undefined) !== (flags.proxyPasswordFile === undefined)) {
    throw new ConfigError('--proxy-username and --proxy-password-file go together: give both or neither');
  }
  return {
    remoteUrl: flags.proxyRemote,
    ...(flags.proxyUsername !== undefined ? { username: flags.proxyUsername, passwordFile: flags.proxyPasswordFile } : {}),
    ...(flags.proxyTtl !== undefined ? { tagTtlMs: parseDuration('--proxy-ttl', flags.proxyTtl) } : {}),
    connect: (remote) => connectUpstream(remote),
  };
}

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
    .option('--proxy-remote <url>', 'run as a pull-through cache of this registry (https://registry-1.docker.io for Docker Hub); pushes are refused')
    .option('--proxy-username <user>', 'the user name at the upstream (default: anonymous)')
    .option('--proxy-password-file <file>', 'a file holding the password or token at the upstream')
    .option('--proxy-ttl <duration>', 'serve a cached tag this long before checking it upstream again: 10m, 30s, 1h (default: 10m)')
    .option('--quiet', 'no request log (the "listening on" line, with the URL, still prints: it is what a script reads)')
    .action(async (flags: RegistryServeFlags & ProxyFlags & { delete?: boolean; quiet?: boolean }) => {
      const { proxyRemote, proxyUsername, proxyPasswordFile, proxyTtl, ...serveFlags } = flags;
      const proxy = proxyOptions({ proxyRemote, proxyUsername, proxyPasswordFile, proxyTtl });
      const options = await registryServerOptionsFromCli({
        ...serveFlags,
        deleteEnabled: flags.delete !== false,
        ...(flags.quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
      });
      if (proxy) options.proxy = proxy;
      const server = await createRegistryServer(options);
      const mode = proxy ? `, pull-through cache of ${new URL(proxy.remoteUrl).origin}` : '';
      process.stdout.write(`gantry registry listening on ${server.url} (storage: ${flags.storage}${mode})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    });
}

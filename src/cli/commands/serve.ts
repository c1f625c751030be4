/**
 * `gantry serve`: the embedded registry on the command line. Runs until SIGINT/SIGTERM,
 * logging one line per request on stderr (secrets redacted by the server). With
 * `--proxy-remote URL` it is a pull-through cache of that registry, reached with gantry's
 * client (`connectUpstream`), which this command hands to the server. `--config FILE` reads
 * the same flags from a YAML file (src/server/config-file.ts); a flag given here overrides it.
 */
import { Option, type Command } from 'commander';
import { ConfigError } from '../../errors.js';
// The defaults shown in --help come from server/options.js, which holds no server code; the
// server, its config file reader (yaml) and the upstream client are loaded when `serve` runs
// (docs/startup.md).
import { DEFAULT_UPLOAD_PURGE_AGE_MS, DEFAULT_UPLOAD_PURGE_INTERVAL_MS } from '../../server/options.js';
import type { RegistryServerOptions } from '../../server/index.js';
import type { RegistryServeFlags } from '../../server/cli-options.js';
import type { ServeConfigFlags } from '../../server/config-file.js';

interface ProxyFlags {
  proxyRemote?: string;
  proxyUsername?: string;
  proxyPasswordFile?: string;
  proxyTtl?: string;
}

/** `--proxy-*` flags to `RegistryServerOptions.proxy`; the server checks the URL itself. */
async function proxyOptions(flags: ProxyFlags, parseDuration: (flag: string, value: string) => number): Promise<RegistryServerOptions['proxy']> {
  if (flags.proxyRemote === undefined) {
    const stray = (['proxyUsername', 'proxyPasswordFile', 'proxyTtl'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw new ConfigError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --proxy-remote`);
    return undefined;
  }
  if ((flags.proxyUsername === undefined) !== (flags.proxyPasswordFile === undefined)) {
    throw new ConfigError('--proxy-username and --proxy-password-file go together: give both or neither');
  }
  // Loaded now rather than at the first pulled-through request: a long-running server must not
  // depend on finding its files again later (an upgrade may have replaced them meanwhile).
  const { connectUpstream } = await import('../../upstream/connect-upstream.js');
  return {
    remoteUrl: flags.proxyRemote,
    ...(flags.proxyUsername !== undefined ? { username: flags.proxyUsername, passwordFile: flags.proxyPasswordFile } : {}),
    ...(flags.proxyTtl !== undefined ? { tagTtlMs: parseDuration('--proxy-ttl', flags.proxyTtl) } : {}),
    connect: (remote) => connectUpstream(remote),
  };
}

const hours = (ms: number): string => `${ms / 3_600_000}h`;

type ServeFlags = ServeConfigFlags & { config?: string };

/** The flags given on the command line (not commander's defaults) over the config file's. */
async function mergedFlags(flags: ServeFlags, command: Command): Promise<ServeConfigFlags> {
  const fromFile = flags.config !== undefined ? await (await import('../../server/config-file.js')).loadServeConfig(flags.config) : {};
  const given: ServeConfigFlags = Object.fromEntries(Object.entries(flags).filter(([k]) => k !== 'config' && command.getOptionValueSource(k) === 'cli'));
  // Choices that exclude each other: the command line's replaces the file's, rather than contradicting it.
  const replaces = (keys: ReadonlyArray<keyof ServeConfigFlags>, over: ReadonlyArray<keyof ServeConfigFlags> = keys): void => {
    if (keys.some((k) => given[k] !== undefined)) for (const k of over) delete fromFile[k];
  };
  replaces(['htpasswd', 'tokenConfig', 'tokenRealm']);
  replaces(['uploadPurging'], ['uploadPurgeAge', 'uploadPurgeInterval']);
  replaces(['uploadPurgeAge', 'uploadPurgeInterval'], ['uploadPurging']);
  return { delete: true, ...fromFile, ...given };
}

/**
 * The server options of a `gantry serve` command line: its `--config` file under the flags
 * given. Exported for the table test of config keys against flags (test/unit/serve-config.test.ts).
 */
export async function serveOptions(cliFlags: ServeFlags, command: Command): Promise<RegistryServerOptions> {
  const flags = await mergedFlags(cliFlags, command);
  const { parseDuration, registryServerOptionsFromCli } = await import('../../server/cli-options.js');
  const { proxyRemote, proxyUsername, proxyPasswordFile, proxyTtl, delete: del, quiet, ...serveFlags } = flags;
  const proxy = await proxyOptions({ proxyRemote, proxyUsername, proxyPasswordFile, proxyTtl }, parseDuration);
  const options = await registryServerOptionsFromCli({
    ...(serveFlags as RegistryServeFlags),
    deleteEnabled: del !== false,
    ...(quiet ? {} : { log: (line: string) => process.stderr.write(`${line}\n`) }),
  });
  if (proxy) options.proxy = proxy;
  return options;
}

export function serveCommand(program: Command): void {
  program
    .command('serve')
    .description('run the embedded OCI registry')
    .option('--config <file>', 'read these flags from a YAML file (docs/serve-operations.md); flags given here override it')
    .option('--listen <host:port>', 'address to listen on (default: "127.0.0.1:5000")')
    .option('--storage <dir|memory>', 'storage directory, or "memory" (default: "./gantry-registry")')
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
.option('--metrics', 'Prometheus metrics at /metrics, behind the registry\'s auth (/healthz and /readyz are always served)')
    .option('--metrics-listen <host:port>', 'serve /metrics (and /healthz, /readyz) on this separate address instead, plain http without auth; implies --metrics')
    .option('--drain-timeout <duration>', 'on SIGINT/SIGTERM, let requests in progress finish this long (/readyz answers 503 meanwhile): 10s, 1m (default: 0)')
    .option('--ui', 'serve the web view at /ui/, behind the same auth as the API')
    .option('--quiet', 'no request log (the "listening on" line, with the URL, still prints: it is what a script reads)')
    .action(async (cliFlags: ServeFlags, command: Command) => {
      const options = await serveOptions(cliFlags, command);
      const proxy = options.proxy;
      const { createRegistryServer } = await import('../../server/index.js');
      const server = await createRegistryServer(options);
      const mode = proxy ? `, pull-through cache of ${new URL(proxy.remoteUrl).origin}` : '';
      const metrics = server.metricsUrl ? `; metrics on ${server.metricsUrl}/metrics` : options.metrics ? `; metrics on ${server.url}/metrics` : '';
      process.stdout.write(`gantry registry listening on ${server.url} (storage: ${options.storage}${mode}${metrics})\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
    });
}

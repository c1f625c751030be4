/**
 * `gantry ping HOST[:PORT]`: a connectivity diagnosis. Resolves the endpoint list, pings
 * `/v2/`, and reports what was reached and how. Exit 0 when the registry answered `/v2/`
 * with 200 or 401.
 */
import type { Command } from 'commander';
import { addRegistryFlags, transportOptions, type RegistryFlags } from '../options.js';
import { addOutputFlags, printJson, type OutputFlags } from './output.js';
import { sharedSide, withFlagHints } from './hints.js';

type PingFlags = RegistryFlags & OutputFlags & { mirrors?: boolean };

export function pingCommand(program: Command): void {
  const cmd = addRegistryFlags(program.command('ping').argument('<registry>', 'HOST[:PORT] (docker.io for Docker Hub)').description('check how a registry is reached: endpoint, TLS, client certificate, auth challenge'))
    .option('--mirrors', 'for docker.io, ping as a pull would (mirrors first)');
  addOutputFlags(cmd, {
    quiet: 'print nothing: the exit status says whether the registry answered /v2/ (a failure still prints its gantry: line)',
    json: '{ registry, url, ok, status, tlsVerified, scheme, mirror, certsDir, certsDirExists, clientCertificate, apiVersion, challenges: [{ scheme, realm, service }], attempts }',
  }).action((registry: string, flags: PingFlags) => withFlagHints(() => [sharedSide(registry, flags, { credentials: false })], () => runPing(registry, flags)));
}

async function runPing(registry: string, flags: PingFlags): Promise<void> {
  // The library is loaded when the command runs, not at start-up (docs/startup.md).
  const [{ ping }, { parseWwwAuthenticate }, { statusText }, { redactUrl }] = await Promise.all([
    import('../../transport/endpoint.js'),
    import('../../auth/challenge.js'),
    import('../../transport/errors.js'),
    import('../../redact.js'),
  ]);
  const result = await ping(registry, { ...(await transportOptions(flags)), purpose: flags.mirrors ? 'pull' : 'push' });
  const ok = result.status === 200 || result.status === 401;
  const challenges = parseWwwAuthenticate(result.challenges);
  if (flags.json) {
    printJson(
      {
        registry: result.registry,
        url: result.url,
        ok,
        status: result.status,
        tlsVerified: result.tlsVerified,
        scheme: result.endpoint.url.protocol.slice(0, -1),
        mirror: result.endpoint.mirror,
        certsDir: result.certsDir,
        certsDirExists: result.certsDirExists,
        clientCertificate: result.clientCertificate ?? null,
        apiVersion: result.apiVersion ?? null,
        challenges: challenges.map((c) => ({ scheme: c.scheme, realm: c.parameters.realm ? redactUrl(c.parameters.realm) : null, service: c.parameters.service ?? null })),
        attempts: result.attempts,
      },
      { pretty: true },
    );
  } else if (!flags.quiet) {
    const tls = result.endpoint.url.protocol === 'http:' ? 'none (plain http)' : result.tlsVerified ? 'verified' : 'not verified (insecure registry)';
    const lines: [string, string][] = [
      ['Registry', result.registry],
      ['URL', result.url],
      ['TLS', tls],
      ['certs.d', `${result.certsDir}${result.certsDirExists ? '' : ' (not present)'}`],
      ['Client cert', result.clientCertificate ?? 'none'],
      ['Status', `${result.status} ${statusText(result.status)}`],
      ['Auth', challenges.length === 0 ? 'none' : challenges.map((c) => [c.scheme, c.parameters.realm ? `realm="${redactUrl(c.parameters.realm)}"` : '', c.parameters.service ? `service="${c.parameters.service}"` : ''].filter(Boolean).join(' ')).join('; ')],
    ];
    if (result.apiVersion) lines.push(['API version', result.apiVersion]);
    if (result.attempts.length > 1) lines.push(['Attempts', result.attempts.map((a) => `${a.url}${a.clientCertificate ? ` [${a.clientCertificate}]` : ''} → ${a.status ?? a.error}`).join('\n             ')]);
    process.stdout.write(lines.map(([k, v]) => `${`${k}:`.padEnd(13)}${v}\n`).join(''));
  }
  if (!ok) {
    process.stderr.write(`gantry: ${result.url} answered ${result.status} ${statusText(result.status)}, not a registry API (expected 200 or 401)\n`);
    process.exitCode = 1;
  }
}

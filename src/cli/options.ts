/**
 * Flags shared by every command that reaches a registry, and their translation into the
 * library's options. Validation happens here, at the boundary, naming the flag.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { RegistriesConf } from '../config/registries-conf.js';
import { ConfigError, ErrorCode, GantryError } from '../errors.js';
import type { RegistryAccessOptions } from '../client/connect.js';
import type { TransportOptions } from '../transport/transport.js';

export interface RegistryFlags {
  creds?: string;
  certsDir?: string;
  insecureRegistry?: string[];
  registryMirror?: string[];
  tlsVerify?: boolean;
  daemonConfig?: string;
  registriesConf?: string;
  config?: string | boolean;
  configDir?: string;
  authfile?: string;
  userAgent?: string;
  header?: string[];
  debug?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `--tls-verify`, `--tls-verify=true`, `--tls-verify=false`. */
export function parseBool(flag: string) {
  return (value: string | undefined): boolean => {
    if (value === undefined || value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw new InvalidArgumentError(`${flag}: expected true or false, got "${value}"`);
  };
}

/** Commands that take the shared flags but send no credentials (`ping`): `--authfile` is left off them. */
const NO_AUTHFILE_FLAG = new Set(['ping']);

/**
 * The shared flags. `inspect` keeps `--config` for the image config (skopeo's spelling), so
 * there the Docker config directory is only `--config-dir`, which every command accepts.
 */
export function addRegistryFlags(cmd: Command, { mirrors = true, configFlag = true }: { mirrors?: boolean; configFlag?: boolean } = {}): Command {
  cmd
    .option('--certs-dir <dir>', 'per-host TLS directory (default /etc/docker/certs.d)')
    .option('--insecure-registry <host>', 'treat HOST[:PORT] or a CIDR as insecure (repeatable)', collect)
    .addOption(new Option('--tls-verify [bool]', 'require https and verify certificates (true), or treat the registry as insecure (false)').argParser(parseBool('--tls-verify')))
    .option('--daemon-config <file>', 'read insecure-registries and registry-mirrors from a daemon.json (default /etc/docker/daemon.json when present)')
    .option('--registries-conf <file>', 'containers-registries.conf to read for blocked, insecure, location and mirrors (default $CONTAINERS_REGISTRIES_CONF, ~/.config/containers/registries.conf or /etc/containers/registries.conf, with their .d drop-ins)')
    .option('--config-dir <dir>', 'Docker config directory holding config.json (default $DOCKER_CONFIG or ~/.docker)')
    .option('--creds <user:pass>', 'credentials to use instead of the stored ones')
    .option('--user-agent <text>', 'append TEXT to the User-Agent')
    .option('--header <header>', "extra request header, e.g. 'X-Meta-Source: ci' (repeatable)", collect)
    .option('--debug', 'print a redacted request trail on stderr')
    .option('--json', 'print a machine-readable result');
  if (!NO_AUTHFILE_FLAG.has(cmd.name())) cmd.option('--authfile <file>', 'containers-auth.json credentials file, used instead of Docker\'s config (default $REGISTRY_AUTH_FILE)');
  if (configFlag) cmd.option('--config <dir>', 'same as --config-dir');
  if (mirrors) cmd.option('--registry-mirror <url>', 'Docker Hub mirror (repeatable)', collect);
  return cmd;
}

/** The Docker config directory the flags name, if any. */
export function dockerConfigDir(flags: RegistryFlags): string | undefined {
  return flags.configDir ?? (typeof flags.config === 'string' ? flags.config : undefined);
}

export function parseHeaders(list: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    const name = i > 0 ? h.slice(0, i).trim() : '';
    if (!name || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ConfigError(`--header: expected 'Name: value', got "${h}"`);
    out[name] = h.slice(i + 1).trim();
  }
  return out;
}

/** Builds transport options from the shared flags. */
export async function transportOptions(flags: RegistryFlags): Promise<TransportOptions> {
  // Loaded here, not at start-up: only commands that reach a registry need it (docs/startup.md).
  const { serviceConfigFrom } = await import('../config/daemon-json.js');
  const config = await serviceConfigFrom({
    ...(flags.daemonConfig ? { daemonConfigFile: flags.daemonConfig } : {}),
    insecureRegistries: flags.insecureRegistry ?? [],
    mirrors: flags.registryMirror ?? [],
  });
  return {
    config,
    ...(flags.certsDir ? { certsDir: flags.certsDir } : {}),
    ...(flags.tlsVerify !== undefined ? { tlsVerify: flags.tlsVerify } : {}),
    ...(flags.userAgent ? { userAgent: flags.userAgent } : {}),
    headers: parseHeaders(flags.header),
    ...(flags.debug ? { log: (line: string) => process.stderr.write(`debug: ${line}\n`) } : {}),
  };
}

/** `USER:PASS` (the password may hold colons; the user may not). */
export function parseCreds(flag: string, value: string): { username: string; password: string } {
  const i = value.indexOf(':');
  if (i <= 0) throw new GantryError(ErrorCode.USAGE, `${flag}: expected USER:PASS`);
  return { username: value.slice(0, i), password: value.slice(i + 1) };
}

/** The flags of a command with a source and a destination registry (`copy`, `sync`). */
export interface TwoSidedFlags {
  srcTlsVerify?: boolean;
  destTlsVerify?: boolean;
  srcCreds?: string;
  destCreds?: string;
  srcAuthfile?: string;
  destAuthfile?: string;
  srcCertDir?: string;
  destCertDir?: string;
}

/** Adds `--src-…` / `--dest-…` for TLS verification, credentials, auth file and cert folder (skopeo's spellings). */
export function addTwoSidedFlags(cmd: Command): Command {
  return cmd
    .addOption(new Option('--src-tls-verify [bool]', '--tls-verify for the source only').argParser(parseBool('--src-tls-verify')))
    .addOption(new Option('--dest-tls-verify [bool]', '--tls-verify for the destination only').argParser(parseBool('--dest-tls-verify')))
    .option('--src-creds <user:pass>', 'credentials for the source registry')
    .option('--dest-creds <user:pass>', 'credentials for the destination registry')
    .option('--src-authfile <file>', '--authfile for the source only')
    .option('--dest-authfile <file>', '--authfile for the destination only')
    .option('--src-cert-dir <dir>', "the source registry's TLS folder (ca.crt/*.crt, *.cert + *.key), instead of its certs.d folder")
    .option('--dest-cert-dir <dir>', "the destination registry's TLS folder (ca.crt/*.crt, *.cert + *.key), instead of its certs.d folder");
}

/** One side's overrides of the shared flags (`copy --src-…` / `--dest-…`). */
export interface SideFlags {
  tlsVerify?: boolean;
  creds?: string;
  credsFlag?: string;
  authFile?: string;
  /** skopeo's `--src-cert-dir` / `--dest-cert-dir`: the registry's own TLS folder. */
  certDir?: string;
}

const loadedConf = new WeakMap<RegistryFlags, Promise<RegistriesConf>>();

/**
 * The registries.conf files the flags name (or podman's defaults), read once per command;
 * keys gantry does not know are listed under `--debug`.
 */
export function registriesConf(flags: RegistryFlags): Promise<RegistriesConf> {
  let p = loadedConf.get(flags);
  if (!p) {
    p = import('../config/registries-conf.js').then(({ RegistriesConf }) => RegistriesConf.load(flags.registriesConf ? { file: flags.registriesConf } : {})).then((conf) => {
      if (flags.debug) {
        for (const file of conf.files) process.stderr.write(`debug: registries.conf: read ${file}\n`);
        for (const w of conf.warnings) process.stderr.write(`debug: registries.conf: ${w}\n`);
      }
      return conf;
    });
    loadedConf.set(flags, p);
  }
  return p;
}

/** Registry access (TLS, credentials) from the shared flags, with per-side overrides for copy. */
export async function accessOptions(flags: RegistryFlags, side: SideFlags = {}): Promise<RegistryAccessOptions> {
  const base = await transportOptions(flags);
  const conf = await registriesConf(flags);
  const tlsVerify = side.tlsVerify ?? flags.tlsVerify;
  const creds = side.creds ?? flags.creds;
  const authFile = side.authFile ?? flags.authfile;
  return {
    ...base,
    ...(tlsVerify !== undefined ? { tlsVerify } : {}),
    ...(dockerConfigDir(flags) ? { configDir: dockerConfigDir(flags) as string } : {}),
    ...(authFile ? { authFile } : {}),
    ...(side.certDir ? { certDir: side.certDir } : {}),
    ...(conf.registries.length > 0 ? { registriesConf: conf } : {}),
    ...(creds !== undefined ? { credentials: parseCreds(side.creds !== undefined ? (side.credsFlag ?? '--creds') : '--creds', creds) } : {}),
  };
}

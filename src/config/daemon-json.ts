/**
 * Reads the registry settings of a Docker daemon configuration file (`daemon.json`), so
 * that gantry treats insecure registries and Hub mirrors as the local Docker does.
 * Only `insecure-registries`, `registry-mirrors` and `proxies` are read; other keys are
 * the daemon's business and are ignored.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import type { ServiceOptions } from './service-config.js';
import { ServiceConfig } from './service-config.js';

/** Where dockerd reads its configuration on Linux. */
export const DEFAULT_DAEMON_CONFIG_FILE = '/etc/docker/daemon.json';

/** The daemon's `proxies` section (Docker 23+). Values may hold credentials: never log them. */
export interface DaemonProxies {
  /** `proxies.http-proxy`, as written; undefined when absent. */
  httpProxy?: string;
  /** `proxies.https-proxy`, as written; undefined when absent. */
  httpsProxy?: string;
  /** `proxies.no-proxy`, as written; undefined when absent. */
  noProxy?: string;
}

/** The registry settings read from a daemon.json; every other key of the file is ignored. */
export interface DaemonConfig {
  /** `insecure-registries`, as written (not yet validated); empty when absent. */
  insecureRegistries: string[];
  /** `registry-mirrors`, as written (not yet validated); empty when absent. */
  mirrors: string[];
  /** The `proxies` section; undefined when the file has none. */
  proxies?: DaemonProxies;
}

const PROXY_KEYS = [
  ['http-proxy', 'httpProxy'],
  ['https-proxy', 'httpsProxy'],
  ['no-proxy', 'noProxy'],
] as const;

/**
 * Reads `file`, or `/etc/docker/daemon.json` when no file is named. A missing default file
 * is an empty configuration; a missing named file is an error, since the user asked for it.
 */
export async function readDaemonConfig(file?: string): Promise<DaemonConfig> {
  const path = file ?? DEFAULT_DAEMON_CONFIG_FILE;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (file === undefined && code === 'ENOENT') return { insecureRegistries: [], mirrors: [] };
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'cannot read');
    throw new ConfigError(`daemon config ${path}: ${why}`, { cause: err });
  }
  return parseDaemonConfig(path, text);
}

/** Parses the text of a daemon.json; `path` only names the file in errors. */
export function parseDaemonConfig(path: string, text: string): DaemonConfig {
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') return { insecureRegistries: [], mirrors: [] };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (err) {
    // V8's message may quote the file, and a proxy URL there may carry a password.
    throw new ConfigError(`daemon config ${path}: malformed JSON${where(body, (err as Error).message)}`);
  }
  const fail = (what: string): never => {
    throw new ConfigError(`daemon config ${path}: ${what}`);
  };
  if (!isObject(json)) return fail('the top level must be a JSON object');
  const config: DaemonConfig = {
    insecureRegistries: stringList(json['insecure-registries'], 'insecure-registries', fail),
    mirrors: stringList(json['registry-mirrors'], 'registry-mirrors', fail),
  };
  const proxies = json.proxies;
  if (proxies !== undefined) {
    if (!isObject(proxies)) return fail('"proxies" must be an object');
    const out: DaemonProxies = {};
    for (const [key, field] of PROXY_KEYS) {
      const value = proxies[key];
      if (value === undefined) continue;
      if (typeof value !== 'string') return fail(`"proxies.${key}" must be a string`);
      out[field] = value;
    }
    config.proxies = out;
  }
  return config;
}

/** Where {@link serviceConfigFrom} takes its settings: a daemon.json plus the {@link ServiceOptions} given here. */
export interface ServiceConfigSources extends ServiceOptions {
  /** A daemon.json to read; default `/etc/docker/daemon.json` if it exists; `false` reads none. */
  daemonConfigFile?: string | false;
}

/** The service configuration from daemon.json plus options (option entries come after the file's). */
export async function serviceConfigFrom(sources: ServiceConfigSources = {}): Promise<ServiceConfig> {
  const file =
    sources.daemonConfigFile === false
      ? { insecureRegistries: [], mirrors: [] }
      : await readDaemonConfig(sources.daemonConfigFile);
  return ServiceConfig.create({
    insecureRegistries: [...file.insecureRegistries, ...(sources.insecureRegistries ?? [])],
    mirrors: [...file.mirrors, ...(sources.mirrors ?? [])],
    ...(sources.lookup === undefined ? {} : { lookup: sources.lookup }),
  });
}

function stringList(value: unknown, key: string, fail: (what: string) => never): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    return fail(`"${key}" must be an array of strings`);
  }
  return [...value] as string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** ` at line L, column C` from V8's `at position N`, when it gives one. */
function where(text: string, message: string): string {
  if (/end of JSON input/.test(message)) return ': unexpected end of input';
  const m = /at position (\d+)/.exec(message);
  if (m === null) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return ` at line ${line}, column ${column}`;
}

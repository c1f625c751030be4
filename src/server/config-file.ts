/**
 * `gantry serve --config FILE`: a YAML file carrying every flag of `gantry serve`
 * (docs/serve-operations.md has the whole file). It is read into the same flag values the
 * command line gives, so a key behaves exactly as its flag does, and a flag given on the command
 * line overrides its key.
 *
 *   listen, storage, delete, drainTimeout, ui
 *   tls: { cert, key, clientCa }
 *   auth: { htpasswd } | { token: { config, realm } }
 *   uploadPurging: { enabled, age, interval }
 *   proxy: { remoteUrl, username, passwordFile, ttl }
 *   metrics: true | { enabled, listen }
 *   log: { quiet }
 *
 * Every mistake names the file and the key path (`serve.yaml: tls.cert: expected a string`) and
 * is a usage error (exit 2); an unknown key is one too, so a typo is never silently ignored.
 * Secrets are never values here: the proxy's password, the TLS key, the htpasswd and token
 * users are files the config names, and no message prints a value of theirs. Relative paths are
 * taken from the config file's directory.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import { parseDocument } from 'yaml';
import { ErrorCode, GantryError } from '../errors.js';
import { parseDuration, parseListen, type RegistryServeFlags } from './cli-options.js';

/** The flags a config file can set: those of `gantry serve`, under their commander names. */
export interface ServeConfigFlags extends Omit<RegistryServeFlags, 'log'> {
  /** `delete: false` is `--no-delete`. */
  delete?: boolean;
  quiet?: boolean;
  proxyRemote?: string;
  proxyUsername?: string;
  proxyPasswordFile?: string;
  proxyTtl?: string;
}

/** A config file that cannot be used: a usage error (exit 2), naming the file and key. */
export class ServeConfigError extends GantryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.USAGE, message, options);
    this.name = 'ServeConfigError';
  }
}

type Kind = 'string' | 'path' | 'boolean' | 'duration' | 'listen' | 'url';

/** A key: its kind and the flag it sets. */
interface Leaf {
  kind: Kind;
  flag: keyof ServeConfigFlags;
}
interface Group {
  [key: string]: Leaf | Group;
}

/** The whole schema, one leaf per flag. */
const SCHEMA: Group = {
  listen: { kind: 'listen', flag: 'listen' },
  storage: { kind: 'path', flag: 'storage' },
  delete: { kind: 'boolean', flag: 'delete' },
  drainTimeout: { kind: 'duration', flag: 'drainTimeout' },
  ui: { kind: 'boolean', flag: 'ui' },
  tls: {
    cert: { kind: 'path', flag: 'tlsCert' },
    key: { kind: 'path', flag: 'tlsKey' },
    clientCa: { kind: 'path', flag: 'clientCa' },
  },
  auth: {
    htpasswd: { kind: 'path', flag: 'htpasswd' },
    token: {
      config: { kind: 'path', flag: 'tokenConfig' },
      realm: { kind: 'url', flag: 'tokenRealm' },
    },
  },
  uploadPurging: {
    enabled: { kind: 'boolean', flag: 'uploadPurging' },
    age: { kind: 'duration', flag: 'uploadPurgeAge' },
    interval: { kind: 'duration', flag: 'uploadPurgeInterval' },
  },
  proxy: {
    remoteUrl: { kind: 'url', flag: 'proxyRemote' },
    username: { kind: 'string', flag: 'proxyUsername' },
    passwordFile: { kind: 'path', flag: 'proxyPasswordFile' },
    ttl: { kind: 'duration', flag: 'proxyTtl' },
  },
  metrics: {
    enabled: { kind: 'boolean', flag: 'metrics' },
    listen: { kind: 'listen', flag: 'metricsListen' },
  },
  log: {
    quiet: { kind: 'boolean', flag: 'quiet' },
  },
};

/** Keys whose value is never shown in a message, even a wrong one. */
const SECRET_HINT = /password|secret|token/i;

const isLeaf = (n: Leaf | Group): n is Leaf => typeof (n as Leaf).kind === 'string';

/** Every key a config file may hold, dotted (`tls.cert`), with the flag it sets (for tests and docs). */
export function serveConfigKeys(schema: Group = SCHEMA, prefix = ''): Array<{ key: string; flag: string }> {
  return Object.entries(schema).flatMap(([k, n]) => (isLeaf(n) ? [{ key: `${prefix}${k}`, flag: n.flag }] : serveConfigKeys(n, `${prefix}${k}.`)));
}

/** Reads and checks a config file; relative paths in it are resolved from its directory. */
export async function loadServeConfig(file: string): Promise<ServeConfigFlags> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ServeConfigError(`--config: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseServeConfig(text, file, dirname(resolvePath(file)));
}

/** Checks a config file's text (`file` names it in messages; `base` resolves its relative paths). */
export function parseServeConfig(text: string, file: string, base: string): ServeConfigFlags {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0];
    throw new ServeConfigError(`${file}:${at ? `${at.line}:${at.col}:` : ''} not valid YAML: ${(first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return {};
  const flags: ServeConfigFlags = {};
  const fail = (path: string, message: string): never => {
    throw new ServeConfigError(`${file}: ${path}: ${message}`);
  };
  // `metrics: true` is short for `metrics: { enabled: true }`.
  if (isObject(root) && typeof root.metrics === 'boolean') root.metrics = { enabled: root.metrics };
  walk(root, SCHEMA, '', flags, base, fail);
  if (flags.metricsListen !== undefined && flags.metrics === false) fail('metrics.listen', 'given with metrics.enabled: false: drop one');
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) fail(flags.tlsCert === undefined ? 'tls.cert' : 'tls.key', 'required with tls.key and tls.cert: give both');
  if (flags.clientCa !== undefined && flags.tlsCert === undefined) fail('tls.clientCa', 'needs tls.cert and tls.key: mutual TLS is TLS first');
  if (flags.htpasswd !== undefined && (flags.tokenConfig !== undefined || flags.tokenRealm !== undefined)) fail('auth', 'htpasswd and token are exclusive: choose one');
  if (flags.tokenRealm !== undefined && flags.tokenConfig === undefined) fail('auth.token.config', 'required with auth.token.realm');
  if (flags.proxyRemote === undefined) {
    const stray = (['proxyUsername', 'proxyPasswordFile', 'proxyTtl'] as const).find((k) => flags[k] !== undefined);
    if (stray) fail(`proxy.${{ proxyUsername: 'username', proxyPasswordFile: 'passwordFile', proxyTtl: 'ttl' }[stray]}`, 'needs proxy.remoteUrl');
  }
  if ((flags.proxyUsername === undefined) !== (flags.proxyPasswordFile === undefined)) fail(flags.proxyUsername === undefined ? 'proxy.username' : 'proxy.passwordFile', 'proxy.username and proxy.passwordFile go together: give both or neither');
  if (flags.uploadPurging === false && (flags.uploadPurgeAge !== undefined || flags.uploadPurgeInterval !== undefined)) fail('uploadPurging', 'enabled: false with age or interval: choose one');
  return flags;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function walk(value: unknown, schema: Group, prefix: string, flags: ServeConfigFlags, base: string, fail: (path: string, message: string) => never): void {
  if (!isObject(value)) fail(prefix === '' ? '(top level)' : prefix.slice(0, -1), `expected a mapping of ${Object.keys(schema).join(', ')}`);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const path = `${prefix}${key}`;
    const node = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (!node) fail(path, `unknown key (expected one of ${Object.keys(schema).join(', ')})`);
    const n = node as Leaf | Group;
    if (v === null || v === undefined) continue; // `key:` with no value: as if absent
    if (isLeaf(n)) (flags as Record<string, unknown>)[n.flag] = leaf(v, n.kind, path, base, fail);
    else walk(v, n, `${path}.`, flags, base, fail);
  }
}

function leaf(v: unknown, kind: Kind, path: string, base: string, fail: (path: string, message: string) => never): string | boolean {
  const shown = SECRET_HINT.test(path) && !path.endsWith('File') ? '' : `, got ${describe(v)}`;
  switch (kind) {
    case 'boolean':
      if (typeof v !== 'boolean') fail(path, `expected true or false${shown}`);
      return v as boolean;
    case 'duration': {
      if (typeof v !== 'string' && typeof v !== 'number') fail(path, `expected a duration such as 168h, 30m, 10s or a number of seconds${shown}`);
      const s = String(v);
      try {
        parseDuration(path, s);
      } catch (err) {
        fail(path, (err as Error).message.slice(path.length + 2));
      }
      return s;
    }
    case 'listen': {
      // A YAML `:5000` is a string; a bare port number is taken as `:PORT`.
      const s = typeof v === 'number' && Number.isInteger(v) ? `:${v}` : v;
      if (typeof s !== 'string' || s === '') fail(path, `expected HOST:PORT${shown}`);
      try {
        parseListen(s as string, path);
      } catch (err) {
        fail(path, (err as Error).message.slice(path.length + 2));
      }
      return s as string;
    }
    case 'url':
    case 'string':
      if (typeof v !== 'string' || v === '') fail(path, `expected a string${shown}`);
      if (kind === 'url' && !URL.canParse(v as string)) fail(path, `expected a URL${shown}`);
      return v as string;
    case 'path':
      if (typeof v !== 'string' || v === '') fail(path, `expected a string (a path)${shown}`);
      if ((v as string).includes('-----BEGIN')) fail(path, 'expected the path of a PEM file: keep keys and certificates out of the config file');
      // `memory` is storage's own word, not a path.
      return path === 'storage' && v === 'memory' ? v : resolvePath(base, v as string);
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (isObject(v)) return 'a mapping';
  return JSON.stringify(v);
}

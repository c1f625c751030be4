/**
 * `gantry sync CONFIG.yaml`: the file read with the `yaml` package (YAML 1.2, the core schema:
 * `yes`/`no` stay strings, so `tls-verify: no` is an error rather than a silent `true`), at
 * most MAX_SYNC_CONFIG_BYTES, aliases capped, duplicate keys refused. Every problem is a
 * ConfigError (INVALID_CONFIG) that names the file, the line and column, and the key path:
 *
 *   sync.yaml:7:9: sources[0].tags.semver: ">=1.x.y" is not a semver range such as ">=1.2 <2", …
 */
import { open } from 'node:fs/promises';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError } from '../errors.js';
import { InvalidOptionError } from '../options.js';
import { checkSyncConfig, formatKeyPath, showValue, type ConfigFail, type KeyPath, type SyncConfig } from './config.js';

/** The largest configuration file read: a list of a few thousand repositories is a few hundred KiB. */
export const MAX_SYNC_CONFIG_BYTES = 4 * 1024 * 1024;
/** Aliases expanded at most (a "billion laughs" file stops here). */
const MAX_ALIASES = 100;

/** The node's position at `path` (a key's own position when `key`), as `line:col`; undefined when the path is not in the document. */
function position(doc: Document, lines: LineCounter, path: KeyPath, key: boolean): string | undefined {
  let offset: number | undefined;
  if (key && path.length > 0) {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
      if (pair && isScalar(pair.key)) offset = pair.key.range?.[0];
    }
  } else {
    const node = path.length === 0 ? doc.contents : (doc.getIn(path, true) as { range?: [number, number, number] } | undefined);
    offset = (node as { range?: [number, number, number] } | null | undefined)?.range?.[0];
  }
  if (offset === undefined) return path.length > 0 ? position(doc, lines, path.slice(0, -1), false) : undefined;
  const { line, col } = lines.linePos(offset);
  return `${line}:${col}`;
}

/**
 * Parses a sync configuration from YAML text. `file` names it in errors. Throws ConfigError
 * (INVALID_CONFIG) with the file, line, column and key path of the first problem.
 */
export function parseSyncConfig(text: string, file = 'sync configuration'): SyncConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, version: '1.2' });
  const first = doc.errors[0];
  if (first) {
    const at = first.linePos?.[0];
    throw new ConfigError(`${file}${at ? `:${at.line}:${at.col}` : ''}: not valid YAML: ${first.message.split('\n')[0] ?? first.code}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`);
  }
  const fail: ConfigFail = (path, expected, v, options = {}) => {
    const at = position(doc, lines, path, options.key ?? false);
    const what = options.key ? `unknown key; ${expected}` : options.hide ? `expected ${expected}` : `${showValue(v)} is not ${expected}`;
    throw new ConfigError(`${file}${at ? `:${at}` : ''}: ${path.length > 0 ? formatKeyPath(path) : 'the file'}: ${what}`);
  };
  if (value === null || value === undefined) fail([], 'a mapping with a "sources" list', value, { hide: true });
  return checkSyncConfig(value, fail, 'yaml');
}

/**
 * Reads and checks a sync configuration file (YAML, see docs/sync.md). Throws ConfigError
 * (INVALID_CONFIG) naming the file, line and key path of the first problem, or the file when
 * it cannot be read or is larger than MAX_SYNC_CONFIG_BYTES.
 */
export async function readSyncConfig(file: string): Promise<SyncConfig> {
  if (typeof file !== 'string' || file === '') throw new InvalidOptionError('readSyncConfig', 'file', file, 'a file name');
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(MAX_SYNC_CONFIG_BYTES + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_SYNC_CONFIG_BYTES) throw new ConfigError(`${file}: larger than ${MAX_SYNC_CONFIG_BYTES} bytes; split the configuration`);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${file}: cannot read the sync configuration: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return parseSyncConfig(text, file);
}

/**
 * Checks a configuration given in code (camelCase keys) and returns it normalised; a problem
 * is INVALID_OPTION naming `config.<key path>` (`sync: invalid option config.sources[0].jobs: 0 …`).
 */
export function checkConfigObject(where: string, config: unknown): SyncConfig {
  const fail: ConfigFail = (path, expected, v, options = {}) => {
    throw new InvalidOptionError(where, path.length > 0 ? `config.${formatKeyPath(path)}` : 'config', options.key || options.hide ? undefined : v, options.key ? `no such key; ${expected}` : expected);
  };
  if (config === null || typeof config !== 'object' || Array.isArray(config)) fail([], 'a SyncConfig object ({ sources: [...] })', config);
  return checkSyncConfig(config, fail, 'library');
}

/**
 * `gantry sync CONFIG.yaml`, and the one-off form `gantry sync --src SRC --dest DEST` (skopeo
 * sync's `--src docker --dest docker`): SRC is a registry (every repository its catalog
 * lists), a repository (every tag) or one tag; DEST is `host[/prefix]`. Flags build a
 * SyncConfig and SyncOptions, `sync()` does the work, and each copied, planned or failed tag
 * is printed as it finishes (`--json`: the report, once, at the end).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ErrorCode, GantryError } from '../../errors.js';
import { DOMAIN_RE } from '../../ref/grammar.js';
import { parseRepository, Reference } from '../../ref/reference.js';
import type { SyncConfig, SyncDestination, SyncItem, SyncReport, SyncSource, SyncTagFilter } from '../../sync/index.js';
import { parseShard } from '../../sync/shard.js';
import { formatBytes } from '../progress.js';
import { accessOptions, addRegistryFlags, addTwoSidedFlags, parseCreds, type RegistryFlags, type TwoSidedFlags } from '../options.js';
import { addOutputFlags, printJson } from './output.js';
import { sharedSide, withFlagHints, type RegistrySide } from './hints.js';

interface SyncFlags extends RegistryFlags, TwoSidedFlags {
  src?: string;
  dest?: string;
  include?: string[];
  exclude?: string[];
  tagRegex?: string;
  excludeTagRegex?: string;
  semver?: string;
  prerelease?: boolean;
  newest?: number;
  order?: 'semver' | 'created';
  immutable?: boolean | string;
  platform?: string[];
  referrers?: boolean;
  stripPrefix?: string;
  basename?: boolean;
  jobs?: number;
  registryJobs?: number;
  blobJobs?: number;
  rateLimitReserve?: number;
  dryRun?: boolean;
  shard?: { index: number; count: number };
  quiet?: boolean;
}

/** The flags that describe a one-off sync; a configuration file says all of it itself. */
const ONE_OFF_FLAGS: readonly (keyof SyncFlags)[] = [
  'srcTlsVerify', 'destTlsVerify', 'srcCreds', 'destCreds', 'srcAuthfile', 'destAuthfile', 'srcCertDir', 'destCertDir',
  'include', 'exclude', 'tagRegex', 'excludeTagRegex', 'semver', 'prerelease', 'newest', 'order', 'immutable', 'platform',
  'referrers', 'stripPrefix', 'basename',
];

const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function integer(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${flag}: expected a whole number from ${min} to ${max}`);
    return n;
  };
}

function shardFlag(value: string): { index: number; count: number } {
  try {
    return parseShard(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** The registry `host` names, as references spell it; USAGE when a reference would read it as a Docker Hub namespace. */
function registryName(host: string, flag: string, spec: string): string {
  const domain = DOMAIN_RE.test(host) ? parseRepository(`${host}/x`).domain : undefined;
  if (domain === undefined || (domain !== host && !(domain === 'docker.io' && /(^|\.)docker\.io$/.test(host)))) {
    throw new GantryError(ErrorCode.USAGE, `${flag} ${spec}: "${host}" is not a registry host[:port] (a host has a "." or a ":port", or is localhost)`);
  }
  return domain;
}

/**
 * `--src` names a registry alone when it is one as Docker reads a name's first component: it
 * has a `.`, or is `localhost[:port]` or `[v6]:port`, or ends with `/` (`myhost:5000/`).
 * Otherwise it is an image name (`alpine:3` is the tag 3 of alpine).
 */
function registryOnly(s: string): string | undefined {
  const host = s.endsWith('/') ? s.replace(/\/+$/, '') : s;
  if (host.includes('/')) return undefined;
  if (s.endsWith('/') || /^(localhost|\[[0-9a-f:.]+\])(:\d+)?$/i.test(host) || (host.includes('.') && DOMAIN_RE.test(host))) return host;
  return undefined;
}

/** `--src`: a registry, a repository, or a tag (never a digest: sync mirrors tags). */
function parseSource(spec: string): { registry: string; repository?: string; tag?: string } {
  const s = spec.replace(/^docker:\/\//, '');
  const host = registryOnly(s);
  if (host !== undefined) return { registry: registryName(host, '--src', spec) };
  const ref = Reference.parse(s);
  if (ref.digest) throw new GantryError(ErrorCode.USAGE, `--src ${spec}: sync mirrors tags; name a tag, a repository or a registry, not a digest`);
  return { registry: ref.repository.domain, repository: ref.repository.path, ...(ref.tag ? { tag: ref.tag } : {}) };
}

/** `--dest`: `host[/prefix]`. */
function parseDestination(spec: string): { registry: string; prefix?: string } {
  const s = spec.replace(/^docker:\/\//, '');
  const slash = s.indexOf('/');
  const host = slash < 0 ? s : s.slice(0, slash);
  const prefix = slash < 0 ? '' : s.slice(slash + 1).replace(/\/+$/, '');
  return { registry: registryName(host, '--dest', spec), ...(prefix ? { prefix } : {}) };
}

function oneOffConfig(flags: SyncFlags): SyncConfig {
  const src = parseSource(flags.src!);
  const dest = parseDestination(flags.dest!);
  const tags: SyncTagFilter = {
    ...(flags.tagRegex ? { regex: flags.tagRegex } : {}),
    ...(flags.excludeTagRegex ? { excludeRegex: flags.excludeTagRegex } : {}),
    ...(flags.semver ? { semver: flags.semver } : {}),
    ...(flags.prerelease ? { prerelease: true } : {}),
    ...(flags.newest !== undefined ? { newest: flags.newest } : {}),
    ...(flags.order ? { order: flags.order } : {}),
  };
  const destination: SyncDestination = {
    registry: dest.registry,
    ...(dest.prefix ? { prefix: dest.prefix } : {}),
    ...(flags.stripPrefix ? { stripPrefix: flags.stripPrefix } : {}),
    ...(flags.basename ? { basename: true } : {}),
    ...(flags.destTlsVerify !== undefined ? { tlsVerify: flags.destTlsVerify } : {}),
    ...(flags.destCertDir ? { certDir: flags.destCertDir } : {}),
    ...(flags.destAuthfile ? { authFile: flags.destAuthfile } : {}),
    ...(flags.destCreds !== undefined ? { credentials: parseCreds('--dest-creds', flags.destCreds) } : {}),
  };
  const source: SyncSource = {
    registry: src.registry,
    ...(src.repository ? { repositories: [{ name: src.repository, ...(src.tag ? { tags: { names: [src.tag] } } : {}) }] } : { catalog: true }),
    ...(flags.include ? { include: flags.include } : {}),
    ...(flags.exclude ? { exclude: flags.exclude } : {}),
    ...(Object.keys(tags).length > 0 ? { tags: src.tag ? { ...tags, names: [src.tag] } : tags } : {}),
    ...(flags.immutable !== undefined ? { immutable: flags.immutable } : {}),
    ...(flags.platform ? { platforms: flags.platform } : {}),
    ...(flags.referrers ? { referrers: true } : {}),
    ...(flags.srcTlsVerify !== undefined ? { tlsVerify: flags.srcTlsVerify } : {}),
    ...(flags.srcCertDir ? { certDir: flags.srcCertDir } : {}),
    ...(flags.srcAuthfile ? { authFile: flags.srcAuthfile } : {}),
    ...(flags.srcCreds !== undefined ? { credentials: parseCreds('--src-creds', flags.srcCreds) } : {}),
    destinations: [destination],
  };
  return { sources: [source] };
}

function itemLine(item: SyncItem): string {
  const to = item.destination ? ` -> ${item.destination}` : '';
  if (item.action === 'failed' || item.action === 'interrupted') return `${item.action} ${item.source}${to}: ${item.error?.message ?? 'unknown error'}`;
  const size = item.bytes !== undefined ? `, ${formatBytes(item.bytes)}` : '';
  const blobs = item.blobs ? `, ${item.blobs.copied} blobs copied, ${item.blobs.existed} already there` : '';
  return `${item.action === 'planned' ? 'would copy' : item.action} ${item.source}${to} (${item.reason ?? ''}${item.digest ? ` ${item.digest}` : ''}${size}${blobs})`;
}

function summary(r: SyncReport): string {
  const verb = r.dryRun ? `${r.planned} to copy` : `${r.copied} copied (${formatBytes(r.bytes)})`;
  const requests = Object.entries(r.registries).map(([host, g]) => `${host} ${g.requests.total}`).join(', ');
  const shard = r.shard ? ` [shard ${r.shard.index}/${r.shard.count}]` : '';
  return `sync${shard}: ${r.tags} tag${r.tags === 1 ? '' : 's'}, ${verb}, ${r.skipped} up to date, ${r.failed} failed${r.interrupted ? `, ${r.interrupted} interrupted` : ''} in ${r.seconds.toFixed(1)} s; requests: ${requests || 'none'}`;
}

/** The registries a failure hint may name, with the flags that reach each. */
function sides(flags: SyncFlags): RegistrySide[] {
  if (!flags.src || !flags.dest) return [sharedSide(undefined, flags)];
  try {
    const src = parseSource(flags.src).registry;
    const dest = parseDestination(flags.dest).registry;
    return [
      { host: src, credsFlag: '--src-creds', authfileFlag: '--src-authfile', credsGiven: flags.srcCreds !== undefined, tlsFlag: '--src-tls-verify', ...(flags.srcTlsVerify !== undefined ? { tlsVerify: flags.srcTlsVerify } : {}), certDirFlag: '--src-cert-dir' },
      { host: dest, credsFlag: '--dest-creds', authfileFlag: '--dest-authfile', credsGiven: flags.destCreds !== undefined, tlsFlag: '--dest-tls-verify', ...(flags.destTlsVerify !== undefined ? { tlsVerify: flags.destTlsVerify } : {}), certDirFlag: '--dest-cert-dir' },
    ];
  } catch {
    return [];
  }
}

async function runSync(file: string | undefined, flags: SyncFlags): Promise<void> {
  const oneOff = flags.src !== undefined || flags.dest !== undefined;
  if (file !== undefined && oneOff) throw new GantryError(ErrorCode.USAGE, 'give a configuration file or --src and --dest, not both');
  if (file === undefined && !(flags.src && flags.dest)) throw new GantryError(ErrorCode.USAGE, 'give a configuration file (gantry sync sync.yaml), or --src and --dest');
  if (file !== undefined) {
    const given = ONE_OFF_FLAGS.filter((k) => flags[k] !== undefined);
    if (given.length > 0) throw new GantryError(ErrorCode.USAGE, `${given.map(flagName).join(', ')}: only with --src and --dest; a configuration file says this per source and destination`);
  }
  const { readSyncConfig, sync } = await import('../../sync/index.js');
  const config = file !== undefined ? await readSyncConfig(file) : oneOffConfig(flags);
  const print = !flags.json && !flags.quiet;
  const report = await sync(config, {
    access: await accessOptions(flags),
    ...(flags.jobs !== undefined ? { jobs: flags.jobs } : {}),
    ...(flags.registryJobs !== undefined ? { registryJobs: flags.registryJobs } : {}),
    ...(flags.blobJobs !== undefined ? { blobJobs: flags.blobJobs } : {}),
    ...(flags.rateLimitReserve !== undefined ? { rateLimitReserve: flags.rateLimitReserve } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
    ...(flags.shard ? { shard: flags.shard } : {}),
    onItem: (item) => {
      if (item.action === 'failed' || item.action === 'interrupted') {
        if (!flags.json) process.stderr.write(`gantry: ${itemLine(item)}\n`);
      } else if (print && item.action !== 'skipped') process.stdout.write(`${itemLine(item)}\n`);
    },
  });
  if (flags.json) printJson(report);
  else if (print) process.stdout.write(`${summary(report)}\n`);
  if (report.stopped) {
    throw new GantryError(ErrorCode.TOO_MANY_REQUESTS, `sync stopped early: ${report.stopped.message}; the rest is left for a rerun (which skips what is done)`);
  }
  if (report.failed > 0) throw new GantryError(ErrorCode.REGISTRY, `sync: ${report.failed} failed, of ${report.tags} tag${report.tags === 1 ? '' : 's'} considered (see ${flags.json ? 'the report' : 'the lines above'})`);
}

/** Registers `gantry sync` on `program`. */
export function syncCommands(program: Command): void {
  const cmd = addTwoSidedFlags(addRegistryFlags(program.command('sync').argument('[config]', 'a YAML sync configuration (see docs/sync.md); or use --src and --dest'))
    .description('mirror repositories between registries: one HEAD per tag and side when nothing changed')
    .option('--src <source>', 'one-off: a registry (its whole catalog), a repository (every tag) or one REPO:TAG')
    .option('--dest <registry[/prefix]>', 'one-off: where the repositories go (each under the prefix, its path kept)'))
    .option('--include <pattern>', 'with a registry as --src: repositories to keep, a glob (team/*, **) or /regex/ (repeatable)', collect)
    .option('--exclude <pattern>', 'with a registry as --src: repositories to drop (repeatable)', collect)
    .option('--tag-regex <regex>', 'keep tags this regular expression matches')
    .option('--exclude-tag-regex <regex>', 'drop tags this regular expression matches')
    .option('--semver <range>', "keep tags that are versions in this range ('>=1.2 <2', '^3')")
    .option('--prerelease', 'count prerelease versions (1.2.0-rc1) in --semver and --newest')
    .addOption(new Option('--newest <n>', 'keep the newest N tags (by --order)').argParser(integer('--newest', 1, 10_000)))
    .addOption(new Option('--order <by>', 'what --newest orders by').choices(['semver', 'created']))
    .option('--immutable [regex]', 'tags that never change (all, or those matching REGEX): skipped once the destination has them, on one HEAD there')
    .option('--platform <os/arch[/variant]>', 'copy only this platform (repeatable: a new index of those platforms)', collect)
    .option('--referrers', "copy each image's referrers too (signatures, SBOMs)")
    .option('--strip-prefix <path>', "remove this leading path from each repository's name at the destination (library)")
    .option('--basename', "keep only the last component of each repository's name at the destination (skopeo sync's naming)")
    .addOption(new Option('--jobs <n>', 'tags in flight at once (default 8)').argParser(integer('--jobs', 1, 256)))
    .addOption(new Option('--registry-jobs <n>', 'requests in flight to one registry at once (default 16)').argParser(integer('--registry-jobs', 1, 1024)))
    .addOption(new Option('--blob-jobs <n>', 'blobs of one image copied at once (default 4)').argParser(integer('--blob-jobs', 1, 64)))
    .addOption(new Option('--rate-limit-reserve <n>', "requests of a registry's announced rate limit to leave unused: the run stops, with its report, before crossing it (default 0)").argParser(integer('--rate-limit-reserve', 0, Number.MAX_SAFE_INTEGER)))
    .option('--dry-run', 'compare only (HEADs on both sides); print what would be copied')
    .addOption(new Option('--shard <I/N>', 'do only shard I (from 0) of N: N processes given the same configuration share the tags, each once').argParser(shardFlag));
  addOutputFlags(cmd, {
    quiet: 'print nothing but failures (on stderr)',
    json: '{ dryRun, shard?, tags, copied, skipped, planned, failed, interrupted, bytes, items: [{ action, source, destination, tag, reason, digest, bytes, blobs, error }], itemsOmitted, registries: { HOST: { requests, connections, rateLimit } }, stopped?, seconds }',
  }).action((file: string | undefined, flags: SyncFlags) => withFlagHints(() => sides(flags), () => runSync(file, flags)));
}

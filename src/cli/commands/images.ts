/**
 * `gantry copy SRC DST`, and its short forms `gantry pull REF DIR` (into an OCI layout) and
 * `gantry push DIR REF` (from one). SRC and DST are `REF`, `docker://REF`, `oci:DIR[:TAG]` or
 * `docker-archive:FILE[:REF]`.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { copy } from '../../image/transports.js';
import { Reference } from '../../ref/reference.js';
import type { CopyResult } from '../../image/copy.js';
import { formatBytes, progressRenderer } from '../progress.js';
import { accessOptions, addRegistryFlags, parseBool, type RegistryFlags } from '../options.js';

interface CopyFlags extends RegistryFlags {
  srcTlsVerify?: boolean;
  destTlsVerify?: boolean;
  srcCreds?: string;
  destCreds?: string;
  platform?: string;
  jobs?: number;
  quiet?: boolean;
}

function parseJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('--jobs: expected a whole number from 1 to 64');
  return n;
}

function addCopyFlags(cmd: Command): Command {
  return addRegistryFlags(cmd)
    .addOption(new Option('--src-tls-verify [bool]', '--tls-verify for the source only').argParser(parseBool('--src-tls-verify')))
    .addOption(new Option('--dest-tls-verify [bool]', '--tls-verify for the destination only').argParser(parseBool('--dest-tls-verify')))
    .option('--src-creds <user:pass>', 'credentials for the source registry')
    .option('--dest-creds <user:pass>', 'credentials for the destination registry')
    .option('--platform <os/arch[/variant]>', 'copy only this platform of a multi-platform image')
    .addOption(new Option('--jobs <n>', 'blobs copied at once').argParser(parseJobs))
    .option('--quiet', 'no progress output');
}

function summary(r: CopyResult): string {
  if (r.upToDate) return `${r.digest} (already up to date)`;
  const b = r.blobs;
  return `${r.digest} (${r.manifests} manifest${r.manifests === 1 ? '' : 's'}, ${b.total} blobs: ${b.copied} copied, ${b.existed} already there, ${b.mounted} mounted; ${formatBytes(r.bytes)})`;
}

async function runCopy(src: string, dst: string, flags: CopyFlags): Promise<void> {
  const renderer = progressRenderer(flags);
  const result = await copy(src, dst, {
    source: await accessOptions(flags, { ...(flags.srcTlsVerify !== undefined ? { tlsVerify: flags.srcTlsVerify } : {}), ...(flags.srcCreds !== undefined ? { creds: flags.srcCreds, credsFlag: '--src-creds' } : {}) }),
    destination: await accessOptions(flags, { ...(flags.destTlsVerify !== undefined ? { tlsVerify: flags.destTlsVerify } : {}), ...(flags.destCreds !== undefined ? { creds: flags.destCreds, credsFlag: '--dest-creds' } : {}) }),
    ...(flags.platform ? { platform: flags.platform } : {}),
    ...(flags.jobs ? { jobs: flags.jobs } : {}),
    ...(renderer ? { onProgress: (e) => renderer.onEvent(e) } : {}),
  });
  renderer?.finish();
  if (flags.json) process.stdout.write(`${JSON.stringify({ source: src, destination: dst, ...result })}\n`);
  else if (!flags.quiet) process.stdout.write(`${summary(result)}\n`);
}

export function imageCommands(program: Command): void {
  addCopyFlags(program.command('copy').argument('<source>', 'REF, docker://REF, oci:DIR[:TAG] or docker-archive:FILE[:REF]').argument('<destination>', 'same forms as the source'))
    .description('copy an image (every platform, or one with --platform) between registries, OCI layouts and docker archives')
    .action((src: string, dst: string, flags: CopyFlags) => runCopy(src, dst, flags));
  addCopyFlags(program.command('pull').argument('<reference>', 'image reference').argument('<dir>', 'OCI layout directory (DIR or DIR:TAG)'))
    .description('copy an image from a registry into an OCI layout (tagged with the reference\'s tag)')
    .action((ref: string, dir: string, flags: CopyFlags) => {
      const parsed = Reference.parse(ref.replace(/^docker:\/\//, ''));
      const tag = dir.includes(':') || (parsed.digest && !parsed.tag) ? '' : `:${parsed.withDefaultTag().tag}`;
      return runCopy(ref.startsWith('docker://') ? ref : `docker://${ref}`, `oci:${dir}${tag}`, flags);
    });
  addCopyFlags(program.command('push').argument('<dir>', 'OCI layout directory (DIR or DIR:TAG)').argument('<reference>', 'image reference'))
    .description('copy an image from an OCI layout into a registry')
    .action((dir: string, ref: string, flags: CopyFlags) => runCopy(`oci:${dir}`, ref.startsWith('docker://') ? ref : `docker://${ref}`, flags));
}

/**
 * `gantry copy SRC DST`, and its short forms `gantry pull REF DIR` (into an OCI layout) and
 * `gantry push DIR REF` (from one). SRC and DST are `REF`, `docker://REF`, `oci:DIR[:TAG]`,
 * `oci-archive:FILE[:TAG]` or `docker-archive:FILE[:REF]` (`docker-archive:FILE:@N` to read).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { Reference } from '../../ref/reference.js';
import type { CopyResult } from '../../image/copy.js';
import { formatBytes, progressRenderer } from '../progress.js';
import { accessOptions, addRegistryFlags, addTwoSidedFlags, type RegistryFlags, type SideFlags, type TwoSidedFlags } from '../options.js';
import { addOutputFlags, printJson } from './output.js';
import { registryOf, withFlagHints, type RegistrySide } from './hints.js';

interface CopyFlags extends RegistryFlags, TwoSidedFlags {
  platform?: string;
  jobs?: number;
  quiet?: boolean;
  preserveDigests?: boolean;
  referrers?: boolean;
}

function parseJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('--jobs: expected a whole number from 1 to 64');
  return n;
}

function addCopyFlags(cmd: Command): Command {
  const withCopy = addTwoSidedFlags(addRegistryFlags(cmd))
    .option('--platform <os/arch[/variant]>', 'copy only this platform of a multi-platform image')
    .addOption(new Option('--jobs <n>', 'blobs copied at once').argParser(parseJobs))
    .option('--preserve-digests', "keep every manifest's bytes: a Docker-format image stays Docker's in oci: and oci-archive: (only gantry and crane read that); refused for docker-archive:")
    .option('--referrers', "also copy the referrers of every manifest copied (signatures, SBOMs, attestations; cosign's sha256-<hex>.sig/.att/.sbom tags), recursively; with --platform, the chosen image's and the index's; refused for docker-archive:");
  return addOutputFlags(withCopy, {
    quiet: 'no progress and no summary: print only the digest written',
    json: '{ source, destination, digest, mediaType, convertedFrom?, upToDate, manifests, blobs: { total, copied, existed, mounted }, bytes, referrers? (with --referrers) }, and no progress',
  });
}

function summary(r: CopyResult): string {
  const converted = r.convertedFrom ? `; converted to OCI from ${r.convertedFrom}` : '';
  const referrers = r.referrers !== undefined ? `; ${r.referrers} referrer${r.referrers === 1 ? '' : 's'}` : '';
  if (r.upToDate) return `${r.digest} (already up to date${referrers}${converted})`;
  const b = r.blobs;
  return `${r.digest} (${r.manifests} manifest${r.manifests === 1 ? '' : 's'}, ${b.total} blobs: ${b.copied} copied, ${b.existed} already there, ${b.mounted} mounted; ${formatBytes(r.bytes)}${referrers}${converted})`;
}

/**
 * copy's registries and the flags that reach them: `--src-…` / `--dest-…` when both sides are
 * registries, the shared `--creds` / `--authfile` / `--tls-verify` when one is (pull, push)
 * unless the side's own flag was the one given.
 */
async function copySides(src: string, dst: string, flags: CopyFlags): Promise<RegistrySide[]> {
  const hosts = { src: await registryOf(src), dest: await registryOf(dst) };
  const both = hosts.src !== undefined && hosts.dest !== undefined;
  const side = (prefix: 'src' | 'dest', creds: string | undefined, tlsVerify: boolean | undefined): RegistrySide | undefined => {
    const host = hosts[prefix];
    if (host === undefined) return undefined;
    const verify = tlsVerify ?? flags.tlsVerify;
    // The side's own flag when both sides are registries or when it was the one given.
    const flag = (name: string, given = false): string => (both || given ? `--${prefix}-${name}` : `--${name}`);
    return {
      host,
      credsFlag: flag('creds', creds !== undefined),
      authfileFlag: flag('authfile'),
      credsGiven: (creds ?? flags.creds) !== undefined,
      tlsFlag: flag('tls-verify', tlsVerify !== undefined),
      ...(verify !== undefined ? { tlsVerify: verify } : {}),
      certDirFlag: `--${prefix}-cert-dir`,
    };
  };
  return [side('src', flags.srcCreds, flags.srcTlsVerify), side('dest', flags.destCreds, flags.destTlsVerify)].filter((s): s is RegistrySide => s !== undefined);
}

function runCopy(src: string, dst: string, flags: CopyFlags): Promise<void> {
  return withFlagHints(() => copySides(src, dst, flags), () => copyAndReport(src, dst, flags));
}

async function copyAndReport(src: string, dst: string, flags: CopyFlags): Promise<void> {
  const { copy } = await import('../../image/transports.js');
  const renderer = progressRenderer(flags);
  const side = (tlsVerify: boolean | undefined, creds: string | undefined, credsFlag: string, authFile: string | undefined, certDir: string | undefined): SideFlags => ({
    ...(tlsVerify !== undefined ? { tlsVerify } : {}),
    ...(creds !== undefined ? { creds, credsFlag } : {}),
    ...(authFile !== undefined ? { authFile } : {}),
    ...(certDir !== undefined ? { certDir } : {}),
  });
  const result = await copy(src, dst, {
    source: await accessOptions(flags, side(flags.srcTlsVerify, flags.srcCreds, '--src-creds', flags.srcAuthfile, flags.srcCertDir)),
    destination: await accessOptions(flags, side(flags.destTlsVerify, flags.destCreds, '--dest-creds', flags.destAuthfile, flags.destCertDir)),
    ...(flags.platform ? { platform: flags.platform } : {}),
    ...(flags.jobs ? { jobs: flags.jobs } : {}),
    ...(flags.preserveDigests ? { preserveDigests: true } : {}),
    ...(flags.referrers ? { referrers: true } : {}),
    ...(renderer ? { onProgress: (e) => renderer.onEvent(e) } : {}),
  });
  renderer?.finish();
  // --json wins over --quiet; --quiet keeps the one datum a script wants, the digest.
  if (flags.json) printJson({ source: src, destination: dst, ...result });
  else process.stdout.write(`${flags.quiet ? result.digest : summary(result)}\n`);
}

export function imageCommands(program: Command): void {
  addCopyFlags(program.command('copy').argument('<source>', 'REF, docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF|:@N]').argument('<destination>', 'same forms as the source'))
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

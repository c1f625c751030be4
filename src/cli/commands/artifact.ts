/**
 * `gantry artifact push REF FILE[:MEDIATYPE]...`, `gantry artifact pull REF DIR` and
 * `gantry attach SUBJECT FILE[:MEDIATYPE]...`: OCI artifacts as oras pushes and pulls them.
 * One library call each (image/artifact.ts, image/artifact-pull.ts). The result goes to
 * stdout (the manifest digest, or the `--json` document); one line per file to stderr unless
 * `--quiet` or `--json`.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { ErrorCode, GantryError } from '../../errors.js';
import type { ArtifactFile, PushArtifactResult } from '../../image/artifact.js';
import type { PullArtifactResult } from '../../image/artifact-pull.js';
import { InvalidOptionError } from '../../options.js';
import { Reference } from '../../ref/reference.js';
import { formatBytes } from '../progress.js';
import { accessOptions, addRegistryFlags, type RegistryFlags } from '../options.js';
import { addOutputFlags, type OutputFlags } from './output.js';
import { sharedSide, withFlagHints } from './hints.js';

interface PushFlags extends RegistryFlags, OutputFlags {
  artifactType?: string;
  annotation?: string[];
  subject?: string;
}

interface PullFlags extends RegistryFlags, OutputFlags {
  overwrite?: boolean;
}

/** Where a command writes; the process's streams unless a test gives its own. */
export interface ArtifactCommandOutput {
  /** The result: a digest, or the `--json` document. */
  readonly stdout?: { write(text: string): unknown };
  /** One line per file, notes on skipped layers. */
  readonly stderr?: { write(text: string): unknown };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `FILE[:MEDIATYPE]`, split at the last colon as oras does (`a:b:` is the file `a:b` with the default type). */
export function parseFileArg(arg: string): ArtifactFile {
  const i = arg.lastIndexOf(':');
  if (i < 0) return { path: arg };
  const path = arg.slice(0, i);
  const mediaType = arg.slice(i + 1);
  if (path === '') throw new GantryError(ErrorCode.USAGE, `no file path in "${arg}"`);
  return mediaType === '' ? { path } : { path, mediaType };
}

/** `--annotation K=V`, repeatable; a key given twice is refused. */
export function parseAnnotations(list: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of list) {
    const i = a.indexOf('=');
    if (i <= 0) throw new GantryError(ErrorCode.USAGE, `--annotation: expected KEY=VALUE, got "${a}"`);
    const key = a.slice(0, i);
    if (Object.hasOwn(out, key)) throw new GantryError(ErrorCode.USAGE, `--annotation: ${key} is given twice`);
    out[key] = a.slice(i + 1);
  }
  return out;
}

/** A library option that makes no sense came from a flag or an argument: a usage error (exit 2). */
async function asUsage<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof InvalidOptionError) throw new GantryError(ErrorCode.USAGE, err.message, { cause: err });
    throw err;
  }
}

const stripDocker = (ref: string): string => ref.replace(/^docker:\/\//, '');

function pushJson(r: PushArtifactResult): unknown {
  return {
    reference: r.reference,
    digest: r.digest,
    mediaType: r.mediaType,
    artifactType: r.artifactType,
    ...(r.subject ? { subject: r.subject } : {}),
    layers: r.layers.map((l) => ({ title: l.title, digest: l.digest, size: l.size, mediaType: l.mediaType })),
  };
}

function pullJson(r: PullArtifactResult): unknown {
  return {
    reference: r.reference,
    digest: r.digest,
    mediaType: r.mediaType,
    artifactType: r.artifactType ?? null,
    directory: r.directory,
    files: r.files.map((f) => ({ title: f.title, path: f.path, digest: f.digest, size: f.size, mediaType: f.mediaType })),
    skipped: r.skipped,
  };
}

function parseArtifactType(value: string): string {
  if (value === '') throw new InvalidArgumentError('expected a media type, e.g. application/vnd.example.sbom.v1+json');
  return value;
}

/**
 * Registers `artifact push`, `artifact pull` and `attach` on `program`. `output` replaces
 * process.stdout / process.stderr (tests run the commands in-process).
 */
export function artifactCommands(program: Command, output: ArtifactCommandOutput = {}): void {
  const out = output.stdout ?? process.stdout;
  const err = output.stderr ?? process.stderr;
  const chatty = (flags: OutputFlags): boolean => !flags.quiet && !flags.json;

  const push = async (target: string, fileArgs: readonly string[], flags: PushFlags, subject: string | undefined): Promise<void> => {
    const ref = Reference.parse(stripDocker(target));
    await withFlagHints(
      () => [sharedSide(ref.repository.domain, flags)],
      () =>
        asUsage(async () => {
          const files = fileArgs.map(parseFileArg);
          const annotations = parseAnnotations(flags.annotation);
          const { pushArtifact } = await import('../../image/artifact.js');
          const result = await pushArtifact(ref, files, {
            ...(flags.artifactType !== undefined ? { artifactType: flags.artifactType } : {}),
            ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
            ...(subject !== undefined ? { subject: stripDocker(subject) } : {}),
            access: await accessOptions(flags),
            ...(chatty(flags) ? { onFile: (l) => err.write(`${l.status === 'uploaded' ? 'Uploaded' : 'Already exists'} ${l.title} (${formatBytes(l.size)}) ${l.digest}\n`) } : {}),
          });
          if (flags.json) out.write(`${JSON.stringify(pushJson(result))}\n`);
          else out.write(`${result.digest}\n`);
        }),
    );
  };

  const artifact = program.command('artifact').description('push and pull OCI artifacts (files in an image manifest with an artifactType, as oras does)');

  addOutputFlags(
    addRegistryFlags(artifact.command('push').argument('<reference>', 'REF[:TAG] to push to (no tag: pushed by digest only)').argument('[files...]', 'FILE[:MEDIATYPE] (default media type application/vnd.oci.image.layer.v1.tar)'), { mirrors: false })
      .description('push files as an OCI artifact: empty config, one layer per file titled by its base name')
      .option('--artifact-type <type>', "the manifest's artifactType (default application/vnd.unknown.artifact.v1)", parseArtifactType)
      .option('--annotation <key=value>', 'a manifest annotation (repeatable)', collect)
      .option('--subject <ref>', 'make the artifact a referrer of this manifest (same repository; REF or sha256:…); REF\'s tag, if any, is set too'),
    { quiet: 'no per-file lines: print only the digest', json: '{ reference, digest, mediaType, artifactType, subject?: { digest, mediaType, size, indexedBy }, layers: [{ title, digest, size, mediaType }] }' },
  ).action((target: string, files: string[], flags: PushFlags) => push(target, files, flags, flags.subject));

  addOutputFlags(
    addRegistryFlags(artifact.command('pull').argument('<reference>', 'REF[:TAG|@DIGEST] of the artifact').argument('<dir>', 'directory to write the files to (made when missing)')),
    { quiet: 'no per-file lines: print only the digest', json: '{ reference, digest, mediaType, artifactType, directory, files: [{ title, path, digest, size, mediaType }], skipped: [{ digest, size, mediaType, title?, reason }] }' },
  )
    .description("write an artifact's titled layers as files under DIR (titles checked first: nothing leaves DIR)")
    .option('--overwrite', 'replace files that exist already')
    .action(async (target: string, dir: string, flags: PullFlags) => {
      const ref = Reference.parse(stripDocker(target));
      await withFlagHints(
        () => [sharedSide(ref.repository.domain, flags)],
        () =>
          asUsage(async () => {
            const { pullArtifact } = await import('../../image/artifact-pull.js');
            const result = await pullArtifact(ref, dir, {
              ...(flags.overwrite ? { overwrite: true } : {}),
              access: await accessOptions(flags),
              ...(chatty(flags) ? { onFile: (f) => err.write(`Wrote ${f.title} (${formatBytes(f.size)})\n`) } : {}),
            });
            if (!flags.json && !flags.quiet) {
              for (const s of result.skipped) err.write(`Skipped layer ${s.digest}: ${s.reason === 'untitled' ? 'it has no title' : `${s.title ?? ''} is an oras directory, which gantry does not unpack`}\n`);
            }
            if (flags.json) out.write(`${JSON.stringify(pullJson(result))}\n`);
            else out.write(`${result.digest}\n`);
          }),
      );
    });

  addOutputFlags(
    addRegistryFlags(program.command('attach').argument('<subject>', 'REF[:TAG|@DIGEST] of the manifest to attach to').argument('[files...]', 'FILE[:MEDIATYPE]'), { mirrors: false })
      .description('push files as an artifact that refers to SUBJECT (a referrer, pushed by digest into its repository, as oras attach)')
      .requiredOption('--artifact-type <type>', "the artifact's type, e.g. application/vnd.example.sbom.v1+json", parseArtifactType)
      .option('--annotation <key=value>', 'a manifest annotation (repeatable)', collect),
    { quiet: 'no per-file lines: print only the digest', json: '{ reference, digest, mediaType, artifactType, subject: { digest, mediaType, size, indexedBy }, layers: [{ title, digest, size, mediaType }] }' },
  ).action(async (subject: string, files: string[], flags: PushFlags) => {
    const subjectRef = Reference.parse(stripDocker(subject));
    if (files.length === 0 && (flags.annotation ?? []).length === 0) throw new GantryError(ErrorCode.USAGE, 'attach needs a file or an --annotation');
    // By digest only, into the subject's repository: `oras attach` sets no tag.
    await push(Reference.of(subjectRef.repository).canonical(), files, flags, subjectRef.canonical());
  });
}

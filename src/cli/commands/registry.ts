/**
 * `gantry inspect`, `digest`, `tags`, `catalog`, `delete`: one library call each. Listings
 * are printed as their pages come. The library is imported when a command runs, not when it is
 * registered (docs/startup.md).
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import type { InspectResult } from '../../image/inspect.js';
import type { ListPage } from '../../client/pagination.js';
import { formatBytes } from '../progress.js';
import { accessOptions, addRegistryFlags, type RegistryFlags } from '../options.js';
import { addOutputFlags, printJson, type OutputFlags } from './output.js';
import { registryOf, registryOfRepository, sharedSide, withFlagHints } from './hints.js';

type Flags = RegistryFlags & OutputFlags;

interface InspectFlags extends Flags {
  raw?: boolean;
  platform?: string;
}

/** `--quiet` on a command that prints only its result: accepted, so a script can pass it to every command. */
const ONLY_RESULT = 'no effect: this command prints only its result (accepted so scripts can pass --quiet everywhere)';

function renderInspect(r: InspectResult): string {
  const rows: [string, string][] = [
    ['Name', r.name],
    ['Digest', r.digest],
    ['MediaType', r.mediaType],
  ];
  if (r.platforms) {
    rows.push(['Platforms', r.platforms.map((p) => `${p.platform.padEnd(16)} ${p.digest}`).join('\n             ')]);
  }
  if (r.image) {
    const c = r.image.config;
    if (r.image.platform) rows.push(['Image', `${r.image.platform} ${r.image.digest}`]);
    rows.push(['OS/Arch', [c.os, c.architecture, c.variant].filter(Boolean).join('/') || 'unknown']);
    if (c.created) rows.push(['Created', c.created]);
    rows.push(['Size', `${formatBytes(r.image.size)} in ${r.image.layers.length} layer${r.image.layers.length === 1 ? '' : 's'}`]);
    const labels = Object.entries(c.labels);
    if (labels.length > 0) rows.push(['Labels', labels.map(([k, v]) => `${k}=${v}`).join('\n             ')]);
    rows.push(['Layers', r.image.layers.map((l) => `${l.digest}  ${formatBytes(l.size).padStart(10)}`).join('\n             ')]);
  }
  return rows.map(([k, v]) => `${`${k}:`.padEnd(13)}${v}\n`).join('');
}

function inspectJson(r: InspectResult): unknown {
  return {
    name: r.name,
    digest: r.digest,
    mediaType: r.mediaType,
    ...(r.platforms ? { platforms: r.platforms } : {}),
    ...(r.image
      ? {
          image: {
            digest: r.image.digest,
            platform: r.image.platform ?? null,
            os: r.image.config.os ?? null,
            architecture: r.image.config.architecture ?? null,
            variant: r.image.config.variant ?? null,
            created: r.image.config.created ?? null,
            labels: r.image.config.labels,
            size: r.image.size,
            configDigest: r.image.configDigest,
            layers: r.image.layers,
          },
        }
      : {}),
  };
}

/** Names per write when printing a listing. */
const WRITE_NAMES = 2048;

/** Writes to stdout, waiting while the pipe is full: a listing goes at the reader's pace. */
async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

const isEpipe = (err: unknown): boolean => (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';

/**
 * Prints a listing page by page as it arrives, so memory holds one page (issue "Trust at
 * origin boundaries", item 6): one name per line, or with `jsonOpen` the JSON object that
 * opens with it, its array written a page at a time (the bytes `JSON.stringify` would give).
 * A page goes out a few thousand names a write, never as one copy of the page (up to 16 MiB).
 * Nothing is written before the first page; a listing that fails later leaves what was
 * printed, and with --json an unclosed array, on purpose: no parser mistakes it for the whole.
 * A reader that goes away (`gantry tags … | head`) ends the listing quietly: no more pages.
 */
async function printListing(pages: AsyncIterable<ListPage>, jsonOpen: string | undefined): Promise<void> {
  let gone: unknown;
  const onError = (err: unknown): void => void (gone ??= err);
  process.stdout.on('error', onError);
  try {
    let printed = 0;
    let opened = false;
    for await (const page of pages) {
      if (!opened && jsonOpen !== undefined) await write(jsonOpen);
      opened = true;
      for (let i = 0; i < page.items.length && gone === undefined; i += WRITE_NAMES) {
        const names = page.items.slice(i, i + WRITE_NAMES);
        await write(jsonOpen === undefined ? `${names.join('\n')}\n` : `${printed > 0 ? ',' : ''}${JSON.stringify(names).slice(1, -1)}`);
        printed += names.length;
      }
      if (gone !== undefined) break;
    }
    if (jsonOpen !== undefined && gone === undefined) await write(`${opened ? '' : jsonOpen}]}\n`);
  } catch (err) {
    if (!isEpipe(err)) throw err;
    gone = err;
  } finally {
    process.stdout.off('error', onError);
  }
  if (gone !== undefined && !isEpipe(gone)) throw gone;
}

export function registryCommands(program: Command): void {
  const inspectCmd = addRegistryFlags(program.command('inspect').argument('<image>', 'REF, docker://REF, oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:REF|:@N]'), { configFlag: false })
    .description('show an image: digest, media type, platforms, layers and sizes, created, labels')
    .option('--raw', 'print the manifest exactly as stored')
    .option('--config', "print the image's config blob (use --config-dir for Docker's config directory)")
    .option('--platform <os/arch[/variant]>', 'for a multi-platform image, inspect this platform\'s image');
  addOutputFlags(inspectCmd, {
    quiet: ONLY_RESULT,
    json: '{ name, digest, mediaType, platforms?: [{ platform, digest, mediaType, size }], image?: { digest, platform, os, architecture, variant, created, labels, size, configDigest, layers } }; --raw and --config print the stored JSON bytes instead',
  }).action((image: string, flags: InspectFlags) =>
    withFlagHints(
      async () => hostSides(await registryOf(image), flags),
      async () => {
        const { inspect } = await import('../../image/inspect.js');
        const result = await inspect(image, { access: await accessOptions(flags), ...(flags.platform ? { platform: flags.platform } : {}) });
        if (flags.raw) process.stdout.write(result.raw);
        else if (flags.config === true) {
          if (!result.image) throw new Error(`${result.name} is a multi-platform index: choose one with --platform to see its config`);
          process.stdout.write(result.image.configRaw);
        } else if (flags.json) printJson(inspectJson(result), { pretty: true });
        else process.stdout.write(renderInspect(result));
      },
    ),
  );

  addOutputFlags(addRegistryFlags(program.command('digest').argument('<reference>', 'image reference')), { quiet: ONLY_RESULT, json: '{ reference, digest }' })
    .description('print the manifest digest a reference resolves to')
    .action((ref: string, flags: Flags) =>
      withFlagHints(
        async () => hostSides(await registryOf(ref), flags),
        async () => {
          const { resolveDigest } = await import('../../client/operations.js');
          const digest = await resolveDigest(ref.replace(/^docker:\/\//, ''), await accessOptions(flags));
          if (flags.json) printJson({ reference: ref, digest });
          else process.stdout.write(`${digest}\n`);
        },
      ),
    );

  addOutputFlags(addRegistryFlags(program.command('tags').argument('<repository>', 'repository, e.g. localhost:5000/app')), {
    quiet: ONLY_RESULT,
    json: '{ repository, tags: [...] }, written page by page as the registry sends them',
  })
    .description("list a repository's tags")
    .action((repo: string, flags: Flags) =>
      withFlagHints(
        () => hostSides(registryOfRepository(repo), flags),
        async () => {
          const { listTagPages } = await import('../../client/operations.js');
          const pages = listTagPages(repo.replace(/^docker:\/\//, ''), await accessOptions(flags));
          await printListing(pages, flags.json ? `{"repository":${JSON.stringify(repo)},"tags":[` : undefined);
        },
      ),
    );

  addOutputFlags(addRegistryFlags(program.command('catalog').argument('<registry>', 'HOST[:PORT]')), {
    quiet: ONLY_RESULT,
    json: '{ registry, repositories: [...] }, written page by page as the registry sends them',
  })
    .description("list a registry's repositories")
    .action((host: string, flags: Flags) =>
      withFlagHints(
        () => hostSides(host, flags),
        async () => {
          const { listCatalogPages } = await import('../../client/operations.js');
          const pages = listCatalogPages(host, await accessOptions(flags));
          await printListing(pages, flags.json ? `{"registry":${JSON.stringify(host)},"repositories":[` : undefined);
        },
      ),
    );

  addOutputFlags(addRegistryFlags(program.command('delete').argument('<reference>', 'image reference (tag or digest)')), {
    quiet: "print only the deleted digest (no 'Deleted ')",
    json: '{ reference, deleted } (deleted: the manifest digest removed)',
  })
    .description('delete an image manifest from a registry (a tag is resolved to its digest first)')
    .action((ref: string, flags: Flags) =>
      withFlagHints(
        async () => hostSides(await registryOf(ref), flags),
        async () => {
          const { deleteImage } = await import('../../client/operations.js');
          const digest = await deleteImage(ref.replace(/^docker:\/\//, ''), await accessOptions(flags));
          if (flags.json) printJson({ reference: ref, deleted: digest });
          else process.stdout.write(flags.quiet ? `${digest}\n` : `Deleted ${digest}\n`);
        },
      ),
    );
}

/** The one registry a command reaches with the shared flags; none for a layout or an archive. */
function hostSides(host: string | undefined, flags: Flags) {
  return host === undefined ? [] : [sharedSide(host, flags)];
}

/**
 * `gantry referrers IMAGE`: the referrers tree of an image (signatures, SBOMs, attestations,
 * cosign's tags), as `regctl artifact tree` prints it: the manifest's digest, then each
 * referrer with its artifactType and digest, indented under what it refers to, and for an
 * index each platform manifest's referrers too. One library call (`referrerTree`).
 */
import type { Command } from 'commander';
import type { ReferrerNode, ReferrerTree } from '../../image/referrers.js';
import { accessOptions, addRegistryFlags, type RegistryFlags } from '../options.js';
import { addOutputFlags, printJson, type OutputFlags } from './output.js';
import { registryOf, sharedSide, withFlagHints } from './hints.js';

interface ReferrersFlags extends RegistryFlags, OutputFlags {
  artifactType?: string;
}

const INDENT = '  ';

/** `- sha256:…: application/vnd.example.sig (tag sha256-….sig)`, then its own referrers one level in. */
function renderNodes(nodes: readonly ReferrerNode[], depth: number): string {
  const pad = INDENT.repeat(depth);
  return nodes
    .map((n) => {
      const tag = n.tag !== undefined ? ` (tag ${n.tag})` : '';
      const head = `${pad}- ${n.digest}: ${n.artifactType ?? n.mediaType}${tag}\n`;
      return n.referrers.length > 0 ? `${head}${pad}${INDENT}Referrers:\n${renderNodes(n.referrers, depth + 2)}` : head;
    })
    .join('');
}

/** The tree as text: `Name:`, `Digest:`, the index's children with theirs, then the top manifest's referrers. */
export function renderReferrerTree(tree: ReferrerTree): string {
  let out = `Name: ${tree.name}\nDigest: ${tree.digest}\n`;
  if (tree.manifests) {
    out += 'Children:\n';
    for (const m of tree.manifests) {
      out += `${INDENT}- ${m.digest}: ${m.platform ?? 'unknown'}\n`;
      if (m.referrers.length > 0) out += `${INDENT.repeat(2)}Referrers:\n${renderNodes(m.referrers, 3)}`;
    }
  }
  out += tree.referrers.length > 0 ? `Referrers:\n${renderNodes(tree.referrers, 1)}` : 'Referrers: none\n';
  return out;
}

/** Registers `gantry referrers`. */
export function referrersCommand(program: Command): void {
  const cmd = addRegistryFlags(program.command('referrers').argument('<image>', 'REF, docker://REF, oci:DIR[:TAG] or oci-archive:FILE[:TAG]'))
    .description('show the referrers of an image (signatures, SBOMs, attestations, cosign tags) as a tree, recursively')
    .option('--artifact-type <type>', 'only referrers of this artifactType, at every level');
  addOutputFlags(cmd, {
    quiet: 'no effect: this command prints only its result',
    json: '{ name, digest, mediaType, referrers: [{ digest, mediaType, size, artifactType?, tag?, annotations?, referrers: [...] }], manifests?: [{ digest, mediaType, platform?, referrers }], count }',
  }).action((image: string, flags: ReferrersFlags) =>
    withFlagHints(
      async () => {
        const host = await registryOf(image);
        return host === undefined ? [] : [sharedSide(host, flags)];
      },
      async () => {
        const { referrerTree } = await import('../../image/referrers.js');
        const tree = await referrerTree(image, {
          access: await accessOptions(flags),
          ...(flags.artifactType !== undefined ? { artifactType: flags.artifactType } : {}),
        });
        if (flags.json) printJson(tree, { pretty: true });
        else process.stdout.write(renderReferrerTree(tree));
      },
    ),
  );
}

/**
 * The bench's timed scenarios: transfers (push, pull, copy) of one image by gantry, skopeo and
 * the floor, and whole-process latency (no-op copy, inspect, digest, tags) of gantry against
 * skopeo and, for the read-only commands, `node -e 0`. Every run checks its result untimed.
 * Also the many-tags repository's seeding: one small manifest PUT under N tags.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { RegistryClient } from '../src/client/registry-client.js';
import { Digest } from '../src/ref/digest.js';
import type { BenchImage } from './image.js';
import { measure, run } from './measure.js';
import type { Measurement } from './measure.js';
import type { BenchRegistry } from './registries.js';
import type { Scenario, ScenarioResult, ScenarioSet } from './results-model.js';
import type { Sample } from './stats.js';
import { REPO, TAG, copyArgv, digestArgv, inspectArgv, nodeStartArgv, pullArgv, pushArgv, tagsArgv } from './tools.js';
import type { Endpoint, Mover, Tool, ToolContext } from './tools.js';

/** What every scenario needs from the run. */
export interface BenchContext {
  tools: ToolContext;
  /** Scratch space for pulled layouts. */
  scratch: string;
  log: (msg: string) => void;
}

/** The repository that holds the many tags, on the plain registry. */
export const TAGS_REPO = 'bench/tags';
/** Manifest PUTs at once while seeding the many tags (docker-registry takes more, the machine has two cores). */
const TAG_SEED_JOBS = 16;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export const endpoint = (r: BenchRegistry): Endpoint => ({ host: r.host, tls: r.tls, ...(r.certDir ? { certDir: r.certDir } : {}) });
/** The image's cache key (`8x128MiB`): the name of its directory. */
export const imageName = (image: BenchImage): string => basename(image.dir);

/** Run i starts with a different contender than run i-1, so none always goes first. */
function order<T extends Tool>(tools: T[], i: number): T[] {
  const k = i % tools.length;
  return [...tools.slice(k), ...tools.slice(0, k)];
}
const sample = (tool: Tool, i: number, m: Measurement): Sample => ({ tool, run: i, ...m });

/** The destination really holds the image: its manifest answers. */
export async function assertHasImage(ctx: ToolContext, e: Endpoint): Promise<void> {
  await run(['curl', '-sS', '-f', '-o', '/dev/null', '-I', '-H', `Accept: ${OCI_MANIFEST}`,
    ...(e.tls ? ['--cacert', ctx.caFile] : []), `${e.tls ? 'https' : 'http'}://${e.host}/v2/${REPO}/manifests/${TAG}`]);
}

/** A pulled layout holds every blob with the right content (the floor's hashes are checked here, untimed). */
export function assertPulled(tool: Tool, image: BenchImage, outDir: string): void {
  for (const b of [...image.layers, image.config]) {
    const file = join(outDir, 'blobs', 'sha256', b.digest.slice(7));
    if (!existsSync(file)) throw new Error(`${tool} pull: ${b.digest} missing in ${outDir}`);
    if (tool === 'floor' && !readFileSync(`${file}.sum`, 'utf8').startsWith(b.digest.slice(7))) throw new Error(`floor pull: ${b.digest} hash mismatch`);
  }
}

/** Empties `reg` and pushes `image` into it (the floor's push: the fastest), checked. */
export async function seed(ctx: ToolContext, image: BenchImage, reg: BenchRegistry): Promise<void> {
  await reg.reset();
  await run(pushArgv('floor', ctx, image, endpoint(reg)));
  await assertHasImage(ctx, endpoint(reg));
}

/**
 * `runs` alternating runs of gantry, skopeo, the floor and the Node floor. push goes into
 * `dest`, restarted empty before each run; pull reads `src` (which must hold the image); copy
 * goes `src` → `dest`.
 */
export async function transferScenario(
  bc: BenchContext, set: ScenarioSet, scenario: 'push' | 'pull' | 'copy', image: BenchImage, src: BenchRegistry, dest: BenchRegistry, runs: number,
): Promise<ScenarioResult> {
  const ctx = bc.tools;
  const samples: Sample[] = [];
  const outDir = join(bc.scratch, 'pulled');
  for (let i = 0; i < runs; i++) {
    for (const tool of order<Mover>(['gantry', 'skopeo', 'floor', 'node-floor'], i)) {
      let argv: string[];
      if (scenario === 'pull') {
        rmSync(outDir, { recursive: true, force: true });
        argv = pullArgv(tool, ctx, image, endpoint(src), outDir);
      } else {
        await dest.reset();
        argv = scenario === 'push' ? pushArgv(tool, ctx, image, endpoint(dest)) : copyArgv(tool, ctx, image, endpoint(src), endpoint(dest));
      }
      const m = await measure(argv);
      if (scenario === 'pull') assertPulled(tool, image, outDir);
      else await assertHasImage(ctx, endpoint(dest));
      bc.log(`${set} ${scenario} ${imageName(image)} run ${i + 1}/${runs} ${tool}: ${m.wallSeconds.toFixed(2)} s, ${m.cpuSeconds.toFixed(2)} CPU-s, ${m.peakRssMiB.toFixed(0)} MiB`);
      samples.push(sample(tool, i, m));
    }
  }
  rmSync(outDir, { recursive: true, force: true });
  return { scenario, set, image: imageName(image), bytes: image.totalBytes, samples };
}

/** `n` alternating runs of whole processes: each tool's command line from `argv`. */
export async function latencyScenario(
  bc: BenchContext, set: ScenarioSet, scenario: Scenario, label: string, bytes: number, tools: Tool[], argv: (tool: Tool) => string[], n: number,
): Promise<ScenarioResult> {
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) for (const tool of order(tools, i)) samples.push(sample(tool, i, await measure(argv(tool))));
  for (const tool of tools) bc.log(`${set} ${scenario} ${tool}: ${samples.filter((s) => s.tool === tool).map((s) => s.wallSeconds.toFixed(3)).join(' ')}`);
  return { scenario, set, image: label, bytes, samples };
}

/** The read-only commands against the image on `src`: gantry, skopeo and `node -e 0` (Node's start-up). */
export function readOnlyArgv(ctx: ToolContext, scenario: 'inspect' | 'digest' | 'tags', src: Endpoint): (tool: Tool) => string[] {
  return (tool) => {
    if (tool === 'node') return nodeStartArgv();
    if (tool === 'floor' || tool === 'node-floor') throw new Error(`${scenario}: the ${tool} has no command`);
    if (scenario === 'inspect') return inspectArgv(tool, ctx, src);
    return scenario === 'digest' ? digestArgv(tool, ctx, src) : tagsArgv(tool, ctx, src);
  };
}

/**
 * Puts one small image (one 1 KiB layer) under `count` tags of `repo`: the blobs once, then
 * the same manifest PUT under every tag, TAG_SEED_JOBS at a time.
 */
export async function seedTags(host: string, repo: string, count: number): Promise<string[]> {
  const client = RegistryClient.create({ host });
  const r = client.repository(repo);
  const layer = Buffer.alloc(1024, 7);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [Digest.fromBytes(layer).toString()] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: Digest.fromBytes(config).toString(), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: Digest.fromBytes(layer).toString(), size: layer.length }],
  }));
  const tags = Array.from({ length: count }, (_, i) => `t${String(i).padStart(5, '0')}`);
  try {
    for (const blob of [layer, config]) await r.uploadBlob({ digest: Digest.fromBytes(blob), size: blob.length }, () => Readable.from([blob]));
    let next = 0;
    await Promise.all(Array.from({ length: TAG_SEED_JOBS }, async () => {
      while (next < tags.length) await r.putManifest(tags[next++]!, manifest, OCI_MANIFEST);
    }));
  } finally {
    await client.close();
  }
  return tags;
}

/** Both tools list every tag (checked once, untimed, before the timed runs). */
export async function assertListsTags(ctx: ToolContext, src: Endpoint, repo: string, tags: string[]): Promise<void> {
  const want = [...tags].sort().join('\n');
  const gantry = (await run(tagsArgv('gantry', ctx, src, repo))).split('\n').filter(Boolean).sort().join('\n');
  const skopeo = ((JSON.parse(await run(tagsArgv('skopeo', ctx, src, repo))) as { Tags: string[] }).Tags ?? []).sort().join('\n');
  if (gantry !== want) throw new Error(`gantry tags listed ${gantry.split('\n').length} of ${tags.length} tags`);
  if (skopeo !== want) throw new Error(`skopeo list-tags listed ${skopeo.split('\n').length} of ${tags.length} tags`);
}

/** The `GET …/tags/list` requests (pages) gantry's listing takes, from its redacted `--debug` trail. */
export async function tagListPages(ctx: ToolContext, src: Endpoint, repo: string): Promise<number> {
  const trail = (await run([...tagsArgv('gantry', ctx, src, repo), '--debug'])).split('\n');
  return trail.filter((l) => /^debug: > GET\s+https?:\/\/\S+\/tags\/list/.test(l)).length;
}

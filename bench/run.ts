/**
 * `npm run bench`: gantry against skopeo and the curl floor on loopback (see bench/README.md).
 *
 *   --runs N      runs per contender (default 5)
 *   --quick       smaller images, 3 runs; results go to bench/work/results (not committed)
 *   --only a,b    main scenarios (push, pull, copy, noop-copy, inspect, digest, tags) and
 *                 scenario sets (small, many-layers, big-layer, many-tags); default: all of them
 *   --scaling     also the scaling and embedded-registry sections (several minutes more)
 *   --embedded    only the embedded-registry section (push, copy and pull against docker-registry)
 *   --sync        also gantry sync against skopeo sync (50 repositories × 20 tags of 1 MiB; bench/sync.ts)
 *   --serve-cache also a pull through a cold and a warm gantry serve cache (bench/serve-cache.ts)
 *   --jobs N      pass --jobs N to gantry (tuning)
 *   --node-flags  flags for gantry's node process, e.g. '--cpu-prof --cpu-prof-dir=DIR' (tuning)
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { OFFLOAD_HASHING } from '../src/hashing/blob-hash.js';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GIB, MIB, benchImage, imageKey } from './image.js';
import type { BenchImage } from './image.js';
import { sha256Speed, withMachineState } from './machine-state.js';
import { measure, run } from './measure.js';
import { createBenchPki, startBenchDockerRegistry, startGantryServe } from './registries.js';
import type { BenchRegistry } from './registries.js';
import { checkTargets, describeCheck, isFullRun, updateReadme, writeResults } from './report.js';
import {
  TAGS_REPO, assertHasImage, assertListsTags, assertPulled, endpoint, latencyScenario, readOnlyArgv, seed, seedTags, tagListPages, transferScenario,
} from './scenarios.js';
import type { BenchContext } from './scenarios.js';
import { runServeCacheBench } from './serve-cache.js';
import { runSyncBench } from './sync.js';
import type { BenchResults, EmbeddedRow, Scenario, ScalingRow } from './results-model.js';
import { copyArgv, nodeStartArgv, pullArgv, pushArgv, tagsArgv } from './tools.js';
import type { ToolContext } from './tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN: Scenario[] = ['push', 'pull', 'copy', 'noop-copy', 'inspect', 'digest', 'tags'];
/** Issue 17's scenario sets, each against skopeo in the same run (and the floor for transfers). */
const SETS = ['small', 'many-layers', 'big-layer', 'many-tags'] as const;
const CHOICES: string[] = [...MAIN, ...SETS];
/** Start-up latency scenarios are short; more runs make their medians steadier. */
const LATENCY_RUN_FACTOR = 2;

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    scaling: { type: 'boolean', default: false },
    embedded: { type: 'boolean', default: false },
    sync: { type: 'boolean', default: false },
    'serve-cache': { type: 'boolean', default: false },
    jobs: { type: 'string' },
    'node-flags': { type: 'string' },
  },
});
const quick = flags.quick;
const runs = Number(flags.runs ?? (quick ? 3 : 5));
if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error(`--runs must be an integer from 1 to 50, got ${flags.runs}`);
const only = new Set(flags.embedded ? [] : (flags.only ?? CHOICES.join(',')).split(',').map((s) => s.trim()));
for (const s of only) if (!CHOICES.includes(s)) throw new Error(`--only: unknown scenario or set ${s}; known: ${CHOICES.join(', ')}`);
const mainBytes = quick ? 256 * MIB : GIB;
/** The sets' shapes (`--quick`: smaller, the same code paths). [bytes, layers] */
const SMALL_SHAPES: [number, number][] = [[256 * MIB, 4], [30 * MIB, 10]];
const MANY_LAYERS: [number, number] = quick ? [16 * MIB, 64] : [64 * MIB, 64];
const BIG_LAYER: [number, number] = quick ? [512 * MIB, 1] : [2 * GIB, 1];
const TAG_COUNT = quick ? 1_000 : 10_000;
/** 2 GiB transfers take 10–20 s each here: three runs keep a full run within ~25 minutes. */
const BIG_LAYER_RUNS = Math.min(runs, 3);
/** The embedded section's targets are judged on medians of at least five alternating runs. */
const EMBEDDED_RUNS = quick ? 3 : Math.max(5, runs);

const workDir = join(ROOT, 'bench', 'work');
mkdirSync(workDir, { recursive: true });
const scratch = mkdtempSync(join(workDir, 'run-'));
/** Where this run's copy of the built CLI goes (snapshotCli). */
const cliSnapshot = join(ROOT, 'node_modules', '.cache', 'gantry-bench', basename(scratch));
const started = Date.now();
const log = (msg: string): void => {
  process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
};

// --- cleanup, also on SIGINT/SIGTERM ------------------------------------------------------------
const servers: BenchRegistry[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
    rmSync(scratch, { recursive: true, force: true });
    rmSync(cliSnapshot, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping registries, removing ${scratch}`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** Counts the requests of gantry's no-op copy in its redacted `--debug` trail. */
async function noopCheck(ctx: ToolContext, src: BenchRegistry, dest: BenchRegistry): Promise<BenchResults['noop']> {
  const argv = copyArgv('gantry', { ...ctx, gantryFlags: [...ctx.gantryFlags, '--debug'] }, undefined as never, endpoint(src), endpoint(dest));
  const trail = (await run(argv)).split('\n');
  const requests = trail.filter((l) => /^debug: > (GET|HEAD|PUT|POST|PATCH|DELETE)\s+https?:\/\//.test(l));
  log(`no-op copy trail:\n${requests.join('\n')}`);
  return {
    requests: requests.length,
    manifestRequests: requests.filter((l) => l.includes('/manifests/')).length,
    blobRequests: requests.filter((l) => l.includes('/blobs/')).length,
  };
}

async function scaling(ctx: ToolContext, plain: BenchRegistry, tlsReg: BenchRegistry): Promise<ScalingRow[]> {
  const rows: ScalingRow[] = [];
  const shapes: [number, number][] = [[256 * MIB, 8], [GIB, 8], [4 * GIB, 8], [GIB, 1], [GIB, 64]];
  const outDir = join(scratch, 'pulled');
  for (const [bytes, layers] of shapes) {
    const image = await benchImage(workDir, bytes, layers, log);
    await seed(ctx, image, plain);
    for (const tool of ['gantry', 'skopeo'] as const) {
      rmSync(outDir, { recursive: true, force: true });
      const p = await measure(pullArgv(tool, ctx, image, endpoint(plain), outDir));
      assertPulled(tool, image, outDir);
      rmSync(outDir, { recursive: true, force: true });
      await tlsReg.reset();
      const c = await measure(copyArgv(tool, ctx, image, endpoint(plain), endpoint(tlsReg)));
      await assertHasImage(ctx, endpoint(tlsReg));
      const key = imageKey(bytes, layers);
      log(`scaling ${key} ${tool}: pull ${p.wallSeconds.toFixed(2)} s ${p.peakRssMiB.toFixed(0)} MiB, copy ${c.wallSeconds.toFixed(2)} s ${c.peakRssMiB.toFixed(0)} MiB`);
      rows.push({ scenario: 'pull', image: key, bytes: image.totalBytes, layers, tool, wallSeconds: p.wallSeconds, peakRssMiB: p.peakRssMiB, cpuSeconds: p.cpuSeconds });
      rows.push({ scenario: 'copy', image: key, bytes: image.totalBytes, layers, tool, wallSeconds: c.wallSeconds, peakRssMiB: c.peakRssMiB, cpuSeconds: c.cpuSeconds });
    }
  }
  return rows;
}

/** Push and copy (gantry as the client) into docker-registry and into `gantry serve`, then pull from each; server CPU per run. */
async function embedded(ctx: ToolContext, image: BenchImage, plain: BenchRegistry, tlsReg: BenchRegistry, pki: ReturnType<typeof createBenchPki>): Promise<EmbeddedRow[]> {
  const rows: EmbeddedRow[] = [];
  const gantryBin = ctx.gantryBin;
  const servePlain = await startGantryServe(gantryBin, join(scratch, 'serve-plain'));
  servers.push(servePlain);
  const serveTls = await startGantryServe(gantryBin, join(scratch, 'serve-tls'), pki);
  servers.push(serveTls);
  await seed(ctx, image, plain);
  /** One transfer with `server` at the other end: wall time and the server's CPU around it. */
  const transfer = async (scenario: EmbeddedRow['scenario'], run: number, server: BenchRegistry, argv: string[], check: () => Promise<void> | void): Promise<void> => {
    const cpu0 = server.cpuSeconds();
    const m = await measure(argv);
    const cpu = server.cpuSeconds() - cpu0;
    await check();
    log(`embedded ${scenario}, ${server.kind}: ${m.wallSeconds.toFixed(2)} s, server CPU ${cpu.toFixed(2)} s`);
    rows.push({ scenario, server: server.kind, run, bytes: image.totalBytes, wallSeconds: m.wallSeconds, serverCpuSeconds: cpu });
  };
  // Each pair alternates which server goes first.
  const pairs = (a: BenchRegistry, b: BenchRegistry, run: number): BenchRegistry[] => (run % 2 ? [b, a] : [a, b]);
  for (let i = 0; i < EMBEDDED_RUNS; i++) {
    for (const dest of pairs(tlsReg, serveTls, i)) {
      await dest.reset();
      await transfer('copy', i, dest, copyArgv('gantry', ctx, image, endpoint(plain), endpoint(dest)), () => assertHasImage(ctx, endpoint(dest)));
    }
  }
  for (let i = 0; i < EMBEDDED_RUNS; i++) {
    for (const dest of pairs(plain, servePlain, i)) {
      await dest.reset();
      await transfer('push', i, dest, pushArgv('gantry', ctx, image, endpoint(dest)), () => assertHasImage(ctx, endpoint(dest)));
    }
  }
  // Serving: both plain servers hold the image from the last push; pull it from each in turn.
  const outDir = join(scratch, 'embedded-pulled');
  for (let i = 0; i < EMBEDDED_RUNS; i++) {
    for (const src of pairs(plain, servePlain, i)) {
      rmSync(outDir, { recursive: true, force: true });
      await transfer('pull', i, src, pullArgv('gantry', ctx, image, endpoint(src), outDir), () => assertPulled('gantry', image, outDir));
    }
  }
  rmSync(outDir, { recursive: true, force: true });
  return rows;
}

function machine(): BenchResults['machine'] {
  const version = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? '?';
    } catch {
      return '?';
    }
  };
  const copySource = readFileSync(join(ROOT, 'src', 'image', 'copy.ts'), 'utf8');
  const jobs = /DEFAULT_COPY_JOBS = (\d+)/.exec(copySource)?.[1] ?? '?';
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    memGiB: Math.round(totalmem() / GIB),
    node: process.version,
    skopeo: version('skopeo', ['--version']),
    dockerRegistry: version('docker-registry', ['--version']).split(' ').slice(-1)[0] ?? '?',
    gantryJobs: flags.jobs ?? `${jobs} (default)`,
    // The same rule the CLI applies on this machine: where its large blobs are hashed.
    gantryHashing: OFFLOAD_HASHING ? `in worker threads (${availableParallelism()} cores)` : `inline on the main thread (${availableParallelism()} cores)`,
    // Once, before any registry starts: what one core hashes, which bounds every contender that verifies.
    sha256: sha256Speed(),
  };
}

/** Push, pull and copy of each image (skopeo and the floor alongside), as one scenario set. */
async function transferSet(bc: BenchContext, set: 'small' | 'many-layers' | 'big-layer', shapes: [number, number][], scenarios: ('push' | 'pull' | 'copy')[], n: number, plain: BenchRegistry, tlsReg: BenchRegistry, results: BenchResults): Promise<void> {
  for (const [bytes, layers] of shapes) {
    const image = await benchImage(workDir, bytes, layers, log);
    if (scenarios.includes('push')) results.scenarios.push(await transferScenario(bc, set, 'push', image, plain, plain, n));
    await seed(bc.tools, image, plain);
    if (scenarios.includes('pull')) results.scenarios.push(await transferScenario(bc, set, 'pull', image, plain, plain, n));
    if (scenarios.includes('copy')) results.scenarios.push(await transferScenario(bc, set, 'copy', image, plain, tlsReg, n));
  }
}

/** The main image's scenarios, as before issue 17, plus `digest` and `node -e 0` beside the read-only commands. */
async function mainScenarios(bc: BenchContext, image: BenchImage, plain: BenchRegistry, tlsReg: BenchRegistry, results: BenchResults): Promise<void> {
  const ctx = bc.tools;
  const key = imageKey(mainBytes, 8);
  if (only.has('push')) results.scenarios.push(await transferScenario(bc, 'main', 'push', image, plain, plain, runs));
  await seed(ctx, image, plain);
  if (only.has('pull')) results.scenarios.push(await transferScenario(bc, 'main', 'pull', image, plain, plain, runs));
  if (only.has('copy')) results.scenarios.push(await transferScenario(bc, 'main', 'copy', image, plain, tlsReg, runs));
  if (only.has('noop-copy')) {
    await tlsReg.reset();
    await run(copyArgv('skopeo', ctx, image, endpoint(plain), endpoint(tlsReg)));
    await assertHasImage(ctx, endpoint(tlsReg));
    const argv = (tool: string): string[] => copyArgv(tool as 'gantry' | 'skopeo', ctx, image, endpoint(plain), endpoint(tlsReg));
    results.scenarios.push(await latencyScenario(bc, 'main', 'noop-copy', key, image.totalBytes, ['gantry', 'skopeo'], argv, runs));
    results.noop = await noopCheck(ctx, plain, tlsReg);
  }
  for (const scenario of ['inspect', 'digest', 'tags'] as const) {
    if (!only.has(scenario)) continue;
    const argv = readOnlyArgv(ctx, scenario, endpoint(plain));
    results.scenarios.push(await latencyScenario(bc, 'main', scenario, key, image.totalBytes, ['gantry', 'skopeo', 'node'], argv, runs * LATENCY_RUN_FACTOR));
  }
}

/** `gantry tags` against `skopeo list-tags` on a repository of TAG_COUNT tags. */
async function manyTags(bc: BenchContext, plain: BenchRegistry, results: BenchResults): Promise<void> {
  await plain.reset();
  const t0 = Date.now();
  const tags = await seedTags(plain.host, TAGS_REPO, TAG_COUNT);
  log(`many-tags: ${TAG_COUNT} tags seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await assertListsTags(bc.tools, endpoint(plain), TAGS_REPO, tags);
  const pages = await tagListPages(bc.tools, endpoint(plain), TAGS_REPO);
  log(`many-tags: gantry lists the ${TAG_COUNT} tags in ${pages} GET …/tags/list request(s)`);
  results.notes.push(`many tags: gantry listed the ${TAG_COUNT} tags in ${pages} GET …/tags/list request(s) (its --debug trail, untimed); each page the registry sends is one.`);
  const argv = (tool: string): string[] => tagsArgv(tool as 'gantry' | 'skopeo', bc.tools, endpoint(plain), TAGS_REPO);
  // `node -e 0` beside them: Node's start-up alone, the bound of any Node CLI's listing.
  const withNode = (tool: string): string[] => (tool === 'node' ? nodeStartArgv() : argv(tool));
  results.scenarios.push(await latencyScenario(bc, 'many-tags', 'tags', `${TAG_COUNT} tags`, 0, ['gantry', 'skopeo', 'node'], withNode, runs * LATENCY_RUN_FACTOR));
}

/**
 * A copy of the built CLI (bin, dist, package.json) for this run: others rebuild dist/ on this
 * shared machine, and a bundle replaced mid-run fails gantry's next command (ERR_MODULE_NOT_FOUND
 * for a chunk). Under node_modules/.cache, which lint and typecheck skip and from where packages
 * still resolve from the repository's node_modules; removed with the scratch directory.
 */
function snapshotCli(): string {
  for (const entry of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, entry), join(cliSnapshot, entry), { recursive: true });
  return join(cliSnapshot, 'bin', 'gantry.js');
}

async function main(): Promise<void> {
  const host = machine();
  log(`sha256: ${host.sha256?.gibPerSecond.toFixed(2)} GiB/s per core (CPU time), ${host.sha256?.gibPerWallSecond.toFixed(2)} GiB/s of wall time`);
  const image = await benchImage(workDir, mainBytes, 8, log);
  const pki = createBenchPki(scratch);
  const plain = await startBenchDockerRegistry(join(scratch, 'storage-plain'));
  servers.push(plain);
  const tlsReg = await startBenchDockerRegistry(join(scratch, 'storage-tls'), pki);
  servers.push(tlsReg);
  log(`registries: http ${plain.host}, https ${tlsReg.host}`);
  const ctx: ToolContext = {
    // bench/sync.ts and bench/serve-cache.ts run the repository's bin/gantry.js themselves.
    gantryBin: snapshotCli(),
    certsDir: pki.certsDir,
    caFile: pki.ca.certFile,
    scratch,
    gantryFlags: flags.jobs ? ['--jobs', flags.jobs] : [],
    nodeFlags: flags['node-flags']?.split(' ').filter(Boolean) ?? [],
  };
  const bc: BenchContext = { tools: ctx, scratch, log };
  const results: BenchResults = {
    date: new Date().toISOString(),
    set: [quick ? 'quick' : '1GiB', ...(flags.scaling ? ['scaling'] : []), ...(flags.sync ? ['sync'] : []), ...(flags['serve-cache'] ? ['cache'] : []), ...(flags.embedded ? ['embedded'] : only.size < CHOICES.length ? ['partial'] : [])].join('-'),
    machine: host,
    runs,
    scenarios: [],
    scaling: [],
    embedded: [],
    sections: [],
    notes: [
      'Peak RSS is the largest single process (GNU time); for the floor that is one curl or bash.',
    ],
  };
  const outDir = quick ? join(workDir, 'results') : join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  // Written after each section, so a failure late in a long run keeps what was measured.
  const save = (): string => writeResults(outDir, results);
  const mainChosen = MAIN.some((s) => only.has(s));
  const sections: [string, boolean, () => Promise<unknown>][] = [
    ['scenarios', mainChosen, () => mainScenarios(bc, image, plain, tlsReg, results)],
    ['small images', only.has('small'), () => transferSet(bc, 'small', SMALL_SHAPES, ['push', 'pull', 'copy'], runs, plain, tlsReg, results)],
    ['many layers', only.has('many-layers'), () => transferSet(bc, 'many-layers', [MANY_LAYERS], ['push', 'pull', 'copy'], runs, plain, tlsReg, results)],
    ['big layer', only.has('big-layer'), () => transferSet(bc, 'big-layer', [BIG_LAYER], ['pull', 'copy'], BIG_LAYER_RUNS, plain, tlsReg, results)],
    ['many tags', only.has('many-tags'), () => manyTags(bc, plain, results)],
    ['scaling', flags.scaling && !flags.embedded, async () => (results.scaling = await scaling(ctx, plain, tlsReg))],
    ['embedded registry', flags.scaling || flags.embedded, async () => {
      results.embeddedRuns = EMBEDDED_RUNS;
      // The main image again: the sets above left another image on the plain registry.
      results.embedded = await embedded(ctx, image, plain, tlsReg, pki);
    }],
    ['sync', flags.sync, async () => (results.sync = await runSyncBench({ repos: 50, tags: 20, bytes: MIB, runs: quick ? 1 : 3, workDir: join(scratch, 'sync'), log }))],
    ['serve cache', flags['serve-cache'], async () => (results.serveCache = await runServeCacheBench({ bytes: mainBytes, layers: 8, runs: quick ? 1 : 3, workDir: join(scratch, 'serve-cache'), log }))],
  ];
  const ran = new Set(sections.filter(([, chosen]) => chosen).map(([name]) => name));
  const counts = [
    ...(ran.has('scenarios') || ran.has('small images') || ran.has('many layers') ? [`${runs} per contender for the transfers`] : []),
    ...(ran.has('scenarios') || ran.has('many tags') ? [`${runs * LATENCY_RUN_FACTOR} for the whole-process latency scenarios`] : []),
    ...(ran.has('big layer') ? [`${BIG_LAYER_RUNS} for the big layer`] : []),
    ...(ran.has('embedded registry') ? [`${EMBEDDED_RUNS} per server in the embedded section`] : []),
  ];
  if (counts.length) results.notes.push(`Run counts: ${counts.join(', ')}.`);
  let file = save();
  for (const [name, chosen, section] of sections) {
    if (!chosen) continue;
    try {
      await withMachineState(name, results.sections!, section);
    } catch (err) {
      log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
      // The command line, and the first line of the output that names an error (the command's own words).
      const lines = (err as Error).message.split('\n');
      const cause = lines.slice(1).find((l) => /error/i.test(l))?.trim();
      results.notes.push(`The ${name} section failed: ${lines[0] ?? ''}${cause ? ` ${cause}` : ''}`);
      process.exitCode = 1;
    }
    const state = results.sections!.at(-1);
    if (state) log(`${name}: ${state.seconds.toFixed(0)} s, load ${state.load1Before.toFixed(2)} → ${state.load1After.toFixed(2)}, steal ${(state.stealShare * 100).toFixed(1)} %, busy ${(state.busyShare * 100).toFixed(1)} % (other work ${(state.otherShare * 100).toFixed(1)} %)`);
    file = save();
  }
  if (isFullRun(results) && process.exitCode === undefined) {
    const link = `bench/results/${file.split('/').pop() ?? 'latest.md'}`;
    if (updateReadme(join(ROOT, 'README.md'), results, link)) log('README.md: bench section updated');
  }
  for (const c of checkTargets(results)) log(`${c.target}: ${describeCheck(c)}`);
  log(`results: ${file}`);
}

try {
  await main();
} finally {
  await cleanup();
}

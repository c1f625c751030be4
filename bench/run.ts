/**
 * `npm run bench`: gantry against skopeo and the curl floor on loopback (see bench/README.md).
 *
 *   --runs N      runs per contender (default 5)
 *   --quick       256 MiB image, 3 runs; results go to bench/work/results (not committed)
 *   --only a,b    scenarios: push, pull, copy, noop-copy, inspect, tags
 *   --scaling     also the scaling and embedded-registry sections (several minutes more)
 *   --embedded    only the embedded-registry section (push, copy and pull against docker-registry)
 *   --sync        also gantry sync against skopeo sync (50 repositories × 20 tags of 1 MiB; bench/sync.ts)
 *   --serve-cache also a pull through a cold and a warm gantry serve cache (bench/serve-cache.ts)
 *   --jobs N      pass --jobs N to gantry (tuning)
 *   --node-flags  flags for gantry's node process, e.g. '--cpu-prof --cpu-prof-dir=DIR' (tuning)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { OFFLOAD_HASHING } from '../src/hashing/blob-hash.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GIB, MIB, benchImage, imageKey } from './image.js';
import type { BenchImage } from './image.js';
import { measure, run } from './measure.js';
import type { Measurement } from './measure.js';
import { createBenchPki, startBenchDockerRegistry, startGantryServe } from './registries.js';
import type { BenchRegistry } from './registries.js';
import { checkTargets, isFullRun, updateReadme, writeResults } from './report.js';
import { runServeCacheBench } from './serve-cache.js';
import { runSyncBench } from './sync.js';
import type { BenchResults, EmbeddedRow, Scenario, ScalingRow, ScenarioResult } from './results-model.js';
import type { Sample } from './stats.js';
import { REPO, TAG, copyArgv, inspectArgv, pullArgv, pushArgv, tagsArgv } from './tools.js';
import type { Endpoint, Tool, ToolContext } from './tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ALL: Scenario[] = ['push', 'pull', 'copy', 'noop-copy', 'inspect', 'tags'];
/** Start-up latency scenarios are short; more runs make their medians steadier. */
const LATENCY_RUN_FACTOR = 2;
const EMBEDDED_RUNS = 3;

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
const runs = Number(flags.runs ?? (flags.quick ? 3 : 5));
if (!Number.isInteger(runs) || runs < 1 || runs > 50) throw new Error(`--runs must be an integer from 1 to 50, got ${flags.runs}`);
const only = new Set(flags.embedded ? [] : (flags.only ?? ALL.join(',')).split(',').map((s) => s.trim()));
for (const s of only) if (!ALL.includes(s as Scenario)) throw new Error(`--only: unknown scenario ${s}; known: ${ALL.join(', ')}`);
const mainBytes = flags.quick ? 256 * MIB : GIB;

const workDir = join(ROOT, 'bench', 'work');
mkdirSync(workDir, { recursive: true });
const scratch = mkdtempSync(join(workDir, 'run-'));
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
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping registries, removing ${scratch}`);
    void cleanup().finally(() => process.exit(130));
  });
}

const endpoint = (r: BenchRegistry): Endpoint => ({ host: r.host, tls: r.tls, ...(r.certDir ? { certDir: r.certDir } : {}) });
/** Run i starts with a different contender than run i-1, so neither always goes first. */
function order(tools: Tool[], i: number): Tool[] {
  const k = i % tools.length;
  return [...tools.slice(k), ...tools.slice(0, k)];
}
const sample = (tool: Tool, i: number, m: Measurement): Sample => ({ tool, run: i, ...m });

/** The destination really holds the image: its manifest answers. */
async function assertHasImage(ctx: ToolContext, e: Endpoint): Promise<void> {
  await run(['curl', '-sS', '-f', '-o', '/dev/null', '-I', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json',
    ...(e.tls ? ['--cacert', ctx.caFile] : []), `${e.tls ? 'https' : 'http'}://${e.host}/v2/${REPO}/manifests/${TAG}`]);
}

/** A pulled layout holds every blob with the right content (the floor's hashes are checked here, untimed). */
function assertPulled(tool: Tool, image: BenchImage, outDir: string): void {
  for (const b of [...image.layers, image.config]) {
    const file = join(outDir, 'blobs', 'sha256', b.digest.slice(7));
    if (!existsSync(file)) throw new Error(`${tool} pull: ${b.digest} missing in ${outDir}`);
    if (tool === 'floor' && !readFileSync(`${file}.sum`, 'utf8').startsWith(b.digest.slice(7))) throw new Error(`floor pull: ${b.digest} hash mismatch`);
  }
}

async function seed(ctx: ToolContext, image: BenchImage, reg: BenchRegistry): Promise<void> {
  await reg.reset();
  await run(pushArgv('floor', ctx, image, endpoint(reg)));
  await assertHasImage(ctx, endpoint(reg));
}

async function transferScenario(
  scenario: 'push' | 'pull' | 'copy', ctx: ToolContext, image: BenchImage, src: BenchRegistry, dest: BenchRegistry,
): Promise<ScenarioResult> {
  const samples: Sample[] = [];
  const outDir = join(scratch, 'pulled');
  for (let i = 0; i < runs; i++) {
    for (const tool of order(['gantry', 'skopeo', 'floor'], i)) {
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
      log(`${scenario} run ${i + 1}/${runs} ${tool}: ${m.wallSeconds.toFixed(2)} s, ${m.peakRssMiB.toFixed(0)} MiB`);
      samples.push(sample(tool, i, m));
    }
  }
  rmSync(outDir, { recursive: true, force: true });
  return { scenario, image: imageKey(mainBytes, 8), bytes: image.totalBytes, samples };
}

async function latencyScenario(scenario: 'noop-copy' | 'inspect' | 'tags', ctx: ToolContext, image: BenchImage, src: BenchRegistry, dest: BenchRegistry): Promise<ScenarioResult> {
  const samples: Sample[] = [];
  const n = scenario === 'noop-copy' ? runs : runs * LATENCY_RUN_FACTOR;
  for (let i = 0; i < n; i++) {
    for (const tool of order(['gantry', 'skopeo'], i)) {
      const t = tool as 'gantry' | 'skopeo';
      const argv = scenario === 'noop-copy' ? copyArgv(t, ctx, image, endpoint(src), endpoint(dest))
        : scenario === 'inspect' ? inspectArgv(t, ctx, endpoint(src)) : tagsArgv(t, ctx, endpoint(src));
      const m = await measure(argv);
      samples.push(sample(tool, i, m));
    }
  }
  const g = samples.filter((s) => s.tool === 'gantry').map((s) => s.wallSeconds.toFixed(2));
  log(`${scenario}: gantry ${g.join(' ')}`);
  return { scenario, image: imageKey(mainBytes, 8), bytes: image.totalBytes, samples };
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
      rows.push({ scenario: 'pull', image: key, bytes: image.totalBytes, layers, tool, wallSeconds: p.wallSeconds, peakRssMiB: p.peakRssMiB });
      rows.push({ scenario: 'copy', image: key, bytes: image.totalBytes, layers, tool, wallSeconds: c.wallSeconds, peakRssMiB: c.peakRssMiB });
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
  };
}

async function main(): Promise<void> {
  const image = await benchImage(workDir, mainBytes, 8, log);
  const pki = createBenchPki(scratch);
  const plain = await startBenchDockerRegistry(join(scratch, 'storage-plain'));
  servers.push(plain);
  const tlsReg = await startBenchDockerRegistry(join(scratch, 'storage-tls'), pki);
  servers.push(tlsReg);
  log(`registries: http ${plain.host}, https ${tlsReg.host}`);
  const ctx: ToolContext = {
    gantryBin: join(ROOT, 'bin', 'gantry.js'),
    certsDir: pki.certsDir,
    caFile: pki.ca.certFile,
    scratch,
    gantryFlags: flags.jobs ? ['--jobs', flags.jobs] : [],
    nodeFlags: flags['node-flags']?.split(' ').filter(Boolean) ?? [],
  };
  const results: BenchResults = {
    date: new Date().toISOString(),
    set: [flags.quick ? 'quick' : '1GiB', ...(flags.scaling ? ['scaling'] : []), ...(flags.sync ? ['sync'] : []), ...(flags['serve-cache'] ? ['cache'] : []), ...(flags.embedded ? ['embedded'] : only.size < ALL.length ? ['partial'] : [])].join('-'),
    machine: machine(),
    runs,
    scenarios: [],
    scaling: [],
    embedded: [],
    notes: [
      `1-minute load average when the run started: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores (other work on the machine slows every contender; only same-run ratios count).`,
      'Peak RSS is the largest single process (GNU time); for the floor that is one curl or bash.',
    ],
  };
  if (only.has('push')) results.scenarios.push(await transferScenario('push', ctx, image, plain, plain));
  await seed(ctx, image, plain);
  if (only.has('pull')) results.scenarios.push(await transferScenario('pull', ctx, image, plain, plain));
  if (only.has('copy')) results.scenarios.push(await transferScenario('copy', ctx, image, plain, tlsReg));
  if (only.has('noop-copy')) {
    await tlsReg.reset();
    await run(copyArgv('skopeo', ctx, image, endpoint(plain), endpoint(tlsReg)));
    results.scenarios.push(await latencyScenario('noop-copy', ctx, image, plain, tlsReg));
    results.noop = await noopCheck(ctx, plain, tlsReg);
  }
  if (only.has('inspect')) results.scenarios.push(await latencyScenario('inspect', ctx, image, plain, tlsReg));
  if (only.has('tags')) results.scenarios.push(await latencyScenario('tags', ctx, image, plain, tlsReg));
  const outDir = flags.quick ? join(workDir, 'results') : join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  // Written after each section, so a failure late in a long run keeps what was measured.
  const save = (): string => writeResults(outDir, results);
  let file = save();
  const loadNote = (): string => `1-minute load average when the run ended: ${loadavg()[0]!.toFixed(2)}.`;
  const sections = [
    ['scaling', async () => (results.scaling = await scaling(ctx, plain, tlsReg))],
    ['embedded registry', async () => (results.embedded = await embedded(ctx, image, plain, tlsReg, pki))],
  ] as const;
  const chosen = [
    ...(flags.embedded ? sections.slice(1) : flags.scaling ? sections : []),
    ...(flags.sync ? ([['sync', async () => (results.sync = await runSyncBench({ repos: 50, tags: 20, bytes: MIB, runs: flags.quick ? 1 : 3, workDir: join(scratch, 'sync'), log }))]] as const) : []),
    ...(flags['serve-cache']
      ? ([['serve cache', async () => (results.serveCache = await runServeCacheBench({ bytes: mainBytes, layers: 8, runs: flags.quick ? 1 : 3, workDir: join(scratch, 'serve-cache'), log }))]] as const)
      : []),
  ];
  if (chosen.length > 0) {
    for (const [name, section] of chosen) {
      try {
        await section();
      } catch (err) {
        log(`${name} failed: ${(err as Error).stack ?? String(err)}`);
        results.notes.push(`The ${name} section failed: ${(err as Error).message.split('\n')[0] ?? ''}`);
        process.exitCode = 1;
      }
      file = save();
    }
  }
  results.notes.push(loadNote());
  file = save();
  if (isFullRun(results)) {
    const link = `bench/results/${file.split('/').pop() ?? 'latest.md'}`;
    if (updateReadme(join(ROOT, 'README.md'), results, link)) log('README.md: bench section updated');
  }
  for (const c of checkTargets(results)) log(`${c.met ? 'met   ' : 'MISSED'} ${c.target}: ${c.measured}`);
  log(`results: ${file}`);
}

try {
  await main();
} finally {
  await cleanup();
}

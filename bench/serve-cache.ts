/**
 * The pull-through cache scenario (issue 16): one image (1 GiB in 8 layers by default) on a
 * docker-registry upstream, pulled by `gantry pull` three ways in the same run:
 *
 *   direct   from the upstream itself
 *   cold     through `gantry serve --proxy-remote <upstream>` with empty storage: every byte is
 *            fetched from the upstream while it is streamed to the client and stored
 *   warm     through the same cache again: served from its storage
 *
 * Each run restarts the cache on empty storage before its cold pull. Timed per pull (wall time,
 * the client's peak RSS, `/usr/bin/time -v` as in bench/measure.ts), with the cache process's
 * CPU over the pull and its peak RSS (VmHWM) over the cold and warm pulls.
 *
 *   node --import tsx bench/serve-cache.ts                  # 1 GiB, 3 runs
 *   node --import tsx bench/serve-cache.ts --size-mib 64    # a quick check
 *   node --import tsx bench/serve-cache.ts --size-mib 256 --layers 4 --runs 5
 *   node --import tsx bench/serve-cache.ts --gantry-bin /tmp/gantry.mjs   # another build of the CLI
 *
 * Needs the built CLI (`npm run build`). Results go to bench/work/results/serve-cache-<date>.json
 * and a table on stdout. `runServeCacheBench()` is the same, for bench/run.ts to call.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/docker-registry.js';
import { MIB, benchImage, imageKey, type BenchImage } from './image.js';
import { measure, run, type Measurement } from './measure.js';
import { startBenchDockerRegistry, type BenchRegistry } from './registries.js';
import { pullArgv, pushArgv, type Endpoint, type ToolContext } from './tools.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const CLOCK_TICKS_PER_SECOND = 100;
/**
 * A warm cache serves from its storage as the embedded registry does: about as fast as a direct
 * pull from docker-registry. (A cold pull has no target: it moves every byte twice, and on two
 * cores the upstream, the cache and the client share them; its ratio is reported.)
 */
export const WARM_TARGET = 1.2;
/** The cache's memory stays flat whatever the blob size: this much at most for a 1 GiB image. */
export const CACHE_RSS_TARGET_MIB = 256;

export type CachePhase = 'direct' | 'cold' | 'warm';

export interface ServeCacheBenchOptions {
  /** Bytes of the image (split evenly over `layers`). */
  readonly bytes: number;
  readonly layers: number;
  readonly runs: number;
  /** Scratch space: the registries' storage, pulled layouts. */
  readonly workDir: string;
  readonly log: (line: string) => void;
  /** The gantry CLI to run, as cache and as client. Default: the built `bin/gantry.js`. */
  readonly gantryBin?: string;
}

export interface ServeCacheRow extends Measurement {
  readonly phase: CachePhase;
  readonly run: number;
  /** CPU seconds the cache process used during the pull (cold and warm only). */
  readonly cacheCpuSeconds?: number;
}

export interface ServeCacheBenchResult {
  readonly date: string;
  readonly image: string;
  readonly bytes: number;
  readonly rows: readonly ServeCacheRow[];
  /** The cache process's peak RSS (VmHWM) in each run, over its cold and warm pull. */
  readonly cachePeakRssMiB: readonly number[];
  /** Median wall times against the direct pull's. */
  readonly ratios: { readonly cold: number; readonly warm: number };
  readonly checks: readonly { readonly target: string; readonly measured: string; readonly met: boolean }[];
  readonly notes: readonly string[];
}

/** `/proc/<pid>/stat` utime + stime, and `/proc/<pid>/status` VmHWM (Linux). */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}
function processPeakRssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Caches still running are killed if the process exits without stopping them (SIGINT). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

function answers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v2/', agent: false, timeout: 1000 });
    req.once('response', (res) => (res.resume(), done(true)));
    req.once('timeout', () => req.destroy());
    req.once('error', () => done(false));
  });
}

/** `gantry serve --proxy-remote` (the built CLI) on a free port; `restart()` empties its storage first. */
interface BenchCache extends Endpoint {
  readonly pid: () => number | undefined;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function startCache(gantryBin: string, storageDir: string, upstream: BenchRegistry): Promise<BenchCache> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    rmSync(storageDir, { recursive: true, force: true });
    mkdirSync(storageDir, { recursive: true });
    const args = [gantryBin, 'serve', '--listen', host, '--storage', storageDir, '--quiet', '--proxy-remote', `http://${upstream.host}`];
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    running.add(c);
    c.once('exit', () => running.delete(c));
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await answers(port))) {
      if (c.exitCode !== null || Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`gantry serve --proxy-remote did not start on ${host}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  };
  await launch();
  return {
    host,
    tls: false,
    pid: () => child?.pid,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
}

/** Every blob of the image is in the pulled layout. */
function assertPulled(image: BenchImage, outDir: string, what: string): void {
  for (const b of [...image.layers, image.config]) {
    if (!existsSync(join(outDir, 'blobs', 'sha256', b.digest.slice(7)))) throw new Error(`${what}: ${b.digest} missing in ${outDir}`);
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Runs the scenario; every server it starts is stopped before it returns. */
export async function runServeCacheBench(o: ServeCacheBenchOptions): Promise<ServeCacheBenchResult> {
  const notes: string[] = [`1-minute load average at the start: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores.`];
  const image = await benchImage(join(ROOT, 'bench', 'work'), o.bytes, o.layers, o.log);
  const gantryBin = o.gantryBin ?? join(ROOT, 'bin', 'gantry.js');
  const ctx: ToolContext = {
    gantryBin,
    certsDir: join(o.workDir, 'certs.d'),
    caFile: '',
    scratch: o.workDir,
    gantryFlags: [],
    nodeFlags: [],
  };
  let upstream: BenchRegistry | undefined;
  let cache: BenchCache | undefined;
  try {
    upstream = await startBenchDockerRegistry(join(o.workDir, 'upstream'));
    await run(pushArgv('floor', ctx, image, { host: upstream.host, tls: false }));
    o.log(`upstream ${upstream.host} holds ${imageKey(o.bytes, o.layers)}`);
    cache = await startCache(gantryBin, join(o.workDir, 'cache'), upstream);
    o.log(`cache ${cache.host} (gantry serve --proxy-remote http://${upstream.host})`);
    const rows: ServeCacheRow[] = [];
    const cachePeakRssMiB: number[] = [];
    const outDir = join(o.workDir, 'pulled');
    const pull = async (phase: CachePhase, runIndex: number, from: Endpoint): Promise<void> => {
      rmSync(outDir, { recursive: true, force: true });
      const cpu0 = phase === 'direct' ? 0 : processCpuSeconds(cache!.pid());
      const m = await measure(pullArgv('gantry', ctx, image, from, outDir));
      const cacheCpu = phase === 'direct' ? undefined : processCpuSeconds(cache!.pid()) - cpu0;
      assertPulled(image, outDir, `${phase} pull`);
      rows.push({ phase, run: runIndex, ...m, ...(cacheCpu !== undefined ? { cacheCpuSeconds: cacheCpu } : {}) });
      o.log(`run ${runIndex + 1} ${phase}: ${m.wallSeconds.toFixed(2)} s, client ${m.peakRssMiB.toFixed(0)} MiB${cacheCpu !== undefined ? `, cache CPU ${cacheCpu.toFixed(2)} s` : ''}`);
    };
    const direct: Endpoint = { host: upstream.host, tls: false };
    for (let i = 0; i < o.runs; i++) {
      await cache.restart();
      // The direct pull goes first in even runs and last in odd ones: neither side always has the warmer page cache.
      if (i % 2 === 0) await pull('direct', i, direct);
      await pull('cold', i, cache);
      await pull('warm', i, cache);
      cachePeakRssMiB.push(processPeakRssMiB(cache.pid()));
      if (i % 2 === 1) await pull('direct', i, direct);
    }
    rmSync(outDir, { recursive: true, force: true });
    const wall = (phase: CachePhase): number => median(rows.filter((r) => r.phase === phase).map((r) => r.wallSeconds));
    const cold = wall('cold') / wall('direct');
    const warm = wall('warm') / wall('direct');
    const rss = Math.max(...cachePeakRssMiB);
    notes.push(`Medians: direct ${wall('direct').toFixed(2)} s, cold ${wall('cold').toFixed(2)} s (${cold.toFixed(2)}×), warm ${wall('warm').toFixed(2)} s (${warm.toFixed(2)}×).`);
    const checks = [
      { target: `warm pull from the cache ≤ ${WARM_TARGET}× a direct pull (medians)`, measured: `${warm.toFixed(2)}× (${wall('warm').toFixed(2)} s against ${wall('direct').toFixed(2)} s)`, met: warm <= WARM_TARGET },
      { target: `the cache's peak RSS ≤ ${CACHE_RSS_TARGET_MIB} MiB`, measured: `${rss.toFixed(0)} MiB`, met: rss <= CACHE_RSS_TARGET_MIB },
    ];
    notes.push('The client is `gantry pull` in every phase; the upstream is docker-registry 2.8 on loopback, the cache `gantry serve` with directory storage.');
    return { date: new Date().toISOString(), image: imageKey(o.bytes, o.layers), bytes: image.totalBytes, rows, cachePeakRssMiB, ratios: { cold, warm }, checks, notes };
  } finally {
    await cache?.stop().catch(() => undefined);
    await upstream?.stop().catch(() => undefined);
  }
}

function table(result: ServeCacheBenchResult): string {
  const lines = ['| run | phase | wall s | client peak RSS MiB | client CPU s | cache CPU s |', '|---|---|---|---|---|---|'];
  for (const r of result.rows) {
    lines.push(`| ${r.run + 1} | ${r.phase} | ${r.wallSeconds.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} | ${r.cpuSeconds.toFixed(2)} | ${r.cacheCpuSeconds?.toFixed(2) ?? ''} |`);
  }
  lines.push('', `cache peak RSS per run: ${result.cachePeakRssMiB.map((x) => `${x.toFixed(0)} MiB`).join(', ')}`);
  lines.push('', ...result.checks.map((c) => `${c.met ? 'met   ' : 'MISSED'} ${c.target}: ${c.measured}`), '', ...result.notes);
  return `${lines.join('\n')}\n`;
}

const direct = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (direct) {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string' }, layers: { type: 'string' }, runs: { type: 'string' }, 'gantry-bin': { type: 'string' } } });
  const num = (v: string | undefined, d: number, name: string, max: number): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name}: expected an integer from 1 to ${max}, got ${v}`);
    return n;
  };
  const sizeMib = num(values['size-mib'], 1024, 'size-mib', 16 * 1024);
  const layers = num(values.layers, 8, 'layers', 256);
  const runs = num(values.runs, 3, 'runs', 50);
  const workRoot = join(ROOT, 'bench', 'work');
  mkdirSync(workRoot, { recursive: true });
  const workDir = mkdtempSync(join(workRoot, 'serve-cache-'));
  const t0 = Date.now();
  const log = (line: string): void => void process.stderr.write(`[serve-cache bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  const stop = (): void => {
    rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const gantryBin = values['gantry-bin'] === undefined ? undefined : resolve(values['gantry-bin']);
    const result = await runServeCacheBench({ bytes: sizeMib * MIB, layers, runs, workDir, log, ...(gantryBin ? { gantryBin } : {}) });
    const resultsDir = join(workRoot, 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `serve-cache-${result.date.slice(0, 19).replace(/[:T]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(table(result));
    log(`results: ${file}`);
    if (result.checks.some((c) => !c.met)) process.exitCode = 1;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * The sync scenario (issue 15): R repositories × T tags of S bytes each (50 × 20 × 1 MiB by
 * default) on a docker-registry source, mirrored by `gantry sync` and by `skopeo sync` into a
 * docker-registry of their own, in the same run:
 *
 *   initial      everything copied
 *   no-change    a rerun with nothing to do
 *   two-changed  two tags pushed anew at the source, then a rerun
 *
 * The no-change rerun also times the floor (bench/sync-floor.mjs): the same tag listings and
 * manifest HEADs from a bare undici script, so the report shows what bounds a rerun (the
 * registries answering 2 × R × T HEADs) apart from what gantry adds.
 *
 * Each is one whole process per tool (start-up included), timed with `/usr/bin/time -v`
 * (bench/measure.ts). gantry's requests come from its `--json` report (per registry, by kind;
 * each connection's ping and token requests are on top: `connections`). Targets: the
 * no-change and two-changed reruns at most 0.3× skopeo's wall time, and at most one request
 * per tag per side.
 *
 *   node --import tsx bench/sync.ts                     # 50 × 20 × 1 MiB, one run (~minutes)
 *   node --import tsx bench/sync.ts --small             # 5 × 4 × 64 KiB: a quick check
 *   node --import tsx bench/sync.ts --repos 10 --tags 10 --size 262144 --runs 3
 *
 * gantry runs as the built CLI's `gantry sync` (npm run build first). Results go to
 * bench/work/results/sync-<date>.json and a table on stdout. `runSyncBench()` is the same,
 * for bench/run.ts to call.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { RegistryClient } from '../src/client/registry-client.js';
import { Digest } from '../src/ref/digest.js';
import { measure, type Measurement } from './measure.js';
import { spread } from './stats.js';
import { startBenchDockerRegistry, type BenchRegistry } from './registries.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** Pushes at once while seeding the source. */
const SEED_JOBS = 8;
/** What gantry's reruns must stay within, against skopeo's time in the same run. */
export const SYNC_TIME_TARGET = 0.3;
/** Requests per tag per side the reruns may make. */
export const SYNC_REQUEST_TARGET = 1;

export interface SyncBenchOptions {
  readonly repos: number;
  readonly tags: number;
  /** Bytes of each tag's one layer. */
  readonly bytes: number;
  /** Runs of each rerun phase (the initial sync runs once per tool). */
  readonly runs: number;
  /** Scratch space (registries' storage, configurations). */
  readonly workDir: string;
  readonly log: (line: string) => void;
}

export type SyncPhase = 'initial' | 'no-change' | 'two-changed';

/** gantry's requests in one phase, from its report. */
export interface SyncRequests {
  readonly source: number;
  readonly destination: number;
  /** Connections per side: each adds a ping and its token requests, which the report does not count. */
  readonly connections: { readonly source: number; readonly destination: number };
  /** Per tag: all requests, and the manifest HEADs (the check itself). */
  readonly perTag: { readonly source: number; readonly destination: number; readonly sourceHeads: number; readonly destinationHeads: number };
  readonly copied: number;
  readonly skipped: number;
}

export interface SyncBenchRow extends Measurement {
  readonly phase: SyncPhase;
  readonly tool: 'gantry' | 'skopeo' | 'floor';
  readonly run: number;
  readonly requests?: SyncRequests;
}

export interface SyncBenchResult {
  readonly date: string;
  readonly shape: { readonly repos: number; readonly tags: number; readonly bytes: number };
  readonly rows: readonly SyncBenchRow[];
  readonly checks: readonly { readonly target: string; readonly measured: string; readonly met: boolean }[];
  readonly notes: readonly string[];
}

const repoName = (i: number): string => `bench/r${String(i).padStart(2, '0')}`;
const tagName = (i: number): string => `t${String(i).padStart(2, '0')}`;

/** One image of one gzip (level 0) layer of random bytes: incompressible, and no tool recompresses it. */
async function pushRandomImage(client: RegistryClient, repo: string, tag: string, bytes: number): Promise<void> {
  const r = client.repository(repo);
  const layer = gzipSync(randomBytes(bytes), { level: 0 });
  // The label makes every config distinct: docker-registry can lose one of two concurrent uploads of the same blob.
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: new Date().toISOString(), config: { Labels: { 'bench.tag': `${repo}:${tag}` } }, rootfs: { type: 'layers', diff_ids: [] } }));
  const layerDesc = { digest: Digest.fromBytes(layer), size: layer.length };
  const configDesc = { digest: Digest.fromBytes(config), size: config.length };
  await r.uploadBlob(layerDesc, () => Readable.from([layer]));
  await r.uploadBlob(configDesc, () => Readable.from([config]));
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDesc.digest.toString(), size: configDesc.size },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDesc.digest.toString(), size: layerDesc.size }],
  };
  await r.putManifest(tag, Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
}

async function seed(host: string, o: SyncBenchOptions): Promise<void> {
  const client = RegistryClient.create({ host });
  const work: [string, string][] = [];
  for (let r = 0; r < o.repos; r++) for (let t = 0; t < o.tags; t++) work.push([repoName(r), tagName(t)]);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: SEED_JOBS }, async () => {
        while (next < work.length) {
          const [repo, tag] = work[next++]!;
          await pushRandomImage(client, repo, tag, o.bytes);
        }
      }),
    );
  } finally {
    await client.close();
  }
}

/** Whether the built CLI has `gantry sync` (main.ts registers it). */
function cliHasSync(): boolean {
  try {
    const help = execFileSync(process.execPath, [join(ROOT, 'bin', 'gantry.js'), '--help'], { encoding: 'utf8' });
    return /^\s+sync\b/m.test(help);
  } catch {
    return false;
  }
}

/** gantry's command line; the report goes to `reportFile`. */
function gantryArgv(cli: string, configFile: string, reportFile: string): string[] {
  return ['bash', '-c', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} sync ${JSON.stringify(configFile)} --json > ${JSON.stringify(reportFile)}`];
}

function skopeoArgv(yamlFile: string, dest: BenchRegistry): string[] {
  return ['skopeo', 'sync', '--src', 'yaml', '--dest', 'docker', '--dest-tls-verify=false', '--all', yamlFile, `${dest.host}/mirror`];
}

interface GantryReport {
  tags: number;
  copied: number;
  skipped: number;
  failed: number;
  registries: Record<string, { requests: { total: number; manifestHead: number; manifestGet: number; manifestPut: number }; connections: number }>;
}

function requestsOf(report: GantryReport, src: string, dest: string): SyncRequests {
  const s = report.registries[src];
  const d = report.registries[dest];
  const tags = Math.max(report.tags, 1);
  return {
    source: s?.requests.total ?? 0,
    destination: d?.requests.total ?? 0,
    connections: { source: s?.connections ?? 0, destination: d?.connections ?? 0 },
    perTag: { source: (s?.requests.total ?? 0) / tags, destination: (d?.requests.total ?? 0) / tags, sourceHeads: (s?.requests.manifestHead ?? 0) / tags, destinationHeads: (d?.requests.manifestHead ?? 0) / tags },
    copied: report.copied,
    skipped: report.skipped,
  };
}

/** Every `repo:tag` → digest under `mirror/` of a registry. */
async function mirrored(host: string): Promise<Map<string, string>> {
  const client = RegistryClient.create({ host });
  const out = new Map<string, string>();
  try {
    for await (const repo of client.catalog()) {
      if (!repo.startsWith('mirror/')) continue;
      for await (const tag of client.repository(repo).tags()) out.set(`${repo}:${tag}`, (await client.repository(repo).headManifest(tag))?.digest?.toString() ?? '');
    }
  } finally {
    await client.close();
  }
  return out;
}

/** Runs the scenario; the caller stops nothing: every registry started here is stopped before it returns. */
export async function runSyncBench(o: SyncBenchOptions): Promise<SyncBenchResult> {
  const started: BenchRegistry[] = [];
  const notes: string[] = [`1-minute load average at the start: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores.`];
  try {
    const [src, gantryDest, skopeoDest] = await Promise.all([0, 1, 2].map((i) => startBenchDockerRegistry(join(o.workDir, `storage-${i}`))));
    started.push(src!, gantryDest!, skopeoDest!);
    const total = o.repos * o.tags;
    o.log(`seeding ${o.repos} × ${o.tags} tags of ${o.bytes} bytes into ${src!.host}`);
    const seedStart = Date.now();
    await seed(src!.host, o);
    o.log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);
    const repos = Array.from({ length: o.repos }, (_, i) => repoName(i));
    const gantryConfig = join(o.workDir, 'gantry-sync.yaml');
    writeFileSync(
      gantryConfig,
      ['sources:', `  - registry: ${src!.host}`, '    repositories:', ...repos.map((r) => `      - ${r}`), '    destinations:', `      - { registry: ${gantryDest!.host}, prefix: mirror, basename: true }`, ''].join('\n'),
    );
    const skopeoConfig = join(o.workDir, 'skopeo-sync.yaml');
    writeFileSync(skopeoConfig, [`${src!.host}:`, '  tls-verify: false', '  images:', ...repos.map((r) => `    ${r}: []`), ''].join('\n'));
    if (!cliHasSync()) throw new Error(`${join(ROOT, 'bin', 'gantry.js')} has no sync command: run npm run build first`);
    const cli = join(ROOT, 'bin', 'gantry.js');
    const rows: SyncBenchRow[] = [];
    const reportFile = join(o.workDir, 'gantry-report.json');
    const reposFile = join(o.workDir, 'repos.txt');
    writeFileSync(reposFile, `${repos.join('\n')}\n`);
    const floorArgv = [process.execPath, join(ROOT, 'bench', 'sync-floor.mjs'), src!.host, gantryDest!.host, reposFile, 'mirror'];
    const once = async (phase: SyncPhase, run: number, tool: 'gantry' | 'skopeo' | 'floor'): Promise<void> => {
      const m = await measure(tool === 'gantry' ? gantryArgv(cli, gantryConfig, reportFile) : tool === 'floor' ? floorArgv : skopeoArgv(skopeoConfig, skopeoDest!));
      let requests: SyncRequests | undefined;
      if (tool === 'gantry') {
        const report = JSON.parse(readFileSync(reportFile, 'utf8')) as GantryReport;
        if (report.failed > 0 || report.tags !== total) throw new Error(`gantry ${phase}: ${report.failed} failed, ${report.tags} of ${total} tags`);
        requests = requestsOf(report, src!.host, gantryDest!.host);
      }
      rows.push({ phase, tool, run, ...m, ...(requests ? { requests } : {}) });
      const r = requests ? `; ${requests.copied} copied, ${requests.skipped} skipped; requests/tag src ${requests.perTag.source.toFixed(3)} dest ${requests.perTag.destination.toFixed(3)}` : '';
      o.log(`${phase} run ${run + 1} ${tool}: ${m.wallSeconds.toFixed(2)} s, ${m.peakRssMiB.toFixed(0)} MiB${r}`);
    };
    // The initial copy, once per tool (it only sets the scene; its ratio is reported, not a target).
    await once('initial', 0, 'gantry');
    await once('initial', 0, 'skopeo');
    const [g, s] = await Promise.all([mirrored(gantryDest!.host), mirrored(skopeoDest!.host)]);
    const same = g.size === s.size && [...g].every(([k, v]) => s.get(k) === v);
    notes.push(same ? `Both destinations hold the same ${g.size} tags with the same digests.` : `The destinations differ: gantry ${g.size} tags, skopeo ${s.size} (skopeo may have rewritten manifests).`);
    const client = RegistryClient.create({ host: src!.host });
    try {
      for (let run = 0; run < o.runs; run++) {
        const order: ('gantry' | 'skopeo')[] = run % 2 ? ['skopeo', 'gantry'] : ['gantry', 'skopeo'];
        for (const tool of run % 2 ? (['floor', ...order] as const) : ([...order, 'floor'] as const)) await once('no-change', run, tool);
        // Two tags pushed anew: both tools have the same two to copy.
        await pushRandomImage(client, repoName(0), tagName(0), o.bytes);
        await pushRandomImage(client, repoName(Math.floor(o.repos / 2)), tagName(o.tags - 1), o.bytes);
        for (const tool of order) await once('two-changed', run, tool);
      }
    } finally {
      await client.close();
    }
    const checks: SyncBenchResult['checks'][number][] = [];
    for (const phase of ['no-change', 'two-changed'] as const) {
      const ratios = rows
        .filter((r) => r.phase === phase && r.tool === 'gantry')
        .map((gr) => gr.wallSeconds / (rows.find((sr) => sr.phase === phase && sr.tool === 'skopeo' && sr.run === gr.run)?.wallSeconds ?? NaN));
      // Judged on the median of the runs (issue 17's rule for every target); the spread is said when it straddles.
      const s = spread(ratios);
      const straddles = s.min <= SYNC_TIME_TARGET && s.max > SYNC_TIME_TARGET;
      const overFloor = rows
        .filter((r) => r.phase === phase && r.tool === 'gantry')
        .map((gr) => gr.wallSeconds / (rows.find((fr) => fr.phase === 'no-change' && fr.tool === 'floor' && fr.run === gr.run)?.wallSeconds ?? NaN));
      const floorNote = phase === 'no-change' ? `; gantry/floor ${overFloor.map((x) => `${x.toFixed(2)}×`).join(', ')}, floor/skopeo ${ratios.map((x, i) => `${(x / overFloor[i]!).toFixed(3)}×`).join(', ')}` : '';
      checks.push({ target: `${phase}: gantry ≤ ${SYNC_TIME_TARGET}× skopeo's wall time`, measured: `median ${s.median.toFixed(3)}× of ${ratios.map((x) => `${x.toFixed(3)}×`).join(', ')}${straddles ? ` (the spread straddles ${SYNC_TIME_TARGET}×)` : ''}${floorNote}`, met: s.median <= SYNC_TIME_TARGET });
      const req = rows.filter((r) => r.phase === phase && r.requests).map((r) => r.requests!);
      const heads = Math.max(...req.map((q) => Math.max(q.perTag.sourceHeads, q.perTag.destinationHeads)));
      const src = Math.max(...req.map((q) => q.perTag.source));
      const dest = Math.max(...req.map((q) => q.perTag.destination));
      checks.push({
        target: `${phase}: ≤ ${SYNC_REQUEST_TARGET} request per tag per side to compare`,
        measured: `manifest HEADs ${heads.toFixed(3)}/tag/side; all requests ${src.toFixed(3)}/tag at the source (one tag listing per repository${phase === 'two-changed' ? ', and the 2 copies' : ''}), ${dest.toFixed(3)}/tag at the destination`,
        met: heads <= SYNC_REQUEST_TARGET,
      });
    }
    return { date: new Date().toISOString(), shape: { repos: o.repos, tags: o.tags, bytes: o.bytes }, rows, checks, notes };
  } finally {
    await Promise.allSettled(started.map((r) => r.stop()));
  }
}

function table(result: SyncBenchResult): string {
  const lines = ['| phase | run | tool | wall s | peak RSS MiB | CPU s | requests src/dest (per tag) | copied |', '|---|---|---|---|---|---|---|---|'];
  for (const r of result.rows) {
    const q = r.requests ? `${r.requests.source}/${r.requests.destination} (${r.requests.perTag.source.toFixed(3)}/${r.requests.perTag.destination.toFixed(3)})` : '';
    lines.push(`| ${r.phase} | ${r.run + 1} | ${r.tool} | ${r.wallSeconds.toFixed(2)} | ${r.peakRssMiB.toFixed(0)} | ${r.cpuSeconds.toFixed(2)} | ${q} | ${r.requests?.copied ?? ''} |`);
  }
  lines.push('', ...result.checks.map((c) => `${c.met ? 'met   ' : 'MISSED'} ${c.target}: ${c.measured}`), '', ...result.notes);
  return `${lines.join('\n')}\n`;
}

const direct = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (direct) {
  const { values } = parseArgs({
    options: { repos: { type: 'string' }, tags: { type: 'string' }, size: { type: 'string' }, runs: { type: 'string' }, small: { type: 'boolean', default: false } },
  });
  const num = (v: string | undefined, d: number, name: string, max: number): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name}: expected an integer from 1 to ${max}, got ${v}`);
    return n;
  };
  const small = values.small ?? false;
  const workRoot = join(ROOT, 'bench', 'work');
  mkdirSync(workRoot, { recursive: true });
  const workDir = mkdtempSync(join(workRoot, 'sync-'));
  const t0 = Date.now();
  const log = (line: string): void => void process.stderr.write(`[sync bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
  try {
    const result = await runSyncBench({
      repos: num(values.repos, small ? 5 : 50, 'repos', 1000),
      tags: num(values.tags, small ? 4 : 20, 'tags', 1000),
      bytes: num(values.size, small ? 64 * 1024 : 1024 * 1024, 'size', 256 * 1024 * 1024),
      runs: num(values.runs, 1, 'runs', 10),
      workDir,
      log,
    });
    const outDir = join(workRoot, 'results');
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `sync-${result.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(table(result));
    log(`results: ${file}`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Writes a run's results: `<UTC date>-<set>.json` (every sample) and `.md` (the tables),
 * `latest.md`, and `ratios.svg`, a small hand-written bar chart of gantry/skopeo and
 * gantry/floor with each scenario's target marked.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GIB, MIB } from './image.js';
import type { BenchResults, EmbeddedRow, Scenario, ScenarioResult, ScenarioSet } from './results-model.js';
import { pairRatio, runRatio, spread, summarize } from './stats.js';
import type { Spread } from './stats.js';
import type { Mover, Tool } from './tools.js';

/** Ratio targets of one scenario: gantry's time over each contender's, at most this (medians of same-run pairs). */
export interface Goal {
  skopeo?: number;
  floor?: number;
  /** `node -e 0` in the same run: Node's start-up. */
  node?: number;
}

const MAIN_TRANSFERS: Partial<Record<Scenario, Goal>> = { push: { floor: 1.05 }, pull: { skopeo: 0.8 }, copy: { skopeo: 0.8, floor: 1.05 } };

/** Issue 17's targets, per scenario set. A ratio with no target is still shown (the big layer's floor: what bounds it). */
export const TARGETS: Record<ScenarioSet, Partial<Record<Scenario, Goal>>> = {
  main: { ...MAIN_TRANSFERS, inspect: { node: 1.5 }, digest: { node: 1.5 }, tags: { node: 1.5 } },
  // The main targets must hold for small images too (4 × 64 MiB, 10 × 3 MiB).
  small: MAIN_TRANSFERS,
  'many-layers': { push: { skopeo: 0.8 }, pull: { skopeo: 0.8 }, copy: { skopeo: 0.8 } },
  'big-layer': { pull: { skopeo: 1.0 }, copy: { skopeo: 1.0 } },
  'many-tags': { tags: { skopeo: 0.8 } },
};
/** gantry's peak RSS in any transfer (issue 17: any 8-stream transfer; checked here on every image). */
export const RSS_TARGET_MIB = 100;
/** The embedded registry ingests at least this much faster (server CPU per GiB). */
export const EMBEDDED_TARGET = 1.5;
/** gantry serve's wall time over docker-registry's, at most (no slower). */
export const EMBEDDED_WALL_TARGET = 1.0;

const TRANSFERS: readonly Scenario[] = ['push', 'pull', 'copy'];
const setOf = (r: ScenarioResult): ScenarioSet => r.set ?? 'main';
const goalOf = (r: ScenarioResult): Goal | undefined => TARGETS[setOf(r)][r.scenario];
/** How a target line and a chart bar name a scenario: the main image's by scenario alone. */
const labelOf = (r: ScenarioResult): string => (setOf(r) === 'main' ? r.scenario : setOf(r) === 'many-tags' ? `tags (${r.image})` : `${r.scenario} ${r.image}`);

/**
 * What each contender checks on the client while the bytes move, per transfer scenario, so a
 * ratio is read knowing who pays for a hash. The receiving registry checks every digest on its
 * own side in all of them. `{hashing}` is where gantry hashed in the run, as the run recorded
 * it (src/hashing/blob-hash.ts OFFLOAD_HASHING on the machine of the run).
 */
export const CLIENT_VERIFICATION: Partial<Record<Scenario, Record<Mover, string>>> = {
  push: {
    gantry: 'size and sha256 of every blob read from the layout, as it is uploaded (hashed {hashing}); a mismatch cancels the upload before its commit',
    skopeo: 'the digest of every blob as it is copied (containers/image digestingReader)',
    floor: 'nothing',
    'node-floor': 'size and sha256 of every blob as it is uploaded (inline)',
  },
  pull: {
    gantry: 'size and sha256 of every blob before it is renamed into the layout (hashed {hashing})',
    skopeo: 'the digest of every blob as it is copied (containers/image digestingReader)',
    floor: 'sha256sum of every blob after it is written',
    'node-floor': 'size and sha256 of every blob before it is renamed into the layout (inline)',
  },
  copy: {
    gantry: 'size and sha256 of every blob as it streams from the source registry into the destination (hashed {hashing}); a mismatch cancels the upload before its commit',
    skopeo: 'the digest of every blob as it is copied (containers/image digestingReader)',
    floor: 'nothing (curl GET \\| curl PUT: only the destination registry checks)',
    'node-floor': 'size and sha256 of every blob as it streams from the source registry into the destination (inline)',
  },
};

function verificationTable(results: BenchResults): string {
  const scenarios = new Set(results.scenarios.map((r) => r.scenario));
  const rows = [...scenarios].flatMap((scenario) => {
    const v = CLIENT_VERIFICATION[scenario];
    const gantry = v?.gantry.replace('{hashing}', results.machine.gantryHashing ?? 'where the machine of the run decided (not recorded)');
    return v ? [`| ${scenario} | ${gantry} | ${v.skopeo} | ${v.floor} | ${v['node-floor']} |\n`] : [];
  });
  if (!rows.length) return '';
  return `| scenario | gantry verifies | skopeo verifies | floor verifies | Node floor verifies |\n|---|---|---|---|---|\n${rows.join('')}`;
}

const s2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
/** Target checks show three decimals, so a ratio just over its target does not read as equal to it. */
const s3 = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '–');
const pct = (n: number): string => (Number.isFinite(n) ? `${(n * 100).toFixed(1)} %` : '–');
const range = (s: Spread, digits = 2): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
const verdict = (c: TargetCheck): string => `${c.met ? 'met' : '**missed**'}${c.straddles ? ' (spread straddles it)' : ''}`;

const SET_TITLES: Record<ScenarioSet, string> = {
  main: 'Main image',
  small: 'Small images (the main targets at 256 MiB and 30 MiB)',
  'many-layers': 'Many small layers (per-blob overhead)',
  'big-layer': 'One large layer (gantry/floor shows what bounds it)',
  'many-tags': 'A repository of many tags (pagination)',
};
const SET_ORDER: ScenarioSet[] = ['main', 'small', 'many-layers', 'big-layer', 'many-tags'];

/** Median CPU seconds (user + system, GNU time) per GiB moved. */
function cpuPerGiB(r: ScenarioResult, tool: Mover): string {
  const t = summarize(r.samples, tool);
  return t ? s2(t.cpu.median / (r.bytes / GIB)) : '–';
}

function transferTable(rows: ScenarioResult[]): string {
  let md = '| scenario | image | gantry s | skopeo s | floor s | Node floor s | gantry/skopeo | gantry/floor | gantry/Node floor | CPU s/GiB gantry | skopeo | floor | Node floor | RSS MiB gantry | skopeo | floor | Node floor |\n';
  md += '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n';
  for (const r of rows) {
    const [g, k, f, n] = (['gantry', 'skopeo', 'floor', 'node-floor'] as const).map((t) => summarize(r.samples, t));
    const [rk, rf, rn] = (['skopeo', 'floor', 'node-floor'] as const).map((t) => pairRatio(r.samples, t));
    md += `| ${r.scenario} | ${r.image} | ${g ? range(g.wall) : '–'} | ${k ? range(k.wall) : '–'} | ${f ? range(f.wall) : '–'} | ${n ? range(n.wall) : '–'} `;
    md += `| ${rk ? range(rk) : '–'} | ${rf ? range(rf) : '–'} | ${rn ? range(rn) : '–'} `;
    md += `| ${cpuPerGiB(r, 'gantry')} | ${cpuPerGiB(r, 'skopeo')} | ${cpuPerGiB(r, 'floor')} | ${cpuPerGiB(r, 'node-floor')} `;
    md += `| ${g ? range(g.peakRssMiB, 0) : '–'} | ${k ? range(k.peakRssMiB, 0) : '–'} | ${f ? range(f.peakRssMiB, 0) : '–'} | ${n ? range(n.peakRssMiB, 0) : '–'} |\n`;
  }
  return md;
}

function latencyTable(rows: ScenarioResult[]): string {
  let md = '| scenario | image | gantry s | skopeo s | node -e 0 s | gantry/skopeo | gantry/node | gantry RSS MiB | skopeo RSS MiB |\n';
  md += '|---|---|---|---|---|---|---|---|---|\n';
  for (const r of rows) {
    const [g, k, n] = (['gantry', 'skopeo', 'node'] as const).map((t) => summarize(r.samples, t));
    const rk = pairRatio(r.samples, 'skopeo');
    const rn = pairRatio(r.samples, 'node');
    md += `| ${r.scenario} | ${r.image} | ${g ? range(g.wall, 3) : '–'} | ${k ? range(k.wall, 3) : '–'} | ${n ? range(n.wall, 3) : '–'} `;
    md += `| ${rk ? range(rk) : '–'} | ${rn ? range(rn) : '–'} | ${g ? range(g.peakRssMiB, 0) : '–'} | ${k ? range(k.peakRssMiB, 0) : '–'} |\n`;
  }
  return md;
}

/** One table per scenario set (transfers, then start-up latency), under a heading of `level`. */
function scenarioTables(results: BenchResults, level: string): string {
  let md = '';
  for (const set of SET_ORDER) {
    const rows = results.scenarios.filter((r) => setOf(r) === set);
    if (!rows.length) continue;
    md += `\n${level} ${SET_TITLES[set]}\n\n`;
    const transfers = rows.filter((r) => TRANSFERS.includes(r.scenario));
    const latency = rows.filter((r) => !TRANSFERS.includes(r.scenario));
    if (transfers.length) md += transferTable(transfers);
    if (transfers.length && latency.length) md += '\n';
    if (latency.length) md += latencyTable(latency);
  }
  return md;
}

export interface TargetCheck {
  target: string;
  /** The median, or a description for checks that are not ratios. */
  measured: string;
  met: boolean;
  /** For ratios: the goal, and the min–max of the same-run pairs' ratios. */
  goal?: number;
  spread?: Spread;
  /** Some run pairs met the target and others did not. */
  straddles?: boolean;
}

/**
 * A ratio target judged on the median of the same-run pairs only; when the pairs' spread
 * straddles the goal the check says so. `at: 'most'` for times (lower is better), `'least'`
 * for how many times less CPU.
 */
function ratioCheck(target: string, goal: number, s: Spread, at: 'most' | 'least'): TargetCheck {
  const met = at === 'most' ? s.median <= goal : s.median >= goal;
  const straddles = at === 'most' ? s.min <= goal && s.max > goal : s.min < goal && s.max >= goal;
  return { target, measured: s3(s.median), met, goal, spread: s, straddles };
}

/** The line the bench logs for a check: `met on the median 0.780×; spread 0.710–0.860× straddles 0.8×`. */
export function describeCheck(c: TargetCheck): string {
  if (!c.spread) return `${c.met ? 'met' : 'MISSED'}: ${c.measured}`;
  const s = c.spread;
  const spreadText = s.min === s.max ? 'one pair' : `spread ${s3(s.min)}–${s3(s.max)}×${c.straddles ? ` straddles ${c.goal}×` : ''}`;
  return `${c.met ? 'met' : 'MISSED'} on the median ${c.measured}×; ${spreadText}`;
}

/**
 * One server's `value` over the other's in one embedded scenario: the median is the ratio of
 * the two servers' medians (as before issue 17), the min–max that of the same-run pairs.
 */
function embeddedRatio(rows: EmbeddedRow[], scenario: EmbeddedRow['scenario'], num: EmbeddedRow['server'], den: EmbeddedRow['server'], value: (r: EmbeddedRow) => number): Spread | undefined {
  const of = (server: EmbeddedRow['server']) => rows.filter((r) => r.scenario === scenario && r.server === server).map((r) => ({ run: r.run, value: value(r) }));
  const n = of(num);
  const d = of(den);
  const pairs = runRatio(n, d);
  if (!pairs) return undefined;
  return { ...pairs, median: spread(n.map((x) => x.value)).median / spread(d.map((x) => x.value)).median };
}

export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const r of results.scenarios) {
    const goal = goalOf(r);
    const label = labelOf(r);
    for (const other of ['skopeo', 'floor', 'node'] as const) {
      const g = goal?.[other];
      const ratio = pairRatio(r.samples, other);
      if (g !== undefined && ratio) checks.push(ratioCheck(`${label}: gantry/${other === 'node' ? 'node -e 0' : other} ≤ ${g}`, g, ratio, 'most'));
    }
  }
  if (results.noop) {
    const n = results.noop;
    checks.push({
      target: 'no-op copy: no blob request; one manifest request per side (source GET, destination HEAD)',
      measured: `${n.blobRequests} blob requests (HEAD), ${n.manifestRequests} manifest requests, ${n.requests} in all`,
      met: n.manifestRequests <= 2 && n.blobRequests === 0,
    });
  }
  const rss = [
    ...results.scenarios.filter((r) => TRANSFERS.includes(r.scenario)).flatMap((r) => r.samples.filter((s) => s.tool === 'gantry').map((s) => ({ image: r.image, scenario: r.scenario, mib: s.peakRssMiB }))),
    ...results.scaling.filter((s) => s.tool === 'gantry').map((s) => ({ image: s.image, scenario: s.scenario, mib: s.peakRssMiB })),
  ];
  if (rss.length) {
    const peak = rss.reduce((a, b) => (b.mib > a.mib ? b : a));
    checks.push({ target: `gantry peak RSS ≤ ${RSS_TARGET_MIB} MiB in every transfer`, measured: `${peak.mib.toFixed(0)} MiB (${peak.scenario} ${peak.image})`, met: peak.mib <= RSS_TARGET_MIB });
  }
  for (const scenario of ['push', 'copy'] as const) {
    // docker-registry's CPU per GiB over gantry serve's, pair by pair (higher is better for gantry).
    const ratio = embeddedRatio(results.embedded, scenario, 'docker-registry', 'gantry serve', cpuPerGiBOf);
    if (ratio) checks.push(ratioCheck(`embedded registry (${scenario}): docker-registry CPU/GiB ÷ gantry serve CPU/GiB ≥ ${EMBEDDED_TARGET}`, EMBEDDED_TARGET, ratio, 'least'));
  }
  for (const scenario of ['push', 'copy', 'pull'] as const) {
    const ratio = embeddedRatio(results.embedded, scenario, 'gantry serve', 'docker-registry', (r) => r.wallSeconds);
    if (ratio) {
      checks.push(ratioCheck(`embedded registry (${scenario}, 8 streams): gantry serve wall ÷ docker-registry wall ≤ ${EMBEDDED_WALL_TARGET} (no slower)`, EMBEDDED_WALL_TARGET, ratio, 'most'));
    }
  }
  // The sections measured by their own modules judge their own targets on their own medians.
  if (results.sync) checks.push(...results.sync.checks.map((c) => ({ ...c, target: `sync: ${c.target}` })));
  if (results.serveCache) checks.push(...results.serveCache.checks.map((c) => ({ ...c, target: `serve cache: ${c.target}` })));
  return checks;
}

/**
 * Each ratio target against skopeo or the floor, beside the same ratio for the least Node
 * program: the Node floor for transfers (bench/node-floor.mjs), `node -e 0` for listings. A
 * bound over the target says no Node program met it in this run; gantry over the bound is
 * what gantry itself adds.
 */
function boundsTable(results: BenchResults): string {
  let md = '';
  for (const r of results.scenarios) {
    const goal = goalOf(r);
    const bound: Tool = TRANSFERS.includes(r.scenario) ? 'node-floor' : 'node';
    for (const other of ['skopeo', 'floor'] as const) {
      const g = goal?.[other];
      const b = pairRatio(r.samples, other, bound);
      const own = pairRatio(r.samples, bound);
      if (g === undefined || !b || !own) continue;
      const name = bound === 'node' ? 'node -e 0' : 'Node floor';
      md += `| ${labelOf(r)}: gantry/${other} ≤ ${g} | ${name}/${other} ${range(b)} | ${b.median > g ? `over ${g}` : `within ${g}`} | gantry/${name} ${range(own)} |\n`;
    }
  }
  const nodeRss = results.scenarios.filter((r) => TRANSFERS.includes(r.scenario)).flatMap((r) => r.samples.filter((x) => x.tool === 'node-floor').map((x) => ({ r, mib: x.peakRssMiB })));
  if (nodeRss.length) {
    const peak = nodeRss.reduce((a, b) => (b.mib > a.mib ? b : a));
    const over = nodeRss.filter((x) => x.mib > RSS_TARGET_MIB).length;
    md += `| gantry peak RSS ≤ ${RSS_TARGET_MIB} MiB in every transfer | Node floor's peak ${peak.mib.toFixed(0)} MiB (${labelOf(peak.r)}); ${over} of ${nodeRss.length} Node floor runs over ${RSS_TARGET_MIB} MiB | ${peak.mib > RSS_TARGET_MIB ? `over ${RSS_TARGET_MIB}` : `within ${RSS_TARGET_MIB}`} | |\n`;
  }
  return md ? `| target | the least Node program, same run | its median against the target | what gantry adds |\n|---|---|---|---|\n${md}` : '';
}

const cpuPerGiBOf = (r: EmbeddedRow): number => r.serverCpuSeconds / (r.bytes / GIB);

function targetsTable(results: BenchResults): string {
  let md = '| target | median | spread (min–max of the run pairs) | |\n|---|---|---|---|\n';
  for (const c of checkTargets(results)) md += `| ${c.target} | ${c.measured} | ${c.spread ? `${s3(c.spread.min)}–${s3(c.spread.max)}` : ''} | ${verdict(c)} |\n`;
  return md;
}

function machineStateTable(results: BenchResults): string {
  if (!results.sections?.length) return '';
  let md = '| section | s | load (1 min) before → after | CPU steal | CPU busy | of which the bench | other work |\n|---|---|---|---|---|---|---|\n';
  for (const s of results.sections) {
    md += `| ${s.section} | ${s.seconds.toFixed(0)} | ${s2(s.load1Before)} → ${s2(s.load1After)} | ${pct(s.stealShare)} | ${pct(s.busyShare)} | ${pct(s.benchShare)} | ${pct(s.otherShare)} |\n`;
  }
  return md;
}

export function markdown(results: BenchResults): string {
  const m = results.machine;
  let md = `# gantry bench: ${results.set}, ${results.date}\n\n`;
  md += `${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB RAM; Node ${m.node}; ${m.skopeo}; docker-registry ${m.dockerRegistry}; gantry jobs ${m.gantryJobs}. `;
  if (m.sha256) {
    const h = m.sha256;
    md += `sha256 (node:crypto, one thread, ${(h.bytes / MIB).toFixed(0)} MiB in ${(h.chunkBytes / MIB).toFixed(0)} MiB chunks, at the start): ${s2(h.gibPerSecond)} GiB/s per core (per CPU second), `;
    md += `${s2(h.gibPerWallSecond)} GiB/s of wall time. `;
  }
  md += `${results.runs} runs per contender, alternating, the destination registry restarted with empty storage before every run. `;
  md += 'Times are wall seconds, median (min–max); ratios are gantry over the other contender run by run (same-run pairs), then summarised; ';
  md += 'CPU s/GiB is the median user + system CPU (GNU time, the whole process tree) per GiB moved.\n';
  const state = machineStateTable(results);
  if (state) {
    md += '\n## Machine state per section\n\n';
    md += 'Shares of all CPU time on all cores between readings taken before and after each section (/proc/stat): steal is time the hypervisor ran something else on our virtual CPUs; busy is everything but idle and iowait; the bench is its own process tree (contenders, registries, this process); other work is the rest.\n\n';
    md += state;
  }
  md += scenarioTables(results, '##');
  const verification = verificationTable(results);
  if (verification) md += `\n## What each contender verifies on the client\n\n${verification}`;
  md += "\n## Targets\n\nJudged on the run's medians only (the median of the same-run pairs' ratios; for the embedded registry the ratio of the two servers' medians); the spread, min–max of the same-run pairs' ratios, says whether every pair agreed.\n\n";
  md += targetsTable(results);
  const bounds = boundsTable(results);
  if (bounds) md += `\n## What bounds the targets\n\nThe same ratios for the least Node program (median, min–max of the same-run pairs).\n\n${bounds}`;
  if (results.scaling.length) {
    md += '\n## Scaling (one run each)\n\n| scenario | image | GiB | layers | tool | wall s | CPU s | peak RSS MiB |\n|---|---|---|---|---|---|---|---|\n';
    for (const r of results.scaling) {
      md += `| ${r.scenario} | ${r.image} | ${(r.bytes / GIB).toFixed(2)} | ${r.layers} | ${r.tool} | ${s2(r.wallSeconds)} | ${r.cpuSeconds !== undefined ? s2(r.cpuSeconds) : '–'} | ${r.peakRssMiB.toFixed(0)} |\n`;
    }
  }
  if (results.embedded.length) {
    const n = results.embeddedRuns !== undefined ? `${results.embeddedRuns} alternating runs` : 'alternating runs';
    md += `\n## The embedded registry as the destination and the source (client: gantry; ${n})\n\n| scenario | server | wall s | server CPU s | server CPU s per GiB |\n|---|---|---|---|---|\n`;
    for (const scenario of ['push', 'copy', 'pull'] as const) {
      for (const server of ['docker-registry', 'gantry serve'] as const) {
        const rows = results.embedded.filter((r) => r.scenario === scenario && r.server === server);
        if (!rows.length) continue;
        md += `| ${scenario} | ${server} | ${range(spread(rows.map((r) => r.wallSeconds)))} | ${range(spread(rows.map((r) => r.serverCpuSeconds)))} | ${range(spread(rows.map(cpuPerGiBOf)))} |\n`;
      }
    }
  }
  if (results.sync) {
    const r = results.sync;
    md += `\n## gantry sync against skopeo sync (${r.shape.repos} repositories × ${r.shape.tags} tags, ${(r.shape.bytes / MIB).toFixed(0)} MiB each)\n\n| phase | tool | run | wall s | peak RSS MiB | requests src / dest |\n|---|---|---|---|---|---|\n`;
    for (const row of r.rows) md += `| ${row.phase} | ${row.tool} | ${row.run + 1} | ${s2(row.wallSeconds)} | ${row.peakRssMiB.toFixed(0)} | ${row.requests ? `${row.requests.source} / ${row.requests.destination}` : ''} |\n`;
    if (r.notes.length) md += `\n${r.notes.map((n) => `- ${n}`).join('\n')}\n`;
  }
  if (results.serveCache) {
    const r = results.serveCache;
    md += `\n## A pull through gantry serve --proxy-remote (${r.image})\n\n| phase | run | wall s | cache CPU s |\n|---|---|---|---|\n`;
    for (const row of r.rows) md += `| ${row.phase} | ${row.run + 1} | ${s2(row.wallSeconds)} | ${row.cacheCpuSeconds !== undefined ? s2(row.cacheCpuSeconds) : ''} |\n`;
    md += `\nMedian wall against the direct pull: cold ${s3(r.ratios.cold)}, warm ${s3(r.ratios.warm)}; cache peak RSS ${r.cachePeakRssMiB.map((v) => v.toFixed(0)).join(', ')} MiB.\n`;
    if (r.notes.length) md += `\n${r.notes.map((n) => `- ${n}`).join('\n')}\n`;
  }
  if (results.notes.length) md += `\n## Notes\n\n${results.notes.map((n) => `- ${n}`).join('\n')}\n`;
  return md;
}

/** Horizontal bars, one pair per scenario; a red tick marks each bar's target. */
export function ratiosSvg(results: BenchResults): string {
  const rows: { label: string; value: number; target: number | undefined; color: string }[] = [];
  const colors: Record<'skopeo' | 'floor' | 'node' | 'node-floor', string> = { skopeo: '#3b7dd8', floor: '#8a8a8a', node: '#6aa84f', 'node-floor': '#b07cc6' };
  for (const r of results.scenarios) {
    const label = labelOf(r);
    for (const other of ['skopeo', 'floor', 'node', 'node-floor'] as const) {
      const ratio = pairRatio(r.samples, other);
      if (ratio) rows.push({ label: `${label} ÷ ${other}`, value: ratio.median, target: other === 'node-floor' ? undefined : goalOf(r)?.[other], color: colors[other] });
    }
  }
  const scaleMax = Math.max(2, ...rows.map((r) => Math.ceil(r.value * 2) / 2));
  const left = 200;
  const width = 320;
  const rowH = 22;
  const top = 28;
  const h = top + rows.length * rowH + 24;
  const x = (v: number): number => left + (v / scaleMax) * width;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 60}" height="${h}" font-family="sans-serif" font-size="12">\n`;
  svg += `<text x="4" y="16" font-weight="bold">gantry time ratios (median, lower is better; red: target)</text>\n`;
  for (let v = 0; v <= scaleMax; v += 0.5) {
    svg += `<line x1="${x(v)}" y1="${top - 4}" x2="${x(v)}" y2="${h - 20}" stroke="#ddd"/><text x="${x(v)}" y="${h - 6}" text-anchor="middle" fill="#666">${v}</text>\n`;
  }
  svg += `<line x1="${x(1)}" y1="${top - 4}" x2="${x(1)}" y2="${h - 20}" stroke="#444" stroke-dasharray="3,3"/>\n`;
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const met = r.target === undefined || r.value <= r.target;
    svg += `<text x="${left - 6}" y="${y + 14}" text-anchor="end">${r.label}</text>\n`;
    svg += `<rect x="${left}" y="${y + 3}" width="${Math.max(1, x(r.value) - left).toFixed(1)}" height="${rowH - 8}" fill="${r.color}"/>\n`;
    svg += `<text x="${x(r.value) + 4}" y="${y + 14}" fill="${met ? '#222' : '#c00'}">${r.value.toFixed(2)}</text>\n`;
    if (r.target !== undefined) svg += `<line x1="${x(r.target)}" y1="${y + 1}" x2="${x(r.target)}" y2="${y + rowH - 3}" stroke="#d00" stroke-width="2"/>\n`;
  });
  return `${svg}</svg>\n`;
}

const README_START = '<!-- bench:start -->';
const README_END = '<!-- bench:end -->';

/**
 * Whether a run may stand in the README: every scenario on the 1 GiB image. Quick, partial
 * (`--only`) and embedded-only (`--embedded`) runs are kept in bench/results but leave it alone.
 */
export function isFullRun(results: BenchResults): boolean {
  const parts = results.set.split('-');
  return !['quick', 'partial', 'embedded'].some((p) => parts.includes(p));
}

/**
 * Puts the main table, the targets and the chart between the README's bench markers (the
 * README owns the words around them). Returns false when the README has no markers.
 */
export function updateReadme(readmePath: string, results: BenchResults, resultsLink: string): boolean {
  if (!existsSync(readmePath)) return false;
  const text = readFileSync(readmePath, 'utf8');
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END);
  if (start < 0 || end < start) return false;
  let block = `\nLatest run (${results.date.slice(0, 16).replace('T', ' ')} UTC, ${results.set}, ${results.runs} runs; [details](${resultsLink})):\n\n`;
  block += scenarioTables(results, '###');
  const verification = verificationTable(results);
  if (verification) block += `\nOn the client, while the bytes move:\n\n${verification}`;
  block += `\nTargets, on the median of the same-run pairs:\n\n${targetsTable(results)}`;
  const bounds = boundsTable(results);
  if (bounds) block += `\nThe same ratios for the least Node program in the same run (the Node floor for transfers, \`node -e 0\` for listings):\n\n${bounds}`;
  block += '\n![gantry/skopeo and gantry/floor ratios](bench/results/ratios.svg)\n';
  writeFileSync(readmePath, text.slice(0, start + README_START.length) + block + text.slice(end));
  return true;
}

/**
 * Writes the dated JSON and markdown, and for a run with scenarios `latest.md` and `ratios.svg`
 * (an embedded-registry-only run leaves those to the last full run); returns the markdown path.
 */
export function writeResults(dir: string, results: BenchResults): string {
  let stem = `${results.date.slice(0, 10)}-${results.set}`;
  // A second run of the same set on the same day keeps the first: its name gets the time.
  const earlier = join(dir, `${stem}.json`);
  if (existsSync(earlier) && (JSON.parse(readFileSync(earlier, 'utf8')) as BenchResults).date !== results.date) {
    stem += `-${results.date.slice(11, 16).replace(':', '')}`;
  }
  const md = markdown(results);
  writeFileSync(join(dir, `${stem}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, `${stem}.md`), md);
  if (results.scenarios.length) {
    writeFileSync(join(dir, 'latest.md'), md);
    writeFileSync(join(dir, 'ratios.svg'), ratiosSvg(results));
  }
  return join(dir, `${stem}.md`);
}

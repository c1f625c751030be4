/**
 * Writes a run's results: `<UTC date>-<set>.json` (every sample) and `.md` (the tables),
 * `latest.md`, and `ratios.svg`, a small hand-written bar chart of gantry/skopeo and
 * gantry/floor with each scenario's target marked.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GIB, MIB } from './image.js';
import type { BenchResults, EmbeddedRow, Scenario } from './results-model.js';
import { pairRatio, spread, summarize } from './stats.js';
import type { Spread } from './stats.js';
import type { Tool } from './tools.js';

/** The issue's targets: gantry/skopeo at most this (medians, same run). */
export const SKOPEO_TARGET: Partial<Record<Scenario, number>> = { push: 0.7, copy: 0.85, pull: 0.8, inspect: 1.5, tags: 1.5 };
/** gantry within this factor of the floor. */
export const FLOOR_TARGET = 1.15;
export const RSS_TARGET_MIB = 150;
/** The embedded registry ingests at least this much faster (server CPU per GiB). */
export const EMBEDDED_TARGET = 1.5;

/**
 * What each contender checks on the client while the bytes move, per transfer scenario, so a
 * ratio is read knowing who pays for a hash. The receiving registry checks every digest on its
 * own side in all of them. `{hashing}` is where gantry hashed in the run, as the run recorded
 * it (src/hashing/blob-hash.ts OFFLOAD_HASHING on the machine of the run).
 */
export const CLIENT_VERIFICATION: Partial<Record<Scenario, Record<Tool, string>>> = {
  push: {
    gantry: 'size and sha256 of every blob read from the layout, as it is uploaded (hashed {hashing}); a mismatch cancels the upload before its commit',
    skopeo: 'the digest of every blob as it is copied (containers/image digestingReader)',
    floor: 'nothing',
  },
  pull: {
    gantry: 'size and sha256 of every blob before it is renamed into the layout (hashed {hashing})',
    skopeo: 'the digest of every blob as it is copied (containers/image digestingReader)',
    floor: 'sha256sum of every blob after it is written',
  },
  copy: {
    gantry: 'size and sha256 of every blob as it streams from the source registry into the destination (hashed {hashing}); a mismatch cancels the upload before its commit',
    skopeo: 'the digest of every blob as it is copied (containers/image digestingReader)',
    floor: 'nothing (curl GET | curl PUT: only the destination registry checks)',
  },
};

function verificationTable(results: BenchResults): string {
  const rows = results.scenarios.flatMap((r) => {
    const v = CLIENT_VERIFICATION[r.scenario];
    const gantry = v?.gantry.replace('{hashing}', results.machine.gantryHashing ?? 'where the machine of the run decided (not recorded)');
    return v ? [`| ${r.scenario} | ${gantry} | ${v.skopeo} | ${v.floor} |\n`] : [];
  });
  if (!rows.length) return '';
  return `| scenario | gantry verifies | skopeo verifies | floor verifies |\n|---|---|---|---|\n${rows.join('')}`;
}

const s2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
/** Target checks show three decimals, so a ratio just over its target does not read as equal to it. */
const s3 = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '–');
const range = (s: Spread, digits = 2): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
const verdict = (ok: boolean): string => (ok ? 'met' : '**missed**');

function scenarioTable(results: BenchResults): string {
  let md = '| scenario | image | gantry s | skopeo s | floor s | gantry/skopeo | gantry/floor | gantry RSS MiB | skopeo RSS MiB | floor RSS MiB |\n';
  md += '|---|---|---|---|---|---|---|---|---|---|\n';
  for (const r of results.scenarios) {
    const [g, k, f] = (['gantry', 'skopeo', 'floor'] as const).map((t) => summarize(r.samples, t));
    const rk = pairRatio(r.samples, 'skopeo');
    const rf = pairRatio(r.samples, 'floor');
    md += `| ${r.scenario} | ${r.image} | ${g ? range(g.wall) : '–'} | ${k ? range(k.wall) : '–'} | ${f ? range(f.wall) : '–'} `;
    md += `| ${rk ? range(rk) : '–'} | ${rf ? range(rf) : '–'} `;
    md += `| ${g ? range(g.peakRssMiB, 0) : '–'} | ${k ? range(k.peakRssMiB, 0) : '–'} | ${f ? range(f.peakRssMiB, 0) : '–'} |\n`;
  }
  return md;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

export function checkTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const r of results.scenarios) {
    const goal = SKOPEO_TARGET[r.scenario];
    const rk = pairRatio(r.samples, 'skopeo');
    if (goal !== undefined && rk) checks.push({ target: `${r.scenario}: gantry/skopeo ≤ ${goal}`, measured: s3(rk.median), met: rk.median <= goal });
    const rf = pairRatio(r.samples, 'floor');
    if (rf) checks.push({ target: `${r.scenario}: gantry/floor ≤ ${FLOOR_TARGET}`, measured: s3(rf.median), met: rf.median <= FLOOR_TARGET });
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
    ...results.scenarios.flatMap((r) => r.samples.filter((s) => s.tool === 'gantry').map((s) => s.peakRssMiB)),
    ...results.scaling.filter((s) => s.tool === 'gantry').map((s) => s.peakRssMiB),
  ];
  if (rss.length) {
    const peak = Math.max(...rss);
    checks.push({ target: `gantry peak RSS ≤ ${RSS_TARGET_MIB} MiB at every size`, measured: `${peak.toFixed(0)} MiB`, met: peak <= RSS_TARGET_MIB });
  }
  for (const scenario of ['push', 'copy'] as const) {
    const ratio = embeddedRatio(results.embedded, scenario);
    if (ratio !== undefined) {
      checks.push({ target: `embedded registry (${scenario}): docker-registry CPU/GiB ÷ gantry serve CPU/GiB ≥ ${EMBEDDED_TARGET}`, measured: s3(ratio), met: ratio >= EMBEDDED_TARGET });
    }
  }
  for (const scenario of ['push', 'copy', 'pull'] as const) {
    const ratio = embeddedWallRatio(results.embedded, scenario);
    if (ratio !== undefined) {
      checks.push({ target: `embedded registry (${scenario}, 8 streams): gantry serve wall ÷ docker-registry wall ≤ 1 (no slower)`, measured: s3(ratio), met: ratio <= 1 });
    }
  }
  // The sections measured by their own modules judge their own targets on their own medians.
  if (results.sync) checks.push(...results.sync.checks.map((c) => ({ ...c, target: `sync: ${c.target}` })));
  if (results.serveCache) checks.push(...results.serveCache.checks.map((c) => ({ ...c, target: `serve cache: ${c.target}` })));
  return checks;
}

const cpuPerGiBOf = (r: EmbeddedRow): number => r.serverCpuSeconds / (r.bytes / GIB);

/** The medians of `value` with docker-registry and with gantry serve in one scenario, when both ran. */
function embeddedMedians(rows: EmbeddedRow[], scenario: EmbeddedRow['scenario'], value: (r: EmbeddedRow) => number): { d: number; g: number } | undefined {
  const of = (server: EmbeddedRow['server']) => rows.filter((r) => r.scenario === scenario && r.server === server).map(value);
  const d = of('docker-registry');
  const g = of('gantry serve');
  if (!d.length || !g.length) return undefined;
  return { d: spread(d).median, g: spread(g).median };
}

/** docker-registry's server CPU per GiB over gantry serve's (higher is better for gantry). */
function embeddedRatio(rows: EmbeddedRow[], scenario: 'push' | 'copy'): number | undefined {
  const m = embeddedMedians(rows, scenario, cpuPerGiBOf);
  return m && m.d / m.g;
}

/** gantry serve's median wall time over docker-registry's, same run (at most 1: no slower). */
function embeddedWallRatio(rows: EmbeddedRow[], scenario: EmbeddedRow['scenario']): number | undefined {
  const m = embeddedMedians(rows, scenario, (r) => r.wallSeconds);
  return m && m.g / m.d;
}

export function markdown(results: BenchResults): string {
  const m = results.machine;
  let md = `# gantry bench: ${results.set}, ${results.date}\n\n`;
  md += `${m.cpus} × ${m.cpuModel}, ${m.memGiB} GiB RAM; Node ${m.node}; ${m.skopeo}; docker-registry ${m.dockerRegistry}; gantry jobs ${m.gantryJobs}. `;
  md += `${results.runs} runs per contender, alternating, the destination registry restarted with empty storage before every run. `;
  md += 'Times are wall seconds, median (min–max); ratios are gantry over the other contender run by run (same-run pairs), then summarised.\n\n';
  md += scenarioTable(results);
  const verification = verificationTable(results);
  if (verification) md += `\n## What each contender verifies on the client\n\n${verification}`;
  md += '\n## Targets\n\n| target | measured | |\n|---|---|---|\n';
  for (const c of checkTargets(results)) md += `| ${c.target} | ${c.measured} | ${verdict(c.met)} |\n`;
  if (results.scaling.length) {
    md += '\n## Scaling (one run each)\n\n| scenario | image | GiB | layers | tool | wall s | peak RSS MiB |\n|---|---|---|---|---|---|---|\n';
    for (const r of results.scaling) {
      md += `| ${r.scenario} | ${r.image} | ${(r.bytes / GIB).toFixed(2)} | ${r.layers} | ${r.tool} | ${s2(r.wallSeconds)} | ${r.peakRssMiB.toFixed(0)} |\n`;
    }
  }
  if (results.embedded.length) {
    md += '\n## The embedded registry as the destination and the source (client: gantry)\n\n| scenario | server | wall s | server CPU s | server CPU s per GiB |\n|---|---|---|---|---|\n';
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
  for (const r of results.scenarios) {
    const rk = pairRatio(r.samples, 'skopeo');
    if (rk) rows.push({ label: `${r.scenario} ÷ skopeo`, value: rk.median, target: SKOPEO_TARGET[r.scenario], color: '#3b7dd8' });
    const rf = pairRatio(r.samples, 'floor');
    if (rf) rows.push({ label: `${r.scenario} ÷ floor`, value: rf.median, target: FLOOR_TARGET, color: '#8a8a8a' });
  }
  const scaleMax = Math.max(2, ...rows.map((r) => Math.ceil(r.value * 2) / 2));
  const left = 130;
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
  block += scenarioTable(results);
  const verification = verificationTable(results);
  if (verification) block += `\nOn the client, while the bytes move:\n\n${verification}`;
  block += '\n| target | measured | |\n|---|---|---|\n';
  for (const c of checkTargets(results)) block += `| ${c.target} | ${c.measured} | ${verdict(c.met)} |\n`;
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

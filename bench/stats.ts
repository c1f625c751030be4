/** Medians, ranges and same-run ratios of the bench's samples. */
import type { Tool } from './tools.js';

export interface Sample {
  tool: Tool;
  /** The run index: samples with the same index ran back to back (a pair). */
  run: number;
  wallSeconds: number;
  peakRssMiB: number;
  cpuSeconds: number;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  if (values.length === 0) return { median: NaN, min: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
  return { median, min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}

export interface ToolSummary {
  tool: Tool;
  runs: number;
  wall: Spread;
  peakRssMiB: Spread;
  cpu: Spread;
}

export function summarize(samples: Sample[], tool: Tool): ToolSummary | undefined {
  const mine = samples.filter((s) => s.tool === tool);
  if (mine.length === 0) return undefined;
  return {
    tool,
    runs: mine.length,
    wall: spread(mine.map((s) => s.wallSeconds)),
    peakRssMiB: spread(mine.map((s) => s.peakRssMiB)),
    cpu: spread(mine.map((s) => s.cpuSeconds)),
  };
}

/** `of`'s wall time (gantry's by default) over `other`'s, run by run (only same-run pairs), summarised. */
export function pairRatio(samples: Sample[], other: Tool, of: Tool = 'gantry'): Spread | undefined {
  const wall = (tool: Tool) => samples.filter((s) => s.tool === tool).map((s) => ({ run: s.run, value: s.wallSeconds }));
  return runRatio(wall(of), wall(other));
}

/** `numerator / denominator` for each run index both have (same-run pairs), summarised. */
export function runRatio(numerators: { run: number; value: number }[], denominators: { run: number; value: number }[]): Spread | undefined {
  const ratios: number[] = [];
  for (const n of numerators) {
    const d = denominators.find((x) => x.run === n.run);
    if (d && d.value > 0) ratios.push(n.value / d.value);
  }
  return ratios.length ? spread(ratios) : undefined;
}

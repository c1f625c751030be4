import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTargets, describeCheck, isFullRun, markdown, ratiosSvg } from '../../bench/report.js';
import type { BenchResults } from '../../bench/results-model.js';
import { pairRatio, spread, summarize } from '../../bench/stats.js';
import type { Sample } from '../../bench/stats.js';

const s = (tool: Sample['tool'], run: number, wallSeconds: number, peakRssMiB = 100): Sample => ({ tool, run, wallSeconds, peakRssMiB, cpuSeconds: 1 });

test('spread: median of odd and even counts, min and max', () => {
  assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
  assert.ok(Number.isNaN(spread([]).median));
});

test('pairRatio pairs runs by index, never across runs', () => {
  const samples = [s('gantry', 0, 2), s('skopeo', 0, 4), s('gantry', 1, 9), s('skopeo', 1, 3), s('gantry', 2, 5)];
  // Run 2 has no skopeo sample: it is left out, not paired with another run.
  assert.deepEqual(pairRatio(samples, 'skopeo'), { median: 1.75, min: 0.5, max: 3 });
  assert.equal(pairRatio(samples, 'floor'), undefined);
  assert.equal(summarize(samples, 'gantry')?.wall.median, 5);
});

test('checkTargets judges each target on the median of the same-run ratios, and says when the spread straddles it', () => {
  const results: BenchResults = {
    date: '2026-01-01T00:00:00.000Z', set: 'test', runs: 3,
    machine: { cpus: 2, cpuModel: 'x', memGiB: 1, node: 'v20', skopeo: 's', dockerRegistry: 'd', gantryJobs: '6' },
    scenarios: [
      { scenario: 'push', image: '8x1MiB', bytes: 1, samples: [s('gantry', 0, 7.1), s('skopeo', 0, 10), s('floor', 0, 7)] },
      // Pull ratios 0.70, 0.78, 0.85: the median meets 0.8, the spread straddles it.
      { scenario: 'pull', image: '8x1MiB', bytes: 1, samples: [s('gantry', 0, 7, 151), s('skopeo', 0, 10), s('gantry', 1, 7.8), s('skopeo', 1, 10), s('gantry', 2, 8.5), s('skopeo', 2, 10)] },
    ],
    scaling: [], embedded: [], notes: [],
  };
  const byTarget = new Map(checkTargets(results).map((c) => [c.target, c]));
  const push = byTarget.get('push: gantry/floor ≤ 1.05');
  assert.equal(push?.met, true);
  assert.equal(push?.measured, '1.014');
  assert.equal(push?.straddles, false);
  const pull = byTarget.get('pull: gantry/skopeo ≤ 0.8');
  assert.equal(pull?.met, true);
  assert.equal(pull?.straddles, true);
  assert.equal(describeCheck(pull!), 'met on the median 0.780×; spread 0.700–0.850× straddles 0.8×');
  assert.equal(byTarget.get('gantry peak RSS ≤ 100 MiB in every transfer')?.met, false);
  const svg = ratiosSvg(results);
  assert.match(svg, /^<svg /);
  assert.equal((svg.match(/<rect /g) ?? []).length, 3);
});

test('checkTargets compares gantry serve with docker-registry: CPU per GiB received, wall time per scenario', () => {
  const GIB = 1024 ** 3;
  const row = (scenario: 'push' | 'copy' | 'pull', server: 'docker-registry' | 'gantry serve', run: number, wallSeconds: number, serverCpuSeconds: number) => ({
    scenario, server, run, bytes: GIB, wallSeconds, serverCpuSeconds,
  });
  const results: BenchResults = {
    date: '2026-01-01T00:00:00.000Z', set: 'test', runs: 1,
    machine: { cpus: 2, cpuModel: 'x', memGiB: 1, node: 'v20', skopeo: 's', dockerRegistry: 'd', gantryJobs: '6' },
    scenarios: [], scaling: [], notes: [],
    embedded: [
      row('push', 'docker-registry', 0, 5, 6), row('push', 'gantry serve', 0, 4, 3.9),
      row('push', 'docker-registry', 1, 5, 6), row('push', 'gantry serve', 1, 4.2, 4.1),
      row('pull', 'docker-registry', 0, 3, 1), row('pull', 'gantry serve', 0, 3.3, 1),
    ],
  };
  const byTarget = new Map(checkTargets(results).map((c) => [c.target, c]));
  const cpu = byTarget.get('embedded registry (push): docker-registry CPU/GiB ÷ gantry serve CPU/GiB ≥ 1.5');
  assert.equal(cpu?.measured, '1.500');
  assert.equal(cpu?.met, true);
  assert.equal(byTarget.get('embedded registry (push, 8 streams): gantry serve wall ÷ docker-registry wall ≤ 1 (no slower)')?.met, true);
  const pull = byTarget.get('embedded registry (pull, 8 streams): gantry serve wall ÷ docker-registry wall ≤ 1 (no slower)');
  assert.equal(pull?.measured, '1.100');
  assert.equal(pull?.met, false);
  assert.equal(byTarget.has('embedded registry (copy, 8 streams): gantry serve wall ÷ docker-registry wall ≤ 1 (no slower)'), false);
});

test('only a full run may rewrite the README block (not quick, partial or embedded-only runs)', () => {
  const run = (set: string) => ({ set }) as BenchResults;
  assert.equal(isFullRun(run('1GiB')), true);
  assert.equal(isFullRun(run('1GiB-scaling')), true);
  assert.equal(isFullRun(run('quick-scaling')), false);
  assert.equal(isFullRun(run('1GiB-partial')), false);
  assert.equal(isFullRun(run('1GiB-embedded')), false);
});

test('the bounds table sets the least Node program beside each skopeo and floor target, from the same-run pairs', () => {
  const results: BenchResults = {
    date: '2026-01-01T00:00:00.000Z', set: 'test', runs: 2,
    machine: { cpus: 2, cpuModel: 'x', memGiB: 1, node: 'v20', skopeo: 's', dockerRegistry: 'd', gantryJobs: '6' },
    scenarios: [
      // Node floor / skopeo: 1.5 and 2.5 (median 2.0, over 0.8); gantry / Node floor: 2 and 1.2 (median 1.6).
      {
        scenario: 'pull', set: 'small', image: '10x3MiB', bytes: 1,
        samples: [s('gantry', 0, 3), s('skopeo', 0, 1), s('floor', 0, 2), s('node-floor', 0, 1.5), s('gantry', 1, 3), s('skopeo', 1, 1), s('floor', 1, 2), s('node-floor', 1, 2.5)],
      },
      // node -e 0 / skopeo 0.5 (within 0.8): a Node CLI could meet this one.
      { scenario: 'tags', set: 'many-tags', image: '10000 tags', bytes: 0, samples: [s('gantry', 0, 3), s('skopeo', 0, 2), s('node', 0, 1)] },
    ],
    scaling: [], embedded: [], notes: [],
  };
  const md = markdown(results);
  assert.match(md, /\| pull 10x3MiB: gantry\/skopeo ≤ 0\.8 \| Node floor\/skopeo 2\.00 \(1\.50–2\.50\) \| over 0\.8 \| gantry\/Node floor 1\.60 \(1\.20–2\.00\) \|/);
  assert.match(md, /\| tags \(10000 tags\): gantry\/skopeo ≤ 0\.8 \| node -e 0\/skopeo 0\.50 \(0\.50–0\.50\) \| within 0\.8 \| gantry\/node -e 0 3\.00 \(3\.00–3\.00\) \|/);
  assert.match(md, /\| gantry peak RSS ≤ 100 MiB in every transfer \| Node floor's peak 100 MiB \(pull 10x3MiB\); 0 of 2 Node floor runs over 100 MiB \| within 100 \|/);
  // A pull has no floor target, so no floor line either.
  assert.doesNotMatch(md, /\| pull 10x3MiB: gantry\/floor/);
});

/**
 * Re-renders a recorded run (`node --import tsx bench/render.ts bench/results/<run>.json`):
 * the markdown, `latest.md`, `ratios.svg` and the README block, without measuring again
 * (for a change to the report's layout or wording).
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFullRun, updateReadme, writeResults } from './report.js';
import type { BenchResults } from './results-model.js';

const file = process.argv[2];
if (!file) throw new Error('usage: bench/render.ts <results.json>');
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const md = writeResults(dirname(resolve(file)), results);
if (isFullRun(results)) updateReadme(join(root, 'README.md'), results, `bench/results/${basename(md)}`);
process.stdout.write(`${md}\n`);

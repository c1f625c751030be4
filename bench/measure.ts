/**
 * Runs one command under GNU time (`/usr/bin/time -v`) and reads back its wall time (our own
 * clock, nanosecond resolution), peak RSS (of the biggest process in the tree: getrusage's
 * children maximum) and CPU. Every command is bounded by a timeout.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';
/** Longer than any run on this machine (4 GiB copies take well under a minute). */
const RUN_TIMEOUT_MS = 10 * 60 * 1000;
const OUTPUT_TAIL = 4000;

export interface Measurement {
  wallSeconds: number;
  /** Peak resident set size in MiB. */
  peakRssMiB: number;
  /** User + system CPU seconds of the command and its children. */
  cpuSeconds: number;
}

export class CommandFailed extends Error {}

function field(report: string, label: string): number {
  const line = report.split('\n').find((l) => l.trim().startsWith(label));
  const value = line?.slice(line.lastIndexOf(':') + 1).trim();
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n)) throw new Error(`no "${label}" in GNU time's report:\n${report}`);
  return n;
}

export async function measure(argv: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-time-'));
  const reportFile = join(dir, 'time.txt');
  try {
    let output = '';
    const start = process.hrtime.bigint();
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(GNU_TIME, ['-v', '-o', reportFile, ...argv], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: options.env ?? process.env,
      });
      const keep = (d: Buffer): void => {
        output = (output + d.toString()).slice(-OUTPUT_TAIL);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
      child.once('error', reject);
      child.once('close', (c) => (clearTimeout(timer), resolve(c)));
    });
    const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (code !== 0) throw new CommandFailed(`${argv.join(' ')} exited with ${code}:\n${output}`);
    const report = readFileSync(reportFile, 'utf8');
    return {
      wallSeconds,
      peakRssMiB: field(report, 'Maximum resident set size (kbytes)') / 1024,
      cpuSeconds: field(report, 'User time (seconds)') + field(report, 'System time (seconds)'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs a command without measuring it (seeding, checks); returns its stdout+stderr. */
export async function run(argv: string[]): Promise<string> {
  let output = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(argv[0] ?? '', argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (c) => (clearTimeout(timer), resolve(c)));
  });
  if (code !== 0) throw new CommandFailed(`${argv.join(' ')} exited with ${code}:\n${output.slice(-OUTPUT_TAIL)}`);
  return output;
}

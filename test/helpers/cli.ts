/**
 * The built CLI as a separate process, as users run it. Asynchronous on purpose: the
 * servers a test talks to live in the test process, which must keep answering.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const GANTRY_BIN = fileURLToPath(new URL('../../bin/gantry.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Default: this process's environment without DOCKER_AUTH_CONFIG. */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (closed at once when absent). */
  stdin?: string;
  timeoutMs?: number;
}

export function runGantry(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  const env = options.env ?? { ...process.env };
  if (!options.env) delete env.DOCKER_AUTH_CONFIG;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [GANTRY_BIN, ...args],
      { env, timeout: options.timeoutMs ?? 60_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.stdin);
  });
}

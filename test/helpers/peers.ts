/**
 * Real peers the tests talk to: the CNCF registry (`docker-registry`) and `skopeo`.
 * Locally a missing peer skips the test; under CI (`CI` set) it fails, so a broken CI
 * image cannot turn the interop suite green by skipping it.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export type Peer = 'docker-registry' | 'skopeo';

/** Where the Debian packages put them; PATH is searched when they are not there. */
const PEER_PATHS: Record<Peer, string> = {
  'docker-registry': '/usr/bin/docker-registry',
  skopeo: '/usr/bin/skopeo',
};

/** The path of a peer binary, or undefined when it is not installed. */
export function peerPath(peer: Peer): string | undefined {
  const candidates = [PEER_PATHS[peer], ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, peer))];
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here; try the next one
    }
  }
  return undefined;
}

/** The part of a test context this needs (`node:test`'s TestContext or SuiteContext). */
interface Skippable {
  skip(message?: string): void;
}

/**
 * True when `peer` is installed. When it is missing: under CI throw (the test fails,
 * naming the install script), otherwise skip the test and return false.
 */
export function requirePeer(t: Skippable, peer: Peer): boolean {
  if (peerPath(peer) !== undefined) return true;
  const message = `${peer} is not installed; run scripts/install-peers.sh`;
  if (process.env.CI) throw new Error(`${message} (CI is set, so peer tests must not skip)`);
  t.skip(message);
  return false;
}

export interface RunResult {
  /** Exit code; null when killed (timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunSkopeoOptions {
  /** Default 120 s; the process is killed after it. */
  timeoutMs?: number;
  /** Extra environment on top of the minimal one. */
  env?: Record<string, string>;
}

const SKOPEO_TIMEOUT_MS = 120_000;

/**
 * Runs skopeo with HOME (and XDG dirs) pointed at a fresh temp dir, so no user
 * auth.json, registries.conf or policy.json leaks in; `--insecure-policy` is the
 * caller's choice. TLS and creds flags are plain args (`--src-tls-verify=false`,
 * `--dest-cert-dir DIR`, `--src-creds user:pass`, ...).
 */
export async function runSkopeo(args: string[], opts: RunSkopeoOptions = {}): Promise<RunResult> {
  const skopeo = peerPath('skopeo');
  if (!skopeo) throw new Error('skopeo is not installed; run scripts/install-peers.sh');
  const home = mkdtempSync(join(tmpdir(), 'gantry-skopeo-home-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    REGISTRY_AUTH_FILE: join(home, 'auth.json'),
    ...opts.env,
  };
  try {
    return await new Promise<RunResult>((resolve) => {
      execFile(
        skopeo,
        args,
        { env, timeout: opts.timeoutMs ?? SKOPEO_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (err, stdout, stderr) => {
          const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
          const timedOut = Boolean(e?.killed);
          const code = e === null ? 0 : typeof e.code === 'number' ? e.code : null;
          resolve({ code, stdout, stderr, timedOut });
        },
      );
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

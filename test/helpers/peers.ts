/**
 * Real peers the tests talk to: the CNCF registry (`docker-registry`), `skopeo`, and the
 * containers tools `podman`, `buildah` and `umoci`. Locally a missing peer skips the test;
 * under CI (`CI` set) it fails, so a broken CI image cannot turn the interop suite green by
 * skipping it.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export type Peer = 'docker-registry' | 'skopeo' | 'podman' | 'buildah' | 'umoci';

/** Where the Debian packages put them; PATH is searched when they are not there. */
const PEER_PATHS: Record<Peer, string> = {
  'docker-registry': '/usr/bin/docker-registry',
  skopeo: '/usr/bin/skopeo',
  podman: '/usr/bin/podman',
  buildah: '/usr/bin/buildah',
  umoci: '/usr/bin/umoci',
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
  return runPeer('skopeo', args, opts);
}

/**
 * Runs a containers tool (skopeo, podman, buildah, umoci) with HOME, the XDG dirs and
 * REGISTRY_AUTH_FILE in a fresh temp dir, so nothing of the user's configuration leaks in.
 * podman and buildah need their storage flags from the caller (see `containersStorage`).
 */
export async function runPeer(peer: Peer, args: string[], opts: RunSkopeoOptions = {}): Promise<RunResult> {
  const skopeo = peerPath(peer);
  if (!skopeo) throw new Error(`${peer} is not installed; run scripts/install-peers.sh`);
  const home = mkdtempSync(join(tmpdir(), `gantry-${peer}-home-`));
  // buildah and podman refuse a REGISTRY_AUTH_FILE that does not exist: give them an empty one.
  writeFileSync(join(home, 'auth.json'), '{"auths":{}}\n', { mode: 0o600 });
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

/**
 * Storage flags that keep podman and buildah to a folder of the test's: the vfs driver (no
 * overlay mounts in this sandbox), the image store under `dir`, and cgroups and events off
 * (nothing is run, images are only pulled, pushed, loaded and saved).
 */
export function containersStorage(dir: string): string[] {
  return ['--storage-driver', 'vfs', '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot')];
}

/**
 * The registries the bench talks to, all on 127.0.0.1: real `docker-registry` instances (plain
 * http and TLS with the bench's CA) and the embedded `gantry serve`. `reset()` stops a server,
 * empties its storage and starts it again on the same port, so no run is answered from what a
 * previous run left behind.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { freePort, startDockerRegistry } from '../test/helpers/docker-registry.js';
import type { RunningRegistry } from '../test/helpers/docker-registry.js';
import { createTestPki } from '../test/helpers/pki.js';
import type { PemFiles } from '../test/helpers/pki.js';

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const CLOCK_TICKS_PER_SECOND = 100;

export interface BenchRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  kind: 'docker-registry' | 'gantry serve';
  tls: boolean;
  /** For TLS: the directory holding `ca.crt` for this host (skopeo's --*-cert-dir). */
  certDir?: string;
  /** Empty storage, fresh process, same port. */
  reset(): Promise<void>;
  /** CPU seconds (user + system) the server process has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** The bench's CA and the certs.d tree gantry reads (`<certsDir>/<host:port>/ca.crt`). */
export interface BenchPki {
  certsDir: string;
  ca: PemFiles;
  server: PemFiles;
  /** Writes `<certsDir>/<host>/ca.crt` and returns that directory. */
  trust(host: string): string;
}

export function createBenchPki(dir: string): BenchPki {
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const pki = createTestPki(join(dir, 'pki'));
  const server = pki.server(['127.0.0.1', 'localhost']);
  const certsDir = join(dir, 'certs.d');
  return {
    certsDir,
    ca: pki.ca,
    server,
    trust(host) {
      const hostDir = join(certsDir, host);
      mkdirSync(hostDir, { recursive: true });
      writeFileSync(join(hostDir, 'ca.crt'), pki.ca.certPem);
      return hostDir;
    },
  };
}

/** utime + stime of a live process from /proc (Linux). */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function emptyDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

export async function startBenchDockerRegistry(storageDir: string, pki?: BenchPki): Promise<BenchRegistry> {
  emptyDir(storageDir);
  const reg: RunningRegistry = await startDockerRegistry({
    storageDir,
    ...(pki ? { tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile } } : {}),
  });
  const certDir = pki?.trust(reg.host);
  return {
    host: reg.host,
    kind: 'docker-registry',
    tls: pki !== undefined,
    ...(certDir ? { certDir } : {}),
    async reset() {
      const child = reg.process;
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await gone;
      }
      emptyDir(storageDir);
      await reg.restart();
    },
    cpuSeconds: () => processCpuSeconds(reg.process.pid),
    async stop() {
      await reg.stop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
}

function answers(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const options = { host: '127.0.0.1', port, path: '/v2/', agent: false, timeout: 1000, rejectUnauthorized: false };
    const request = tls ? https.get(options) : http.get(options);
    request.once('response', (res) => (res.resume(), resolve(true)));
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false));
  });
}

/** A bench server run by Node, with everything of a BenchRegistry but its kind. */
export type NodeServer = Omit<BenchRegistry, 'kind'>;

/**
 * A Node server (`gantry serve`, the registry floor) on a free port with its storage in
 * `storageDir`: `argv(host)` starts it on empty storage, it is ready when `/v2/` answers, and
 * `reset()` stops it and starts it again the same way.
 */
export async function startNodeServer(name: string, storageDir: string, argv: (host: string) => string[], pki?: BenchPki): Promise<NodeServer> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const certDir = pki?.trust(host);
  let child: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    emptyDir(storageDir);
    const c = spawn(process.execPath, argv(host), { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await answers(port, pki !== undefined))) {
      if (c.exitCode !== null || Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`${name} did not start on ${host}: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  };
  await launch();
  return {
    host,
    tls: pki !== undefined,
    ...(certDir ? { certDir } : {}),
    async reset() {
      await halt();
      await launch();
    },
    cpuSeconds: () => processCpuSeconds(child?.pid),
    async stop() {
      await halt();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
}

/** `gantry serve` (the built CLI) on a free port with its storage in `storageDir`. */
export async function startGantryServe(gantryBin: string, storageDir: string, pki?: BenchPki): Promise<BenchRegistry> {
  const server = await startNodeServer('gantry serve', storageDir, (host) => [
    gantryBin, 'serve', '--listen', host, '--storage', storageDir, '--quiet',
    ...(pki ? ['--tls-cert', pki.server.certFile, '--tls-key', pki.server.keyFile] : []),
  ], pki);
  return { ...server, kind: 'gantry serve' };
}

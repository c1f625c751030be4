/**
 * Starts the real CNCF registry (`docker-registry serve`, distribution 2.8) on
 * 127.0.0.1 with a config written for the test: plain HTTP, TLS, mutual TLS, htpasswd or
 * token auth. Several can run at once; each has its own port, config and storage.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { peerPath } from './peers.js';

export interface DockerRegistryOptions {
  tls?: { certFile: string; keyFile: string; clientCaFiles?: string[] };
  /** Users and passwords for basic auth (realm `gantry-test`). */
  htpasswd?: { users: Record<string, string> };
  token?: { realm: string; service: string; issuer: string; rootCertBundleFile: string };
  /** Default true. */
  deleteEnabled?: boolean;
  /** Reuse this storage dir (kept on stop). Default: a temp dir removed on stop. */
  storageDir?: string;
  /** Deep-merged into the generated config last. */
  extra?: Record<string, unknown>;
  /** With mutual TLS, the readiness probe presents this pair; otherwise it only checks the TCP port. */
  readyClientCert?: { certFile?: string; keyFile?: string; certPem?: string; keyPem?: string };
}

export interface RunningRegistry {
  /** `127.0.0.1:PORT`, as it goes into an image reference. */
  host: string;
  port: number;
  /** `http://127.0.0.1:PORT` or `https://...`. */
  url: string;
  storageDir: string;
  /** SIGTERM, SIGKILL after 5 s; removes the temp dirs (not a given storageDir). */
  stop(): Promise<void>;
  /** Stops and starts again on the same port with the same storage. */
  restart(): Promise<void>;
  /** The last ~200 lines the registry wrote (stdout and stderr). */
  logs(): string;
  /** The current child process (replaced by restart). */
  readonly process: ChildProcess;
}

export const HTPASSWD_REALM = 'gantry-test';
/** bcrypt cost: the minimum the registry accepts is 4; 5 keeps each login cheap. */
const BCRYPT_COST = 5;
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const LOG_LINES = 200;
const PORT_ATTEMPTS = 3;

/** Every registry still running, killed if the test process exits without stopping it. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(extra)) {
    const cur = out[k];
    out[k] = isObject(cur) && isObject(v) ? deepMerge(cur, v) : v;
  }
  return out;
}

/** A port that was free a moment ago (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One readiness probe: true when the registry answered (any status) or accepted TCP. */
function probe(port: number, opts: DockerRegistryOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const mutual = (opts.tls?.clientCaFiles?.length ?? 0) > 0;
    if (mutual && !opts.readyClientCert) {
      const sock = net.connect({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
      sock.setTimeout(1000, () => (sock.destroy(), resolve(false)));
      return;
    }
    const c = opts.readyClientCert;
    const request = opts.tls
      ? https.get({
          host: '127.0.0.1', port, path: '/v2/', agent: false, rejectUnauthorized: false, timeout: 1000,
          cert: c?.certPem ?? c?.certFile, key: c?.keyPem ?? c?.keyFile,
        })
      : http.get({ host: '127.0.0.1', port, path: '/v2/', agent: false, timeout: 1000 });
    request.once('response', (res) => {
      res.resume();
      resolve(true);
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false));
  });
}

function buildConfig(port: number, storageDir: string, workDir: string, opts: DockerRegistryOptions): Record<string, unknown> {
  const httpSection: Record<string, unknown> = { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') };
  if (opts.tls) {
    httpSection.tls = {
      certificate: opts.tls.certFile,
      key: opts.tls.keyFile,
      ...(opts.tls.clientCaFiles?.length ? { clientcas: opts.tls.clientCaFiles } : {}),
    };
  }
  let auth: Record<string, unknown> | undefined;
  if (opts.htpasswd) {
    const path = join(workDir, 'htpasswd');
    const lines = Object.entries(opts.htpasswd.users).map(([u, p]) => `${u}:${bcrypt.hashSync(p, BCRYPT_COST)}\n`);
    writeFileSync(path, lines.join(''), { mode: 0o600 });
    auth = { htpasswd: { realm: HTPASSWD_REALM, path } };
  } else if (opts.token) {
    const { realm, service, issuer, rootCertBundleFile } = opts.token;
    auth = { token: { realm, service, issuer, rootcertbundle: rootCertBundleFile } };
  }
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'warn', formatter: 'text' },
    http: httpSection,
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: opts.deleteEnabled ?? true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    health: { storagedriver: { enabled: false } },
    ...(auth ? { auth } : {}),
  };
  return opts.extra ? deepMerge(config, opts.extra) : config;
}

/** Starts a registry and resolves once `GET /v2/` answers; rejects with its output if it exits first. */
export async function startDockerRegistry(opts: DockerRegistryOptions = {}): Promise<RunningRegistry> {
  const binary = peerPath('docker-registry');
  if (!binary) throw new Error('docker-registry is not installed; run scripts/install-peers.sh');
  const workDir = mkdtempSync(join(tmpdir(), 'gantry-registry-'));
  const storageDir = opts.storageDir ?? join(workDir, 'storage');
  mkdirSync(storageDir, { recursive: true });
  const configFile = join(workDir, 'config.yml'); // JSON is valid YAML
  let port = 0;

  const lines: string[] = [];
  const record = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(line);
    if (lines.length > LOG_LINES) lines.splice(0, lines.length - LOG_LINES);
  };
  // REGISTRY_* variables override the config file; keep the caller's out.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));

  let child!: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(binary, ['serve', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    child.stdout?.on('data', record);
    child.stderr?.on('data', record);
    let exited: string | undefined;
    child.once('error', (err) => (exited = `spawn failed: ${err.message}`));
    // 'close', not 'exit': by then all of its stderr has been read into `lines`.
    child.once('close', (code, signal) => (exited = `exited with ${signal ?? code}`));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exited !== undefined) {
        throw new Error(`docker-registry ${exited} before it was ready:\n${lines.join('\n')}`);
      }
      if (await probe(port, opts)) return;
      if (Date.now() > deadline) {
        await halt();
        throw new Error(`docker-registry not ready on 127.0.0.1:${port} after ${READY_TIMEOUT_MS} ms:\n${lines.join('\n')}`);
      }
      await sleep(100);
    }
  };
  const halt = async (): Promise<void> => {
    const c = child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  };

  // Another process may take the free port before the registry binds it: pick a new one.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    writeFileSync(configFile, JSON.stringify(buildConfig(port, storageDir, workDir, opts), null, 2));
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt < PORT_ATTEMPTS && /address already in use/.test(String(err))) continue;
      rmSync(workDir, { recursive: true, force: true });
      throw err;
    }
  }
  const scheme = opts.tls ? 'https' : 'http';
  return {
    host: `127.0.0.1:${port}`,
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    storageDir,
    get process() {
      return child;
    },
    async stop() {
      await halt();
      rmSync(workDir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
    logs: () => lines.join('\n'),
  };
}

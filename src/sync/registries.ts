/**
 * The registries of one sync: one connection per registry and side (a source is connected
 * for pull, a destination for push) shared by every HEAD, listing and copy of the run, so a
 * registry is pinged and authorized once rather than once per tag; and one RegistryGate per
 * registry, in every connection's layers, for the request bound, the counts and the budget.
 *
 * Access is the run's (`--certs-dir`, insecure registries, registries.conf, `--debug`, …)
 * with the registry's own fields from the configuration on top. A `credsFile` is read once,
 * before any request; its content is held only in the connection's keychain.
 */
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { connectRegistry, type ConnectedRegistry, type RegistryAccessOptions } from '../client/connect.js';
import type { RegistryClient } from '../client/registry-client.js';
import { ConfigError } from '../errors.js';
import type { SyncAccess, SyncConfig } from './config.js';
import { RegistryGate } from './gate.js';
import type { SyncRegistryReport } from './report.js';

/** The largest credentials file read (one `USER:PASS` line; tokens can be long). */
const MAX_CREDS_FILE_BYTES = 64 * 1024;

/** Reads `USER:PASS` from the first line of `file`; ConfigError naming the file (never its content) when it cannot. */
export async function readCredsFile(file: string): Promise<{ username: string; password: string }> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const buf = Buffer.alloc(MAX_CREDS_FILE_BYTES + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      if (bytesRead > MAX_CREDS_FILE_BYTES) throw new ConfigError(`creds-file ${file}: larger than ${MAX_CREDS_FILE_BYTES} bytes; it holds one USER:PASS line`);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`creds-file ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  const i = line.indexOf(':');
  if (i <= 0) throw new ConfigError(`creds-file ${file}: its first line must be USER:PASS`);
  return { username: line.slice(0, i), password: line.slice(i + 1) };
}

/** The access fields that make two connections to one registry different. */
function accessKey(purpose: string, host: string, access: SyncAccess): string {
  const c = access.credentials;
  const fields = [purpose, host, access.tlsVerify ?? null, access.certsDir ?? null, access.certDir ?? null, access.authFile ?? null, access.credsFile ?? null, access.anonymous ?? null, c ? [c.username, c.password] : null];
  // Hashed: the key lives as long as the run and must not hold a password in the clear.
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64');
}

/** The lowest `maxRequests` named for each registry in `config`. */
function requestBounds(config: SyncConfig): Map<string, number> {
  const bounds = new Map<string, number>();
  const note = (host: string, n: number | undefined): void => {
    if (n !== undefined) bounds.set(host, Math.min(n, bounds.get(host) ?? n));
  };
  for (const s of config.sources) {
    note(s.registry, s.maxRequests);
    for (const d of s.destinations) note(d.registry, d.maxRequests);
  }
  return bounds;
}

/** The connections and gates of a run. */
export class SyncRegistries {
  private readonly gates = new Map<string, RegistryGate>();
  private readonly connections = new Map<string, Promise<ConnectedRegistry>>();
  private readonly opened = new Map<string, number>();
  private readonly creds = new Map<string, { username: string; password: string }>();
  private readonly bounds: Map<string, number>;

  constructor(
    config: SyncConfig,
    private readonly base: RegistryAccessOptions,
    private readonly registryJobs: number,
    private readonly reserve: number,
    private readonly onClose: (gate: RegistryGate) => void,
  ) {
    this.bounds = requestBounds(config);
  }

  /** Reads every `credsFile` of `config` before anything is sent: a missing file fails the run at once. */
  async loadCredentials(config: SyncConfig): Promise<void> {
    const files = new Set<string>();
    for (const s of config.sources) for (const a of [s, ...s.destinations]) if (a.credsFile) files.add(a.credsFile);
    for (const file of files) this.creds.set(file, await readCredsFile(file));
  }

  /** The gate of `host`, made on first use. */
  gate(host: string): RegistryGate {
    let g = this.gates.get(host);
    if (!g) {
      g = new RegistryGate(host, this.bounds.get(host) ?? this.registryJobs, this.reserve, this.onClose);
      this.gates.set(host, g);
    }
    return g;
  }

  /**
   * The shared client for `host` on one side with `access`, connected once. A connection that
   * fails stays failed for the run: every tag of an unreachable registry fails at once with
   * the same error instead of each waiting out its own connect timeout.
   */
  async client(host: string, purpose: 'pull' | 'push', access: SyncAccess): Promise<RegistryClient> {
    const key = accessKey(purpose, host, access);
    let p = this.connections.get(key);
    if (!p) {
      p = connectRegistry(host, purpose, this.accessOf(host, access));
      p.catch(() => undefined);
      this.connections.set(key, p);
      this.opened.set(host, (this.opened.get(host) ?? 0) + 1);
    }
    return (await p).client;
  }

  private accessOf(host: string, access: SyncAccess): RegistryAccessOptions {
    const credentials = access.credentials ?? (access.credsFile ? this.creds.get(access.credsFile) : undefined);
    return {
      ...this.base,
      ...(access.tlsVerify !== undefined ? { tlsVerify: access.tlsVerify } : {}),
      ...(access.certsDir ? { certsDir: access.certsDir } : {}),
      ...(access.certDir ? { certDir: access.certDir } : {}),
      ...(access.authFile ? { authFile: access.authFile } : {}),
      ...(access.anonymous ? { anonymous: true } : {}),
      ...(credentials ? { credentials } : {}),
      // The gate outermost: a request it refuses reaches no other layer.
      layers: [this.gate(host).layer(), ...(this.base.layers ?? [])],
    };
  }

  /** What each registry saw, for the report. */
  report(): Record<string, SyncRegistryReport> {
    const out: Record<string, SyncRegistryReport> = {};
    for (const [host, g] of this.gates) {
      out[host] = { requests: { ...g.requests }, connections: this.opened.get(host) ?? 0, ...(g.lastRateLimit ? { rateLimit: g.lastRateLimit } : {}) };
    }
    return out;
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
    // (A connection that failed has nothing to close; allSettled passes over it.)
  }
}

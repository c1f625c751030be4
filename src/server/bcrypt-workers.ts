/**
 * bcrypt off the event loop. One cost-12 comparison is ~0.35 s of CPU; on the main thread a
 * flood of wrong passwords stalled every other request behind it (8 s for a request
 * docker-registry answered in 0.3 s; issue "Trust at origin boundaries", item 8). A few worker
 * threads compare instead, fed from a bounded queue that is fair between clients: each client
 * address waits in its own line and the lines take turns, so one address's flood delays another
 * address's login by the comparisons already running, not by the whole flood.
 *
 * The workers run bcryptjs (a dependency already) from an inline CommonJS source, the way
 * src/hashing/hash-workers.ts avoids a worker file: the same code then runs from the TypeScript
 * sources under tsx, from dist/ and from the CLI bundle. Only bcryptjs's own file is loaded by
 * path, resolved from this module (in the bundle: from dist/, where node_modules is reachable).
 * Like the hash workers, they are shared by the process, started on first use, and keep it
 * alive only while a comparison runs.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { RegistryErrorCode, RegistryRequestError } from './errors.js';

/**
 * Worker threads comparing at once: two, or one on a single core. bcrypt is all CPU; more
 * threads than this would take cores from the event loop and the upload hashing, and a flood
 * is bounded by the queue below, not by adding threads.
 */
export const BCRYPT_WORKERS = Math.max(1, Math.min(availableParallelism(), 2));
/**
 * Comparisons waiting, all clients together. At ~0.35 s each on two workers, 64 is about 11 s
 * of work: the longest a login should wait. Beyond it the registry answers 503 with Retry-After.
 */
export const BCRYPT_QUEUE_MAX = 64;
/**
 * Comparisons waiting for one client address. Concurrent requests with the same credentials
 * share one comparison (src/server/password-check.ts), so a client's own parallel pushes need
 * few; 16 keeps one address to a quarter of the queue. Beyond it: 429 with Retry-After.
 */
export const BCRYPT_QUEUE_PER_CLIENT = 16;
/** The comparison time assumed for Retry-After until one has been measured. */
const INITIAL_COMPARE_MS = 350;

// Runs in each worker: one comparison at a time, as the pool hands them out.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptjs);
parentPort.on('message', (m) => {
  let ok = false;
  let error;
  try { ok = bcrypt.compareSync(m.password, m.hash); } catch (err) { error = String((err && err.message) || err); }
  parentPort.postMessage({ id: m.id, ok, error });
});
`;

interface Job {
  id: number;
  password: string;
  hash: string;
  client: string;
  admit: (() => void) | undefined;
  resolve(ok: boolean): void;
  reject(err: unknown): void;
}

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
}

/** bcryptjs's CommonJS entry, resolved once: the worker source cannot resolve packages itself. */
let bcryptjsPath: string | undefined;

class BcryptWorker {
  private readonly worker: Worker;
  job: Job | undefined;
  private started = 0;
  broken = false;

  constructor(
    private readonly done: (worker: BcryptWorker, job: Job, outcome: { ok: boolean } | { error: Error }, ms: number) => void,
  ) {
    bcryptjsPath ??= createRequire(import.meta.url).resolve('bcryptjs');
    // No execArgv: the source is CommonJS, not for the loaders (tsx) the process runs with.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'gantry-bcrypt', execArgv: [], workerData: { bcryptjs: bcryptjsPath } });
    this.worker.unref();
    this.worker.on('message', (m: Reply) => this.finish(m.error === undefined ? { ok: m.ok } : { error: new Error(`bcrypt failed in a worker thread: ${m.error}`) }));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`bcrypt worker exited (code ${code})`)));
  }

  run(job: Job): void {
    this.job = job;
    this.started = performance.now();
    this.worker.ref();
    this.worker.postMessage({ id: job.id, password: job.password, hash: job.hash });
  }

  private finish(outcome: { ok: boolean } | { error: Error }): void {
    const job = this.job;
    if (!job) return;
    this.job = undefined;
    this.worker.unref();
    this.done(this, job, outcome, performance.now() - this.started);
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.finish({ error: err });
  }
}

/** The process's bcrypt workers and the per-client lines of comparisons waiting for them. */
class BcryptPool {
  private workers: BcryptWorker[] = [];
  /** Lines by client address; Map order is the turn order (a served line goes to the back). */
  private readonly lines = new Map<string, Job[]>();
  private waiting = 0;
  private nextId = 1;
  /** A moving average of comparison time, for Retry-After. */
  private compareMs = INITIAL_COMPARE_MS;

  compare(password: string, hash: string, client: string, admit: (() => void) | undefined): Promise<boolean> {
    const line = this.lines.get(client) ?? [];
    if (this.waiting >= BCRYPT_QUEUE_MAX) {
      return Promise.reject(busy(503, RegistryErrorCode.UNAVAILABLE, 'too many password checks waiting; retry later', this.retryAfter(this.waiting)));
    }
    if (line.length >= BCRYPT_QUEUE_PER_CLIENT) {
      return Promise.reject(busy(429, RegistryErrorCode.TOOMANYREQUESTS, 'too many password checks waiting from this address', this.retryAfter(line.length)));
    }
    return new Promise<boolean>((resolve, reject) => {
      line.push({ id: this.nextId++, password, hash, client, admit, resolve, reject });
      if (!this.lines.has(client)) this.lines.set(client, line);
      this.waiting++;
      this.pump();
    });
  }

  /** Seconds until `ahead` comparisons are done, at least one. */
  private retryAfter(ahead: number): number {
    return Math.max(1, Math.ceil((ahead * this.compareMs) / BCRYPT_WORKERS / 1000));
  }

  /** Hands waiting comparisons to idle workers, one line's turn at a time. */
  private pump(): void {
    this.workers = this.workers.filter((w) => !w.broken);
    while (this.waiting > 0) {
      let worker = this.workers.find((w) => !w.job);
      if (!worker) {
        if (this.workers.length >= BCRYPT_WORKERS) return;
        try {
          worker = new BcryptWorker((w, job, outcome, ms) => this.done(w, job, outcome, ms));
        } catch (err) {
          // No thread (or no bcryptjs to load): nothing waiting can be checked.
          for (const line of this.lines.values()) for (const job of line) job.reject(err);
          this.lines.clear();
          this.waiting = 0;
          return;
        }
        this.workers.push(worker);
      }
      const job = this.take();
      try {
        // The client may have been refused since it queued (its failures reached the limit).
        job.admit?.();
      } catch (err) {
        job.reject(err);
        continue;
      }
      worker.run(job);
    }
  }

  private take(): Job {
    const [client, line] = this.lines.entries().next().value as [string, Job[]];
    const job = line.shift() as Job;
    this.lines.delete(client);
    if (line.length > 0) this.lines.set(client, line);
    this.waiting--;
    return job;
  }

  private done(worker: BcryptWorker, job: Job, outcome: { ok: boolean } | { error: Error }, ms: number): void {
    if ('ok' in outcome) {
      this.compareMs = this.compareMs * 0.8 + ms * 0.2;
      job.resolve(outcome.ok);
    } else {
      job.reject(outcome.error);
    }
    if (worker.broken) this.workers = this.workers.filter((w) => w !== worker);
    this.pump();
  }
}

function busy(status: number, code: RegistryErrorCode, message: string, retryAfter: number): RegistryRequestError {
  return new RegistryRequestError(status, code, message, undefined, { 'Retry-After': String(retryAfter) });
}

const pool = new BcryptPool();

/**
 * Compares `password` with a bcrypt `hash` in a worker thread. `client` (the peer address) picks
 * the line it waits in; `admit`, called again when the comparison reaches a worker, may throw
 * to refuse it without running bcrypt. Rejects with a 503 or 429 `RegistryRequestError` with
 * Retry-After, at once, when the queue or the client's line is full.
 */
export function compareBcrypt(password: string, hash: string, client: string, admit?: () => void): Promise<boolean> {
  return pool.compare(password, hash, client, admit);
}

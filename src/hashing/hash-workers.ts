/**
 * sha256 off the main thread. Hashing is the largest CPU cost of a pull and of the embedded
 * registry's ingest (Node's sha256 runs at ~0.35 GiB/s on a core without SHA extensions), and
 * on one thread it serialises every parallel stream behind it. A few worker threads hash
 * instead; each stream's hash lives in one worker, so its bytes stay in order.
 *
 * The workers are shared by the process, started on first use, and do not keep it alive
 * while idle (they are referenced only while a reply is awaited).
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/** Workers in the pool: one per core, at most 4 (more cannot help the streams of one copy). */
export const HASH_WORKERS = Math.max(1, Math.min(availableParallelism(), 4));

// Runs in each worker: a table of live hashes, fed in order by the main thread.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  try {
    switch (m.op) {
      case 'new': hashes.set(m.id, createHash(m.algorithm)); break;
      case 'update': hashes.get(m.id).update(new Uint8Array(m.buffer, 0, m.length)); parentPort.postMessage({ op: 'ack', id: m.id, buffer: m.buffer }, [m.buffer]); break;
      case 'copy': hashes.set(m.id, hashes.get(m.from).copy()); break;
      case 'digest': { const h = hashes.get(m.id); hashes.delete(m.id); parentPort.postMessage({ op: 'digest', id: m.id, hex: h.digest('hex') }); break; }
      case 'drop': hashes.delete(m.id); break;
    }
  } catch (err) {
    parentPort.postMessage({ op: 'failed', id: m.id, awaited: m.op === 'update' || m.op === 'digest', message: String(err && err.message || err) });
  }
});
`;

type Reply = { op: 'ack'; id: number; buffer: ArrayBuffer } | { op: 'digest'; id: number; hex: string } | { op: 'failed'; id: number; awaited: boolean; message: string };

/** What a hash in a worker is told by its worker. */
export interface WorkerHashListener {
  /** An update is hashed: its buffer comes back, to be filled again. */
  acked(buffer: ArrayBuffer): void;
  digested(hex: string): void;
  failed(err: Error): void;
}

/** One worker thread and the hashes that live in it. */
export class HashWorker {
  private readonly worker: Worker;
  private readonly listeners = new Map<number, WorkerHashListener>();
  /** Replies awaited; the worker keeps the process alive only while this is above zero. */
  private awaited = 0;
  private broken: Error | undefined;

  constructor() {
    // No execArgv: the source is CommonJS even when the process runs with --input-type=module
    // or a loader such as tsx, which a worker would otherwise inherit.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, name: 'gantry-hash', execArgv: [] });
    this.worker.unref();
    this.worker.on('message', (m: Reply) => this.reply(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`hash worker exited (code ${code})`)));
  }

  /** Hashes this worker holds. */
  get load(): number {
    return this.listeners.size;
  }

  get usable(): boolean {
    return this.broken === undefined;
  }

  attach(id: number, algorithm: string, listener: WorkerHashListener, from?: number): void {
    if (this.broken) throw this.broken;
    this.listeners.set(id, listener);
    this.worker.postMessage(from === undefined ? { op: 'new', id, algorithm } : { op: 'copy', id, from });
  }

  /** Hands `buffer` (whose first `length` bytes count) to the worker: it is detached here. */
  update(id: number, buffer: ArrayBuffer, length: number): void {
    if (this.broken) throw this.broken;
    this.expect(1);
    this.worker.postMessage({ op: 'update', id, buffer, length }, [buffer]);
  }

  digest(id: number): void {
    if (this.broken) throw this.broken;
    this.expect(1);
    this.worker.postMessage({ op: 'digest', id });
  }

  drop(id: number): void {
    this.listeners.delete(id);
    if (!this.broken) this.worker.postMessage({ op: 'drop', id });
  }

  private expect(n: number): void {
    if (this.awaited === 0 && n > 0) this.worker.ref();
    this.awaited += n;
    if (this.awaited === 0) this.worker.unref();
  }

  private reply(m: Reply): void {
    if (m.op !== 'failed' || m.awaited) this.expect(-1);
    const listener = this.listeners.get(m.id);
    if (!listener) return;
    if (m.op === 'ack') listener.acked(m.buffer);
    else if (m.op === 'digest') {
      this.listeners.delete(m.id);
      listener.digested(m.hex);
    } else {
      this.listeners.delete(m.id);
      listener.failed(new Error(`hashing failed in a worker thread: ${m.message}`));
    }
  }

  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = err;
    this.worker.unref();
    for (const listener of this.listeners.values()) listener.failed(err);
    this.listeners.clear();
  }
}

let pool: HashWorker[] = [];

/** The least loaded usable worker, starting one while the pool is not full. */
export function pickHashWorker(): HashWorker {
  pool = pool.filter((w) => w.usable);
  const idle = pool.find((w) => w.load === 0);
  if (idle) return idle;
  if (pool.length < HASH_WORKERS) {
    const worker = new HashWorker();
    pool.push(worker);
    return worker;
  }
  return pool.reduce((a, b) => (b.load < a.load ? b : a));
}

/**
 * Every time limit of the transport, in one value with Docker's defaults, so a caller (and
 * a test) can set each: a stalled server is found at the stage where it stalls.
 *
 *  - connect: DNS and TCP, Docker's dial timeout (30 s);
 *  - handshake: the TLS handshake, Docker's TLSHandshakeTimeout (10 s);
 *  - ping: the whole of a ping, login or token request, body included (15 s, Docker's
 *    client timeout for those);
 *  - headers: time to the response headers of any other request (300 s: a registry may
 *    verify a large upload before it answers);
 *  - bodyIdle: the longest silence between two chunks of a body (60 s);
 *  - lowSpeed: curl's `--speed-limit/--speed-time`: a body that stays under `bytesPerSecond`
 *    for `windowMs` while its reader waits for data is a stall, even though bytes keep coming
 *    (an idle timer resets on every byte, so a 1 byte/s drip never trips it). Blob downloads
 *    resume such a cut with Range like any other; after that it is an error.
 */
import { checkOptions } from '../options.js';

/** A body slower than `bytesPerSecond` for `windowMs`, while its reader waits, is a stall (curl's `--speed-limit`/`--speed-time`). */
export interface LowSpeedLimit {
  /** Default 1024 (1 KiB/s). */
  readonly bytesPerSecond: number;
  /** Default 60 000. */
  readonly windowMs: number;
}

/** Every time limit of the transport, in ms, as in force; a time-out fails with code `TIMEOUT`. */
export interface Timeouts {
  /** DNS and TCP connect, in ms. Default 30 000 ms (Docker's dial timeout). */
  readonly connectMs: number;
  /** The TLS handshake, in ms. Default 10 000 ms. */
  readonly handshakeMs: number;
  /** The whole of a ping, login or token request, body included, in ms. Default 15 000 ms. */
  readonly pingMs: number;
  /** Time to the response headers of any other request, in ms. Default 300 000 ms. */
  readonly headersMs: number;
  /** The longest silence between two chunks of a body, in ms. Default 60 000 ms. */
  readonly bodyIdleMs: number;
  /** `false` turns the low-speed limit off. */
  readonly lowSpeed: LowSpeedLimit | false;
}

/**
 * The caller's time limits, each over its default: any of the ms fields of {@link Timeouts}
 * (integers from 1 to 86 400 000, a day) and `lowSpeed`; an invalid one throws code `INVALID_OPTION`.
 */
export type TimeoutOptions = Partial<Omit<Timeouts, 'lowSpeed'>> & {
  /** Either field of the low-speed limit (the other keeps its default), or `false` to turn it off. */
  readonly lowSpeed?: Partial<LowSpeedLimit> | false
};

/** Docker's dial timeout. */
export const CONNECT_TIMEOUT_MS = 30_000;
/** Docker's TLS handshake timeout. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Docker's ping, login and token client timeout. */
export const PING_TIMEOUT_MS = 15_000;
/** Time to wait for response headers. Generous: a registry may verify a large upload first. */
export const HEADERS_TIMEOUT_MS = 300_000;
/** Idle time allowed between two chunks of a body: blob streams have an idle timeout, not a total one. */
export const BODY_IDLE_TIMEOUT_MS = 60_000;
/** curl's `--speed-limit` as gantry's default: under 1 KiB/s ... */
export const LOW_SPEED_BYTES_PER_SECOND = 1024;
/** ... for 60 s (curl's `--speed-time`) is a stall. */
export const LOW_SPEED_WINDOW_MS = 60_000;

export const DEFAULT_TIMEOUTS: Timeouts = Object.freeze({
  connectMs: CONNECT_TIMEOUT_MS,
  handshakeMs: TLS_HANDSHAKE_TIMEOUT_MS,
  pingMs: PING_TIMEOUT_MS,
  headersMs: HEADERS_TIMEOUT_MS,
  bodyIdleMs: BODY_IDLE_TIMEOUT_MS,
  lowSpeed: Object.freeze({ bytesPerSecond: LOW_SPEED_BYTES_PER_SECOND, windowMs: LOW_SPEED_WINDOW_MS }),
});

const DAY_MS = 86_400_000;

/** The caller's timeouts over the defaults, checked (INVALID_OPTION naming `timeouts.<name>`). */
export function resolveTimeouts(options: TimeoutOptions | undefined, where: string): Timeouts {
  checkOptions(where, options === undefined ? undefined : { timeouts: options }).object('timeouts');
  checkOptions(where, prefixed(options, 'timeouts.'))
    .integer('timeouts.connectMs', 1, DAY_MS)
    .integer('timeouts.handshakeMs', 1, DAY_MS)
    .integer('timeouts.pingMs', 1, DAY_MS)
    .integer('timeouts.headersMs', 1, DAY_MS)
    .integer('timeouts.bodyIdleMs', 1, DAY_MS)
    .check('timeouts.lowSpeed', (v) => v === false || (typeof v === 'object' && v !== null && !Array.isArray(v)), 'false or { bytesPerSecond, windowMs }');
  const low = options?.lowSpeed;
  if (low) {
    checkOptions(where, prefixed(low, 'timeouts.lowSpeed.')).integer('timeouts.lowSpeed.bytesPerSecond', 1).integer('timeouts.lowSpeed.windowMs', 1, DAY_MS);
  }
  // A field given as `undefined` means "the default", as a missing one does: it must not
  // wipe the default out (a ping without a deadline).
  const lowSpeed = low === false ? false : Object.freeze({ ...(DEFAULT_TIMEOUTS.lowSpeed as LowSpeedLimit), ...definedFields(low) });
  return Object.freeze({ ...DEFAULT_TIMEOUTS, ...definedFields(options), lowSpeed });
}

function definedFields<T extends object>(o: T | undefined): Partial<T> {
  return o === undefined ? {} : (Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>);
}

function prefixed(o: object | undefined, prefix: string): object | undefined {
  if (o === undefined) return undefined;
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}${k}`, v]));
}

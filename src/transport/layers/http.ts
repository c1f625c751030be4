/**
 * The bottom of the stack: one request through undici on the dispatcher of its origin (the
 * pools ask the TLS policy for that origin's profile). Errors become TransportErrors; a
 * `timeout` is a total deadline (`'ping'`: the transport's ping/login/token deadline); every
 * response body is watched by the low-speed limit.
 */
import type { Dispatcher } from 'undici';
import { toTransportError, TransportError } from '../errors.js';
import { ErrorCode } from '../../errors.js';
import { watchLowSpeed } from '../low-speed.js';
import type { Timeouts } from '../timeouts.js';
import type { Send, TransportRequest } from '../types.js';

export interface HttpSendOptions {
  /** The dispatcher for a request to `url`. */
  dispatcherFor(url: URL): Promise<Dispatcher>;
  readonly timeouts: Timeouts;
}

export function httpSend(options: HttpSendOptions): Send {
  const { timeouts } = options;
  return async (req: TransportRequest) => {
    const dispatcher = await options.dispatcherFor(req.url);
    const ms = req.timeout === 'ping' ? timeouts.pingMs : req.timeout;
    const deadline = ms !== undefined ? AbortSignal.timeout(ms) : undefined;
    const signal = deadline && req.signal ? AbortSignal.any([deadline, req.signal]) : (deadline ?? req.signal);
    try {
      // The dispatcher's own request(), not undici's top-level one: the CLI bundle carries
      // only the dispatchers (scripts/undici-cli.cjs), not undici's fetch and global agent.
      const res = await dispatcher.request({
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers ?? {},
        body: req.body ?? null,
        // undici closes the connection after every HEAD (its issue 258, for servers that send
        // a body anyway) unless told not to; registries do not, and a copy or a sync sends a
        // HEAD per blob and per tag: each would pay a new TCP (and TLS) handshake. A server that
        // did send one would make the next response on that connection fail to parse: an error,
        // never a silent mix-up (docs/undici-notes.md).
        ...(req.method === 'HEAD' ? { reset: false } : {}),
        ...(signal ? { signal } : {}),
      });
      if (timeouts.lowSpeed && req.method !== 'HEAD') {
        const limit = timeouts.lowSpeed;
        watchLowSpeed(res.body, limit, (received, elapsed) => {
          res.body.destroy(
            new TransportError(
              ErrorCode.TIMEOUT,
              req.method,
              req.url,
              `the response body stalled: ${received} bytes in ${(elapsed / 1000).toFixed(1)}s, under the low-speed limit of ${limit.bytesPerSecond} bytes/s for ${limit.windowMs / 1000}s`,
              { retryable: true, causeCode: 'GANTRY_LOW_SPEED' },
            ),
          );
        });
      }
      return { status: res.statusCode, headers: res.headers, url: req.url, body: res.body };
    } catch (err) {
      if (deadline?.aborted && !req.signal?.aborted) {
        throw new TransportError(ErrorCode.TIMEOUT, req.method, req.url, `timed out after ${ms! / 1000}s`, { cause: err, retryable: true, causeCode: 'GANTRY_REQUEST_TIMEOUT' });
      }
      throw toTransportError(err, req.method, req.url);
    }
  };
}

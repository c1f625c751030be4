/**
 * The bottom of the stack: one request through undici on the dispatcher of its origin and
 * TLS profile. Errors become TransportErrors; a `timeout` is a total deadline.
 */
import type { Dispatcher } from 'undici';
import type { TlsProfile } from '../../tls/profile.js';
import { toTransportError, TransportError } from '../errors.js';
import { ErrorCode } from '../../errors.js';
import type { Send, TransportRequest } from '../types.js';

export interface HttpSendOptions {
  /** The dispatcher for a URL and TLS profile. */
  dispatcherFor(url: URL, tls: TlsProfile | undefined): Dispatcher;
  /** The TLS profile of an origin (certs.d, verification). */
  profileFor(url: URL): Promise<TlsProfile | undefined>;
}

export function httpSend(options: HttpSendOptions): Send {
  return async (req: TransportRequest) => {
    const tls = req.url.protocol === 'https:' ? (req.tlsProfile ?? (await options.profileFor(req.url))) : undefined;
    const dispatcher = options.dispatcherFor(req.url, tls);
    const deadline = req.timeout !== undefined ? AbortSignal.timeout(req.timeout) : undefined;
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
        ...(signal ? { signal } : {}),
      });
      return { status: res.statusCode, headers: res.headers, url: req.url, body: res.body };
    } catch (err) {
      if (deadline?.aborted && !req.signal?.aborted) {
        throw new TransportError(ErrorCode.TIMEOUT, req.method, req.url, `timed out after ${req.timeout! / 1000}s`, { cause: err, retryable: true, causeCode: 'GANTRY_REQUEST_TIMEOUT' });
      }
      throw toTransportError(err, req.method, req.url);
    }
  };
}

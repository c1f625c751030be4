/**
 * The `--debug` request trail: one line per request and one per response, with the URL and
 * headers redacted here, where the line is built.
 */
import { redactHeaders, redactUrl } from '../../redact.js';
import type { Layer } from '../types.js';

/** Receives the `--debug` trail, one line per call: `>` request, `<` response, `!` failure, with URLs and headers already redacted. */
export type LogSink = (line: string) => void;

export function requestLog(log: LogSink): Layer {
  return (next) => async (req) => {
    const started = performance.now();
    log(`> ${req.method} ${redactUrl(req.url)} ${JSON.stringify(redactHeaders(req.headers ?? {}))}`);
    try {
      const res = await next(req);
      const ms = Math.round(performance.now() - started);
      const h = redactHeaders(res.headers);
      const shown = Object.fromEntries(Object.entries(h).filter(([k]) => /^(content-type|content-length|docker-content-digest|location|www-authenticate|range|retry-after|ratelimit-.*|oci-.*|docker-distribution-api-version)$/.test(k)));
      log(`< ${res.status} ${req.method} ${redactUrl(req.url)} ${ms}ms ${JSON.stringify(shown)}`);
      return res;
    } catch (err) {
      log(`! ${req.method} ${redactUrl(req.url)}: ${(err as Error).message}`);
      throw err;
    }
  };
}

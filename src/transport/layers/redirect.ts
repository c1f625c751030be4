/**
 * Redirects are followed here, not by undici, so that credentials never cross hosts:
 *  - at most MAX_REDIRECTS hops;
 *  - every header is carried over except `Authorization`, which only goes back to the
 *    origin of the first request (the one that was authenticated) — a blob redirect to a
 *    storage host gets none (distribution-spec: "MUST NOT forward Authorization headers
 *    across host boundaries"; moby TestTokenPassThruDifferentHost);
 *  - never from https to http;
 *  - 303 turns into a GET without a body; a streamed body cannot be replayed, so a 307/308
 *    answering a streamed upload is returned to the caller as is;
 *  - Docker Hub v1 search may opt into Docker's trusted-location rule (§1.8).
 */
import { ErrorCode } from '../../errors.js';
import { TransportError } from '../errors.js';
import { header, type Headers, type Layer, type TransportRequest } from '../types.js';

export const MAX_REDIRECTS = 10;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/** Docker's `trustedLocation`: https and a docker.com / docker.io host (§1.8). */
export function isTrustedLocation(url: URL): boolean {
  if (url.protocol !== 'https:') return false;
  const host = url.hostname.toLowerCase();
  return host === 'docker.com' || host === 'docker.io' || host.endsWith('.docker.com') || host.endsWith('.docker.io');
}

function replayable(body: TransportRequest['body']): boolean {
  return body === undefined || body === null || typeof body === 'string' || Buffer.isBuffer(body);
}

export function redirect(): Layer {
  return (next) => async (first) => {
    if (first.redirect === 'manual') return next(first);
    let req = first;
    for (let hop = 0; ; hop++) {
      const res = await next(req);
      const location = header(res.headers, 'location');
      if (!REDIRECT_STATUS.has(res.status) || !location) return res;
      const seeOther = res.status === 303 || ((res.status === 301 || res.status === 302) && req.method === 'POST');
      if (!seeOther && !replayable(req.body)) return res;
      await res.body.dump().catch(() => undefined);
      if (hop + 1 > MAX_REDIRECTS) {
        throw new TransportError(ErrorCode.REDIRECT, first.method, first.url, `stopped after ${MAX_REDIRECTS} redirects`);
      }
      let target: URL;
      try {
        target = new URL(location, req.url);
      } catch {
        throw new TransportError(ErrorCode.REDIRECT, req.method, req.url, `redirect to an invalid location`);
      }
      if (target.protocol !== 'https:' && target.protocol !== 'http:') {
        throw new TransportError(ErrorCode.REDIRECT, req.method, req.url, `refusing a redirect to a ${target.protocol} URL`);
      }
      if (req.url.protocol === 'https:' && target.protocol === 'http:') {
        throw new TransportError(ErrorCode.REDIRECT, req.method, req.url, `refusing a redirect from https to http (${target.origin})`);
      }
      const headers: Headers = { ...req.headers };
      const keepAuth = target.origin === first.url.origin || (first.trustedRedirects === true && isTrustedLocation(first.url) && isTrustedLocation(target));
      if (!keepAuth) {
        delete headers.authorization;
        delete headers.Authorization;
      }
      delete headers.host;
      if (seeOther) {
        delete headers['content-type'];
        delete headers['content-length'];
        req = { ...req, method: req.method === 'HEAD' ? 'HEAD' : 'GET', url: target, headers, body: null };
      } else {
        req = { ...req, url: target, headers };
      }
    }
  };
}

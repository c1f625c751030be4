/**
 * Redirects are followed here, not by undici, so that credentials never cross hosts. The
 * layer sits above auth and the user's headers: each hop is a new request for a new origin,
 * and the layers below decide credentials, challenges, headers and TLS for that origin.
 *  - at most MAX_REDIRECTS hops;
 *  - the caller's headers are carried over except `Authorization`, which only goes back to
 *    the origin of the first request — a blob redirect to a storage host gets none
 *    (distribution-spec: "MUST NOT forward Authorization headers across host boundaries";
 *    moby TestTokenPassThruDifferentHost);
 *  - never from https to http;
 *  - 303 turns into a GET without a body; a streamed body cannot be replayed, so a 307/308
 *    answering a streamed upload is returned to the caller as is;
 *  - Docker Hub v1 search may opt into Docker's trusted-location rule (docs/docker-rules.md).
 */
import { ErrorCode } from '../../errors.js';
import { TransportError } from '../errors.js';
import { drainBody } from '../body.js';
import { isReplayableBody } from '../rules.js';
import { header, type Headers, type Layer } from '../types.js';

export const MAX_REDIRECTS = 10;
const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
/** Headers of the caller that never go to another origin than the first. */
const CROSS_ORIGIN_DROPPED = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** Docker's `trustedLocation`: https and a docker.com / docker.io host. */
export function isTrustedLocation(url: URL): boolean {
  if (url.protocol !== 'https:') return false;
  const host = url.hostname.toLowerCase();
  return host === 'docker.com' || host === 'docker.io' || host.endsWith('.docker.com') || host.endsWith('.docker.io');
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
      if (!seeOther && !isReplayableBody(req.body)) return res;
      await drainBody(res.body);
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
        for (const k of Object.keys(headers)) if (CROSS_ORIGIN_DROPPED.has(k.toLowerCase())) delete headers[k];
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

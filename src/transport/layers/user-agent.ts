/**
 * `User-Agent: gantry/<version> node/<version> <os>/<arch> [caller]` and the caller's meta
 * headers (`X-Meta-*`, Docker's `metaHeaders`) on every request, token requests included.
 * Meta headers are added to what the request already has, as Docker appends them.
 */
import { VERSION } from '../../version.js';
import type { Layer } from '../types.js';

export function defaultUserAgent(caller?: string): string {
  const base = `gantry/${VERSION} node/${process.versions.node.replace(/^v/, '')} ${process.platform}/${process.arch}`;
  return caller ? `${base} ${caller}` : base;
}

export function userAgent(ua: string, metaHeaders: Record<string, string> = {}): Layer {
  const meta = Object.entries(metaHeaders);
  return (next) => (req) => {
    const headers: Record<string, string> = { ...req.headers, 'user-agent': ua };
    for (const [k, v] of meta) {
      const key = k.toLowerCase();
      headers[key] = headers[key] ? `${headers[key]}, ${v}` : v;
    }
    return next({ ...req, headers });
  };
}

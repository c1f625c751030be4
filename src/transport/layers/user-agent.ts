/**
 * `User-Agent: gantry/<version> node/<version> <os>/<arch> [caller]` on every request, to
 * every origin (it carries nothing of the user's), token requests included.
 */
import { VERSION } from '../../version.js';
import type { Layer } from '../types.js';

export function defaultUserAgent(caller?: string): string {
  const base = `gantry/${VERSION} node/${process.versions.node.replace(/^v/, '')} ${process.platform}/${process.arch}`;
  return caller ? `${base} ${caller}` : base;
}

export function userAgent(ua: string): Layer {
  return (next) => (req) => next({ ...req, headers: { ...req.headers, 'user-agent': ua } });
}

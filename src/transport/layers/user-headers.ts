/**
 * The caller's extra headers (Docker's meta headers, `--header`) go only to the registry's
 * own origins (and a mirror the user configured), decided here for each hop's origin: a
 * redirect to a storage host or a request to a token realm gets none of them, so a
 * `--header 'Authorization: …'` or `Cookie` never crosses to another host. Meta headers are
 * added to what the request already has, as Docker appends them.
 */
import type { RegistryOrigins } from '../origins.js';
import type { Layer } from '../types.js';

export function userHeaders(extra: Record<string, string>, origins: RegistryOrigins): Layer {
  const entries = Object.entries(extra).map(([k, v]) => [k.toLowerCase(), v] as const);
  if (entries.length === 0) return (next) => next;
  return (next) => (req) => {
    if (!origins.has(req.url)) return next(req);
    const headers: Record<string, string> = { ...req.headers };
    for (const [key, v] of entries) headers[key] = headers[key] ? `${headers[key]}, ${v}` : v;
    return next({ ...req, headers });
  };
}

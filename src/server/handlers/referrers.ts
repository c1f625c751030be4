/**
 * The referrers API (spec v1.1: "Listing referrers"): an OCI index of the manifests whose
 * `subject` is the given digest, optionally filtered by `artifactType` (then announced in
 * `OCI-Filters-Applied`). Never 404: no referrers is an empty index.
 */
import type { RequestContext } from '../context.js';
import { parseDigestParam } from '../http.js';
import { MediaType } from '../manifest-check.js';

export async function getReferrers(ctx: RequestContext): Promise<void> {
  const subject = parseDigestParam(ctx.ref).toString();
  const artifactType = ctx.url.searchParams.get('artifactType');
  let manifests = await ctx.storage.listReferrers(ctx.name, subject);
  manifests.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  const headers: Record<string, string> = { 'Content-Type': MediaType.OCI_INDEX };
  if (artifactType !== null) {
    manifests = manifests.filter((m) => m.artifactType === artifactType);
    headers['OCI-Filters-Applied'] = 'artifactType';
  }
  const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests });
  ctx.res.writeHead(200, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  ctx.res.end(ctx.head ? undefined : body);
}

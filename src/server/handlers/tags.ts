/**
 * Content discovery (spec: "Listing tags", and the catalog that the CNCF registry and most
 * clients also speak): lexically sorted, paginated with `n` and `last`, and a `Link` header
 * to the next page when there is one.
 */
import type { RequestContext } from '../context.js';
import { nameUnknown, RegistryErrorCode, RegistryRequestError } from '../errors.js';
import { sendJson } from '../http.js';

/** A page of a sorted list: entries after `last`, at most `n`, and whether more remain. */
function page(all: string[], url: URL): { items: string[]; more: boolean; n?: number } {
  const sorted = [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const last = url.searchParams.get('last');
  const nParam = url.searchParams.get('n');
  let n: number | undefined;
  if (nParam !== null && nParam !== '') {
    n = Number(nParam);
    if (!Number.isInteger(n) || n < 0) throw new RegistryRequestError(400, RegistryErrorCode.UNSUPPORTED, 'n must be a non-negative integer', { n: nParam });
  }
  const after = last === null ? sorted : sorted.filter((item) => item > last);
  const items = n === undefined ? after : after.slice(0, n);
  return { items, more: items.length < after.length, ...(n === undefined ? {} : { n }) };
}

function linkHeader(path: string, items: string[], n: number | undefined): Record<string, string> {
  const last = items[items.length - 1];
  if (last === undefined || n === undefined) return {};
  return { Link: `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"` };
}

export async function getTags(ctx: RequestContext): Promise<void> {
  const tags = await ctx.storage.listTags(ctx.name);
  if (tags === undefined) throw nameUnknown(ctx.name);
  const { items, more, n } = page(tags, ctx.url);
  const headers = more ? linkHeader(`/v2/${ctx.name}/tags/list`, items, n) : {};
  sendBody(ctx, { name: ctx.name, tags: items }, headers);
}

export async function getCatalog(ctx: RequestContext): Promise<void> {
  const { items, more, n } = page(await ctx.storage.listRepositories(), ctx.url);
  const headers = more ? linkHeader('/v2/_catalog', items, n) : {};
  sendBody(ctx, { repositories: items }, headers);
}

function sendBody(ctx: RequestContext, value: unknown, headers: Record<string, string>): void {
  if (!ctx.head) return sendJson(ctx.res, 200, value, headers);
  const length = Buffer.byteLength(JSON.stringify(value));
  ctx.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': length, ...headers });
  ctx.res.end();
}

/**
 * Manifests (spec: "Pulling manifests", "Pushing manifests", "Deleting manifests"). A
 * manifest is stored by the digest of its exact bytes; a PUT by tag also moves the tag. In
 * proxy mode reads go through the pull-through cache (src/server/proxy/cache.ts).
 */
import type { RequestContext } from '../context.js';
import { digestInvalid, manifestUnknown, RegistryErrorCode, RegistryRequestError } from '../errors.js';
import { readBody, send } from '../http.js';
import { checkManifest } from '../manifest-check.js';
import type { PullThroughCache } from '../proxy/cache.js';
import type { StoredManifest } from '../storage/types.js';
import { Digest } from '../../ref/digest.js';
import { TAG_RE } from '../../ref/grammar.js';

/** The spec's lower bound for what registries must accept; larger manifests get 413. */
export const MANIFEST_MAX_BYTES = 4 * 1024 * 1024;

/** The digest a reference names: itself when it is a digest, else the tag's target. */
async function resolve(ctx: RequestContext): Promise<string | undefined> {
  if (Digest.tryParse(ctx.ref)) return ctx.ref;
  if (!TAG_RE.test(ctx.ref)) return undefined;
  return ctx.storage.resolveTag(ctx.name, ctx.ref);
}

/**
 * RFC 7234 §5.5.1: the cache could not confirm the tag with its upstream and answers with what
 * it has (the CNCF registry's proxy does the same, without saying so).
 */
export const STALE_WARNING = '110 - "Response is Stale"';

/** GET and HEAD; in proxy mode (`cache`) a manifest storage lacks, or a tag past its TTL, goes to the upstream first. */
export async function getManifest(ctx: RequestContext, cache?: PullThroughCache): Promise<void> {
  let manifest: StoredManifest | undefined;
  let stale = false;
  if (cache) {
    const cached = await cache.manifest(ctx.name, ctx.ref);
    manifest = cached?.manifest;
    stale = cached?.stale ?? false;
  } else {
    const digest = await resolve(ctx);
    manifest = digest ? await ctx.storage.getManifest(ctx.name, digest) : undefined;
  }
  if (!manifest) throw manifestUnknown(ctx.ref);
  const headers = {
    'Content-Type': manifest.mediaType,
    'Content-Length': manifest.bytes.length,
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
    ...(stale ? { Warning: STALE_WARNING } : {}),
  };
  ctx.res.writeHead(200, headers);
  ctx.res.end(ctx.head ? undefined : manifest.bytes);
}

export async function putManifest(ctx: RequestContext): Promise<void> {
  const { storage, name, ref } = ctx;
  const byDigest = Digest.tryParse(ref);
  if (!byDigest && !TAG_RE.test(ref)) throw new RegistryRequestError(400, RegistryErrorCode.TAG_INVALID, 'invalid tag', { tag: ref });
  const bytes = await readBody(ctx.req, MANIFEST_MAX_BYTES, 'manifest');
  const computed = Digest.fromBytes(bytes, byDigest?.algorithm ?? 'sha256');
  if (byDigest && !computed.equals(byDigest)) throw digestInvalid('manifest digest does not match the reference', { digest: ref });
  const digest = computed.toString();
  const checked = checkManifest(bytes, ctx.req.headers['content-type']);
  for (const blob of checked.blobs) {
    if ((await storage.blobSize(name, blob)) === undefined) throw manifestBlobUnknown(blob);
  }
  for (const child of checked.manifests) {
    if (!(await storage.getManifest(name, child))) throw manifestBlobUnknown(child);
  }
  await storage.putManifest(name, {
    digest,
    mediaType: checked.mediaType,
    bytes,
    ...(checked.subject ? { referrer: { subject: checked.subject, descriptor: checked.referrer(digest, bytes.length) } } : {}),
  });
  if (!byDigest) await storage.setTag(name, ref, digest);
  send(ctx.res, 201, {
    Location: `/v2/${name}/manifests/${digest}`,
    'Docker-Content-Digest': digest,
    ...(checked.subject ? { 'OCI-Subject': checked.subject } : {}),
  });
}

function manifestBlobUnknown(digest: string): RegistryRequestError {
  return new RegistryRequestError(400, RegistryErrorCode.MANIFEST_BLOB_UNKNOWN, 'manifest references a blob or manifest unknown to the repository', { digest });
}

/** DELETE by digest removes the manifest (and its tags); DELETE by tag removes only the tag. */
export async function deleteManifest(ctx: RequestContext): Promise<void> {
  const { storage, name, ref } = ctx;
  const deleted = Digest.tryParse(ref) ? await storage.deleteManifest(name, ref) : TAG_RE.test(ref) && (await storage.deleteTag(name, ref));
  if (!deleted) throw manifestUnknown(ref);
  send(ctx.res, 202);
}

/**
 * `gantry ratelimit REF`: Docker Hub's pull limit as the registry announces it, from one HEAD
 * of the image's manifest (which Docker Hub does not count against the limit), as
 * `regctl image ratelimit` reads it: `ratelimit-limit: 100;w=21600`,
 * `ratelimit-remaining: 76;w=21600`, `docker-ratelimit-source: 203.0.113.7`.
 */
import { accessFor, connectRegistry, type RegistryAccessOptions } from '../client/connect.js';
import { ACCEPT_MANIFESTS } from '../oci/media-types.js';
import { Reference } from '../ref/reference.js';
import type { RateLimit } from '../transport/rate-limit.js';

/** What {@link checkRateLimit} found. */
export interface RateLimitResult {
  /** The reference asked about, canonical (`docker.io/library/alpine:latest`). */
  readonly reference: string;
  /** The manifest digest the HEAD answered with; undefined when the image is not there or the registry did not say. */
  readonly digest?: string;
  /** The limit the registry announced; undefined when it announced none (registries other than Docker Hub). */
  readonly rateLimit?: RateLimit;
}

/**
 * Asks the registry of `reference` for its rate limit with one manifest HEAD (the image need
 * not exist: the headers come with a 404 too). The result's `rateLimit` is undefined for a
 * registry that announces none.
 *
 * @example
 * const { rateLimit } = await checkRateLimit('alpine');
 * if (rateLimit?.remaining !== undefined && rateLimit.remaining < 10) console.log('slow down');
 */
export async function checkRateLimit(reference: string | Reference, access: RegistryAccessOptions = {}): Promise<RateLimitResult> {
  const ref = (typeof reference === 'string' ? Reference.parse(reference.replace(/^docker:\/\//, '')) : reference).withDefaultTag();
  const { client, close } = await connectRegistry(ref.repository.domain, 'pull', accessFor(ref, access));
  try {
    const head = await client.repositoryClient(ref).headManifest(ref, { accept: ACCEPT_MANIFESTS });
    // The client keeps the latest announcement of any answer, a 404 included.
    const rateLimit = head?.rateLimit ?? client.lastRateLimit;
    return { reference: ref.toString(), ...(head?.digest ? { digest: head.digest.toString() } : {}), ...(rateLimit ? { rateLimit } : {}) };
  } finally {
    await close();
  }
}

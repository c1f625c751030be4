/**
 * The subset of the image configuration (image-spec `config.md`) gantry reads: what `inspect`
 * shows and what a docker archive needs (diff_ids). Parsed loosely: unknown fields are ignored
 * and a field of the wrong type is dropped, because configs written by old builders vary and
 * none of these fields is needed to copy an image. Only malformed JSON is an error.
 */
import type { Digest } from '../ref/digest.js';
import { isJsonObject, parseDigestField, parseJsonObject } from './descriptor.js';
import type { JsonObject } from './descriptor.js';

/** One entry of the config's `history`: how a layer (or an empty step) was made. */
export interface HistoryEntry {
  /** `created`: when the step ran, as written (an RFC 3339 date-time); undefined when absent. */
  created?: string;
  /** `created_by`: the command that made the step; undefined when absent. */
  createdBy?: string;
  /** `comment`; undefined when absent. */
  comment?: string;
  /** `empty_layer`: true when the step added no layer; undefined when absent. */
  emptyLayer?: boolean;
}

/** The fields of an image config that gantry reads; a field of the wrong type is left out. */
export interface ImageConfig {
  /** `created`: when the image was built, as written (an RFC 3339 date-time); undefined when absent. */
  created?: string;
  /** `architecture`, e.g. `amd64`; undefined when absent. */
  architecture?: string;
  /** `os`, e.g. `linux`; undefined when absent. */
  os?: string;
  /** `variant`, e.g. `v8` for arm64; undefined when absent. */
  variant?: string;
  /** `config.Labels` (string values only); empty when there are none. */
  labels: Record<string, string>;
  /** `rootfs.diff_ids`: the digests of the uncompressed layers, in order. */
  diffIds: Digest[];
  /** `history`, in order (entries that are not objects are skipped); empty when absent. */
  history: HistoryEntry[];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function set<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/**
 * Parses config bytes. `where` names the config in errors (e.g. its digest). A diff_id that is
 * not a digest is an error: the layers would then be unverifiable.
 */
export function parseImageConfig(bytes: Buffer, where = 'image config'): ImageConfig {
  const body = parseJsonObject(bytes, where);
  const out: ImageConfig = { labels: {}, diffIds: [], history: [] };
  set(out, 'created', str(body.created));
  set(out, 'architecture', str(body.architecture));
  set(out, 'os', str(body.os));
  set(out, 'variant', str(body.variant));

  const config = body.config;
  if (isJsonObject(config) && isJsonObject(config.Labels)) {
    for (const [k, v] of Object.entries(config.Labels)) if (typeof v === 'string') out.labels[k] = v;
  }
  const rootfs = body.rootfs;
  if (isJsonObject(rootfs) && Array.isArray(rootfs.diff_ids)) {
    out.diffIds = rootfs.diff_ids.map((d, i) => parseDigestField(d, `${where}: rootfs.diff_ids[${i}]`));
  }
  if (Array.isArray(body.history)) {
    for (const h of body.history as unknown[]) {
      if (!isJsonObject(h)) continue;
      out.history.push(historyEntry(h));
    }
  }
  return out;
}

function historyEntry(h: JsonObject): HistoryEntry {
  const e: HistoryEntry = {};
  set(e, 'created', str(h.created));
  set(e, 'createdBy', str(h.created_by));
  set(e, 'comment', str(h.comment));
  if (typeof h.empty_layer === 'boolean') e.emptyLayer = h.empty_layer;
  return e;
}

/**
 * What a stored manifest keeps alive: every digest it names in a descriptor list of any
 * manifest kind the registry stores — `config`, `layers` (foreign ones too: keeping more is
 * safe), `blobs` (the OCI artifact manifest draft), `manifests` (an index's children) and
 * schema 1's `fsLayers[].blobSum`. Not its `subject`: a referrer does not keep its subject,
 * the subject keeps its referrers. Manifests are read with the registry's own size cap.
 */
import { open } from 'node:fs/promises';
import { Digest } from '../../ref/digest.js';
import { MANIFEST_MAX_BYTES } from '../handlers/manifests.js';

/** A manifest's references, or why they cannot be known. */
export type ManifestReferences =
  | { kind: 'references'; digests: Digest[] }
  /** No bytes in the blob store: nothing to serve, so nothing it names is kept on its account. */
  | { kind: 'missing' }
  /** Unreadable as a manifest: what it names is unknown, so its repository is not swept. */
  | { kind: 'invalid'; reason: string };

/** Reads the manifest at `path` (at most MANIFEST_MAX_BYTES) and lists what it names. */
export async function readManifestReferences(path: string): Promise<ManifestReferences> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  try {
    const { size } = await handle.stat();
    if (size > MANIFEST_MAX_BYTES) return { kind: 'invalid', reason: `larger than ${MANIFEST_MAX_BYTES} bytes` };
    const bytes = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const { bytesRead } = await handle.read(bytes, read, size - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    const digests = manifestReferences(bytes.subarray(0, read));
    return digests ? { kind: 'references', digests } : { kind: 'invalid', reason: 'not a JSON object' };
  } finally {
    await handle.close();
  }
}

/** The digests a manifest's bytes name; undefined when they are not a JSON object. */
export function manifestReferences(bytes: Buffer): Digest[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const m = doc as Record<string, unknown>;
  const out: Digest[] = [];
  const add = (value: unknown): void => {
    const d = typeof value === 'string' ? Digest.tryParse(value) : undefined;
    if (d) out.push(d);
  };
  const list = (value: unknown, field: string): void => {
    if (Array.isArray(value)) for (const item of value) add((item as Record<string, unknown> | null)?.[field]);
  };
  add((m.config as Record<string, unknown> | null | undefined)?.digest);
  list(m.layers, 'digest');
  list(m.blobs, 'digest');
  list(m.manifests, 'digest');
  list(m.fsLayers, 'blobSum');
  return out;
}

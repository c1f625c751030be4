/**
 * A minimal distribution-API client for the conformance workflows, on undici's `request`
 * (gantry's own client is not what is under test here), and the test content they push.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import assert from 'node:assert/strict';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  header(name: string): string | undefined;
}

/** One request; a `Readable` body goes out with chunked transfer encoding. */
export async function call(base: string, method: string, path: string, init: { headers?: Record<string, string>; body?: Buffer | string | Readable } = {}): Promise<Reply> {
  const url = new URL(path, base);
  const res = await request(url, {
    method: method as 'GET',
    headers: init.headers ?? {},
    ...(init.body === undefined ? {} : { body: init.body }),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  const headers = res.headers as Record<string, string | string[] | undefined>;
  return {
    status: res.statusCode,
    headers,
    body,
    text: body.toString('utf8'),
    header(name) {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    },
  };
}

export const sha256 = (bytes: Buffer | string): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The spec's error body: `{"errors":[{"code":...}]}`; returns the codes. */
export function errorCodes(reply: Reply): string[] {
  const parsed = JSON.parse(reply.text) as { errors?: Array<{ code?: string }> };
  assert.ok(Array.isArray(parsed.errors), `expected an errors array, got ${reply.text}`);
  return parsed.errors.map((e) => String(e.code));
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Monolithic POST + PUT: the upload every registry supports. Returns the PUT reply. */
export async function pushBlob(base: string, repo: string, bytes: Buffer): Promise<Reply> {
  const post = await call(base, 'POST', `/v2/${repo}/blobs/uploads/`);
  assert.equal(post.status, 202, `POST upload: ${post.status} ${post.text}`);
  const location = new URL(post.header('location') as string, base);
  location.searchParams.set('digest', sha256(bytes));
  const put = await call(base, 'PUT', location.toString(), {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
    body: bytes,
  });
  assert.equal(put.status, 201, `PUT upload: ${put.status} ${put.text}`);
  return put;
}

export interface TestImage {
  config: Buffer;
  layer: Buffer;
  manifest: Buffer;
  digest: string;
}

/** A small image with random content (so every run pushes new blobs). */
export function testImage(extra: Record<string, unknown> = {}): TestImage {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const layer = randomBytes(2048 + Math.floor(Math.random() * 1024));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length }],
    ...extra,
  }));
  return { config, layer, manifest, digest: sha256(manifest) };
}

export async function putManifest(base: string, repo: string, reference: string, bytes: Buffer, mediaType = OCI_MANIFEST): Promise<Reply> {
  return call(base, 'PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'content-type': mediaType }, body: bytes });
}

/** Pushes config, layer and manifest (by `reference`), asserting each step succeeds. */
export async function pushImage(base: string, repo: string, reference: string, image: TestImage = testImage()): Promise<TestImage> {
  await pushBlob(base, repo, image.config);
  await pushBlob(base, repo, image.layer);
  const put = await putManifest(base, repo, reference, image.manifest);
  assert.equal(put.status, 201, `PUT manifest: ${put.status} ${put.text}`);
  return image;
}

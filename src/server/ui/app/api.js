/* global fetch, location, crypto, btoa */
/**
 * The registry's own /v2/ API, from the browser (same origin; the CSP allows no other).
 *
 * Auth follows the registry's challenge: with htpasswd the browser already holds the Basic
 * credentials it prompted for when the page loaded and sends them itself; with token auth a
 * 401 `Bearer` challenge is answered by asking the challenge's realm (only this origin's own
 * `/token`) for a token for its scope, with the user's credentials from the login form when
 * there are any (anonymous first), and the request is sent again with it. Credentials and
 * tokens stay in this module's memory: a reload asks again.
 */

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** Manifests and image configs larger than this are not read (the server caps manifests at 4 MiB too). */
const MAX_JSON_BYTES = 4 * 1024 * 1024;
/** The catalog and tag lists are read in pages of this many, at most MAX_PAGES pages. */
const PAGE_SIZE = 1000;
const MAX_PAGES = 100;

/** The distribution spec's grammar for names, tags and digests: anything else never goes into a path. */
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[A-Za-z0-9=_-]+$/;

/** The request needs a login (or another account): the app shows the form with `message`. */
export class LoginRequired extends Error {}

/** The registry answered with an error: its status and its own code and message. */
export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let credentials;
const tokens = new Map();

/** Remembers the login form's account (in memory only) and forgets the tokens of the last one. */
export function setCredentials(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  credentials = btoa(String.fromCharCode(...bytes));
  tokens.clear();
}

export function isValidName(name) {
  return typeof name === 'string' && name.length <= 255 && NAME_RE.test(name);
}

export function isDigest(ref) {
  return typeof ref === 'string' && DIGEST_RE.test(ref);
}

export function isValidReference(ref) {
  return isDigest(ref) || (typeof ref === 'string' && TAG_RE.test(ref));
}

function checkName(name) {
  if (!isValidName(name)) throw new ApiError(`not a repository name: ${name}`, 400, 'NAME_INVALID');
  return name;
}

function checkReference(ref) {
  if (!isValidReference(ref)) throw new ApiError(`not a tag or digest: ${ref}`, 400, 'MANIFEST_INVALID');
  return ref;
}

/** The scope the registry asks for a path, as auth.ts maps it: the key of the token cache. */
function scopeOf(path) {
  if (path.startsWith('/v2/_catalog')) return 'registry:catalog:*';
  const m = /^\/v2\/(.+)\/(?:manifests|blobs|tags|referrers)\//.exec(path);
  return m ? `repository:${m[1]}:pull` : '';
}

/** `Bearer realm="…",service="…",scope="…"` → { scheme, params }. */
export function parseChallenge(header) {
  if (!header) return undefined;
  const m = /^\s*(\S+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1].toLowerCase(), params };
}

/** GET `path` (a /v2/ path of this origin), answering a Bearer challenge once. */
async function get(path, accept = 'application/json') {
  const scope = scopeOf(path);
  const send = (token) =>
    fetch(path, {
      headers: { Accept: accept, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    });
  let res = await send(tokens.get(scope));
  if (res.status === 401) {
    const challenge = parseChallenge(res.headers.get('WWW-Authenticate'));
    if (challenge?.scheme === 'bearer') {
      const token = await fetchToken(challenge);
      res = await send(token);
      if (res.status === 401) {
        throw new LoginRequired(credentials ? 'This account may not read this. Log in as another user?' : 'Log in to read this registry.');
      }
      tokens.set(scope, token);
    }
  }
  if (!res.ok) throw await apiError(res, path);
  return res;
}

/** A token from the challenge's realm, which must be this origin (`/token`). */
async function fetchToken(challenge) {
  const realm = new URL(challenge.params.realm ?? '', location.href);
  if (realm.origin !== location.origin) {
    throw new ApiError(`The registry's token service (${realm.origin}) is on another origin; the web view can only log in at this registry's own /token.`, 401, 'UNAUTHORIZED');
  }
  if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
  for (const scope of (challenge.params.scope ?? '').split(' ').filter(Boolean)) realm.searchParams.append('scope', scope);
  // credentials 'omit': the browser neither sends cached Basic credentials nor prompts on a 401.
  const res = await fetch(realm, {
    headers: credentials ? { Authorization: `Basic ${credentials}` } : {},
    credentials: 'omit',
    cache: 'no-store',
    redirect: 'error',
  });
  if (res.status === 401) throw new LoginRequired(credentials ? 'Invalid username or password.' : 'Log in to read this registry.');
  if (!res.ok) throw await apiError(res, realm.pathname);
  const body = await res.json();
  const token = body.token ?? body.access_token;
  if (typeof token !== 'string' || token === '') throw new ApiError('the token service answered without a token', 502, 'UNKNOWN');
  return token;
}

async function apiError(res, path) {
  let code = 'UNKNOWN';
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const first = (await res.json())?.errors?.[0];
    if (first?.code) code = String(first.code);
    if (first?.message) message = String(first.message);
  } catch {
    // not the spec's error body
  }
  return new ApiError(`GET ${path}: ${code}: ${message}`, res.status, code);
}

/** The body, refused past `limit` bytes. */
async function capped(res, limit = MAX_JSON_BYTES) {
  const declared = Number(res.headers.get('Content-Length'));
  if (Number.isFinite(declared) && declared > limit) throw new ApiError(`the answer is larger than ${limit} bytes`, 413, 'SIZE_INVALID');
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > limit) throw new ApiError(`the answer is larger than ${limit} bytes`, 413, 'SIZE_INVALID');
  return bytes;
}

/** Every entry of a paginated list (catalog, tags), following `Link: <…>; rel="next"` on this origin. */
async function list(path, key) {
  const out = [];
  let next = `${path}?n=${PAGE_SIZE}`;
  for (let pages = 0; next && pages < MAX_PAGES; pages++) {
    const res = await get(next);
    const body = await res.json();
    for (const item of body?.[key] ?? []) if (typeof item === 'string') out.push(item);
    const link = /<([^>]+)>\s*;\s*rel="?next"?/.exec(res.headers.get('Link') ?? '');
    if (!link) break;
    const url = new URL(link[1], location.href);
    next = url.origin === location.origin && url.pathname.startsWith('/v2/') ? url.pathname + url.search : undefined;
  }
  return out;
}

/** The repositories of the catalog, sorted. */
export async function repositories() {
  return (await list('/v2/_catalog', 'repositories')).filter(isValidName);
}

/** The tags of `name`, sorted. */
export async function tags(name) {
  return (await list(`/v2/${checkName(name)}/tags/list`, 'tags')).filter((t) => TAG_RE.test(t));
}

async function sha256(bytes) {
  if (!crypto?.subtle) return undefined; // not a secure context (plain http on another host)
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/**
 * A manifest by tag or digest: its digest (computed from the bytes when the browser can, and
 * checked against what the registry says and what was asked for), media type, size and JSON.
 */
export async function manifest(name, ref) {
  const res = await get(`/v2/${checkName(name)}/manifests/${checkReference(ref)}`, MANIFEST_TYPES);
  const bytes = await capped(res);
  const computed = await sha256(bytes);
  const header = res.headers.get('Docker-Content-Digest') ?? undefined;
  const digest = computed ?? header ?? (isDigest(ref) ? ref : undefined);
  if (computed && ((header && header.startsWith('sha256:') && header !== computed) || (isDigest(ref) && ref.startsWith('sha256:') && ref !== computed))) {
    throw new ApiError(`the manifest's bytes hash to ${computed}, not ${isDigest(ref) ? ref : header}`, 502, 'DIGEST_INVALID');
  }
  const json = JSON.parse(new TextDecoder().decode(bytes));
  const mediaType = json.mediaType ?? (res.headers.get('Content-Type') ?? '').split(';')[0];
  return { digest, mediaType, size: bytes.length, json };
}

/** A small JSON blob (an image config), checked against its digest when the browser can. */
export async function jsonBlob(name, digest) {
  if (!isDigest(digest)) throw new ApiError(`not a digest: ${digest}`, 400, 'DIGEST_INVALID');
  const bytes = await capped(await get(`/v2/${checkName(name)}/blobs/${digest}`));
  const computed = digest.startsWith('sha256:') ? await sha256(bytes) : undefined;
  if (computed && computed !== digest) throw new ApiError(`the blob's bytes hash to ${computed}, not ${digest}`, 502, 'DIGEST_INVALID');
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The referrers of `digest` in `name` (the referrers API's index entries). */
export async function referrers(name, digest) {
  if (!isDigest(digest)) return [];
  const res = await get(`/v2/${checkName(name)}/referrers/${digest}`, 'application/vnd.oci.image.index.v1+json');
  const body = JSON.parse(new TextDecoder().decode(await capped(res)));
  return Array.isArray(body?.manifests) ? body.manifests.filter((m) => m && isDigest(m.digest)) : [];
}

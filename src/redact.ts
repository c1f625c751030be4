/**
 * Redaction happens where a log line or error message is built, never at the call site.
 * A URL loses its user info and the value of every query parameter that is not one of the
 * registry protocol's own: signed storage URLs name their secrets in many ways
 * (`X-Amz-Signature`, `X-Amz-Credential`, Azure's `sig` and `skoid`, `api_key`, `token`, …),
 * so an allowlist is the only safe rule. Headers lose their credential values, and a
 * `WWW-Authenticate` challenge's URLs (a realm with user info or a token in its query) are
 * redacted as URLs.
 */

/** Query parameters of the distribution and token protocols: nothing secret, useful in a trail. */
const PROTOCOL_QUERY = new Set(['n', 'last', 'digest', 'mount', 'from', 'scope', 'service', 'account', 'client_id', 'offline_token', 'artifacttype', 'q', 'ns']);
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie|x-registry-auth|x-docker-token|x-amz-security-token)$/i;

export const REDACTED = '[redacted]';

export function redactUrl(input: string | URL): string {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    return String(input).replace(/\/\/[^/@\s]*@/, `//${REDACTED}@`);
  }
  if (url.username || url.password) {
    url.username = REDACTED;
    url.password = '';
  }
  for (const key of new Set(url.searchParams.keys())) {
    if (!PROTOCOL_QUERY.has(key.toLowerCase())) url.searchParams.set(key, REDACTED);
  }
  return url.toString();
}

/** A `WWW-Authenticate` value with every quoted parameter that looks like a URL (`realm`) redacted as a URL. */
function redactChallenge(value: string): string {
  return value.replace(/("(?:[^"\\]|\\.)*")/g, (quoted) => {
    const inner = quoted.slice(1, -1);
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(inner) ? `"${redactUrl(inner)}"` : quoted;
  });
}

/** A header value as a log may show it: URLs (`location`, `content-location`) and challenges redacted. */
function redactHeaderValue(name: string, value: string): string {
  const k = name.toLowerCase();
  if (SECRET_HEADER.test(k)) return REDACTED;
  if (k === 'location' || k === 'content-location') return redactReference(value);
  if (k === 'link') return value.replace(/<([^>]*)>/g, (_m, ref: string) => `<${redactReference(ref)}>`);
  if (k === 'www-authenticate' || k === 'proxy-authenticate') return redactChallenge(value);
  return value;
}

/** An absolute URL or a relative reference (`/v2/x/blobs/uploads/1?_state=…`), redacted as a URL. */
function redactReference(ref: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return redactUrl(ref);
  const base = 'http://relative.invalid';
  const r = redactUrl(new URL(ref, `${base}/`).href);
  return r.startsWith(base) ? r.slice(base.length) : r;
}

export function redactHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    if (SECRET_HEADER.test(k)) {
      const first = Array.isArray(v) ? v[0] ?? '' : v;
      const scheme = /^(basic|bearer|token)\s/i.exec(first)?.[1];
      out[k] = scheme ? `${scheme} ${REDACTED}` : REDACTED;
    } else {
      out[k] = Array.isArray(v) ? v.map((x) => redactHeaderValue(k, x)) : redactHeaderValue(k, v);
    }
  }
  return out;
}

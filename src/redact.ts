/**
 * Redaction happens where a log line or error message is built, never at the call site.
 * A URL loses its user info and any query parameter that can carry a credential
 * (presigned S3/GCS/Azure URLs, OAuth tokens); headers lose their credential values.
 */

const SECRET_QUERY = /^(x-amz-(signature|credential|security-token)|x-goog-(signature|credential)|sig|signature|token|access_token|refresh_token|password|client_secret|code)$/i;
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
  for (const key of [...url.searchParams.keys()]) {
    if (SECRET_QUERY.test(key)) url.searchParams.set(key, REDACTED);
  }
  return url.toString();
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
      out[k] = v;
    }
  }
  return out;
}

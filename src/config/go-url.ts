/**
 * The part of Go's `net/url.Parse` that decides whether Docker accepts a registry mirror
 * URL, and the text of its errors (`invalid mirror: "…" is not a valid URI: parse "…": …`).
 * Only what `ValidateMirror` looks at is kept: scheme, user info, host, query and fragment.
 */
import { goQuote } from './go-net.js';

export interface GoUrl {
  /** Lower-cased, as Go stores it. */
  readonly scheme: string;
  readonly opaque: string;
  /** User info as written (`user` or `user:password`), when present. */
  readonly userinfo: string | undefined;
  readonly host: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly forceQuery: boolean;
  readonly fragment: string;
}

/** Characters Go accepts unescaped in a host (`shouldEscape(c, encodeHost)` is false). */
const HOST_CHAR_RE = /[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]/;
const USERINFO_RE = /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/;
const HEX_RE = /[0-9A-Fa-f]/;

/** Parses like Go's `url.Parse`; throws an `Error` whose message is Go's. */
export function parseGoUrl(rawUrl: string): GoUrl {
  const hash = rawUrl.indexOf('#');
  const beforeFragment = hash < 0 ? rawUrl : rawUrl.slice(0, hash);
  const fragment = hash < 0 ? '' : rawUrl.slice(hash + 1);
  let url: GoUrl;
  try {
    url = parse(beforeFragment);
  } catch (err) {
    throw new Error(`parse ${goQuote(beforeFragment)}: ${(err as Error).message}`);
  }
  const fragmentError = unescapeError(fragment, false);
  if (fragmentError !== undefined) throw new Error(`parse ${goQuote(rawUrl)}: ${fragmentError}`);
  return { ...url, fragment };
}

/** Go's `URL.String()` for URLs written in their usual escaped form. */
export function goUrlString(u: GoUrl, userinfo: string | undefined = u.userinfo): string {
  let out = u.scheme === '' ? '' : `${u.scheme}:`;
  if (u.opaque !== '') {
    out += u.opaque;
  } else {
    if ((u.scheme !== '' || u.host !== '' || userinfo !== undefined) && (u.host !== '' || u.path !== '' || userinfo !== undefined)) {
      out += '//';
    }
    if (userinfo !== undefined) out += `${userinfo}@`;
    out += u.host;
    if (u.path !== '' && !u.path.startsWith('/') && u.host !== '') out += '/';
    out += u.path;
  }
  if (u.forceQuery || u.rawQuery !== '') out += `?${u.rawQuery}`;
  if (u.fragment !== '') out += `#${u.fragment}`;
  return out;
}

function parse(raw: string): GoUrl {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new Error('net/url: invalid control character in URL');
  let [scheme, rest] = splitScheme(raw);
  scheme = scheme.toLowerCase();
  let rawQuery = '';
  let forceQuery = false;
  const q = rest.indexOf('?');
  if (rest.endsWith('?') && q === rest.length - 1) {
    forceQuery = true;
    rest = rest.slice(0, -1);
  } else if (q >= 0) {
    rawQuery = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const base = { scheme, opaque: '', userinfo: undefined, host: '', path: '', rawQuery, forceQuery, fragment: '' };
  if (!rest.startsWith('/')) {
    if (scheme !== '') return { ...base, opaque: rest };
    const segment = rest.split('/', 1)[0] ?? '';
    if (segment.includes(':')) throw new Error('first path segment in URL cannot contain colon');
  }
  let userinfo: string | undefined;
  let host = '';
  if (rest.startsWith('//') && (scheme !== '' || !rest.startsWith('///'))) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const at = authority.lastIndexOf('@');
    host = parseHost(at < 0 ? authority : authority.slice(at + 1));
    if (at >= 0) {
      userinfo = authority.slice(0, at);
      if (!USERINFO_RE.test(userinfo)) throw new Error('net/url: invalid userinfo');
      for (const part of userinfo.split(':', 2)) {
        const e = unescapeError(part, false);
        if (e !== undefined) throw new Error(e);
      }
    }
  }
  const pathError = unescapeError(rest, false);
  if (pathError !== undefined) throw new Error(pathError);
  return { ...base, userinfo, host, path: rest };
}

/** Go's `getScheme`: a scheme is letters then letters, digits, `+-.`, ended by `:`. */
function splitScheme(raw: string): [string, string] {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charAt(i);
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) return ['', raw];
      continue;
    }
    if (c === ':') {
      if (i === 0) throw new Error('missing protocol scheme');
      return [raw.slice(0, i), raw.slice(i + 1)];
    }
    return ['', raw];
  }
  return ['', raw];
}

function parseHost(host: string): string {
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0) throw new Error("missing ']' in host");
    checkPort(host.slice(close + 1));
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0) checkPort(host.slice(colon));
  }
  const e = unescapeError(host, true);
  if (e !== undefined) throw new Error(e);
  return host;
}

function checkPort(colonPort: string): void {
  if (colonPort !== '' && !/^:[0-9]*$/.test(colonPort)) throw new Error(`invalid port ${goQuote(colonPort)} after host`);
}

/** The error Go's `unescape` would return for `s`, if any. */
function unescapeError(s: string, inHost: boolean): string | undefined {
  for (let i = 0; i < s.length; ) {
    const c = s.charAt(i);
    if (c === '%') {
      const seq = s.slice(i, i + 3);
      if (i + 2 >= s.length || !HEX_RE.test(s.charAt(i + 1)) || !HEX_RE.test(s.charAt(i + 2))) {
        return `invalid URL escape ${goQuote(seq)}`;
      }
      // In a host, %-escapes may only encode non-ASCII bytes, or `%25` in an IPv6 zone.
      if (inHost && parseInt(s.charAt(i + 1), 16) < 8 && seq !== '%25') return `invalid URL escape ${goQuote(seq)}`;
      i += 3;
    } else {
      if (inHost && c.charCodeAt(0) < 0x80 && !HOST_CHAR_RE.test(c)) return `invalid character ${goQuote(c)} in host name`;
      i++;
    }
  }
  return undefined;
}

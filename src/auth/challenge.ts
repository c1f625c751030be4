/**
 * `WWW-Authenticate` parsing and the per-endpoint challenge store (docs/docker-rules.md#token-auth).
 *
 * Docker's parser (distribution `challenge/authchallenge.go`) reads one challenge per header
 * value; registries behind proxies sometimes send `Bearer …, Basic …` in one value, so this one
 * also accepts several challenges per value (RFC 7235 §4.1) and tolerates a token68
 * (`Negotiate abc==`). Like Docker, parsing of one header value stops at the first malformed
 * parameter and keeps what was read before it.
 */

export interface Challenge {
  /** Lower-cased auth scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Parameter names lower-cased; values unquoted and unescaped. */
  parameters: Record<string, string>;
  /** The token68 form (`Negotiate abc==`), when the challenge used it instead of parameters. */
  token68?: string;
}

// RFC 7230 tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

class Cursor {
  constructor(
    readonly s: string,
    public i = 0,
  ) {}
  get rest(): string {
    return this.s.slice(this.i);
  }
  get done(): boolean {
    return this.i >= this.s.length;
  }
  peek(): string {
    return this.s[this.i] ?? '';
  }
  skipSpace(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }
  token(): string {
    const m = TOKEN.exec(this.rest);
    if (!m) return '';
    this.i += m[0].length;
    return m[0];
  }
  /** A quoted string with backslash escapes; undefined when unterminated. */
  quoted(): string | undefined {
    let out = '';
    for (let j = this.i + 1; j < this.s.length; j++) {
      const c = this.s[j];
      if (c === '\\') {
        j++;
        out += this.s[j] ?? '';
      } else if (c === '"') {
        this.i = j + 1;
        return out;
      } else {
        out += c;
      }
    }
    return undefined;
  }
}

/** True when the cursor sits on `name =` (a parameter) rather than a new challenge's scheme. */
function atParameter(c: Cursor): boolean {
  const probe = new Cursor(c.s, c.i);
  if (!probe.token()) return false;
  probe.skipSpace();
  return probe.peek() === '=';
}

/** Parses one header value into challenges; stops at the first malformed parameter. */
function parseOne(value: string, out: Challenge[]): void {
  const c = new Cursor(value);
  for (;;) {
    while (c.peek() === ',' || c.peek() === ' ' || c.peek() === '\t') c.i++;
    if (c.done) return;
    const scheme = c.token();
    if (!scheme) return;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), parameters: {} };
    out.push(challenge);
    c.skipSpace();
    // A token68 is one word (possibly ending in `=`) followed by the end or a comma;
    // `name=value` never is, since a value follows its `=`.
    const m = TOKEN68.exec(c.rest);
    if (m) {
      const after = new Cursor(c.s, c.i + m[0].length);
      after.skipSpace();
      if (after.done || after.peek() === ',') {
        challenge.token68 = m[0];
        c.i = after.i;
        continue;
      }
    }
    // Otherwise, no parameter means the next challenge (or the end) follows directly.
    if (!atParameter(c)) continue;
    for (;;) {
      const name = c.token();
      c.skipSpace();
      if (!name || c.peek() !== '=') return;
      c.i++;
      c.skipSpace();
      let v: string | undefined;
      if (c.peek() === '"') v = c.quoted();
      else v = c.token() || undefined;
      if (v === undefined) return;
      challenge.parameters[name.toLowerCase()] = v;
      c.skipSpace();
      if (c.done) return;
      if (c.peek() !== ',') return;
      while (c.peek() === ',' || c.peek() === ' ' || c.peek() === '\t') c.i++;
      if (c.done) return;
      if (!atParameter(c)) break;
    }
  }
}

/** Parses every `WWW-Authenticate` value of a response into its challenges, in order. */
export function parseWwwAuthenticate(values: string | readonly string[] | undefined): Challenge[] {
  const out: Challenge[] = [];
  if (values === undefined) return out;
  for (const v of typeof values === 'string' ? [values] : values) parseOne(v, out);
  return out;
}

const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * The path whose ping answers for a request path (Docker's rule): up to and including the first
 * `/v2/`; a `/v1/` path maps to its prefix + `/v2/`; anything else gets no authorization.
 */
export function pingPathFor(path: string): string | undefined {
  const v2 = path.indexOf('/v2/');
  if (v2 !== -1) return path.slice(0, v2 + 4);
  const v1 = path.indexOf('/v1/');
  if (v1 !== -1) return `${path.slice(0, v1)}/v2/`;
  return undefined;
}

/**
 * The key challenges are stored under: `scheme://lower-host:port` with the default port made
 * explicit, so `reg.EXAMPLE.com` and `reg.example.com:80` meet (distribution's
 * `challenge/authchallenge_test.go` expects it), followed by the URL's ping path (Docker keys
 * by the ping URL, so two registries behind one proxy under `/a/v2/` and `/b/v2/` keep their
 * own challenges). A URL without a `/v2/` path means `/v2/`.
 */
export function endpointKey(url: string | URL): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  const port = u.port || DEFAULT_PORT[u.protocol] || '';
  return `${u.protocol}//${u.hostname.toLowerCase()}${port ? `:${port}` : ''}${pingPathFor(u.pathname) ?? '/v2/'}`;
}

/** Challenges learnt from pings, per endpoint. A 200 ping stores an empty list. */
export class ChallengeStore {
  readonly #byEndpoint = new Map<string, Challenge[]>();

  /** `url`: the ping URL, or any URL of the endpoint (its ping path is used). */
  set(url: string | URL, challenges: readonly Challenge[]): void {
    this.#byEndpoint.set(endpointKey(url), [...challenges]);
  }

  /** Undefined when the endpoint was never pinged; `[]` when it needs no auth. */
  get(url: string | URL): Challenge[] | undefined {
    return this.#byEndpoint.get(endpointKey(url));
  }
}

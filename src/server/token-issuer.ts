/**
 * The token issuer of the distribution token spec (reference §5.1), used by tests against the
 * real registry and served by the embedded registry. Its JWTs are signed the way the CNCF
 * registry 2.8 verifies them: `kid` = libtrust key id of the signing key, whose certificate must
 * be in the registry's `rootcertbundle`; ES256 signatures in JOSE form (r‖s); `aud` a string.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, timingSafeEqual, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../errors.js';
import { createCertificateAuthority } from '../pki/x509.js';
import type { KeyType } from '../pki/x509.js';
import type { Scope } from '../ref/scope.js';
import { mergeScopes, parseScope, scopeSetKey } from '../ref/scope.js';
import { OPEN_GUARD, clientAddress, type AuthAttemptGuard } from './auth-throttle.js';
import { RegistryRequestError } from './errors.js';
import { verifyBcrypt } from './password-check.js';

export type JwtAlgorithm = 'ES256' | 'RS256';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * libtrust's key id: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without
 * padding, in groups of 4 joined by `:` (`ABCD:EFGH:…`, 12 groups).
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(der).digest().subarray(0, 30);
  return (base32(digest).match(/.{4}/g) ?? []).join(':');
}

/** The algorithm a key signs with: ES256 for P-256, RS256 for RSA; anything else is refused. */
export function algorithmFor(key: KeyObject): JwtAlgorithm {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  throw new Error(`unsupported signing key: ${key.asymmetricKeyType ?? 'unknown'} (use an ECDSA P-256 or RSA key)`);
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export function signJwt(claims: TokenClaims, key: KeyObject): string {
  const alg = algorithmFor(key);
  const header = { typ: 'JWT', alg, kid: libtrustKeyId(createPublicKey(key)) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = alg === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', Buffer.from(input), key);
  return `${input}.${b64url(signature)}`;
}

/** Verifies signature and key id; returns the claims or undefined. Claim checks are the caller's. */
export function verifyJwt(token: string, publicKey: KeyObject): TokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, c, s] = parts as [string, string, string];
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { alg?: unknown; kid?: unknown };
    const alg = algorithmFor(publicKey);
    if (header.alg !== alg || header.kid !== libtrustKeyId(publicKey)) return undefined;
    const data = Buffer.from(`${h}.${c}`);
    const sig = Buffer.from(s, 'base64url');
    const ok = alg === 'ES256' ? verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig) : verify('sha256', data, publicKey, sig);
    if (!ok) return undefined;
    const claims = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    return typeof claims === 'object' && claims !== null ? (claims as TokenClaims) : undefined;
  } catch {
    return undefined;
  }
}

/** A grant rule: repositories matching `repository` (exact, or a glob where `*` matches anything) get `actions`. */
export interface AccessRule {
  repository: string;
  actions: ('pull' | 'push' | 'delete' | '*')[];
}

export interface TokenIssuerUser {
  /** A bcrypt hash (`$2a$…`, `$2b$…`, `$2y$…`) or, for tests, the plain password. */
  password: string;
  access: AccessRule[];
}

export interface TokenIssuerOptions {
  /** `iss` claim; must equal the registry's `auth.token.issuer`. */
  issuer: string;
  /** `aud` claim; must equal the registry's `auth.token.service`. */
  service: string;
  /** PEM private key, ECDSA P-256 (ES256) or RSA (RS256). Its certificate goes into `rootcertbundle`. */
  signingKeyPem: string;
  /** The signing key's certificate, kept for callers that write the `rootcertbundle`. */
  certificatePem?: string;
  users?: Record<string, TokenIssuerUser>;
  /** What anyone gets without credentials (and authenticated users on top of their own rules). */
  anonymous?: AccessRule[];
  /** Users granted `registry:catalog:*`. */
  catalogUsers?: string[];
  /** Token lifetime; default 300 s. */
  ttlSeconds?: number;
  /** Clock in milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
}

export interface VerifiedToken {
  subject: string;
  access: AccessEntry[];
}

/** Default token lifetime: long enough for a push, short enough that a leaked token expires soon. */
export const DEFAULT_TOKEN_TTL_SECONDS = 300;
/** The largest OAuth2 form body read. */
const MAX_FORM_BYTES = 64 * 1024;
const ALL_REPOSITORY_ACTIONS = ['pull', 'push', 'delete'];

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Who is trying a password, and the throttle to ask. */
interface PasswordAttempt {
  client: string;
  guard: AuthAttemptGuard;
}

const unauthorized = (): HttpFailure => new HttpFailure(401, 'UNAUTHORIZED', 'authentication required');

function globMatches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

/** Statistics key: `<subject or (anonymous)> <scope set key>`. */
export function exchangeStatsKey(subject: string, scopes: readonly Scope[]): string {
  return `${subject || '(anonymous)'} ${scopeSetKey(scopes)}`;
}

/**
 * A token server per the distribution token spec (reference §5.1): `GET realm?service&scope…`
 * with optional Basic auth, and the OAuth2 `POST` form with password and refresh-token grants.
 * Grants are the intersection of what was asked and what the rules allow; a partial grant is
 * not an error. Refresh tokens are random, held in memory, bound to their user.
 */
export class TokenIssuer {
  readonly issuer: string;
  readonly service: string;
  readonly certificatePem: string | undefined;
  /** Token exchanges per (subject, scope set), keyed by `exchangeStatsKey`. */
  readonly stats = new Map<string, number>();
  readonly #key: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #users: Record<string, TokenIssuerUser>;
  readonly #anonymous: AccessRule[];
  readonly #catalogUsers: Set<string>;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #refreshTokens = new Map<string, string>();

  constructor(options: TokenIssuerOptions) {
    if (!options.issuer) throw new ConfigError('TokenIssuer: option "issuer" is required');
    if (!options.service) throw new ConfigError('TokenIssuer: option "service" is required');
    try {
      this.#key = createPrivateKey(options.signingKeyPem);
      algorithmFor(this.#key);
    } catch (err) {
      throw new ConfigError(`TokenIssuer: option "signingKeyPem": ${(err as Error).message}`);
    }
    const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl <= 0) throw new ConfigError('TokenIssuer: option "ttlSeconds" must be a positive integer');
    this.issuer = options.issuer;
    this.service = options.service;
    this.certificatePem = options.certificatePem;
    this.#publicKey = createPublicKey(this.#key);
    this.#users = options.users ?? {};
    this.#anonymous = options.anonymous ?? [];
    this.#catalogUsers = new Set(options.catalogUsers ?? []);
    this.#ttl = ttl;
    this.#now = options.now ?? Date.now;
  }

  /**
   * An issuer with a fresh signing key and its self-signed certificate (`certificatePem`), for
   * a registry's `rootcertbundle` — what `gantry serve` and the tests use.
   */
  static withGeneratedKey(options: Omit<TokenIssuerOptions, 'signingKeyPem' | 'certificatePem'>, keyType: KeyType = 'ec-p256'): TokenIssuer {
    const { certPem, keyPem } = createCertificateAuthority({ commonName: `${options.issuer} token signer`, keyType });
    return new TokenIssuer({ ...options, signingKeyPem: keyPem, certificatePem: certPem });
  }

  /** The `kid` every token carries. */
  get keyId(): string {
    return libtrustKeyId(this.#publicKey);
  }

  /**
   * Serves the realm: mount it at whatever path the registry's `realm` names. Password checks
   * (bcrypt in worker threads) ask `guard` first and report failures to it: the embedded
   * registry passes its failed-authentication throttle.
   */
  async handle(req: IncomingMessage, res: ServerResponse, guard: AuthAttemptGuard = OPEN_GUARD): Promise<void> {
    try {
      const body = await this.#exchange(req, guard);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    } catch (err) {
      // A throttled client or a full bcrypt queue: 429 or 503 with Retry-After.
      const f =
        err instanceof HttpFailure ? err
        : err instanceof RegistryRequestError ? new HttpFailure(err.status, err.registryCode, err.plainMessage, err.headers)
        : new HttpFailure(500, 'UNKNOWN', 'internal error');
      const headers: Record<string, string> = { 'content-type': 'application/json', ...f.headers };
      if (f.status === 401) headers['www-authenticate'] = `Basic realm="${this.service}"`;
      if (f.status === 405) headers.allow = 'GET, POST';
      res.writeHead(f.status, headers);
      res.end(JSON.stringify({ errors: [{ code: f.code, message: f.message }] }));
    }
  }

  async #exchange(req: IncomingMessage, guard: AuthAttemptGuard): Promise<Record<string, unknown>> {
    const attempt = { client: clientAddress(req), guard };
    const url = new URL(req.url ?? '/', 'http://issuer.invalid');
    let subject: string;
    let scopes: Scope[];
    let wantsRefresh: boolean;
    let service: string | null;
    if (req.method === 'GET') {
      service = url.searchParams.get('service');
      scopes = parseScopes(url.searchParams.getAll('scope').flatMap((s) => s.split(' ')));
      subject = await this.#basicUser(req.headers.authorization, attempt);
      wantsRefresh = url.searchParams.get('offline_token') === 'true' && subject !== '';
    } else if (req.method === 'POST') {
      const form = new URLSearchParams(await readForm(req));
      service = form.get('service');
      if (!form.get('client_id')) throw new HttpFailure(400, 'UNSUPPORTED', 'missing client_id');
      scopes = parseScopes((form.get('scope') ?? '').split(' '));
      const grant = form.get('grant_type');
      if (grant === 'password') {
        subject = await this.#checkPassword(form.get('username') ?? '', form.get('password') ?? '', attempt);
        wantsRefresh = form.get('access_type') === 'offline';
      } else if (grant === 'refresh_token') {
        const owner = this.#refreshTokens.get(form.get('refresh_token') ?? '');
        if (owner === undefined || !(owner in this.#users)) throw unauthorized();
        subject = owner;
        wantsRefresh = false;
      } else {
        throw new HttpFailure(400, 'UNSUPPORTED', 'unsupported grant_type');
      }
    } else {
      throw new HttpFailure(405, 'UNSUPPORTED', 'method not allowed');
    }
    if (service !== null && service !== this.service) throw new HttpFailure(400, 'UNSUPPORTED', 'unknown service');

    const key = exchangeStatsKey(subject, scopes);
    this.stats.set(key, (this.stats.get(key) ?? 0) + 1);
    const now = Math.floor(this.#now() / 1000);
    const claims: TokenClaims = {
      iss: this.issuer,
      sub: subject,
      aud: this.service,
      exp: now + this.#ttl,
      nbf: now,
      iat: now,
      jti: randomBytes(16).toString('hex'),
      access: this.#grant(subject, scopes),
    };
    const token = signJwt(claims, this.#key);
    const out: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: this.#ttl,
      issued_at: new Date(now * 1000).toISOString(),
    };
    if (wantsRefresh) {
      const refresh = randomBytes(32).toString('base64url');
      this.#refreshTokens.set(refresh, subject);
      out.refresh_token = refresh;
    }
    return out;
  }

  /** '' for an anonymous request; throws 401 for a wrong user or password. */
  async #basicUser(header: string | undefined, attempt: PasswordAttempt): Promise<string> {
    if (!header) return '';
    const m = /^basic\s+(\S+)$/i.exec(header);
    if (!m) throw unauthorized();
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw unauthorized();
    return this.#checkPassword(decoded.slice(0, colon), decoded.slice(colon + 1), attempt);
  }

  /** The user name when the password is right; 401 otherwise, 429 while the client backs off. */
  async #checkPassword(username: string, password: string, { client, guard }: PasswordAttempt): Promise<string> {
    guard.admit(client);
    const user = Object.hasOwn(this.#users, username) ? this.#users[username] : undefined;
    let ok = false;
    if (user && password) {
      ok = /^\$2[aby]?\$/.test(user.password)
        ? await verifyBcrypt(username, password, user.password, { client, admit: () => guard.admit(client) })
        : user.password.length === password.length && timingSafeEqual(Buffer.from(user.password), Buffer.from(password));
    }
    if (!ok) {
      guard.failed(client);
      throw unauthorized();
    }
    return username;
  }

  /** Intersection of asked and allowed, per resource; resources with nothing granted are left out. */
  #grant(subject: string, scopes: readonly Scope[]): AccessEntry[] {
    const rules = [...this.#anonymous, ...(subject ? (this.#users[subject]?.access ?? []) : [])];
    const out: AccessEntry[] = [];
    for (const s of mergeScopes(scopes)) {
      let allowed: string[] = [];
      if (s.type === 'repository') {
        for (const r of rules) {
          if (!globMatches(r.repository, s.name)) continue;
          allowed.push(...(r.actions.includes('*') ? [...ALL_REPOSITORY_ACTIONS, '*'] : r.actions));
        }
      } else if (s.type === 'registry' && s.name === 'catalog' && subject && this.#catalogUsers.has(subject)) {
        allowed = ['*'];
      }
      const actions = s.actions.filter((a) => allowed.includes(a));
      if (actions.length > 0) out.push({ type: s.type, name: s.name, actions });
    }
    return out;
  }

  /** Checks a token this issuer signed (signature, `iss`, `aud`, `exp`/`nbf`); undefined when invalid. */
  verify(token: string): VerifiedToken | undefined {
    const claims = verifyJwt(token, this.#publicKey);
    if (!claims) return undefined;
    const now = Math.floor(this.#now() / 1000);
    const audiences = Array.isArray(claims.aud) ? (claims.aud as unknown[]) : [claims.aud];
    if (claims.iss !== this.issuer || !audiences.includes(this.service)) return undefined;
    if (typeof claims.exp !== 'number' || now >= claims.exp) return undefined;
    if (typeof claims.nbf !== 'number' || now < claims.nbf) return undefined;
    return { subject: typeof claims.sub === 'string' ? claims.sub : '', access: Array.isArray(claims.access) ? claims.access : [] };
  }
}

function parseScopes(texts: readonly string[]): Scope[] {
  const out: Scope[] = [];
  for (const t of texts) {
    if (t === '') continue;
    const s = parseScope(t);
    if (!s) throw new HttpFailure(400, 'UNSUPPORTED', 'invalid scope');
    out.push(s);
  }
  return out;
}

function readForm(req: IncomingMessage): Promise<string> {
  return new Promise((resolveForm, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        reject(new HttpFailure(413, 'UNSUPPORTED', 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolveForm(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * The token issuer's state and its HTTP handler: keys, users and refresh tokens, the password
 * checks, and the answer at the realm. The jobs it leans on have their own files: parsing the
 * request (request.ts), deciding the grant (access.ts), signing the JWT (jwt.ts, key-id.ts).
 * The embedded registry serves it at its realm; the tests also point the real registry at it.
 */
import { createPrivateKey, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError } from '../../errors.js';
import { createCertificateAuthority } from '../../pki/x509.js';
import type { KeyType } from '../../pki/x509.js';
import type { Scope } from '../../ref/scope.js';
import { scopeSetKey } from '../../ref/scope.js';
import { OPEN_GUARD, clientAddress, type AuthAttemptGuard } from '../auth-throttle.js';
import { RegistryRequestError } from '../errors.js';
import { verifyBcrypt } from '../password-check.js';
import { grantAccess, type AccessRule } from './access.js';
import { algorithmFor, signJwt, verifyJwt, type AccessEntry, type TokenClaims } from './jwt.js';
import { libtrustKeyId } from './key-id.js';
import { TokenRequestError, parseTokenRequest, unauthorized, type TokenCredentials } from './request.js';

/** A user of a {@link TokenIssuer}: the password they log in with and the access they may be granted. */
export interface TokenIssuerUser {
  /** A bcrypt hash (`$2a$…`, `$2b$…`, `$2y$…`) or, for tests, the plain password. */
  password: string;
  /** The user's grant rules, added to the `anonymous` ones; what they ask for beyond these is left out of the token. */
  access: AccessRule[];
}

/**
 * The options of a {@link TokenIssuer}. A missing `issuer` or `service`, a `signingKeyPem` that is
 * not a P-256 or RSA private key, or a `ttlSeconds` that is not a positive integer is a
 * `ConfigError` (code `INVALID_CONFIG`).
 */
export interface TokenIssuerOptions {
  /** `iss` claim; must equal the registry's `auth.token.issuer`. */
  issuer: string;
  /** `aud` claim; must equal the registry's `auth.token.service`. */
  service: string;
  /** PEM private key, ECDSA P-256 (ES256) or RSA (RS256). Its certificate goes into `rootcertbundle`. */
  signingKeyPem: string;
  /** The signing key's certificate, kept for callers that write the `rootcertbundle`. */
  certificatePem?: string;
  /** The users who may log in (password or refresh token), keyed by user name. Default none. */
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

/** What {@link TokenIssuer.verify} reads from a valid token. */
export interface VerifiedToken {
  /** The `sub` claim: the user the token was issued to, `''` for an anonymous token. */
  subject: string;
  /** The `access` claim: what the token grants, per resource (empty when the claim is missing). */
  access: AccessEntry[];
}

/** Default token lifetime: long enough for a push, short enough that a leaked token expires soon. */
export const DEFAULT_TOKEN_TTL_SECONDS = 300;

/** Who is trying a password, and the throttle to ask. */
interface PasswordAttempt {
  client: string;
  guard: AuthAttemptGuard;
}

/** Statistics key: `<subject or (anonymous)> <scope set key>`. */
export function exchangeStatsKey(subject: string, scopes: readonly Scope[]): string {
  return `${subject || '(anonymous)'} ${scopeSetKey(scopes)}`;
}

/**
 * A token server per the distribution token spec
 * (https://distribution.github.io/distribution/spec/auth/token/): `GET realm?service&scope…`
 * with optional Basic auth, and the OAuth2 `POST` form with password and refresh-token grants
 * (https://distribution.github.io/distribution/spec/auth/oauth/). Grants are the intersection
 * of what was asked and what the rules allow; a partial grant is not an error. Refresh tokens
 * are random, held in memory, bound to their user. Its JWTs are what the CNCF registry 2.8
 * verifies, given the signing key's certificate in its `rootcertbundle`.
 */
export class TokenIssuer {
  /** The `iss` claim of its tokens (`options.issuer`); `verify` refuses tokens with another. */
  readonly issuer: string;
  /** The `aud` claim of its tokens (`options.service`), and the only `service` its endpoint accepts (400 otherwise). */
  readonly service: string;
  /** The signing key's certificate for a registry's `rootcertbundle`; undefined when `options.certificatePem` was not given. */
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
        err instanceof TokenRequestError ? err
        : err instanceof RegistryRequestError ? new TokenRequestError(err.status, err.registryCode, err.plainMessage, err.headers)
        : new TokenRequestError(500, 'UNKNOWN', 'internal error');
      const headers: Record<string, string> = { 'content-type': 'application/json', ...f.headers };
      if (f.status === 401) headers['www-authenticate'] = `Basic realm="${this.service}"`;
      if (f.status === 405) headers.allow = 'GET, POST';
      res.writeHead(f.status, headers);
      res.end(JSON.stringify({ errors: [{ code: f.code, message: f.message }] }));
    }
  }

  async #exchange(req: IncomingMessage, guard: AuthAttemptGuard): Promise<Record<string, unknown>> {
    const attempt = { client: clientAddress(req), guard };
    const request = await parseTokenRequest(req);
    const subject = await this.#authenticate(request.credentials, attempt);
    if (request.service !== null && request.service !== this.service) throw new TokenRequestError(400, 'UNSUPPORTED', 'unknown service');

    const key = exchangeStatsKey(subject, request.scopes);
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
      access: this.#grant(subject, request.scopes),
    };
    const token = signJwt(claims, this.#key);
    const out: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: this.#ttl,
      issued_at: new Date(now * 1000).toISOString(),
    };
    if (request.offline) {
      const refresh = randomBytes(32).toString('base64url');
      this.#refreshTokens.set(refresh, subject);
      out.refresh_token = refresh;
    }
    return out;
  }

  /** The subject: '' for an anonymous request, the user for a right password or a known refresh token; 401 otherwise. */
  async #authenticate(credentials: TokenCredentials, attempt: PasswordAttempt): Promise<string> {
    if (credentials.type === 'anonymous') return '';
    if (credentials.type === 'password') return this.#checkPassword(credentials.username, credentials.password, attempt);
    const owner = this.#refreshTokens.get(credentials.refreshToken);
    if (owner === undefined || !(owner in this.#users)) throw unauthorized();
    return owner;
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

  /** What `subject` gets of `scopes`: the anonymous rules, plus the user's own when there is one. */
  #grant(subject: string, scopes: readonly Scope[]): AccessEntry[] {
    const rules = [...this.#anonymous, ...(subject ? (this.#users[subject]?.access ?? []) : [])];
    return grantAccess(scopes, rules, subject !== '' && this.#catalogUsers.has(subject));
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

/**
 * The auth layer: answers registry challenges (docs/docker-rules.md, "Token auth").
 *
 * It sits below the redirect layer, so it sees every hop as its own request and decides
 * for that hop's origin (issue 12):
 *   - challenges are learnt per endpoint (`scheme://host:port/<prefix>/v2/`) of the origin
 *     that sent the 401, or fed in from the ping;
 *   - credentials go only to a registry origin (one endpoint negotiation recorded for a
 *     registry the caller named, mirrors excluded): a 401 from any other origin (a storage
 *     host a registry redirected to, a host it points at) is answered anonymously — a token
 *     fetched without credentials — or, for Basic, returned as the error it is;
 *   - credentials are asked per (registry host, repository of the hop) — containers' auth.json
 *     holds per-repository keys: Basic takes the repository of the request's `/v2/<repo>/`
 *     path, Bearer the repository of the scopes asked for (the one pushed to, else the first);
 *     the `/v2/` ping, login and the catalog name none and get the host's credentials;
 *   - tokens are cached per (origin, credentials, realm, service, scopes), so a token fetched
 *     with one registry's credentials is never handed to another origin that names the same
 *     realm, nor to a request of the same registry whose credentials differ; refresh tokens
 *     are kept per (host, credentials) for the same reason;
 *   - stricter than Docker: credentials are never sent to a plain-http token realm unless
 *     that realm's host is itself insecure (`--insecure-registry`).
 * A request to an endpoint with a challenge is authorized before it is sent:
 *   - Bearer: a token for the request's scopes (named by the caller, else derived from the
 *     method and path), fetched from the realm with GET (Basic credentials and `account`),
 *     or with the OAuth2 POST form when an identity token is held (falling back to GET when
 *     the server answers 404/405); concurrent callers share one exchange; a registry token
 *     is sent as it is;
 *   - Basic: the stored user and password, to the registry that challenged for them only.
 * A 401 that names a wider scope (or `insufficient_scope`) widens the scopes once and retries.
 */
import { createHash } from 'node:crypto';
import { ErrorCode, GantryError } from '../errors.js';
import { checkOptions } from '../options.js';
import { drainBody, readCapped } from '../transport/body.js';
import { redirect } from '../transport/layers/redirect.js';
import { isReplayableBody } from '../transport/rules.js';
import { headerValues, type Layer, type Send, type TransportContext, type TransportRequest, type TransportResponse } from '../transport/types.js';
import { ChallengeStore, parseWwwAuthenticate, pingPathFor, type Challenge } from './challenge.js';
import { AuthError, authErrorFromResponse } from './errors.js';
import { redactUrl } from '../redact.js';
import type { Credentials, CredentialSource } from './keychain.js';
import { formatScope, mergeScopes, parseScopeList, registryScope, repositoryScope, scopesCover, type Scope } from '../ref/scope.js';
import { MAX_TOKEN_RESPONSE_BYTES, parseTokenResponse, TokenCache, tokenCacheKey, type TokenResponse } from './token-response.js';

/** Docker sends `docker`; gantry names itself. */
export const DEFAULT_CLIENT_ID = 'gantry';

export interface AuthorizerOptions {
  /** Where credentials come from. None: anonymous. */
  readonly credentials?: CredentialSource;
  /** OAuth2 `client_id`. */
  readonly clientId?: string;
  /** Ask the token server for a refresh token (login does). */
  readonly offlineAccess?: boolean;
  /** Called when the token server hands out a refresh token (login stores it as the identity token). */
  readonly onRefreshToken?: (registryHost: string, token: string) => void;
  /** Clock for the token cache. */
  readonly now?: () => Date;
}

/** The credential key of an endpoint host: Docker Hub's API host maps to `docker.io`. */
export function registryHostOf(url: URL): string {
  return url.host === 'registry-1.docker.io' ? 'docker.io' : url.host;
}

/** Scopes a request needs, from its method and path (distribution's action mapping). */
export function scopesFor(method: string, url: URL): Scope[] {
  const path = url.pathname;
  const v2 = path.indexOf('/v2/');
  if (v2 < 0) return [];
  if (path.slice(v2 + 4) === '_catalog') return [registryScope('catalog', ['*'])];
  const name = repositoryOfPath(url);
  if (name === undefined) return [];
  const actions = method === 'GET' || method === 'HEAD' ? ['pull'] : method === 'DELETE' ? ['delete'] : ['pull', 'push'];
  const scopes = [repositoryScope(name, actions)];
  const from = url.searchParams.get('from');
  if (from && url.searchParams.has('mount')) scopes.push(repositoryScope(from, ['pull']));
  return scopes;
}

/**
 * The repository a distribution API path names (`/v2/<name>/manifests|blobs|tags|referrers/…`);
 * undefined for the `/v2/` ping, the catalog and any other path.
 */
export function repositoryOfPath(url: URL): string | undefined {
  const path = url.pathname;
  const v2 = path.indexOf('/v2/');
  if (v2 < 0) return undefined;
  const m = /^(.+?)\/(manifests|blobs|tags|referrers)\//.exec(path.slice(v2 + 4));
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/**
 * The repository whose credentials a token exchange for `scopes` uses: the one pushed to (a
 * cross-repository mount asks `pull,push` on the target and `pull` on the source), else the
 * first repository scope; undefined when none names a repository (login, the catalog).
 */
export function credentialRepository(scopes: readonly Scope[]): string | undefined {
  const repos = scopes.filter((s) => s.type === 'repository');
  return (repos.find((s) => s.actions.includes('push') || s.actions.includes('*')) ?? repos[0])?.name;
}

export class Authorizer {
  readonly challenges = new ChallengeStore();
  readonly tokens: TokenCache;
  /** Token exchanges made, per cache key: tests count them, `--debug` reports them. */
  readonly exchanges = new Map<string, number>();
  /** Refresh tokens the token server handed out, per (host, credential identity). */
  private readonly refreshTokens = new Map<string, string>();
  /** One lookup per (host, repository); a key without a repository is the host's own. */
  private readonly credentialCache = new Map<string, Promise<Credentials | undefined>>();
  /** Short ids for distinct credentials (by a hash of their secrets), so cache keys and `exchanges` carry no secret. */
  private readonly credentialIds = new Map<string, number>();

  constructor(private readonly options: AuthorizerOptions = {}) {
    checkOptions('Authorizer', options)
      .check('credentials', (v) => typeof v === 'object' && v !== null && typeof (v as CredentialSource).resolve === 'function', 'a CredentialSource (an object with resolve(host))')
      .string('clientId')
      .boolean('offlineAccess')
      .func('onRefreshToken')
      .func('now');
    this.tokens = new TokenCache(options.now ? { now: options.now } : {});
  }


  /** Records the challenges a ping met (`WWW-Authenticate` values of a 401; none for a 200). */
  learn(pingUrl: URL, wwwAuthenticate: readonly string[]): void {
    this.challenges.set(pingUrl, parseWwwAuthenticate(wwwAuthenticate));
  }

  /**
   * The user's credentials for a hop's origin and the repository it is for (none: the host's):
   * only a registry origin that is not a mirror has any.
   */
  private credentialsFor(url: URL, context: TransportContext | undefined, repository: string | undefined): Promise<Credentials | undefined> {
    const source = this.options.credentials;
    if (!source) return Promise.resolve(undefined);
    const registry = context?.origins.get(url);
    if (!registry || registry.mirror) return Promise.resolve(undefined);
    const host = registryHostOf(url);
    const key = JSON.stringify([host, repository ?? null]);
    let p = this.credentialCache.get(key);
    if (!p) {
      // A source written for resolve(host) is called as before when there is no repository.
      p = repository ? source.resolve(host, repository) : source.resolve(host);
      this.credentialCache.set(key, p);
    }
    return p;
  }

  /** Who a token is fetched as: `anonymous`, or `cred#N` for the N-th distinct credentials seen (no secret in it). */
  private credentialIdentity(creds: Credentials | undefined): string {
    if (!creds || !(creds.username || creds.password || creds.identityToken || creds.registryToken)) return 'anonymous';
    const digest = createHash('sha256')
      .update(JSON.stringify([creds.username ?? null, creds.password ?? null, creds.identityToken ?? null, creds.registryToken ?? null]))
      .digest('hex');
    let id = this.credentialIds.get(digest);
    if (id === undefined) {
      id = this.credentialIds.size + 1;
      this.credentialIds.set(digest, id);
    }
    return `cred#${id}`;
  }

  layer(): Layer {
    return (next, context) => {
      // Token requests follow redirects themselves (the layer above only sees registry requests).
      const tokenSend = redirect()(next, context);
      return (req) => this.send(next, tokenSend, context, req);
    };
  }

  /** One hop through the auth layer: authorize for the hop's origin, answer its 401. */
  private async send(next: Send, tokenSend: Send, context: TransportContext | undefined, req: TransportRequest): Promise<TransportResponse> {
    if (req.anonymous) return next(req);
    const pingPath = pingPathFor(req.url.pathname);
    if (pingPath === undefined) return next(req);
    const pingUrl = new URL(pingPath, req.url);
    let scopes = req.scopes ? [...req.scopes] : scopesFor(req.method, req.url);
    let challenges = this.challenges.get(pingUrl);
    let authorized = challenges && challenges.length > 0 ? await this.authorize(tokenSend, context, req, challenges, scopes) : req;
    let res = await next(authorized);
    for (let round = 0; res.status === 401 && round < 2 && isReplayableBody(req.body); round++) {
      const fresh = parseWwwAuthenticate(headerValues(res.headers, 'www-authenticate'));
      if (fresh.length === 0) break;
      const bearer = fresh.find((c) => c.scheme === 'bearer');
      const sentAuth = authorized !== req;
      if (sentAuth) {
        // Widen once when the registry asks for more than the token carried.
        const asked = bearer?.parameters.scope ? parseScopeList(bearer.parameters.scope) : [];
        const widened = mergeScopes(scopes, asked);
        if (!bearer || (scopesCover(scopes, widened) && bearer.parameters.error !== 'insufficient_scope') || round > 0) break;
        scopes = widened;
      }
      this.challenges.set(pingUrl, fresh);
      challenges = fresh;
      // Nothing to answer the challenge with (no credentials for this origin, Basic): the 401 stands.
      const answer = await this.authorize(tokenSend, context, req, challenges, scopes);
      if (answer === req) break;
      await drainBody(res.body);
      authorized = answer;
      res = await next(authorized);
    }
    return res;
  }

  /** Token-server refusals name the registry request they were for, as Docker's do (`GET https://host/v2/…: unauthorized: …`). */
  private async authorize(send: Send, context: TransportContext | undefined, req: TransportRequest, challenges: readonly Challenge[], scopes: Scope[]): Promise<TransportRequest> {
    try {
      return await this.authorizeOnce(send, context, req, challenges, scopes);
    } catch (err) {
      if (err instanceof AuthError && !err.message.startsWith(`${req.method} `)) {
        throw new AuthError(err.status, err.errors, { message: `${req.method} ${redactUrl(req.url)}: ${err.message}`, url: err.url });
      }
      throw err;
    }
  }

  private async authorizeOnce(send: Send, context: TransportContext | undefined, req: TransportRequest, challenges: readonly Challenge[], scopes: Scope[]): Promise<TransportRequest> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      // The token's scopes say which repository's credentials fetch it.
      const creds = await this.credentialsFor(req.url, context, credentialRepository(scopes));
      if (creds?.registryToken) return withAuth(req, `Bearer ${creds.registryToken}`);
      const token = await this.token(send, req.url, bearer, scopes, creds, context);
      return withAuth(req, `Bearer ${token.token}`);
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (!basic) return req;
    // Basic goes with each request: the repository of this hop's path.
    const creds = await this.credentialsFor(req.url, context, repositoryOfPath(req.url));
    if (creds?.username && creds.password) {
      return withAuth(req, `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`);
    }
    return req;
  }

  /**
   * A token for (origin, credentials, realm, service, scopes), from the cache or one shared
   * exchange. `creds` are the user's for `registryUrl`'s origin and the scopes' repository
   * (none for a foreign origin); a token fetched with other credentials is never returned.
   */
  async token(send: Send, registryUrl: URL, challenge: Challenge, scopes: Scope[], creds: Credentials | undefined, context?: TransportContext): Promise<TokenResponse> {
    const realm = challenge.parameters.realm;
    if (!realm) throw new GantryError(ErrorCode.INVALID_RESPONSE, `${registryUrl.host}: no realm specified for token auth challenge`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new GantryError(ErrorCode.INVALID_RESPONSE, `${registryUrl.host}: invalid token auth challenge realm: ${realm}`);
    }
    if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') {
      throw new GantryError(ErrorCode.INVALID_RESPONSE, `${registryUrl.host}: invalid token auth challenge realm: ${realm}`);
    }
    const service = challenge.parameters.service;
    const identity = this.credentialIdentity(creds);
    const key = `${registryUrl.origin} ${identity} ${tokenCacheKey({ realm, ...(service ? { service } : {}), scopes })}`;
    return this.tokens.getOrFetch(key, async () => {
      this.exchanges.set(key, (this.exchanges.get(key) ?? 0) + 1);
      const host = registryHostOf(registryUrl);
      // A refresh token belongs to the credentials that earned it, not to the whole host.
      const refreshKey = `${host} ${identity}`;
      const refresh = creds ? (this.refreshTokens.get(refreshKey) ?? creds.identityToken) : undefined;
      const sendsSecret = refresh !== undefined || !!(creds?.username && creds.password);
      if (sendsSecret && realmUrl.protocol === 'http:' && !(context && (await context.isInsecure(realmUrl.host)))) {
        throw new GantryError(
          ErrorCode.INSECURE_TRANSPORT,
          `${registryUrl.host}: refusing to send credentials to the plain-http token realm ${redactUrl(realmUrl)}; ` +
            `if that is intended, mark its host insecure with --insecure-registry ${realmUrl.host}`,
        );
      }
      const t = refresh ? await this.fetchOAuth(send, realmUrl, service, scopes, creds, refresh) : await this.fetchGet(send, realmUrl, service, scopes, creds);
      if (t.refreshToken && t.refreshToken !== refresh) {
        this.refreshTokens.set(refreshKey, t.refreshToken);
        this.options.onRefreshToken?.(host, t.refreshToken);
      }
      return t;
    });
  }

  private async fetchGet(send: Send, realm: URL, service: string | undefined, scopes: Scope[], creds: Credentials | undefined): Promise<TokenResponse> {
    const params = new URLSearchParams(realm.search);
    const basic = creds?.username && creds.password;
    if (basic) params.append('account', creds.username!);
    if (this.options.offlineAccess) {
      params.append('client_id', this.options.clientId ?? DEFAULT_CLIENT_ID);
      params.append('offline_token', 'true');
    }
    for (const s of scopes) params.append('scope', formatScope(s));
    if (service) params.append('service', service);
    params.sort(); // Go's url.Values.Encode sorts keys
    const url = new URL(realm.href);
    url.search = params.toString();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (basic) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    return this.exchange(send, { method: 'GET', url, headers, timeout: 'ping' });
  }

  private async fetchOAuth(send: Send, realm: URL, service: string | undefined, scopes: Scope[], creds: Credentials | undefined, refreshToken: string): Promise<TokenResponse> {
    const form = new URLSearchParams();
    form.set('client_id', this.options.clientId ?? DEFAULT_CLIENT_ID);
    form.set('grant_type', 'refresh_token');
    form.set('refresh_token', refreshToken);
    if (scopes.length > 0) form.set('scope', scopes.map(formatScope).join(' '));
    if (service) form.set('service', service);
    if (this.options.offlineAccess) form.set('access_type', 'offline');
    const res = await send({ method: 'POST', url: realm, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString(), timeout: 'ping' });
    if (res.status === 404 || res.status === 405) {
      // The token server has no OAuth2 POST: Docker falls back to GET with what it has.
      await drainBody(res.body);
      return this.fetchGet(send, realm, service, scopes, creds);
    }
    return this.parse(res, realm);
  }

  private async exchange(send: Send, req: TransportRequest): Promise<TokenResponse> {
    return this.parse(await send(req), req.url);
  }

  private async parse(res: TransportResponse, realm: URL): Promise<TokenResponse> {
    const body = await readCapped(res, MAX_TOKEN_RESPONSE_BYTES, `token response from ${realm.origin}`);
    if (res.status < 200 || res.status >= 300) throw authErrorFromResponse(res.status, res.headers, body, { url: realm.href });
    return parseTokenResponse(body, new Date());
  }
}

function withAuth(req: TransportRequest, value: string): TransportRequest {
  return { ...req, headers: { ...req.headers, authorization: value } };
}

/** Scopes as strings, for `TransportRequest.scopes`. */
export function scopeStrings(...scopes: Scope[]): string[] {
  return scopes.map(formatScope);
}


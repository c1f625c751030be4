/**
 * Who may do what. Each request needs a scope (distribution's mapping: GET/HEAD → pull,
 * POST/PUT/PATCH → pull+push, DELETE → delete, the catalog → `registry:catalog:*`). With
 * htpasswd, any known user may do anything; with tokens, the token's access list decides.
 * A refusal is a 401 whose `WWW-Authenticate` challenge tells the client what to fetch.
 * Password checks go through `guard` (auth-throttle.ts): an address with too many failures is
 * refused with 429 before bcrypt runs.
 */
import type { IncomingMessage } from 'node:http';
import { clientAddress, type AuthAttemptGuard } from './auth-throttle.js';
import { RegistryErrorCode, RegistryRequestError } from './errors.js';
import { Htpasswd, parseBasicAuthorization } from './htpasswd.js';
import type { RegistryAuthOptions, TokenAccess } from './options.js';

export interface Scope {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

/** What an authenticated request may do beyond its own scope (e.g. pull from a mount source). */
export interface Grant {
  subject?: string;
  can(type: Scope['type'], name: string, action: string): boolean;
}

export interface Authorizer {
  /** Resolves the grant or throws 401 with the challenge for `scope` (none for `/v2/`). */
  authorize(req: IncomingMessage, scope: Scope | undefined): Promise<Grant>;
}

const EVERYTHING: Grant = { can: () => true };

export async function createAuthorizer(auth: RegistryAuthOptions, tokenRealm: () => string, guard: AuthAttemptGuard): Promise<Authorizer> {
  if (auth.type === 'none') return { authorize: async () => EVERYTHING };
  if (auth.type === 'htpasswd') {
    const htpasswd = await Htpasswd.load(auth.file);
    const challenge = `Basic realm="${auth.realm ?? 'gantry'}"`;
    return {
      async authorize(req) {
        const creds = parseBasicAuthorization(req.headers.authorization);
        if (!creds) throw unauthorized(challenge, 'authentication required');
        const client = clientAddress(req);
        guard.admit(client);
        if (await htpasswd.verify(creds.user, creds.password, { client, admit: () => guard.admit(client) })) return { subject: creds.user, can: () => true };
        guard.failed(client);
        throw unauthorized(challenge, 'invalid username or password');
      },
    };
  }
  const { issuer, service } = auth;
  return {
    async authorize(req, scope) {
      const challenge = (error?: string): string => {
        const parts = [`realm="${auth.realm ?? tokenRealm()}"`, `service="${service}"`];
        if (scope) parts.push(`scope="${scope.type}:${scope.name}:${scope.actions.join(',')}"`);
        if (error) parts.push(`error="${error}"`);
        return `Bearer ${parts.join(',')}`;
      };
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m) throw unauthorized(challenge(), 'authentication required');
      const claims = await issuer.verify(m[1] as string);
      if (!claims) throw unauthorized(challenge('invalid_token'), 'invalid or expired token');
      const grant: Grant = { subject: claims.subject, can: (type, name, action) => allows(claims.access, type, name, action) };
      if (scope && !scope.actions.every((a) => grant.can(scope.type, scope.name, a))) {
        throw unauthorized(challenge('insufficient_scope'), 'the token does not grant this access', scope);
      }
      return grant;
    },
  };
}

function allows(access: TokenAccess[], type: string, name: string, action: string): boolean {
  return access.some((a) => a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes('*')));
}

function unauthorized(challenge: string, message: string, scope?: Scope): RegistryRequestError {
  const detail = scope ? [{ Type: scope.type, Name: scope.name, Action: scope.actions.join(',') }] : undefined;
  return new RegistryRequestError(401, RegistryErrorCode.UNAUTHORIZED, message, detail, { 'WWW-Authenticate': challenge });
}

/**
 * The small config file of token auth (`gantry serve --token-config FILE`): who may pull,
 * push and delete where, and what anonymous clients may pull. JSON:
 *
 *   {
 *     "service": "gantry",                   optional, default "gantry" (the token audience)
 *     "issuer": "gantry",                    optional, default "gantry"
 *     "signingKey": "token-key.pem",         optional: PEM file (P-256 or RSA); default a fresh
 *                                            P-256 key per process (tokens die with the process)
 *     "users": { "alice": { "password": "$2y$...", "access": [{ "repository": "team/*", "actions": ["pull", "push"] }] } },
 *     "anonymous": [{ "repository": "public/*", "actions": ["pull"] }],
 *     "catalogUsers": ["alice"]
 *   }
 *
 * Passwords must be bcrypt hashes (as in htpasswd), so the file never holds a clear password.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { AccessRule } from './token/access.js';
import { TokenIssuer, type TokenIssuerUser } from './token/issuer.js';

const BCRYPT_RE = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const ACTIONS = new Set(['pull', 'push', 'delete', '*']);

/** A token config, loaded: what `auth: { type: 'token', issuer, service }` of {@link createRegistryServer} takes. */
export interface TokenAuth {
  /** The token issuer the config describes, with its users, rules and signing key. */
  issuer: TokenIssuer;
  /** The token audience: the config's `service`, default `gantry`. */
  service: string;
}

function rules(value: unknown, where: string): AccessRule[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ConfigError(`${where} must be a list of {repository, actions}`);
  return value.map((rule: unknown, i) => {
    const r = rule as { repository?: unknown; actions?: unknown } | null;
    if (typeof r?.repository !== 'string' || r.repository === '') throw new ConfigError(`${where}[${i}].repository must be a repository name or glob`);
    if (!Array.isArray(r.actions) || !r.actions.every((a) => typeof a === 'string' && ACTIONS.has(a))) {
      throw new ConfigError(`${where}[${i}].actions must list pull, push, delete or *`);
    }
    return { repository: r.repository, actions: r.actions as AccessRule['actions'] };
  });
}

/** Parses the config text; `baseDir` resolves a relative `signingKey`. */
export async function parseTokenConfig(text: string, source: string, baseDir: string): Promise<TokenAuth> {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not an object');
  } catch (err) {
    throw new ConfigError(`${source}: not a JSON object: ${(err as Error).message}`);
  }
  const service = doc.service ?? 'gantry';
  const issuerName = doc.issuer ?? 'gantry';
  if (typeof service !== 'string' || service === '') throw new ConfigError(`${source}: service must be a non-empty string`);
  if (typeof issuerName !== 'string' || issuerName === '') throw new ConfigError(`${source}: issuer must be a non-empty string`);
  const users: Record<string, TokenIssuerUser> = {};
  const rawUsers = doc.users ?? {};
  if (typeof rawUsers !== 'object' || rawUsers === null || Array.isArray(rawUsers)) throw new ConfigError(`${source}: users must be an object keyed by user name`);
  for (const [name, value] of Object.entries(rawUsers as Record<string, unknown>)) {
    const u = value as { password?: unknown; access?: unknown } | null;
    if (typeof u?.password !== 'string' || !BCRYPT_RE.test(u.password)) {
      throw new ConfigError(`${source}: users.${name}.password must be a bcrypt hash (htpasswd -nbB), not a clear password`);
    }
    users[name] = { password: u.password, access: rules(u.access, `${source}: users.${name}.access`) };
  }
  const catalogUsers = doc.catalogUsers ?? [];
  if (!Array.isArray(catalogUsers) || !catalogUsers.every((c) => typeof c === 'string')) throw new ConfigError(`${source}: catalogUsers must be a list of user names`);
  let signingKeyPem: string;
  if (doc.signingKey === undefined) {
    signingKeyPem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  } else if (typeof doc.signingKey === 'string') {
    try {
      signingKeyPem = await readFile(resolve(baseDir, doc.signingKey), 'utf8');
    } catch (err) {
      throw new ConfigError(`${source}: signingKey: cannot read ${doc.signingKey}: ${(err as Error).message}`);
    }
  } else {
    throw new ConfigError(`${source}: signingKey must be the path of a PEM private key`);
  }
  const issuer = new TokenIssuer({
    issuer: issuerName,
    service,
    signingKeyPem,
    users,
    anonymous: rules(doc.anonymous, `${source}: anonymous`),
    catalogUsers: catalogUsers as string[],
  });
  return { issuer, service };
}

/**
 * Reads and parses the token config (JSON) at `file`, a relative `signingKey` resolved against
 * the file's directory. A file that cannot be read or holds an invalid config is a `ConfigError`
 * (code `INVALID_CONFIG`).
 */
export async function loadTokenConfig(file: string): Promise<TokenAuth> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`token config: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseTokenConfig(text, file, dirname(resolve(file)));
}

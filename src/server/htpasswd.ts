/**
 * htpasswd files as the CNCF registry reads them: `user:hash` lines with bcrypt hashes
 * (`$2y$`, `$2a$`, `$2b$`); other hash kinds are refused at load time rather than silently
 * never matching. bcrypt is deliberately slow, so a verified (user, password) pair is
 * remembered by a SHA-256 of both; the password itself is never kept.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../errors.js';

const BCRYPT_RE = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
/** Bounds the cache of verified pairs; a full cache is simply cleared. */
const VERIFIED_CACHE_MAX = 1024;

export class Htpasswd {
  private readonly verified = new Set<string>();

  private constructor(private readonly users: Map<string, string>) {}

  static async load(file: string): Promise<Htpasswd> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`htpasswd: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
    return Htpasswd.parse(text, file);
  }

  static parse(text: string, source = 'htpasswd'): Htpasswd {
    const users = new Map<string, string>();
    text.split(/\r?\n/).forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1);
      if (colon <= 0 || !BCRYPT_RE.test(hash)) {
        // The line number, never the line: it holds a hash.
        throw new ConfigError(`${source}:${index + 1}: expected user:bcrypt-hash (only bcrypt is supported, as in the CNCF registry)`);
      }
      users.set(user, hash);
    });
    return new Htpasswd(users);
  }

  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    if (hash === undefined) return false;
    const key = createHash('sha256').update(user).update('\0').update(password).update('\0').update(hash).digest('hex');
    if (this.verified.has(key)) return true;
    const ok = await bcrypt.compare(password, hash);
    if (ok) {
      if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
      this.verified.add(key);
    }
    return ok;
  }
}

/** The user and password of a `Basic` Authorization header, undefined when it has none. */
export function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | undefined {
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * htpasswd files as the CNCF registry reads them: `user:hash` lines with bcrypt hashes
 * (`$2y$`, `$2a$`, `$2b$`); other hash kinds are refused at load time rather than silently
 * never matching. bcrypt is deliberately slow: it runs in worker threads, and a verified
 * password is remembered for a few minutes (see password-check.ts).
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { verifyBcrypt, type PasswordAttempt } from './password-check.js';

const BCRYPT_RE = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

export class Htpasswd {
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

  /** `attempt` names the client, whose line the comparison waits in (default: one shared line). */
  async verify(user: string, password: string, attempt: PasswordAttempt = { client: '' }): Promise<boolean> {
    const hash = this.users.get(user);
    if (hash === undefined) return false;
    return verifyBcrypt(user, password, hash, attempt);
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

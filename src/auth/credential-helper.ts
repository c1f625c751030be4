/**
 * The credential-helper protocol (https://github.com/docker/docker-credential-helpers;
 * docs/docker-rules.md#credentials): run `docker-credential-<name> <action>`, feed stdin, read
 * stdout. The secret only ever travels on stdin/stdout — never in argv, never in an error
 * message.
 */
import { spawn } from 'node:child_process';
import { CredentialsError } from './docker-config.js';

/** What a helper stores and returns; Username `<token>` marks an identity token. */
export interface HelperCredentials {
  serverURL: string;
  username: string;
  secret: string;
}

/** The user name helpers store identity tokens under (docker/cli `login.md`). */
export const IDENTITY_TOKEN_USERNAME = '<token>';

/** The helper's stdout for "nothing stored"; not an error (docker-credential-helpers `error.go`). */
export const CREDENTIALS_NOT_FOUND = 'credentials not found in native keychain';

/** A helper that hangs (a locked keychain waiting for a prompt) must not hang gantry forever. */
export const HELPER_TIMEOUT_MS = 30_000;

const VALIDATION_MESSAGES = new Set(['no credentials server URL', 'no credentials username']);

export interface CredentialHelperOptions {
  /** Environment for the helper (and the PATH it is found on); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

interface RunResult {
  ok: boolean;
  stdout: string;
  /** Go's `exec` error text: `exit status 1`, `exec: "…": executable file not found in $PATH`. */
  execError: string;
}

export class CredentialHelper {
  readonly program: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;

  constructor(
    readonly name: string,
    options: CredentialHelperOptions = {},
  ) {
    this.program = `docker-credential-${name}`;
    this.#env = options.env ?? process.env;
    this.#timeoutMs = options.timeoutMs ?? HELPER_TIMEOUT_MS;
  }

  /** The stored credentials, or undefined when the helper has none for `serverURL`. */
  async get(serverURL: string): Promise<HelperCredentials | undefined> {
    const r = await this.#run('get', serverURL);
    if (!r.ok) {
      if (r.stdout.trim() === CREDENTIALS_NOT_FOUND) return undefined;
      throw this.#failure('getting', r);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      // The output may hold the secret: never quote it.
      throw new CredentialsError(`error getting credentials - err: ${this.program} printed invalid JSON`);
    }
    if (typeof doc !== 'object' || doc === null) throw new CredentialsError(`error getting credentials - err: ${this.program} printed invalid JSON`);
    const o = doc as Record<string, unknown>;
    const field = (n: string): string => {
      for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === n && typeof v === 'string') return v;
      return '';
    };
    return { serverURL: field('serverurl') || serverURL, username: field('username'), secret: field('secret') };
  }

  async store(creds: HelperCredentials): Promise<void> {
    const input = JSON.stringify({ ServerURL: creds.serverURL, Username: creds.username, Secret: creds.secret });
    const r = await this.#run('store', input);
    if (!r.ok) throw this.#failure('storing', r, creds.secret);
  }

  async erase(serverURL: string): Promise<void> {
    const r = await this.#run('erase', serverURL);
    if (!r.ok) throw this.#failure('erasing', r);
  }

  /** `{ serverURL: username }` for everything the helper holds. */
  async list(): Promise<Record<string, string>> {
    const r = await this.#run('list', 'unused');
    if (!r.ok) throw this.#failure('listing', r);
    try {
      const doc = JSON.parse(r.stdout) as unknown;
      if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not an object');
      return Object.fromEntries(Object.entries(doc).filter((e): e is [string, string] => typeof e[1] === 'string'));
    } catch {
      throw new CredentialsError(`error listing credentials - err: ${this.program} printed invalid JSON`);
    }
  }

  /** Go client's wording: ``error <verb> credentials - err: <exec error>, out: `<stdout>` ``. */
  #failure(verb: string, r: RunResult, secret?: string): CredentialsError {
    let out = r.stdout.trim();
    if (secret) out = out.split(secret).join('[redacted]');
    const err = VALIDATION_MESSAGES.has(out) ? out : r.execError;
    return new CredentialsError(`error ${verb} credentials - err: ${err}, out: \`${out}\``);
  }

  #run(action: string, input: string): Promise<RunResult> {
    return new Promise((resolveRun) => {
      let stdout = '';
      let settled = false;
      const done = (r: RunResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolveRun(r);
      };
      // stderr passes through to the user, as Docker does.
      const child = spawn(this.program, [action], { env: this.#env, stdio: ['pipe', 'pipe', 'inherit'] });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        done({ ok: false, stdout, execError: `${this.program} ${action} timed out after ${this.#timeoutMs / 1000}s` });
      }, this.#timeoutMs);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        stdout += d;
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        const execError =
          err.code === 'ENOENT'
            ? `exec: "${this.program}": executable file not found in $PATH`
            : `exec: "${this.program}": ${err.message}`;
        done({ ok: false, stdout: '', execError });
      });
      child.on('close', (code, signal) => {
        done({ ok: code === 0, stdout, execError: signal ? `signal: ${signal}` : `exit status ${code}` });
      });
      // A helper that exits without reading stdin makes the write fail with EPIPE; its exit status tells the story.
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    });
  }
}

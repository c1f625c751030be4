/**
 * `gantry login [SERVER]` and `gantry logout [SERVER]`, with docker login's flags, checks
 * and messages (docker/cli `cli/command/registry/login.go` and `login_test.go`;
 * docs/docker-rules.md#login-and-logout).
 */
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ErrorCode, GantryError } from '../../errors.js';
import type { LoginResult } from '../../login/login.js';
import { addRegistryFlags, dockerConfigDir, registriesConf, transportOptions, type RegistryFlags } from '../options.js';
import { addOutputFlags, chatter, printJson, type OutputFlags } from './output.js';
import { sharedSide, withFlagHints } from './hints.js';

export interface LoginFlags extends RegistryFlags, OutputFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

const usage = (message: string) => new GantryError(ErrorCode.USAGE, message);

/** Reads a secret from stdin: everything, minus one trailing line ending (\r\n, \n or \r). */
export async function readSecretFromStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return stripOneLineEnding(Buffer.concat(chunks).toString('utf8'));
}

export function stripOneLineEnding(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  if (s.endsWith('\n') || s.endsWith('\r')) return s.slice(0, -1);
  return s;
}

/**
 * docker login's flag rules, in its order. Returns the password source: `stdin` or the value.
 * Throws usage errors with Docker's texts.
 */
export function checkLoginFlags(flags: LoginFlags, argv: readonly string[] = []): 'stdin' | 'flag' | 'none' {
  const gaveUser = flags.username !== undefined || argv.some((a) => a === '-u' || a.startsWith('--username'));
  if (flags.password !== undefined && flags.password !== '-' && flags.passwordStdin) throw usage('conflicting options: cannot specify both --password and --password-stdin');
  const fromStdin = flags.passwordStdin || flags.password === '-';
  if (fromStdin && !gaveUser) throw usage('the --password-stdin option requires --username to be set');
  if (flags.username !== undefined && flags.username.trim() === '') throw usage('username is empty');
  if (flags.password !== undefined && flags.password !== '-' && flags.password === '') throw usage('password is empty');
  if (fromStdin) return 'stdin';
  return flags.password !== undefined ? 'flag' : 'none';
}

async function prompt(question: string, hidden: boolean): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _enc, cb) {
      if (!muted) process.stderr.write(chunk);
      cb();
    },
  });
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    const answer = new Promise<string>((resolve) => rl.question(question, resolve));
    muted = hidden;
    const a = await answer;
    if (hidden) process.stderr.write('\n');
    return a;
  } finally {
    rl.close();
  }
}

/** login's JSON: what was verified and where it was stored; never the password or a token. */
function loginJson(result: LoginResult, username: string, existingCredentials: boolean): unknown {
  return {
    status: result.status,
    registry: result.registry,
    url: result.url,
    username,
    existingCredentials,
    identityToken: result.identityToken,
    key: result.stored?.key ?? null,
    storedIn: result.stored?.storedIn ?? null,
  };
}

async function runLogin(server: string | undefined, flags: LoginFlags): Promise<void> {
  const source = checkLoginFlags(flags);
  let username = flags.username;
  let password: string | undefined;
  if (source === 'stdin') {
    password = await readSecretFromStdin();
    if (password.trim() === '') throw usage('password is empty');
  } else if (source === 'flag') {
    process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    password = flags.password;
  }
  const configDir = dockerConfigDir(flags);
  const authFile = flags.authfile;
  // The library is loaded when the command runs, not at start-up (docs/startup.md).
  const [{ login, LOGIN_SUCCEEDED }, { Keychain, unencryptedWarning }] = await Promise.all([import('../../login/login.js'), import('../../auth/keychain.js')]);
  const conf = await registriesConf(flags);
  const options = { ...(await transportOptions(flags)), ...(configDir ? { configDir } : {}), ...(authFile ? { authFile } : {}), ...(conf.registries.length > 0 ? { registriesConf: conf } : {}) };
  if (username === undefined && password === undefined) {
    // Docker first tries what is stored.
    const keychain = await Keychain.load({ ...(configDir ? { configDir } : {}), ...(authFile ? { authFile } : {}) });
    const stored = await keychain.storedFor(server);
    if (stored?.username && stored.password) {
      chatter(flags, `Authenticating with existing credentials... [Username: ${stored.username}]\n`);
      try {
        const result = await login(server, { username: stored.username, password: stored.password }, { ...options, noStore: true });
        if (flags.json) printJson(loginJson(result, stored.username, true));
        else chatter(flags, `${LOGIN_SUCCEEDED}\n`);
        return;
      } catch (err) {
        if (err instanceof GantryError && err.code === ErrorCode.UNAUTHORIZED) process.stderr.write('Stored credentials invalid or expired\n');
        else process.stderr.write(`Login did not succeed, error: ${(err as Error).message}\n`);
      }
    }
  }
  if (username === undefined || password === undefined) {
    if (!process.stdin.isTTY) throw new GantryError(ErrorCode.USAGE, 'error: cannot perform an interactive login from a non-TTY device; give --username with --password-stdin');
    if (username === undefined) {
      username = (await prompt('Username: ', false)).trim();
      if (!username) throw usage('error: username is required');
    }
    if (password === undefined) {
      password = await prompt('Password: ', true);
      if (!password) throw usage('error: password is required');
    }
  }
  const result = await login(server, { username, password }, options);
  if (result.stored?.unencryptedFile) process.stderr.write(`${unencryptedWarning(result.stored.unencryptedFile)}\n`);
  if (flags.json) printJson(loginJson(result, username, false));
  else chatter(flags, `${result.status}\n`);
}

export function loginCommands(program: Command): void {
  const loginCmd = addRegistryFlags(program.command('login').argument('[server]', 'registry (default: Docker Hub)').description('log in to a registry'), { mirrors: false })
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password or token ("-" reads stdin)')
    .option('--password-stdin', 'read the password or token from stdin');
  addOutputFlags(loginCmd, {
    quiet: "print nothing on success (no 'Login Succeeded'; warnings still go to stderr)",
    json: '{ status, registry, url, username, existingCredentials, identityToken (whether a refresh token was stored), key, storedIn } and never a password or token',
  }).action((server: string | undefined, flags: LoginFlags) =>
    withFlagHints(
      async () => [sharedSide((await import('../../login/login.js')).loginRegistryHost(server), flags, { credentials: false })],
      () => runLogin(server, flags),
    ),
  );

  const logoutCmd = program
    .command('logout')
    .argument('[server]', 'registry (default: Docker Hub)')
    .description('remove stored credentials for a registry')
    .option('--config <dir>', 'Docker config directory holding config.json')
    .option('--config-dir <dir>', 'same as --config')
    .option('--authfile <file>', 'containers-auth.json credentials file to erase from instead (default $REGISTRY_AUTH_FILE)')
    .option('--json', 'print a machine-readable result');
  addOutputFlags(logoutCmd, {
    quiet: "print nothing on success (no 'Removing login credentials…'; warnings still go to stderr)",
    json: '{ registry, removed: [keys erased], failures: [{ key, message }] }',
  }).action(async (server: string | undefined, flags: { config?: string; configDir?: string; authfile?: string } & OutputFlags) => {
    const dir = flags.configDir ?? flags.config;
    const { logout } = await import('../../login/login.js');
    const result = await logout(server, { ...(dir ? { configDir: dir } : {}), ...(flags.authfile ? { authFile: flags.authfile } : {}) });
    if (flags.json) {
      printJson({ registry: result.registry, removed: result.removed, failures: result.failures });
      return;
    }
    if (result.removed.length === 0 && result.failures.length === 0) {
      chatter(flags, `Not logged in to ${result.registry}\n`);
      return;
    }
    chatter(flags, `Removing login credentials for ${result.registry}\n`);
    if (result.removed.length === 0 && result.failures.length > 0) {
      process.stderr.write(`WARNING: could not erase credentials:\n${result.failures.map((f) => `${f.key}: ${f.message}\n`).join('')}`);
    }
  });
}

/**
 * A failure's message ends with the flag of the command that fixes it: credentials refused →
 * `--creds` / `--authfile` / `gantry login`; a certificate not trusted → `--certs-dir` /
 * `--tls-verify=false`; a client certificate wanted → the certs.d pair. Decided on the error's
 * `code` and its Node code (`cause_code`); only flags the command has are named, and advice
 * the message already gives (the library's `ca.crt` and `--insecure-registry` text) is not
 * repeated. The library's messages stay as they are: these hints are the CLI's words.
 */
import { ErrorCode, GantryError } from '../../errors.js';
import { parseRepository } from '../../ref/reference.js';

/** One registry a command reaches (copy has two), and the spelling of its flags there. */
export interface RegistrySide {
  /** `host[:port]` as references name it (`docker.io` for Docker Hub); undefined when unknown. */
  readonly host: string | undefined;
  /** `--creds`, or `--src-creds` / `--dest-creds`; undefined when the command sends none (ping, login). */
  readonly credsFlag?: string;
  /** `--authfile`, or `--src-authfile` / `--dest-authfile`. */
  readonly authfileFlag?: string;
  /** Whether credentials were given on the command line for this side. */
  readonly credsGiven?: boolean;
  /** `--tls-verify`, or `--src-tls-verify` / `--dest-tls-verify`. */
  readonly tlsFlag: string;
  /** The value given to that flag, if any. */
  readonly tlsVerify?: boolean;
  /** copy's `--src-cert-dir` / `--dest-cert-dir`, which name the side's own TLS folder. */
  readonly certDirFlag?: string;
}

/** Node's codes for a handshake the server ended over the client certificate. */
const CLIENT_CERT_CODES = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
]);
const PLAIN_HTTP_CODE = 'ERR_SSL_WRONG_VERSION_NUMBER';

/** Docker Hub's API and index hosts are `docker.io` in references. */
const HUB_HOSTS = new Set(['docker.io', 'registry-1.docker.io', 'index.docker.io', 'auth.docker.io']);
const registryName = (host: string): string => (HUB_HOSTS.has(host) ? 'docker.io' : host);

/** The first of `err` and its causes that has property `key` as a string. */
function inChain(err: unknown, key: 'url' | 'cause_code'): string | undefined {
  for (let e = err as Record<string, unknown> | undefined, i = 0; e && typeof e === 'object' && i < 5; e = e.cause as Record<string, unknown> | undefined, i++) {
    if (typeof e[key] === 'string') return e[key];
  }
  return undefined;
}

function hostOf(err: unknown): string | undefined {
  const url = inChain(err, 'url');
  if (!url) return undefined;
  try {
    return registryName(new URL(url).host);
  } catch {
    return undefined;
  }
}

/** `a`, `a or b`, as flags are listed in a hint. */
const either = (flags: readonly string[]): string => [...new Set(flags)].join(' or ');

function credentialsHint(code: ErrorCode, sides: readonly RegistrySide[]): string | undefined {
  const withCreds = sides.filter((s) => s.credsFlag);
  if (withCreds.length === 0) return undefined;
  const given = withCreds.filter((s) => s.credsGiven);
  if (given.length > 0) return code === ErrorCode.UNAUTHORIZED ? `check the user and password given with ${either(given.map((s) => s.credsFlag as string))}` : undefined;
  const creds = either(withCreds.map((s) => s.credsFlag as string));
  const authfiles = withCreds.map((s) => s.authfileFlag).filter((f): f is string => f !== undefined);
  // The registry named on the command line (a token realm's host is not where one logs in).
  const server = withCreds[0]?.host;
  const login = server === undefined || server === 'docker.io' ? 'gantry login' : `gantry login ${server}`;
  return `give credentials with ${creds} USER:PASS${authfiles.length > 0 ? `, ${either(authfiles)} FILE` : ''}, or log in first with '${login}'`;
}

function tlsHint(err: GantryError, sides: readonly RegistrySide[], host: string | undefined): string | undefined {
  const code = inChain(err, 'cause_code');
  const name = host ?? sides[0]?.host ?? 'HOST';
  if (code !== undefined && CLIENT_CERT_CODES.has(code)) {
    const own = sides.map((s) => s.certDirFlag).filter((f): f is string => f !== undefined);
    return `give it a client certificate it trusts: a NAME.cert + NAME.key pair in DIR/${name}/ with --certs-dir DIR${own.length > 0 ? `, or in the folder named by ${either(own)}` : ''}`;
  }
  const off = either(sides.map((s) => `${s.tlsFlag}=false`));
  const forced = sides.filter((s) => s.tlsVerify === true).map((s) => s.tlsFlag);
  if (forced.length > 0) {
    // --tls-verify=true overrides the insecure rule: the message's --insecure-registry advice cannot work.
    if (code === PLAIN_HTTP_CODE) return `if ${name} serves plain http, pass ${off} instead of ${either(forced)}`;
    const ca = err.message.includes('ca.crt') ? '' : `trust its CA with --certs-dir DIR (DIR/${name}/ca.crt), or `;
    return `${either(forced)} asks for verified https, so --insecure-registry does not apply: ${ca}skip verification with ${off}`;
  }
  if (code === PLAIN_HTTP_CODE) return `if ${name} serves plain http, pass ${off}${err.message.includes('--insecure-registry') ? '' : ` or --insecure-registry ${name}`}`;
  return `${err.message.includes('ca.crt') ? '' : `trust its CA with --certs-dir DIR (DIR/${name}/ca.crt), or `}skip verification with ${off}`;
}

/**
 * The registry of an image location (`REF`, `docker://REF`); undefined for a layout or an archive.
 * Asynchronous because the parser's module (the image transports) is loaded only when a hint is
 * wanted, not at start-up (docs/startup.md).
 */
export async function registryOf(location: string): Promise<string | undefined> {
  const { parseImageLocation } = await import('../../image/transports.js');
  const parsed = parseImageLocation(location);
  return parsed.transport === 'docker' ? parsed.reference.repository.domain : undefined;
}

/** The registry of a repository (`host/path`, `docker://host/path`). */
export function registryOfRepository(repository: string): string {
  return parseRepository(repository.replace(/^docker:\/\//, '')).domain;
}

/** The side of a command that reaches one registry with the shared flags (`--creds`, `--authfile`, `--tls-verify`). */
export function sharedSide(host: string | undefined, flags: { creds?: string; authfile?: string; tlsVerify?: boolean }, { credentials = true }: { credentials?: boolean } = {}): RegistrySide {
  return {
    host,
    tlsFlag: '--tls-verify',
    ...(flags.tlsVerify !== undefined ? { tlsVerify: flags.tlsVerify } : {}),
    ...(credentials ? { credsFlag: '--creds', authfileFlag: '--authfile', credsGiven: flags.creds !== undefined } : {}),
  };
}

/** The hint for `err`, naming flags of the command whose registries are `sides`; undefined when no flag fixes it. */
export function flagHint(err: unknown, sides: readonly RegistrySide[]): string | undefined {
  if (!(err instanceof GantryError) || sides.length === 0) return undefined;
  const host = hostOf(err);
  const matching = host === undefined ? [] : sides.filter((s) => s.host !== undefined && registryName(s.host) === host);
  const chosen = matching.length > 0 ? matching : sides;
  if (err.code === ErrorCode.UNAUTHORIZED || err.code === ErrorCode.DENIED) return credentialsHint(err.code, chosen);
  if (err.code === ErrorCode.TLS) return tlsHint(err, chosen, host);
  return undefined;
}

/**
 * Runs a command's work; a failure that a flag fixes is re-thrown with the hint after its
 * message (same `code`, so the exit status is unchanged; the original is the `cause`).
 */
export async function withFlagHints<T>(sides: readonly RegistrySide[] | (() => readonly RegistrySide[] | Promise<readonly RegistrySide[]>), run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    let hint: string | undefined;
    try {
      hint = flagHint(err, typeof sides === 'function' ? await sides() : sides);
    } catch {
      hint = undefined;
    }
    if (hint === undefined || !(err instanceof GantryError)) throw err;
    throw new GantryError(err.code, `${err.message}; ${hint}`, { cause: err, retryable: err.retryable });
  }
}

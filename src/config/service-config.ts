/**
 * The registry service configuration of the Docker daemon (moby `daemon/pkg/registry/config.go`):
 * which registries are insecure, which mirrors stand in for Docker Hub, and how index
 * names are normalised. Error texts are Docker's, because users paste them into searches.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { ConfigError } from '../errors.js';
import { DOMAIN_RE } from '../ref/grammar.js';
import { DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN } from '../ref/reference.js';
import type { IpAddress, IpPrefix } from './go-net.js';
import { formatPrefix, goAtoi, goQuote, parseCidr, parseIp, prefixContains, splitHostPort, unmap } from './go-net.js';
import { goUrlString, parseGoUrl } from './go-url.js';

/** Docker Hub's index name (`IndexName`). */
export const INDEX_NAME = DEFAULT_DOMAIN;
/**
 * Loopback is always insecure: a stop-gap Docker keeps (since 1.3.2) for people running
 * a registry on localhost. `::1/128` joined in Docker 28.
 */
export const DEFAULT_INSECURE_CIDRS: readonly string[] = Object.freeze(['::1/128', '127.0.0.0/8']);

/** Resolves a host name to its addresses; injectable so tests never touch real DNS. */
export type HostLookup = (host: string) => Promise<string[]>;

/** What Docker knows about one registry (`registry.IndexInfo`). */
export interface IndexInfo {
  /** `host[:port]`, or `docker.io` for Docker Hub. */
  readonly name: string;
  /** Mirror URLs, normalised with a trailing `/`; only Docker Hub has mirrors. */
  readonly mirrors: readonly string[];
  /** False for an insecure registry: TLS errors ignored, then plain HTTP tried. */
  readonly secure: boolean;
  /** True only for Docker Hub. */
  readonly official: boolean;
}

/** Options for `ServiceConfig.create`: the daemon's `insecure-registries` and `registry-mirrors`, and the DNS lookup for CIDR matching. */
export interface ServiceOptions {
  /** `insecure-registries`: `host[:port]` or CIDR; `http(s)://` is stripped. Default none. */
  insecureRegistries?: readonly string[];
  /** `registry-mirrors`: `http(s)://` URLs used for Docker Hub pulls. Default none. */
  mirrors?: readonly string[];
  /** DNS resolution for CIDR matching. Default: `dns.promises.lookup(host, { all: true })`. */
  lookup?: HostLookup;
}

/** `normalizeIndexName`: only `index.docker.io` becomes `docker.io`. */
export function normalizeIndexName(name: string): string {
  return name === LEGACY_DEFAULT_DOMAIN ? INDEX_NAME : name;
}

/** `ValidateIndexName`: normalises, and refuses a leading or trailing hyphen (nothing else). */
export function validateIndexName(name: string): string {
  const normalized = normalizeIndexName(name);
  if (normalized.startsWith('-') || normalized.endsWith('-')) {
    throw new ConfigError(`invalid index name (${normalized}). Cannot begin or end with a hyphen`);
  }
  return normalized;
}

/**
 * `ValidateMirror`: an `http(s)://` URL with no query, fragment or credentials; returns it
 * with exactly one trailing `/`. A path is allowed (a prefix on the mirror, Docker 25+).
 */
export function validateMirror(mirrorUrl: string): string {
  const sep = mirrorUrl.indexOf('://');
  if (sep <= 0) {
    throw new ConfigError(
      `invalid mirror: no scheme specified for ${goQuote(mirrorUrl)}: must use either 'https://' or 'http://'`,
    );
  }
  let uri;
  try {
    uri = parseGoUrl(mirrorUrl);
  } catch (err) {
    throw new ConfigError(`invalid mirror: ${goQuote(mirrorUrl)} is not a valid URI: ${(err as Error).message}`);
  }
  if (uri.scheme !== 'http' && uri.scheme !== 'https') {
    throw new ConfigError(
      `invalid mirror: unsupported scheme ${goQuote(uri.scheme)} in ${goQuote(goUrlString(uri))}: must use either 'https://' or 'http://'`,
    );
  }
  if (uri.rawQuery !== '' || uri.fragment !== '') {
    throw new ConfigError(`invalid mirror: query or fragment at end of the URI ${goQuote(goUrlString(uri))}`);
  }
  if (uri.userinfo !== undefined) {
    // The password never reaches the message; Docker prints `xxxxx` in its place.
    const username = uri.userinfo.split(':', 1)[0] ?? '';
    throw new ConfigError(
      `invalid mirror: username/password not allowed in URI ${goQuote(goUrlString(uri, `${username}:xxxxx`))}`,
    );
  }
  return `${mirrorUrl.endsWith('/') ? mirrorUrl.slice(0, -1) : mirrorUrl}/`;
}

/** `loadMirrors`: validated, normalised, duplicates dropped, order kept. */
export function loadMirrors(mirrors: readonly string[]): string[] {
  return [...new Set(mirrors.map(validateMirror))];
}

/** `validateHostPort`: the whole string a registry domain, or its host part an IP; port 0–65535. */
export function validateHostPort(s: string): void {
  const split = splitHostPort(s);
  const host = split?.host ?? s;
  const port = split?.port ?? '';
  if (!DOMAIN_RE.test(s) && parseIp(host) === undefined) throw new ConfigError(`invalid host ${goQuote(host)}`);
  if (port !== '') {
    let n: number;
    try {
      n = goAtoi(port);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    if (n < 0 || n > 65535) throw new ConfigError(`invalid port ${goQuote(port)}`);
  }
}

export interface InsecureRegistries {
  /** Masked CIDRs in configuration order, loopback last, without duplicates. */
  cidrs: IpPrefix[];
  /** `host[:port]` entries, exactly as written once the scheme is stripped. */
  hosts: string[];
}

/** `loadInsecureRegistries`: entries are CIDRs or `host[:port]`; loopback always added. */
export function loadInsecureRegistries(registries: readonly string[]): InsecureRegistries {
  const cidrs: IpPrefix[] = [];
  const seen = new Set<string>();
  const hosts: string[] = [];
  for (const entry of [...registries, ...DEFAULT_INSECURE_CIDRS]) {
    validateIndexName(entry);
    let r = entry;
    const sep = entry.indexOf('://');
    if (sep >= 0) {
      const scheme = entry.slice(0, sep).toLowerCase();
      if (scheme !== 'http' && scheme !== 'https') {
        throw new ConfigError(`insecure registry ${entry} should not contain '://'`);
      }
      r = entry.slice(sep + 3);
    }
    const prefix = parseCidr(r);
    if (prefix !== undefined) {
      const key = formatPrefix(prefix);
      if (!seen.has(key)) {
        seen.add(key);
        cidrs.push(prefix);
      }
      continue;
    }
    try {
      validateHostPort(r);
    } catch (err) {
      throw new ConfigError(`insecure registry ${r} is not valid: ${(err as Error).message}`, { cause: err });
    }
    if (!hosts.includes(r)) hosts.push(r);
  }
  return { cidrs, hosts };
}

/** The validated service configuration: index configs, insecure CIDRs and Hub mirrors. */
export class ServiceConfig {
  /** Per-registry settings by exact name; `docker.io` is always present, secure and official. */
  readonly indexConfigs: ReadonlyMap<string, IndexInfo>;
  /** The insecure CIDRs, masked (e.g. `10.0.0.0/8`), in configuration order without duplicates; loopback (`::1/128`, `127.0.0.0/8`) is always included. */
  readonly insecureRegistryCIDRs: readonly string[];
  /** Docker Hub mirror URLs: validated, each with one trailing `/`, duplicates dropped, order kept; empty when none. */
  readonly mirrors: readonly string[];
  readonly #cidrs: readonly IpPrefix[];
  readonly #lookup: HostLookup;

  private constructor(options: ServiceOptions) {
    this.mirrors = Object.freeze(loadMirrors(options.mirrors ?? []));
    const { cidrs, hosts } = loadInsecureRegistries(options.insecureRegistries ?? []);
    const indexConfigs = new Map<string, IndexInfo>();
    for (const name of hosts) indexConfigs.set(name, indexInfo(name, [], false, false));
    // Docker Hub can never be made insecure: its entry is written last, over any other.
    indexConfigs.set(INDEX_NAME, indexInfo(INDEX_NAME, this.mirrors, true, true));
    this.indexConfigs = indexConfigs;
    this.#cidrs = Object.freeze(cidrs);
    this.insecureRegistryCIDRs = Object.freeze(cidrs.map(formatPrefix));
    this.#lookup = options.lookup ?? defaultLookup;
    Object.freeze(this);
  }

  /** Validates every option; throws `ConfigError` with Docker's text on the first bad entry. */
  static create(options: ServiceOptions = {}): ServiceConfig {
    return new ServiceConfig(options);
  }

  /**
   * `isSecureIndex` without DNS: `undefined` when the answer depends on resolving a host
   * name. `localhost` needs no lookup: it resolves to loopback, which is always insecure.
   */
  secureWithoutLookup(name: string): boolean | undefined {
    const configured = this.indexConfigs.get(name);
    if (configured !== undefined) return configured.secure;
    const host = splitHostPort(name)?.host ?? name;
    const ip = parseIp(host, { allowZone: true });
    if (ip !== undefined) return !this.#matches([ip]);
    if (host.toLowerCase() === 'localhost') return false;
    return undefined;
  }

  /**
   * `isSecureIndex`: a configured entry (exact string, port included) wins; otherwise the
   * registry is secure unless its host, resolved if needed, lies in an insecure CIDR. A
   * host that does not resolve matches nothing, so it is secure.
   */
  async isSecureIndex(name: string): Promise<boolean> {
    const fast = this.secureWithoutLookup(name);
    if (fast !== undefined) return fast;
    const host = splitHostPort(name)?.host ?? name;
    let addresses: string[];
    try {
      addresses = await this.#lookup(host);
    } catch {
      return true;
    }
    const ips = addresses.map((a) => parseIp(a, { allowZone: true })).filter((ip) => ip !== undefined);
    return !this.#matches(ips);
  }

  /** `newIndexInfo`: the configured entry for the (normalised) name, or a fresh one. */
  async newIndexInfo(name: string): Promise<IndexInfo> {
    const normalized = normalizeIndexName(name);
    const configured = this.indexConfigs.get(normalized);
    if (configured !== undefined) return configured;
    return indexInfo(normalized, [], await this.isSecureIndex(normalized), false);
  }

  #matches(ips: readonly IpAddress[]): boolean {
    return ips.some((ip) => this.#cidrs.some((prefix) => prefixContains(prefix, unmap(ip))));
  }
}

function indexInfo(name: string, mirrors: readonly string[], secure: boolean, official: boolean): IndexInfo {
  return Object.freeze({ name, mirrors: Object.freeze([...mirrors]), secure, official });
}

async function defaultLookup(host: string): Promise<string[]> {
  const addresses = await dnsLookup(host, { all: true });
  return addresses.map((a) => a.address);
}

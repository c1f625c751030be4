/**
 * Proxies from the environment, with Go's `net/http/httpproxy` rules (which Docker uses),
 * not undici's: `HTTPS_PROXY` for https URLs and `HTTP_PROXY` for http ones (upper case
 * first), `NO_PROXY` with host names, `.domain`, `*.domain`, `host:port`, IPs and CIDRs,
 * `*` for everything, and loopback (`localhost`, 127.0.0.0/8, ::1) never proxied.
 */
import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../redact.js';

export interface ProxyEnvironment {
  readonly httpProxy?: URL;
  readonly httpsProxy?: URL;
  readonly noProxy: NoProxyRule;
}

interface NameRule {
  /** Lower-case name without a leading dot. */
  name: string;
  /** Whether the name itself matches too (`.domain` matches only subdomains). */
  matchSelf: boolean;
  port?: string;
}

export class NoProxyRule {
  readonly all: boolean;
  private readonly names: NameRule[] = [];
  private readonly ips = new BlockList();
  private readonly ipPorts: { ip: string; port?: string }[] = [];

  constructor(value: string | undefined) {
    let all = false;
    for (const raw of (value ?? '').split(',')) {
      const entry = raw.trim().toLowerCase();
      if (!entry) continue;
      if (entry === '*') {
        all = true;
        continue;
      }
      const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
      if (cidr && isIP(cidr[1]!)) {
        this.ips.addSubnet(cidr[1]!, Number(cidr[2]), isIP(cidr[1]!) === 6 ? 'ipv6' : 'ipv4');
        continue;
      }
      const { host, port } = splitHostPort(entry);
      if (isIP(host)) {
        this.ipPorts.push({ ip: host, ...(port ? { port } : {}) });
        continue;
      }
      let name = host;
      let matchSelf = true;
      if (name.startsWith('*.')) {
        name = name.slice(2);
        matchSelf = false;
      } else if (name.startsWith('.')) {
        name = name.slice(1);
        matchSelf = false;
      }
      if (name) this.names.push({ name, matchSelf, ...(port ? { port } : {}) });
    }
    this.all = all;
  }

  /** Whether a request to `host` (no brackets) on `port` goes direct. */
  bypasses(host: string, port: string): boolean {
    if (this.all) return true;
    const h = host.toLowerCase();
    const family = isIP(h);
    if (family !== 0) {
      if (this.ips.check(h, family === 6 ? 'ipv6' : 'ipv4')) return true;
      return this.ipPorts.some((e) => e.ip === h && (e.port === undefined || e.port === port));
    }
    return this.names.some((r) => (r.port === undefined || r.port === port) && (h.endsWith(`.${r.name}`) || (r.matchSelf && h === r.name)));
  }
}

function splitHostPort(s: string): { host: string; port?: string } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, ...(v6[2] ? { port: v6[2] } : {}) };
  const i = s.lastIndexOf(':');
  if (i > 0 && s.indexOf(':') === i && /^\d+$/.test(s.slice(i + 1))) return { host: s.slice(0, i), port: s.slice(i + 1) };
  return { host: s };
}

function parseProxyUrl(name: string, value: string | undefined): URL | undefined {
  if (!value) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigError(`invalid proxy address in ${name}: ${redactUrl(value)}`);
  }
  if (!['http:', 'https:'].includes(url.protocol)) {
    throw new ConfigError(`unsupported proxy scheme "${url.protocol.slice(0, -1)}" in ${name}: use http:// or https://`);
  }
  return url;
}

function getEnv(env: NodeJS.ProcessEnv, name: string): [string, string | undefined] {
  const upper = env[name.toUpperCase()];
  if (upper) return [name.toUpperCase(), upper];
  return [name.toLowerCase(), env[name.toLowerCase()]];
}

/** Reads `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (either case, upper case first, as Go). */
export function proxyFromEnvironment(env: NodeJS.ProcessEnv = process.env): ProxyEnvironment {
  const [httpName, http] = getEnv(env, 'http_proxy');
  const [httpsName, https] = getEnv(env, 'https_proxy');
  const httpProxy = parseProxyUrl(httpName, http);
  const httpsProxy = parseProxyUrl(httpsName, https);
  return { ...(httpProxy ? { httpProxy } : {}), ...(httpsProxy ? { httpsProxy } : {}), noProxy: new NoProxyRule(getEnv(env, 'no_proxy')[1]) };
}

function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

/** The proxy for `url`, or undefined for a direct connection. */
export function proxyFor(url: URL, env: ProxyEnvironment): URL | undefined {
  const proxy = url.protocol === 'https:' ? env.httpsProxy : env.httpProxy;
  if (!proxy) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isLoopback(host)) return undefined;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return env.noProxy.bypasses(host, port) ? undefined : proxy;
}

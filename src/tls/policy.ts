/**
 * The per-host TLS policy: the one place that decides how gantry does TLS with an origin.
 * It owns the certs.d cache, each origin's candidate profiles (certs.d's roots with each
 * client pair in file-name order, or with none) and the one that won, so no TLS decision
 * rides on a request: the connection pools ask `profileFor(origin)` for every request they
 * dispatch, whatever layer above sent it (a ping, a registry call, a redirect hop to a
 * storage host, a token realm).
 *
 * Client-pair fallback (Docker's original rule, still in its docs: docs/docker-rules.md):
 * endpoint negotiation pings with the current candidate; when the server refuses it
 * (handshake refused, or the ping answers 403, 404 or 5xx) it calls `refuse`, which moves
 * the origin to the next pair; when a pair works it calls `settle`, and that pair is used
 * for the origin for the life of the policy. `refuse` only advances from the candidate the
 * caller tried, so two negotiations racing for one origin advance it once, not twice.
 */
import type { ServiceConfig } from '../config/service-config.js';
import { CertsDirError, findHostCertsDir, hostCertsDir, readCertsDirectory, type CertsDirectory } from './certs-dir.js';
import type { TlsProfile } from './profile.js';

export interface TlsPolicyOptions {
  /** The certs.d directory (`/etc/docker/certs.d`). */
  readonly certsDir: string;
  /** Insecure registries: TLS to them is not verified. */
  readonly config: ServiceConfig;
  /** skopeo's `--tls-verify`: overrides the insecure rule for every host. */
  readonly tlsVerify?: boolean;
  /**
   * The containers tools' search instead of one certs.d (`containersCertsRoots()`): a host's
   * folder is `<root>/<host>` of the first root where it exists. Only for a caller that was
   * given no certs.d folder: an explicit one is the only folder (Docker's daemon `certsDir`).
   */
  readonly searchRoots?: readonly string[];
}

interface OriginState {
  /** Candidate profiles in the order they are tried; never empty. */
  readonly candidates: readonly TlsProfile[];
  /** Index of the candidate in use. */
  cursor: number;
  /** True once a negotiation found the candidate that works. */
  settled: boolean;
}

export class TlsPolicy {
  private readonly certsDir: string;
  private readonly searchRoots: readonly string[] | undefined;
  /** Folders given for one host (skopeo's `--cert-dir`), by the host as a URL spells it. */
  private readonly folders = new Map<string, string>();
  private readonly tlsVerify: boolean | undefined;
  private readonly config: ServiceConfig;
  private readonly certs = new Map<string, Promise<CertsDirectory>>();
  private readonly origins = new Map<string, Promise<OriginState>>();

  constructor(options: TlsPolicyOptions) {
    this.certsDir = options.certsDir;
    this.searchRoots = options.searchRoots && options.searchRoots.length > 0 ? [...options.searchRoots] : undefined;
    this.config = options.config;
    this.tlsVerify = options.tlsVerify;
  }

  /**
   * skopeo's `--cert-dir`: `dir` holds the roots and client pairs of `host` itself (read with
   * certs.d's rules) and replaces its certs.d folder. Only origins whose host is `host` use it:
   * a token realm, a redirect's storage host or a mirror elsewhere keeps its own certs.d folder,
   * because the pools ask for each hop's origin. Call it before the first request to `host`.
   */
  useFolder(host: string, dir: string): void {
    const key = new URL(`https://${host}`).host;
    this.folders.set(key, dir);
    this.certs.delete(key);
    for (const origin of this.origins.keys()) if (new URL(origin).host === key) this.origins.delete(origin);
  }

  /** A host's certs.d folder (`host[:port]` as written), read once per policy; or the folder given for it. */
  certsFor(host: string): Promise<CertsDirectory> {
    let p = this.certs.get(host);
    if (!p) {
      const given = this.folders.get(host);
      p = given !== undefined ? readGivenFolder(given) : this.searchRoots ? findHostCertsDir(this.searchRoots, host).then(readCertsDirectory) : readCertsDirectory(hostCertsDir(this.certsDir, host));
      this.certs.set(host, p);
      p.catch(() => this.certs.delete(host));
    }
    return p;
  }

  /** Whether TLS to `host` is verified: the override, else Docker's insecure-registry rule. */
  async verifies(host: string): Promise<boolean> {
    if (this.tlsVerify !== undefined) return this.tlsVerify;
    return this.config.isSecureIndex(host);
  }

  /**
   * The profile for an https origin (undefined for http): the settled one, else the current
   * candidate. Decided once per origin: the insecure check may resolve the host (CIDR rules),
   * which must not happen on every request to a storage or token host.
   */
  async profileFor(url: URL): Promise<TlsProfile | undefined> {
    if (url.protocol !== 'https:') return undefined;
    const state = await this.state(url);
    return state.candidates[state.cursor];
  }

  /**
   * The server refused `tried` (the candidate the caller used): move to the next one. True
   * when there is a next candidate to try; false when `tried` was the last.
   */
  async refuse(url: URL, tried: TlsProfile | undefined): Promise<boolean> {
    if (url.protocol !== 'https:' || !tried) return false;
    const state = await this.state(url);
    if (state.settled) return false;
    const at = state.candidates.indexOf(tried);
    if (at < 0 || at + 1 >= state.candidates.length) return false;
    if (state.cursor === at) state.cursor = at + 1;
    return true;
  }

  /** `tried` worked: the origin keeps it for the life of the policy. */
  async settle(url: URL, tried: TlsProfile | undefined): Promise<void> {
    if (url.protocol !== 'https:' || !tried) return;
    const state = await this.state(url);
    const at = state.candidates.indexOf(tried);
    if (at >= 0 && !state.settled) {
      state.cursor = at;
      state.settled = true;
    }
  }

  /** No candidate worked: the next negotiation starts again from the first. */
  async reset(url: URL): Promise<void> {
    if (url.protocol !== 'https:') return;
    const state = await this.state(url);
    if (!state.settled) state.cursor = 0;
  }

  private state(url: URL): Promise<OriginState> {
    let p = this.origins.get(url.origin);
    if (!p) {
      p = (async () => {
        const [certs, verify] = await Promise.all([this.certsFor(url.host), this.verifies(url.host)]);
        const base = { verify, ca: certs.ca, certsDir: certs.dir };
        const candidates: TlsProfile[] = certs.clients.length > 0 ? certs.clients.map((client) => Object.freeze({ ...base, client })) : [Object.freeze(base)];
        return { candidates, cursor: 0, settled: false };
      })();
      this.origins.set(url.origin, p);
      p.catch(() => this.origins.delete(url.origin));
    }
    return p;
  }
}

/** A folder the user named for a host must be there: a typo would otherwise mean no client certificate. */
async function readGivenFolder(dir: string): Promise<CertsDirectory> {
  const certs = await readCertsDirectory(dir);
  if (!certs.exists) throw new CertsDirError(dir, 'the folder does not exist');
  return certs;
}

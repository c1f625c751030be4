/**
 * Host names of credential keys. Docker has two variants that disagree on odd inputs (the
 * daemon's and the CLI's `ConvertToHostname`); both are kept because both decide which stored
 * credential a user gets (docs/docker-rules.md#credentials).
 */

/** The key Docker stores Docker Hub credentials under, whatever name the user typed. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** Go's `net.SplitHostPort`-like split used by `url.URL.Hostname()/Port()`; undefined = parse error. */
function splitAuthority(authority: string): { host: string; port: string } | undefined {
  const at = authority.lastIndexOf('@');
  const hostPort = at === -1 ? authority : authority.slice(at + 1);
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close === -1) return undefined;
    const rest = hostPort.slice(close + 1);
    if (rest !== '' && !/^:\d*$/.test(rest)) return undefined;
    return { host: hostPort.slice(1, close), port: rest.slice(1) };
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon === -1) return { host: hostPort, port: '' };
  const port = hostPort.slice(colon + 1);
  if (!/^\d*$/.test(port)) return undefined;
  return { host: hostPort.slice(0, colon), port };
}

/**
 * The CLI's `credentials.ConvertToHostname`: any `scheme://` URL is parsed and reduced to
 * `host[:port]` (IPv6 re-bracketed when a port follows); anything else is cut at the first `/`.
 */
export function convertToHostname(maybeUrl: string): string {
  if (maybeUrl.includes('://') && SCHEME.test(maybeUrl)) {
    const afterScheme = maybeUrl.slice(maybeUrl.indexOf('://') + 3);
    const authority = afterScheme.split(/[/?#]/, 1)[0] ?? '';
    const parts = splitAuthority(authority);
    if (parts && parts.host !== '') {
      if (parts.port === '') return parts.host;
      return parts.host.includes(':') ? `[${parts.host}]:${parts.port}` : `${parts.host}:${parts.port}`;
    }
  }
  return maybeUrl.split('/', 1)[0] ?? '';
}

/**
 * The daemon's `ConvertToHostname`: strips only an `http://` or `https://` prefix, then cuts at
 * the first `/`. Used to match legacy `auths` keys such as `https://host/v1/`.
 */
export function convertToHostnameDaemon(url: string): string {
  let stripped = url;
  if (stripped.startsWith('http://')) stripped = stripped.slice('http://'.length);
  else if (stripped.startsWith('https://')) stripped = stripped.slice('https://'.length);
  return stripped.split('/', 1)[0] ?? '';
}

/** True for the names Docker treats as the official index. */
export function isDockerHub(indexName: string): boolean {
  return indexName === 'docker.io' || indexName === 'index.docker.io';
}

/** `getAuthConfigKey`: Docker Hub → `https://index.docker.io/v1/`, any other index → its `host[:port]`. */
export function authConfigKey(indexName: string): string {
  return isDockerHub(indexName) ? DOCKER_HUB_AUTH_KEY : indexName;
}

/**
 * The key `gantry login <server>` stores under (docker/cli `login.go`): none, `docker.io` or
 * the Hub key itself → the Hub key; anything else → its host name, paths dropped
 * (docker/cli#5382).
 */
export function loginKey(serverAddress: string | undefined): string {
  if (!serverAddress || serverAddress === DOCKER_HUB_AUTH_KEY) return DOCKER_HUB_AUTH_KEY;
  const host = convertToHostname(serverAddress);
  return isDockerHub(host) ? DOCKER_HUB_AUTH_KEY : host;
}

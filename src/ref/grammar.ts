/**
 * The reference grammar of distribution/reference (`regexp.go`), which Docker, the CNCF
 * registry and the OCI distribution spec share. Built once from its parts so that each
 * piece reads like the grammar it comes from.
 *
 *   reference       := name [ ":" tag ] [ "@" digest ]
 *   name            := [domain '/'] remote-name
 *   domain          := host [':' port-number]
 *   host            := domain-name | IPv4address | \[ IPv6address \]
 *   remote-name     := path-component ['/' path-component]*
 *   path-component  := alpha-numeric [separator alpha-numeric]*
 *   separator       := /[_.]|__|[-]+/
 *   tag             := /[\w][\w.-]{0,127}/
 *   digest          := algorithm ":" encoded
 */

const alphanumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const domainNameComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const optionalPort = '(?::[0-9]+)?';

/** One path component of a repository name, e.g. `library` or `my-app`. */
export const PATH_COMPONENT = `${alphanumeric}(?:${separator}${alphanumeric})*`;
/** A registry host with an optional port. */
export const DOMAIN = `${host}${optionalPort}`;
/** A repository path (the remote name), without the domain. */
export const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
/** A tag. */
export const TAG = '[\\w][\\w.-]{0,127}';
/** A digest as the grammar allows it; algorithms are checked separately (see digest.ts). */
export const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}';

const anchored = (re: string): RegExp => new RegExp(`^${re}$`);

export const DOMAIN_RE = anchored(DOMAIN);
export const REMOTE_NAME_RE = anchored(REMOTE_NAME);
export const TAG_RE = anchored(TAG);
export const DIGEST_RE = anchored(DIGEST);
/** A full reference, capturing name, tag and digest. */
export const REFERENCE_RE = anchored(`((?:${DOMAIN}/)?${REMOTE_NAME})(?::(${TAG}))?(?:@(${DIGEST}))?`);
/** A name split into its optional domain and its remote name. */
export const ANCHORED_NAME_RE = anchored(`(?:(${DOMAIN})/)?(${REMOTE_NAME})`);
/** A 64-hex-character identifier, which Docker refuses as a repository name. */
export const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

/** The longest name (domain and path) Docker accepts. */
export const NAME_TOTAL_LENGTH_MAX = 255;

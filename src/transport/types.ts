/**
 * The transport is a stack of small layers, each `(next) => send`. A request is a plain
 * value; a response carries the status, lower-case headers, the final URL and a body
 * stream the caller must consume or dump.
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Scope } from '../ref/scope.js';
import type { RegistryOrigins } from './origins.js';
import type { Timeouts } from './timeouts.js';

/** Request headers: header name to its one value. */
export type Headers = Record<string, string>;
/** Response headers as undici gives them: lower-case names; a repeated header is an array. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** One request as it travels down the layer stack: a plain value. */
export interface TransportRequest {
  /** The HTTP method, e.g. `GET`; only GET, HEAD, PUT, DELETE and OPTIONS are ever retried. */
  readonly method: string;
  /** The absolute URL to request. */
  readonly url: URL;
  /** The headers to send; layers below add their own (User-Agent, the user's headers, credentials). */
  readonly headers?: Headers;
  /** A Buffer or string is replayable (redirects, retries); a stream is sent once. */
  readonly body?: Buffer | string | Readable | null;
  /**
   * A total deadline in ms for this request, body included; `'ping'` is the transport's
   * ping/login/token deadline (Docker's 15 s, `timeouts.pingMs`).
   */
  readonly timeout?: number | 'ping';
  /** Aborts the request, and any retry wait, when it fires. */
  readonly signal?: AbortSignal;
  /** `manual` returns 3xx responses as they are. Default `follow`. */
  readonly redirect?: 'follow' | 'manual';
  /** Docker Hub v1 search: keep all headers across hops between trusted Docker hosts (docs/docker-rules.md, "Redirects"). */
  readonly trustedRedirects?: boolean;
  /**
   * Token scopes this request needs (values, never re-parsed). The auth layer
   * derives them from the method and path when absent; a client that knows it will push
   * names `pull,push` for all its requests, so that one token serves the whole operation.
   */
  readonly scopes?: readonly Scope[];
  /** Send no credentials (pings, anonymous checks). */
  readonly anonymous?: boolean;
}

/** What comes back up the stack: status, headers, the final URL and a body the caller must consume or dump. */
export interface TransportResponse {
  /** The HTTP status. */
  readonly status: number;
  /** The response headers, names lower-case. */
  readonly headers: ResponseHeaders;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  /** The body stream (undici's); read it to the end or dump it. */
  readonly body: Dispatcher.ResponseData['body'];
}

/** Sends one request and resolves with the response, whatever its status; rejects with a {@link GantryError} when none came. */
export type Send = (req: TransportRequest) => Promise<TransportResponse>;

/** What a layer may ask of the transport it sits in, for the origin of each request it sees. */
export interface TransportContext {
  /** The registries' own origins: everything else is foreign. */
  readonly origins: RegistryOrigins;
  /** The transport's time limits in force. */
  readonly timeouts: Timeouts;
  /** Whether `host` (`host[:port]`) is insecure: an insecure registry, or every host under `tlsVerify: false`. */
  isInsecure(host: string): Promise<boolean>;
}

/**
 * One layer of the stack. Layers below the redirect layer see every hop as a request of its
 * own and decide for that hop's origin. The transport always passes its context; a layer
 * composed by hand without one treats every origin as foreign.
 */
export type Layer = (next: Send, context?: TransportContext) => Send;

/** The first value of a response header. */
export function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** All values of a response header. */
export function headerValues(headers: ResponseHeaders, name: string): string[] {
  const v = headers[name.toLowerCase()];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

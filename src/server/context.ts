/** What every handler receives: the request, its parsed route, storage and the caller's grant. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Grant } from './auth.js';
import type { Storage } from './storage/types.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request URL (path and query) parsed against a placeholder origin. */
  url: URL;
  /** The repository name, validated against the spec's grammar. */
  name: string;
  /** The route's last path segment: a tag or digest, a blob digest, or an upload id. */
  ref: string;
  storage: Storage;
  grant: Grant;
  deleteEnabled: boolean;
  head: boolean;
}

export type Handler = (ctx: RequestContext) => Promise<void>;

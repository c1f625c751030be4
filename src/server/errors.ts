/**
 * The error codes of the OCI distribution spec (v1.1, "Error Codes") and the one class the
 * embedded registry throws to answer a request with one of them. Handlers throw; the router
 * turns the error into the spec's JSON body `{"errors":[{code,message,detail}]}`.
 */
import { ErrorCode, GantryError } from '../errors.js';

export const RegistryErrorCode = {
  BLOB_UNKNOWN: 'BLOB_UNKNOWN',
  BLOB_UPLOAD_INVALID: 'BLOB_UPLOAD_INVALID',
  BLOB_UPLOAD_UNKNOWN: 'BLOB_UPLOAD_UNKNOWN',
  DIGEST_INVALID: 'DIGEST_INVALID',
  MANIFEST_BLOB_UNKNOWN: 'MANIFEST_BLOB_UNKNOWN',
  MANIFEST_INVALID: 'MANIFEST_INVALID',
  MANIFEST_UNKNOWN: 'MANIFEST_UNKNOWN',
  NAME_INVALID: 'NAME_INVALID',
  NAME_UNKNOWN: 'NAME_UNKNOWN',
  SIZE_INVALID: 'SIZE_INVALID',
  TAG_INVALID: 'TAG_INVALID',
  UNAUTHORIZED: 'UNAUTHORIZED',
  DENIED: 'DENIED',
  UNSUPPORTED: 'UNSUPPORTED',
  TOOMANYREQUESTS: 'TOOMANYREQUESTS',
  /** Not in the spec's table: distribution's code for a 503 (the registry is overloaded). */
  UNAVAILABLE: 'UNAVAILABLE',
  RANGE_INVALID: 'RANGE_INVALID',
} as const;
export type RegistryErrorCode = (typeof RegistryErrorCode)[keyof typeof RegistryErrorCode];

/** Extra response headers an error needs: `Range` on a 416, `WWW-Authenticate` on a 401. */
export type ErrorHeaders = Record<string, string>;

/** A request the registry refuses, with the HTTP status and the spec's error code. */
export class RegistryRequestError extends GantryError {
  readonly status: number;
  readonly registryCode: RegistryErrorCode;
  readonly detail: unknown;
  readonly headers: ErrorHeaders;
  /** The message without the code prefix, as it goes into the JSON body. */
  readonly plainMessage: string;

  constructor(status: number, registryCode: RegistryErrorCode, message: string, detail?: unknown, headers: ErrorHeaders = {}) {
    super(gantryCodeFor(status), `${registryCode}: ${message}`);
    this.name = 'RegistryRequestError';
    this.status = status;
    this.registryCode = registryCode;
    this.detail = detail;
    this.headers = headers;
    this.plainMessage = message;
  }

  /** The spec's JSON error body. */
  body(): string {
    const entry: Record<string, unknown> = { code: this.registryCode, message: this.plainMessage };
    if (this.detail !== undefined) entry.detail = this.detail;
    return JSON.stringify({ errors: [entry] });
  }
}

function gantryCodeFor(status: number): ErrorCode {
  if (status === 401) return ErrorCode.UNAUTHORIZED;
  if (status === 403) return ErrorCode.DENIED;
  if (status === 404) return ErrorCode.NOT_FOUND;
  if (status === 429) return ErrorCode.TOO_MANY_REQUESTS;
  return ErrorCode.REGISTRY;
}

// Constructors for the errors handlers raise most, so each reads as one line at the call site.
export const blobUnknown = (digest: string): RegistryRequestError =>
  new RegistryRequestError(404, RegistryErrorCode.BLOB_UNKNOWN, 'blob unknown to registry', { digest });
export const uploadUnknown = (id: string): RegistryRequestError =>
  new RegistryRequestError(404, RegistryErrorCode.BLOB_UPLOAD_UNKNOWN, 'blob upload unknown to registry', { id });
export const digestInvalid = (message: string, detail?: unknown): RegistryRequestError =>
  new RegistryRequestError(400, RegistryErrorCode.DIGEST_INVALID, message, detail);
export const manifestUnknown = (reference: string): RegistryRequestError =>
  new RegistryRequestError(404, RegistryErrorCode.MANIFEST_UNKNOWN, 'manifest unknown', { reference });
export const manifestInvalid = (message: string): RegistryRequestError =>
  new RegistryRequestError(400, RegistryErrorCode.MANIFEST_INVALID, message);
export const nameUnknown = (name: string): RegistryRequestError =>
  new RegistryRequestError(404, RegistryErrorCode.NAME_UNKNOWN, 'repository name not known to registry', { name });
export const unsupported = (message: string): RegistryRequestError =>
  new RegistryRequestError(405, RegistryErrorCode.UNSUPPORTED, message);

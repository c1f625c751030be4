export { Digest, DIGEST_INVALID_FORMAT, DIGEST_INVALID_LENGTH, DIGEST_UNSUPPORTED } from './digest.js';
export type { DigestAlgorithm } from './digest.js';
export {
  Reference,
  Repository,
  parseRepository,
  splitReposSearchTerm,
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  LEGACY_DEFAULT_DOMAIN,
  OFFICIAL_REPO_PREFIX,
} from './reference.js';

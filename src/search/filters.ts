/**
 * `docker search --filter` (docs/docker-rules.md#search): parsing the `name=value` strings as
 * docker/cli's FilterOpt does, and validating them as the daemon's `Service.Search` does (moby
 * `daemon/pkg/registry/search.go`), with its texts. Everything here happens before any request:
 * a bad filter never reaches the registry.
 */
import { ErrorCode, GantryError } from '../errors.js';

/** The filters the daemon accepts; any other name is `invalid filter '<name>'`. */
export const SEARCH_FILTER_NAMES: readonly string[] = Object.freeze(['is-automated', 'is-official', 'stars']);

/** A malformed search option (filter, limit, term): Docker's InvalidParameter class. */
export class SearchOptionError extends GantryError {
  constructor(message: string, code: ErrorCode = ErrorCode.INVALID_CONFIG) {
    super(code, message);
    this.name = 'SearchOptionError';
  }
}

/** Filter values by name, in the order given; a value given twice counts once (Go's map set). */
export type FilterArgs = ReadonlyMap<string, readonly string[]>;

/**
 * docker/cli's `FilterOpt.Set`: an empty string is ignored; no `=` is an error; the name is
 * trimmed and lower-cased, the value trimmed.
 */
export function parseFilters(filters: readonly string[]): FilterArgs {
  const out = new Map<string, string[]>();
  for (const f of filters) {
    if (f === '') continue;
    const eq = f.indexOf('=');
    if (eq === -1) throw new SearchOptionError('bad format of filter (expected name=value)');
    const name = f.slice(0, eq).trim().toLowerCase();
    const value = f.slice(eq + 1).trim();
    const values = out.get(name) ?? [];
    if (!values.includes(value)) values.push(value);
    out.set(name, values);
  }
  return out;
}

/** What the filters ask of the results, once validated. */
export interface SearchCriteria {
  /** `is-automated=true`: the daemon answers `[]` without asking the registry. */
  readonly onlyAutomated: boolean;
  /** `is-official`, when given. */
  readonly official?: boolean;
  /** The largest `stars` value, when given (Docker uses the max; below 0 means 0). */
  readonly minStars?: number;
}

/** Go's `invalidFilter.Error()`: `invalid filter 'name=[v1 v2]'` (values in `%s` of a slice). */
function invalidFilter(name: string, values?: readonly string[]): SearchOptionError {
  return new SearchOptionError(`invalid filter '${name}${values ? `=[${values.join(' ')}]` : ''}'`);
}

/**
 * `filters.Args.GetBoolOrDefault`: `1`/`true` and `0`/`false` only (case-sensitive); none of
 * them, or both kinds at once, is an error. Other values beside a valid one are ignored.
 */
function boolFilter(args: FilterArgs, name: string): boolean | undefined {
  const values = args.get(name);
  if (values === undefined) return undefined;
  const isFalse = values.includes('0') || values.includes('false');
  const isTrue = values.includes('1') || values.includes('true');
  if (isFalse === isTrue) throw invalidFilter(name, values);
  return isTrue;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's `strconv.Atoi` on a 64-bit platform, with its error text. */
export function atoi(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n < INT64_MIN || n > INT64_MAX) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(s)}: value out of range`);
  return Number(n);
}

/**
 * `Service.Search`'s checks, in its order: unknown names; `is-automated` (true ends the
 * search with no results before `is-official` and `stars` are even looked at); `is-official`;
 * every `stars` value an integer.
 */
export function searchCriteria(args: FilterArgs): SearchCriteria {
  for (const name of args.keys()) {
    if (!SEARCH_FILTER_NAMES.includes(name)) throw invalidFilter(name);
  }
  if (boolFilter(args, 'is-automated') === true) return { onlyAutomated: true };
  const official = boolFilter(args, 'is-official');
  let minStars: number | undefined;
  const stars = args.get('stars');
  if (stars !== undefined) {
    minStars = 0;
    for (const v of stars) {
      let n: number;
      try {
        n = atoi(v);
      } catch (err) {
        throw new SearchOptionError(`invalid filter 'stars=${v}': ${(err as Error).message}`);
      }
      if (n > minStars) minStars = n;
    }
  }
  return { onlyAutomated: false, ...(official !== undefined ? { official } : {}), ...(minStars !== undefined ? { minStars } : {}) };
}

/** Docker's default number of results when none (or 0) is asked for. */
export const DEFAULT_SEARCH_LIMIT = 25;

/** The limit sent as `n`: 0 or none → 25; otherwise 1..100 (`limit <n> is outside the range of [1, 100]`). */
export function searchLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return DEFAULT_SEARCH_LIMIT;
  if (!Number.isSafeInteger(limit)) throw new SearchOptionError('invalid limit specified');
  if (limit < 1 || limit > 100) throw new SearchOptionError(`limit ${limit} is outside the range of [1, 100]`);
  return limit;
}

/**
 * docker search's filter and limit rules (docs/docker-rules.md#search; rows from moby's
 * `daemon/pkg/registry/search_test.go`): the daemon's texts, its order of checks, and
 * docker/cli's `name=value` parsing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { atoi, DEFAULT_SEARCH_LIMIT, parseFilters, searchCriteria, searchLimit, SearchOptionError } from '../../src/search/filters.js';
import { isGantryError } from '../../src/errors.js';

const criteria = (...filters: string[]) => searchCriteria(parseFilters(filters));

describe('filter parsing (docker/cli FilterOpt)', () => {
  test('name is trimmed and lower-cased, value trimmed; repeated values count once; empty strings are ignored', () => {
    const args = parseFilters([' IS-Official = true ', 'stars=3', 'stars=3', 'stars=5', '']);
    assert.deepEqual([...args.entries()], [
      ['is-official', ['true']],
      ['stars', ['3', '5']],
    ]);
  });

  test('a filter without "=" is a format error', () => {
    assert.throws(() => parseFilters(['is-official']), { message: 'bad format of filter (expected name=value)' });
  });

  test('only the first "=" splits', () => {
    assert.deepEqual([...parseFilters(['stars=1=2']).entries()], [['stars', ['1=2']]]);
  });
});

describe('filter validation (Service.Search, search_test.go rows)', () => {
  const errors: [string[], string][] = [
    [['type=custom'], "invalid filter 'type'"],
    [['is-automated=invalid'], "invalid filter 'is-automated=[invalid]'"],
    [['is-automated=true', 'is-automated=false'], "invalid filter 'is-automated=[true false]'"],
    [['is-official=invalid'], "invalid filter 'is-official=[invalid]'"],
    [['is-official=true', 'is-official=false'], "invalid filter 'is-official=[true false]'"],
    [['is-official=TRUE'], "invalid filter 'is-official=[TRUE]'"],
    [['stars=invalid'], `invalid filter 'stars=invalid': strconv.Atoi: parsing "invalid": invalid syntax`],
    [['stars=1', 'stars=invalid'], `invalid filter 'stars=invalid': strconv.Atoi: parsing "invalid": invalid syntax`],
    [['stars=1.5'], `invalid filter 'stars=1.5': strconv.Atoi: parsing "1.5": invalid syntax`],
    [['stars=99999999999999999999'], `invalid filter 'stars=99999999999999999999': strconv.Atoi: parsing "99999999999999999999": value out of range`],
  ];
  for (const [filters, message] of errors) {
    test(`${filters.join(' ')} → ${message}`, () => {
      assert.throws(
        () => criteria(...filters),
        (err: unknown) => err instanceof SearchOptionError && isGantryError(err, 'INVALID_CONFIG') && (err as Error).message === message,
      );
    });
  }

  test('is-automated=true ends the search before is-official and stars are looked at', () => {
    assert.deepEqual(criteria('is-automated=true', 'is-official=invalid', 'stars=invalid'), { onlyAutomated: true });
    assert.deepEqual(criteria('is-automated=1'), { onlyAutomated: true });
  });

  test('is-automated=false is accepted and filters nothing', () => {
    assert.deepEqual(criteria('is-automated=false'), { onlyAutomated: false });
    assert.deepEqual(criteria('is-automated=0'), { onlyAutomated: false });
  });

  test('booleans: 1/true and 0/false; a stray value beside a valid one is ignored (Go GetBoolOrDefault)', () => {
    assert.deepEqual(criteria('is-official=1'), { onlyAutomated: false, official: true });
    assert.deepEqual(criteria('is-official=false'), { onlyAutomated: false, official: false });
    assert.deepEqual(criteria('is-official=true', 'is-official=1'), { onlyAutomated: false, official: true });
    assert.deepEqual(criteria('is-official=true', 'is-official=yes'), { onlyAutomated: false, official: true });
  });

  test('stars: the largest value wins; negative values mean 0', () => {
    assert.deepEqual(criteria('stars=3', 'stars=10', 'stars=2'), { onlyAutomated: false, minStars: 10 });
    assert.deepEqual(criteria('stars=-5'), { onlyAutomated: false, minStars: 0 });
    assert.deepEqual(criteria('stars=+7'), { onlyAutomated: false, minStars: 7 });
  });

  test('no filters', () => {
    assert.deepEqual(criteria(), { onlyAutomated: false });
  });
});

describe('strconv.Atoi', () => {
  for (const [input, out] of [['0', 0], ['-12', -12], ['+3', 3], ['9007199254740991', 9007199254740991]] as const) {
    test(`${input} → ${out}`, () => assert.equal(atoi(input), out));
  }
  for (const input of ['', ' 1', '0x10', '1e3', '-']) {
    test(`${JSON.stringify(input)} is invalid syntax`, () => assert.throws(() => atoi(input), /invalid syntax/));
  }
  test('one past int64 is out of range', () => assert.throws(() => atoi('9223372036854775808'), /value out of range/));
});

describe('limit', () => {
  test('none and 0 mean 25', () => {
    assert.equal(searchLimit(undefined), DEFAULT_SEARCH_LIMIT);
    assert.equal(searchLimit(0), 25);
  });
  for (const n of [1, 50, 100]) test(`${n} is kept`, () => assert.equal(searchLimit(n), n));
  for (const n of [-1, 101, 1000]) {
    test(`${n} → limit ${n} is outside the range of [1, 100]`, () => {
      assert.throws(() => searchLimit(n), (err: unknown) => isGantryError(err, 'INVALID_CONFIG') && (err as Error).message === `limit ${n} is outside the range of [1, 100]`);
    });
  }
  test('a fraction is not a limit', () => assert.throws(() => searchLimit(2.5), { message: 'invalid limit specified' }));
});

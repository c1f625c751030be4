/**
 * `gantry search`'s table, as docker/cli's search formatter and Go's tabwriter lay it out:
 * NAME, DESCRIPTION (45 columns with `…`, newlines as spaces), STARS, OFFICIAL (`[OK]`).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { descriptionCell, ellipsis, searchTable, tabulate } from '../../src/cli/commands/search.js';

describe('formatter.Ellipsis', () => {
  const rows: [string, number, string][] = [
    ['', 45, ''],
    ['short', 45, 'short'],
    ['a'.repeat(45), 45, 'a'.repeat(45)],
    ['a'.repeat(46), 45, `${'a'.repeat(44)}…`],
    ['abcdef', 1, 'a'],
    ['abcdef', 0, ''],
    ['abcdef', 3, 'ab…'],
    // Wide characters take two columns: 5 × 2 = 10 > 9, so 4 of them (8 columns) and `…`.
    ['日本語日本', 9, '日本語日…'],
    ['日本語日本', 10, '日本語日本'],
    ['é'.repeat(50), 45, `${'é'.repeat(44)}…`],
  ];
  for (const [input, max, out] of rows) test(`${JSON.stringify(input)} in ${max} → ${JSON.stringify(out)}`, () => assert.equal(ellipsis(input, max), out));
});

describe('description cell', () => {
  test('CR and LF become spaces before the cut', () => assert.equal(descriptionCell('one\ntwo\r\nthree', true), 'one two  three'));
  test('--no-trunc keeps the whole text', () => {
    const long = 'x'.repeat(80);
    assert.equal(descriptionCell(long, false), long);
    assert.equal(descriptionCell(long, true), `${'x'.repeat(44)}…`);
  });
});

describe('tabwriter (minwidth 10, padding 3)', () => {
  test('columns are padded to the widest cell + 3, at least 10; the last cell is not padded', () => {
    assert.equal(tabulate([['A', 'BB', 'C'], ['a-very-long-name', 'b', 'c']]), 'A                  BB        C\n' + 'a-very-long-name   b         c\n');
  });
});

describe('searchTable', () => {
  test('docker search layout', () => {
    const out = searchTable([
      { name: 'fakeimage', description: 'A fake image\nfor tests', starCount: 42, isOfficial: true, isAutomated: false },
      { name: 'other/thing', description: '', starCount: 0, isOfficial: false, isAutomated: false },
    ]);
    assert.equal(
      out,
      'NAME          DESCRIPTION              STARS     OFFICIAL\n' +
        'fakeimage     A fake image for tests   42        [OK]\n' +
        'other/thing                            0         \n',
    );
  });
  test('no results: the header alone', () => {
    assert.equal(searchTable([]), 'NAME      DESCRIPTION   STARS     OFFICIAL\n');
  });
});

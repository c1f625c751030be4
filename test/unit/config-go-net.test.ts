// Go's net semantics that show through Docker's error texts and CIDR matching.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, goQuote, parseCidr, parseIp, splitHostPort } from '../../src/config/go-net.js';

describe('splitHostPort (net.SplitHostPort)', () => {
  const rows: [string, { host: string; port: string } | undefined][] = [
    ['host:80', { host: 'host', port: '80' }],
    ['host:', { host: 'host', port: '' }],
    ['[::1]:5000', { host: '::1', port: '5000' }],
    ['host', undefined],
    ['::1', undefined],
    ['[::1]', undefined],
    ['[::1]x:5', undefined],
    ['a[b:5', undefined],
    ['"h:5000"', { host: '"h', port: '5000"' }],
  ];
  for (const [input, out] of rows) test(input, () => assert.deepEqual(splitHostPort(input), out));
});

describe('parseIp and formatIp', () => {
  const rows: [string, string | undefined][] = [
    ['127.0.0.1', '127.0.0.1'],
    ['010.0.0.1', undefined],
    ['256.0.0.1', undefined],
    ['1.2.3', undefined],
    ['::1', '::1'],
    ['::', '::'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8::', '2001:db8::'],
    ['1:0:0:0:0:0:0:8', '1::8'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::102:304'],
    ['1::2::3', undefined],
    [':::', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1:2:3:4:5:6:7::8', undefined],
    ['12345::', undefined],
    ['fe80::1%eth0', undefined],
  ];
  for (const [input, out] of rows) {
    test(input, () => {
      const ip = parseIp(input);
      assert.equal(ip === undefined ? undefined : formatIp(ip), out);
    });
  }
  test('zones only where allowed', () => assert.equal(parseIp('fe80::1%eth0', { allowZone: true })?.zone, 'eth0'));
});

describe('parseCidr', () => {
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/08', '::/129', '[fe80::]/64', '10.0.0.0/', '10.0.0.0/+8']) {
    test(`refuses ${bad}`, () => assert.equal(parseCidr(bad), undefined));
  }
  test('masks the network', () => {
    assert.equal(parseCidr('10.1.2.3/8')?.network, parseIp('10.0.0.0')?.value);
    assert.equal(parseCidr('::/0')?.bits, 0);
  });
});

test('goQuote escapes like strconv.Quote', () => {
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote('\n\t\x01\x7f'), '"\\n\\t\\x01\\x7f"');
  assert.equal(goQuote('é'), '"é"');
});

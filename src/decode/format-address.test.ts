import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { describe, it } from 'node:test';
import { createRandom } from './build-packet.js';
import { formatAddress, parseAddress } from './format-address.js';

function words(text: string): Uint32Array {
  const parsed = parseAddress(text);
  assert.ok(parsed, `parses ${text}`);
  return parsed.words;
}

describe('formatAddress', () => {
  it('writes IPv4 as a dotted quad, including the extremes', () => {
    assert.equal(formatAddress([0xc0000201, 0, 0, 0], 4), '192.0.2.1');
    assert.equal(formatAddress(Uint32Array.of(0, 0, 0, 0), 4), '0.0.0.0');
    assert.equal(formatAddress([-1, 0, 0, 0], 4), '255.255.255.255'); // a signed word from `|`
  });

  it('follows the RFC 5952 §4 examples', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3: first of equal runs
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: a single zero group stays
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3: the longest run wins
      ['2001:db8::0:1', '2001:db8::1'],
      ['2001:DB8::AAAA', '2001:db8::aaaa'], // §4.3: lower case
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['0:1:0:0:0:0:0:0', '0:1::'],
      ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
      ['fe80::0001:0002:0003:0004', 'fe80::1:2:3:4'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ];
    for (const [input, canonical] of cases) assert.equal(formatAddress(words(input), 6), canonical, input);
  });

  it('writes IPv4-mapped addresses with a dotted tail (RFC 5952 §5)', () => {
    assert.equal(formatAddress(words('::ffff:c000:0201'), 6), '::ffff:192.0.2.1');
    assert.equal(formatAddress(words('0:0:0:0:0:ffff:0:0'), 6), '::ffff:0.0.0.0');
    // Not mapped: IPv4-compatible (deprecated) and ffff in another group stay hexadecimal.
    assert.equal(formatAddress(words('::c000:201'), 6), '::c000:201');
    assert.equal(formatAddress(words('::ffff:0:c000:201'), 6), '::ffff:0:c000:201');
  });

  it('agrees with the WHATWG URL serializer on random non-mapped addresses', () => {
    // The URL standard's IPv6 serializer applies the same compression rules as RFC 5952 §4.
    const random = createRandom(5952);
    for (let i = 0; i < 5000; i++) {
      const groups = Array.from({ length: 8 }, () => (random() < 0.5 ? 0 : Math.floor(random() * 0x10000)));
      if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) continue;
      const text = groups.map((g) => g.toString(16)).join(':');
      const viaUrl = new URL(`http://[${text}]/`).hostname.slice(1, -1);
      assert.equal(formatAddress(words(text), 6), viaUrl, text);
    }
  });
});

describe('parseAddress', () => {
  it('parses every RFC 4291 §2.2 form, including embedded IPv4', () => {
    assert.deepEqual(parseAddress('192.0.2.1'), { ipVersion: 4, words: Uint32Array.of(0xc0000201, 0, 0, 0) });
    assert.deepEqual([...words('::')], [0, 0, 0, 0]);
    assert.deepEqual([...words('1::')], [0x10000, 0, 0, 0]);
    assert.deepEqual([...words('::ffff:192.0.2.1')], [0, 0, 0xffff, 0xc0000201]);
    assert.deepEqual([...words('0:0:0:0:0:FFFF:129.144.52.38')], [0, 0, 0xffff, 0x81903426]);
    assert.deepEqual([...words('::13.1.68.3')], [0, 0, 0, 0x0d014403]);
    assert.deepEqual([...words('1:2:3:4:5:6:7::')], [0x10002, 0x30004, 0x50006, 0x70000]); // "::" for one group
    assert.deepEqual([...words('1:2:3:4:5:6:1.2.3.4')], [0x10002, 0x30004, 0x50006, 0x01020304]);
    assert.equal(parseAddress('2001:db8::1')?.ipVersion, 6);
  });

  it('refuses malformed text', () => {
    for (const bad of [
      '',
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8::',
      '::1:2:3:4:5:6:7:8',
      '12345::',
      'g::',
      ':1::',
      '1::2:',
      '1.2.3.4::',
      '::1.2.3.4:1',
      '::1.2.3',
      '::256.1.1.1',
      'fe80::1%eth0',
      ' ::1',
      '1.2.3',
      '1.2.3.4.5',
      '01.2.3.4',
      '1.2.3.256',
      '1.2.3.-4',
      '1..2.3',
      '0x1.2.3.4',
    ]) {
      assert.equal(parseAddress(bad), null, JSON.stringify(bad));
    }
  });

  it('accepts exactly what node:net accepts, on random strings', () => {
    const random = createRandom(4291);
    const alphabet = '0123456789abcdefABCDEF:.';
    for (let i = 0; i < 20000; i++) {
      const length = 1 + Math.floor(random() * 24);
      let text = '';
      for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
      const expected = isIP(text);
      assert.equal(parseAddress(text)?.ipVersion ?? 0, expected, text);
    }
  });

  it('round-trips formatted addresses', () => {
    const random = createRandom(1);
    for (let i = 0; i < 5000; i++) {
      const ipVersion = random() < 0.3 ? 4 : 6;
      const address = Uint32Array.from({ length: 4 }, (_, w) =>
        ipVersion === 4 && w > 0 ? 0 : random() < 0.4 ? 0 : random() < 0.1 ? 0xffff : Math.floor(random() * 2 ** 32),
      );
      const text = formatAddress(address, ipVersion);
      assert.deepEqual(parseAddress(text), { ipVersion, words: address }, text);
      assert.equal(isIP(text), ipVersion, text);
    }
  });
});

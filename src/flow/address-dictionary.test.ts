import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddress } from '../decode/index.js';
import { AddressDictionary } from './address-dictionary.js';
import { StringDictionary } from './string-dictionary.js';

test('AddressDictionary gives each distinct address one code and its RFC 5952 text, through growth', () => {
  const strings = new StringDictionary();
  const dictionary = new AddressDictionary(strings);
  const texts: string[] = [];
  for (let i = 0; i < 5000; i++) {
    texts.push(`10.${(i >> 8) & 255}.${i & 255}.1`, `2001:db8:${(i + 1).toString(16)}::1`);
  }
  texts.push('0.0.0.0', '::', '::ffff:10.0.0.1'); // all-zero words in both families must not collide
  const codes = new Map<string, number>();
  for (let round = 0; round < 2; round++) {
    for (const text of texts) {
      const parsed = parseAddress(text)!;
      const words = new Uint32Array(8);
      words.set(parsed.words, 4);
      const code = dictionary.code(words, 4, parsed.ipVersion);
      if (round === 0) codes.set(text, code);
      else assert.equal(code, codes.get(text), text);
      assert.equal(strings.value(code), text);
    }
  }
  assert.equal(new Set(codes.values()).size, texts.length);
});

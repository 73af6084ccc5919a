/**
 * Codes for IP addresses in a StringDictionary, formatting each distinct address once (RFC 5952
 * text for IPv6) however many records carry it. The lookup is an open-addressing hash over typed
 * arrays: no string or number boxing per record.
 */
import { formatAddress } from '../decode/index.js';
import type { StringDictionary } from './string-dictionary.js';

const WORDS = 5; // four address words and the IP version

function hashAddress(w0: number, w1: number, w2: number, w3: number, ipVersion: number): number {
  const h = Math.imul(w0 ^ Math.imul(w1, 0x85ebca6b) ^ Math.imul(w2, 0xc2b2ae35) ^ Math.imul(w3, 0x27d4eb2f) ^ ipVersion, 0x9e3779b1);
  return h ^ (h >>> 15);
}

export class AddressDictionary {
  private keys = new Uint32Array(1024 * WORDS);
  private codes = new Int32Array(1024).fill(-1);
  private mask = 1023;
  private count = 0;

  constructor(private readonly strings: StringDictionary) {}

  /**
   * Row `row`'s address from `words[at .. at+4)` into a batch's columns (FlowRecordBatch): IPv4 as
   * its number in `ipv4s` (code -1), any other as the code of its text (NaN in `ipv4s`).
   */
  put(codes: Int32Array, ipv4s: Float64Array, row: number, words: Uint32Array, at: number, ipVersion: number): void {
    if (ipVersion === 4) {
      codes[row] = -1;
      ipv4s[row] = words[at] >>> 0;
    } else {
      codes[row] = this.code(words, at, ipVersion);
      ipv4s[row] = NaN;
    }
  }

  /** The code of the address in `words[at .. at+4)` (IPv4 in the first word). */
  code(words: Uint32Array, at: number, ipVersion: number): number {
    const w0 = words[at];
    const w1 = ipVersion === 4 ? 0 : words[at + 1];
    const w2 = ipVersion === 4 ? 0 : words[at + 2];
    const w3 = ipVersion === 4 ? 0 : words[at + 3];
    for (let slot = hashAddress(w0, w1, w2, w3, ipVersion) & this.mask; ; slot = (slot + 1) & this.mask) {
      const code = this.codes[slot];
      const k = slot * WORDS;
      if (code < 0) {
        const text = formatAddress(words.subarray(at, at + 4), ipVersion as 4 | 6);
        const fresh = this.strings.add(text);
        this.keys[k] = w0; this.keys[k + 1] = w1; this.keys[k + 2] = w2; this.keys[k + 3] = w3; this.keys[k + 4] = ipVersion;
        this.codes[slot] = fresh;
        if (++this.count * 2 > this.mask) this.grow();
        return fresh;
      }
      if (this.keys[k] === w0 && this.keys[k + 1] === w1 && this.keys[k + 2] === w2 && this.keys[k + 3] === w3 && this.keys[k + 4] === ipVersion) {
        return code;
      }
    }
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldCodes = this.codes;
    const size = oldCodes.length * 2;
    this.keys = new Uint32Array(size * WORDS);
    this.codes = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (let old = 0; old < oldCodes.length; old++) {
      if (oldCodes[old] < 0) continue;
      const k = old * WORDS;
      let slot = hashAddress(oldKeys[k], oldKeys[k + 1], oldKeys[k + 2], oldKeys[k + 3], oldKeys[k + 4]) & this.mask;
      while (this.codes[slot] >= 0) slot = (slot + 1) & this.mask;
      this.keys.set(oldKeys.subarray(k, k + WORDS), slot * WORDS);
      this.codes[slot] = oldCodes[old];
    }
  }
}

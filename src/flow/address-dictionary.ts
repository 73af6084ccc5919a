/**
 * Codes for IP addresses in a StringDictionary, formatting each distinct address once (RFC 5952
 * text for IPv6) however many records carry it.
 */
import { formatAddress } from '../decode/index.js';
import type { StringDictionary } from './string-dictionary.js';

export class AddressDictionary {
  private readonly ipv4 = new Map<number, number>();
  private readonly ipv6 = new Map<string, number>();

  constructor(private readonly strings: StringDictionary) {}

  /** The code of the address in `words[at .. at+4)` (IPv4 in the first word). */
  code(words: Uint32Array, at: number, ipVersion: number): number {
    if (ipVersion === 4) {
      const key = words[at];
      let code = this.ipv4.get(key);
      if (code === undefined) {
        code = this.strings.code(formatAddress(words.subarray(at, at + 4), 4));
        this.ipv4.set(key, code);
      }
      return code;
    }
    const key = `${words[at]},${words[at + 1]},${words[at + 2]},${words[at + 3]}`;
    let code = this.ipv6.get(key);
    if (code === undefined) {
      code = this.strings.code(formatAddress(words.subarray(at, at + 4), 6));
      this.ipv6.set(key, code);
    }
    return code;
  }
}

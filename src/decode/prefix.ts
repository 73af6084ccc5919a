/**
 * IP prefixes (CIDR, RFC 4632; IPv6 RFC 4291 §2.3) over the 32-bit address words of
 * format-address.ts: parse one, test an address against it, cut an address to it.
 */
import { parseAddress } from './format-address.js';

/** An address or prefix as (version, words, bits); null when malformed. */
export function parseCidr(text: string): { ipVersion: 4 | 6; words: Uint32Array; bits: number } | null {
  const slash = text.lastIndexOf('/');
  const address = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (address === null) return null;
  const width = address.ipVersion === 4 ? 32 : 128;
  const bitsText = slash < 0 ? String(width) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  if (bits > width) return null;
  return { ipVersion: address.ipVersion, words: Uint32Array.from(address.words), bits };
}

/** Whether `address` starts with the first `bits` bits of `network` (both as four words). */
export function samePrefix(network: Uint32Array, address: Uint32Array, bits: number): boolean {
  for (let w = 0; w < 4; w++) {
    const take = Math.max(0, Math.min(32, bits - 32 * w));
    if (take === 0) return true;
    const mask = (0xffffffff << (32 - take)) >>> 0;
    if (((network[w] & mask) >>> 0) !== ((address[w] & mask) >>> 0)) return false;
  }
  return true;
}

/** The first `bits` bits of an address's words, the rest zero. */
export function maskWords(words: Uint32Array, bits: number): Uint32Array {
  const out = new Uint32Array(4);
  for (let w = 0; w < 4; w++) {
    const take = Math.max(0, Math.min(32, bits - 32 * w));
    out[w] = take === 0 ? 0 : (words[w] & ((0xffffffff << (32 - take)) >>> 0)) >>> 0;
  }
  return out;
}

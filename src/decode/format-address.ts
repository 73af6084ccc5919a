/**
 * Text forms of IP addresses held as 32-bit network-order words (as in `DecodedPacket`).
 * Output follows RFC 5952 so that one address always has one spelling in the store and in queries;
 * input accepts every form RFC 4291 §2.2 allows.
 */

/** A parsed address: IPv4 in word 0 (words 1-3 zero), IPv6 in all four words. */
export interface ParsedAddress {
  ipVersion: 4 | 6;
  words: Uint32Array;
}

/** Formats address words as a dotted quad (IPv4) or in the RFC 5952 canonical form (IPv6). */
export function formatAddress(words: Uint32Array | ArrayLike<number>, ipVersion: 4 | 6): string {
  if (ipVersion === 4) return formatIpv4(words[0] >>> 0);
  const w0 = words[0] >>> 0;
  const w1 = words[1] >>> 0;
  const w2 = words[2] >>> 0;
  const w3 = words[3] >>> 0;
  // RFC 5952 §5: an IPv4-mapped address (RFC 4291 §2.5.5.2) is written ::ffff:a.b.c.d.
  if (w0 === 0 && w1 === 0 && w2 === 0xffff) return '::ffff:' + formatIpv4(w3);

  const g = groups;
  g[0] = w0 >>> 16; g[1] = w0 & 0xffff; g[2] = w1 >>> 16; g[3] = w1 & 0xffff;
  g[4] = w2 >>> 16; g[5] = w2 & 0xffff; g[6] = w3 >>> 16; g[7] = w3 & 0xffff;
  // RFC 5952 §4.2: compress the longest run of zero groups, the first one on a tie (§4.2.3), and
  // never a single zero group (§4.2.2).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  // RFC 5952 §4.1 (no leading zeros) and §4.3 (lower case) are what toString(16) gives. Built
  // without arrays: a collector formats hundreds of thousands of these a second.
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += '::';
      i += bestLength - 1;
      continue;
    }
    text += i === 0 || i === bestStart + bestLength ? g[i].toString(16) : ':' + g[i].toString(16);
  }
  return text;
}

/** Scratch for formatAddress: the eight 16-bit groups. */
const groups = new Int32Array(8);

/**
 * Parses any RFC 4291 §2.2 text form of an IPv6 address (including an embedded dotted IPv4 tail)
 * or a dotted-quad IPv4 address; returns null when `text` is not one. Zone indexes (`%eth0`),
 * prefixes and surrounding spaces are not accepted.
 */
export function parseAddress(text: string): ParsedAddress | null {
  if (text.includes(':')) {
    const words = parseIpv6(text);
    return words === null ? null : { ipVersion: 6, words };
  }
  const v4 = parseIpv4(text);
  if (v4 < 0) return null;
  const words = new Uint32Array(4);
  words[0] = v4;
  return { ipVersion: 4, words };
}

function formatIpv4(word: number): string {
  return `${word >>> 24}.${(word >>> 16) & 0xff}.${(word >>> 8) & 0xff}.${word & 0xff}`;
}

/** Decimal 0-255 without leading zeros: "010" is octal to inet_aton, so it is refused (RFC 6943 §3.1.1). */
const IPV4_PART = /^(?:0|[1-9][0-9]{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The address as an unsigned 32-bit number, or -1. */
function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) return -1;
  let word = 0;
  for (const part of parts) {
    if (!IPV4_PART.test(part)) return -1;
    const value = Number(part);
    if (value > 255) return -1;
    word = word * 256 + value;
  }
  return word;
}

function parseIpv6(text: string): Uint32Array | null {
  const gap = text.indexOf('::');
  if (gap >= 0 && text.indexOf('::', gap + 1) >= 0) return null; // at most one "::" (also refuses ":::")
  const head = gap < 0 ? text : text.slice(0, gap);
  const tail = gap < 0 ? '' : text.slice(gap + 2);
  const headGroups = parseGroups(head, gap < 0);
  const tailGroups = parseGroups(tail, true);
  if (headGroups === null || tailGroups === null) return null;
  const explicit = headGroups.length + tailGroups.length;
  // "::" stands for one or more zero groups (RFC 4291 §2.2 item 2), so with it at most 7 are written.
  if (gap < 0 ? explicit !== 8 : explicit > 7) return null;
  const groups = [...headGroups, ...new Array<number>(8 - explicit).fill(0), ...tailGroups];
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) words[i] = groups[2 * i] * 0x10000 + groups[2 * i + 1];
  return words;
}

/** Colon-separated groups; when `ipv4TailAllowed`, the last may be a dotted quad (two groups). */
function parseGroups(text: string, ipv4TailAllowed: boolean): number[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (IPV6_GROUP.test(part)) {
      groups.push(parseInt(part, 16));
    } else if (ipv4TailAllowed && i === parts.length - 1 && part.includes('.')) {
      // RFC 4291 §2.2 item 3: x:x:x:x:x:x:d.d.d.d
      const v4 = parseIpv4(part);
      if (v4 < 0) return null;
      groups.push(v4 >>> 16, v4 & 0xffff);
    } else {
      return null;
    }
  }
  return groups;
}

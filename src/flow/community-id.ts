/**
 * Community ID v1 (https://github.com/corelight/community-id-spec): a hash of the 5-tuple that both
 * ends of a connection compute alike, so records from two hosts can be joined.
 *
 * The store does not keep it (a 28-character hash per record would double the bytes per record);
 * the query layer derives it with the SQL macro in query/sql-macros.ts, and this implementation is
 * the reference that macro is tested against.
 */
import { createHash } from 'node:crypto';
import { parseAddress } from '../decode/index.js';

// Spec §"ICMP": message types with a counterpart are hashed as two-way, with the counterpart as port.
const ICMP4_COUNTERPART = new Map([[8, 0], [0, 8], [13, 14], [14, 13], [15, 16], [16, 15], [10, 9], [9, 10], [17, 18], [18, 17]]);
const ICMP6_COUNTERPART = new Map([
  [128, 129], [129, 128], [133, 134], [134, 133], [135, 136], [136, 135],
  [130, 131], [131, 130], [144, 145], [145, 144], [139, 140], [140, 139],
]);
const PROTOCOLS_WITH_PORTS = new Set([1, 6, 17, 58, 132]);

/**
 * Computes the Community ID of a flow. For ICMP/ICMPv6, `dstPort` is type*256+code as in the flow
 * record. Returns null when an address does not parse or the two addresses' families differ.
 */
export function communityId(
  srcAddr: string,
  dstAddr: string,
  srcPort: number,
  dstPort: number,
  protocol: number,
  seed = 0,
): string | null {
  const src = parseAddress(srcAddr);
  const dst = parseAddress(dstAddr);
  if (src === null || dst === null || src.ipVersion !== dst.ipVersion) return null;
  let a = addressBytes(src.words, src.ipVersion);
  let b = addressBytes(dst.words, dst.ipVersion);
  let portA = srcPort;
  let portB = dstPort;
  let oneWay = false;
  if (protocol === 1 || protocol === 58) {
    const type = dstPort >>> 8;
    const code = dstPort & 0xff;
    const counterpart = (protocol === 1 ? ICMP4_COUNTERPART : ICMP6_COUNTERPART).get(type);
    portA = type;
    portB = counterpart ?? code;
    oneWay = counterpart === undefined;
  }
  if (!oneWay) {
    const order = Buffer.compare(a, b);
    if (order > 0 || (order === 0 && portA > portB)) {
      [a, b] = [b, a];
      [portA, portB] = [portB, portA];
    }
  }
  const hasPorts = PROTOCOLS_WITH_PORTS.has(protocol);
  const input = Buffer.alloc(2 + a.length * 2 + 2 + (hasPorts ? 4 : 0));
  let at = input.writeUInt16BE(seed, 0);
  at += a.copy(input, at);
  at += b.copy(input, at);
  at = input.writeUInt8(protocol, at);
  at = input.writeUInt8(0, at);
  if (hasPorts) {
    at = input.writeUInt16BE(portA, at);
    input.writeUInt16BE(portB, at);
  }
  return '1:' + createHash('sha1').update(input).digest('base64');
}

function addressBytes(words: Uint32Array, ipVersion: 4 | 6): Buffer {
  const out = Buffer.alloc(ipVersion === 4 ? 4 : 16);
  for (let i = 0; i < out.length / 4; i++) out.writeUInt32BE(words[i], i * 4);
  return out;
}

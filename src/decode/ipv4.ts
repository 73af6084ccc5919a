import { DecodeIssue, type DecodeIssueCode } from './decode-issue.js';
import type { DecodedPacket } from './decoded-packet.js';
import { decodeTransport, setNoTransportHeader } from './transport.js';

const IPV4_MIN_HEADER_BYTES = 20;
/** RFC 791 §3.1 flags: bit 2 (0x2000 of the flags/offset word) is More Fragments. */
const MORE_FRAGMENTS = 0x2000;
const FRAGMENT_OFFSET_MASK = 0x1fff;

/**
 * Decodes the IPv4 header at `data[ip ..]` (RFC 791 §3.1) and the transport header after it.
 * `capEnd` is the end of the captured bytes, `wireEnd` where the frame ended on the wire (both
 * absolute indexes into `data`, `wireEnd >= capEnd`). Returns null or an issue code.
 *
 * ipBytes is the Total Length field, not the frame length: Ethernet pads frames under 64 bytes and
 * the padding is not IP traffic (NetFlow counts the header's length too). Two special cases:
 * - Total Length 0: written by TCP segmentation offload in captures of outgoing super-packets
 *   (the NIC fills it in per segment). We use the wire length minus the link header instead.
 * - Total Length greater than the wire bytes: the receiving host drops such a datagram as
 *   truncated (Linux ip_rcv_core counts it in InTruncatedPkts), so no application saw it; it is
 *   skipped as `ipv4_total_length_exceeds_wire` rather than counted with bytes that never existed.
 */
export function decodeIpv4(
  data: Uint8Array,
  ip: number,
  capEnd: number,
  wireEnd: number,
  out: DecodedPacket,
): DecodeIssueCode | null {
  if (capEnd - ip < IPV4_MIN_HEADER_BYTES) return DecodeIssue.TRUNCATED_IPV4;
  const versionAndIhl = data[ip];
  if (versionAndIhl >> 4 !== 4) return DecodeIssue.BAD_IP_VERSION;
  // IHL counts 32-bit words and includes options; 5 is the minimum (RFC 791 §3.1).
  const headerBytes = (versionAndIhl & 0x0f) << 2;
  if (headerBytes < IPV4_MIN_HEADER_BYTES) return DecodeIssue.BAD_IPV4_HEADER_LENGTH;
  if (capEnd - ip < headerBytes) return DecodeIssue.TRUNCATED_IPV4;

  let totalBytes = (data[ip + 2] << 8) | data[ip + 3];
  const wireBytes = wireEnd - ip;
  if (totalBytes === 0) {
    totalBytes = wireBytes; // TSO; >= headerBytes because wireEnd >= capEnd
  } else if (totalBytes < headerBytes) {
    return DecodeIssue.BAD_IPV4_TOTAL_LENGTH;
  } else if (totalBytes > wireBytes) {
    return DecodeIssue.IPV4_TOTAL_LENGTH_EXCEEDS_WIRE;
  }

  out.ipVersion = 4;
  out.ipOffset = ip;
  out.ipBytes = totalBytes;
  const src = out.srcAddr;
  src[0] = (data[ip + 12] << 24) | (data[ip + 13] << 16) | (data[ip + 14] << 8) | data[ip + 15];
  src[1] = 0;
  src[2] = 0;
  src[3] = 0;
  const dst = out.dstAddr;
  dst[0] = (data[ip + 16] << 24) | (data[ip + 17] << 16) | (data[ip + 18] << 8) | data[ip + 19];
  dst[1] = 0;
  dst[2] = 0;
  dst[3] = 0;

  // RFC 791 §3.1: Fragment Offset is in units of 8 bytes; a datagram is a fragment when MF is set
  // or its offset is non-zero (RFC 791 §3.2, reassembly).
  const flagsAndOffset = (data[ip + 6] << 8) | data[ip + 7];
  const fragmentOffset = (flagsAndOffset & FRAGMENT_OFFSET_MASK) << 3;
  const moreFragments = (flagsAndOffset & MORE_FRAGMENTS) !== 0;
  out.fragmentId = (data[ip + 4] << 8) | data[ip + 5];
  out.fragmentOffset = fragmentOffset;
  out.moreFragments = moreFragments;
  out.isFragment = moreFragments || fragmentOffset !== 0;

  const protocol = data[ip + 9];
  // Only the first fragment carries the transport header.
  if (fragmentOffset !== 0) return setNoTransportHeader(protocol, out);
  // Bytes past Total Length are link padding, never transport header.
  const ipEnd = ip + totalBytes;
  return decodeTransport(data, ip + headerBytes, ipEnd < capEnd ? ipEnd : capEnd, protocol, out);
}

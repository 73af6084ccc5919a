import { DecodeIssue, type DecodeIssueCode } from './decode-issue.js';
import type { DecodedPacket } from './decoded-packet.js';
import { IpProtocol } from './ip-protocol.js';
import { decodeTransport, setNoTransportHeader } from './transport.js';

const IPV6_HEADER_BYTES = 40;
/** Most extension headers walked; longer chains are reported as `too_many_ipv6_extensions`. */
export const MAX_IPV6_EXTENSION_HEADERS = 16;
const FRAGMENT_HEADER_BYTES = 8;

/**
 * Decodes the IPv6 header at `data[ip ..]` (RFC 8200 §3), walks its extension headers (RFC 8200 §4)
 * and decodes the upper-layer header. `capEnd`/`wireEnd` as for `decodeIpv4`. Returns null or an
 * issue code.
 *
 * ipBytes is 40 + Payload Length. Payload Length 0 is literally true only when Next Header is 59
 * (No Next Header, RFC 8200 §4.7): a 40-byte packet, usually padded on Ethernet. With any other
 * Next Header it means the length did not fit 16 bits: a Jumbo Payload (RFC 2675 §2, length in a
 * hop-by-hop option), or a segmentation-offload super-packet captured on the sending host (Linux
 * BIG TCP: Payload Length 0, with a Jumbo option in older kernels and none in newer ones). Then we
 * use the wire length minus the link header, which is exact because such packets are never padded;
 * the Jumbo option itself is not read. 40 + Payload Length greater than the wire bytes is skipped as
 * `ipv6_payload_length_exceeds_wire`: the receiver drops such a packet as truncated (Linux ipv6_rcv).
 */
export function decodeIpv6(
  data: Uint8Array,
  ip: number,
  capEnd: number,
  wireEnd: number,
  out: DecodedPacket,
): DecodeIssueCode | null {
  if (capEnd - ip < IPV6_HEADER_BYTES) return DecodeIssue.TRUNCATED_IPV6;
  if (data[ip] >> 4 !== 6) return DecodeIssue.BAD_IP_VERSION;

  const payloadBytes = (data[ip + 4] << 8) | data[ip + 5];
  const wireBytes = wireEnd - ip;
  let totalBytes: number;
  if (payloadBytes === 0 && data[ip + 6] !== IpProtocol.NO_NEXT_HEADER) {
    totalBytes = wireBytes; // >= 40 because wireEnd >= capEnd
  } else {
    totalBytes = IPV6_HEADER_BYTES + payloadBytes;
    if (totalBytes > wireBytes) return DecodeIssue.IPV6_PAYLOAD_LENGTH_EXCEEDS_WIRE;
  }

  out.ipVersion = 6;
  out.ipOffset = ip;
  out.ipBytes = totalBytes;
  const src = out.srcAddr;
  const dst = out.dstAddr;
  for (let word = 0, at = ip + 8; word < 4; word++, at += 4) {
    src[word] = (data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3];
    dst[word] = (data[at + 16] << 24) | (data[at + 17] << 16) | (data[at + 18] << 8) | data[at + 19];
  }
  out.isFragment = false;
  out.fragmentOffset = 0;
  out.moreFragments = false;
  out.fragmentId = 0;

  // Bytes past the IPv6 length are link padding, never headers.
  const ipEnd = ip + totalBytes;
  const end = ipEnd < capEnd ? ipEnd : capEnd;
  let next = data[ip + 6];
  let at = ip + IPV6_HEADER_BYTES;
  for (let headers = 0; ; headers++) {
    switch (next) {
      case IpProtocol.HOP_BY_HOP:
      case IpProtocol.ROUTING:
      case IpProtocol.DESTINATION_OPTIONS:
        if (headers === MAX_IPV6_EXTENSION_HEADERS) return DecodeIssue.TOO_MANY_IPV6_EXTENSIONS;
        if (end - at < 2) return DecodeIssue.TRUNCATED_IPV6_EXTENSION;
        next = data[at];
        // RFC 8200 §4.3-4.6: Hdr Ext Len is in 8-octet units, not including the first 8 octets.
        at += (data[at + 1] + 1) << 3;
        break;
      case IpProtocol.AH:
        if (headers === MAX_IPV6_EXTENSION_HEADERS) return DecodeIssue.TOO_MANY_IPV6_EXTENSIONS;
        if (end - at < 2) return DecodeIssue.TRUNCATED_IPV6_EXTENSION;
        next = data[at];
        // RFC 4302 §2.2: Payload Len is in 32-bit words, minus 2 (unlike RFC 8200's 8-octet units).
        at += (data[at + 1] + 2) << 2;
        break;
      case IpProtocol.FRAGMENT: {
        if (headers === MAX_IPV6_EXTENSION_HEADERS) return DecodeIssue.TOO_MANY_IPV6_EXTENSIONS;
        if (end - at < FRAGMENT_HEADER_BYTES) return DecodeIssue.TRUNCATED_IPV6_EXTENSION;
        // RFC 8200 §4.5: 13-bit offset in 8-octet units in the top bits, M flag in bit 0, then a
        // 32-bit Identification. An "atomic" fragment (offset 0, M 0; RFC 6946) still counts as one.
        const offsetAndFlags = (data[at + 2] << 8) | data[at + 3];
        out.isFragment = true;
        out.fragmentOffset = offsetAndFlags & 0xfff8;
        out.moreFragments = (offsetAndFlags & 1) !== 0;
        out.fragmentId =
          ((data[at + 4] << 24) | (data[at + 5] << 16) | (data[at + 6] << 8) | data[at + 7]) >>> 0;
        next = data[at];
        at += FRAGMENT_HEADER_BYTES;
        // A non-first fragment carries no upper-layer header. Its Next Header names the first header
        // of the fragmentable part, which is recorded as the protocol (usually the upper layer).
        if (out.fragmentOffset !== 0) return setNoTransportHeader(next, out);
        break;
      }
      case IpProtocol.ESP: // RFC 4303: the rest is encrypted
      case IpProtocol.NO_NEXT_HEADER: // RFC 8200 §4.7
        return setNoTransportHeader(next, out);
      default:
        return decodeTransport(data, at, end, next, out);
    }
    // The header just skipped must end within the packet for the next one to be read.
    if (at > end) return DecodeIssue.TRUNCATED_IPV6_EXTENSION;
  }
}

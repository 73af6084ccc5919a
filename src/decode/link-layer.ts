import { LinkType } from '../capture/link-type.js';
import { DecodeIssue, type DecodeIssueCode } from './decode-issue.js';
import type { DecodedPacket } from './decoded-packet.js';

/** EtherType values the decoder acts on (IEEE 802 numbers, as also carried by Linux cooked headers). */
export const EtherType = {
  IPV4: 0x0800,
  IPV6: 0x86dd,
  /** IEEE 802.1Q customer VLAN tag. */
  VLAN: 0x8100,
  /** IEEE 802.1ad service tag (QinQ outer tag). */
  QINQ: 0x88a8,
  /** Pre-standard QinQ outer tag, still emitted by some switches. */
  QINQ_LEGACY: 0x9100,
} as const;

/** Most stacked VLAN tags walked; deeper stacks are reported as `too_many_vlan_tags`. */
export const MAX_VLAN_TAGS = 4;

const ETHERNET_HEADER_BYTES = 14;
/** Linux cooked v1: packet type, ARPHRD type, address length, 8 address bytes, protocol (bytes 14-15). */
const LINUX_SLL_HEADER_BYTES = 16;
/** Linux cooked v2: protocol (bytes 0-1), reserved, ifindex, ARPHRD type, packet type, address. */
const LINUX_SLL2_HEADER_BYTES = 20;
const LOOPBACK_HEADER_BYTES = 4;

/** BSD address families of the null/loop header (tcpdump.org LINKTYPE_NULL). */
const AF_INET = 2;
/** AF_INET6 differs per OS: NetBSD/OpenBSD/BSD/OS 24, FreeBSD/DragonFly 28, Darwin 30. */
const AF_INET6_BSD = 24;
const AF_INET6_FREEBSD = 28;
const AF_INET6_DARWIN = 30;

/**
 * Decodes the link-layer header of the packet at `data[start .. end)`: sets `out.ipOffset` (absolute
 * index into `data`), `out.ipVersion` (the version the link header announces), `out.vlanId` and
 * `out.linkInterfaceIndex`.
 * Returns null, or an issue code when there is no IP packet to decode.
 */
export function decodeLinkLayer(
  data: Uint8Array,
  start: number,
  end: number,
  linkType: number,
  out: DecodedPacket,
): DecodeIssueCode | null {
  out.vlanId = -1;
  out.linkInterfaceIndex = -1;
  switch (linkType) {
    case LinkType.ETHERNET:
      if (end - start < ETHERNET_HEADER_BYTES) return DecodeIssue.TRUNCATED_ETHERNET;
      return decodeEtherType(data, (data[start + 12] << 8) | data[start + 13], start + 14, end, out);
    case LinkType.LINUX_SLL:
      if (end - start < LINUX_SLL_HEADER_BYTES) return DecodeIssue.TRUNCATED_LINUX_SLL;
      return decodeEtherType(data, (data[start + 14] << 8) | data[start + 15], start + 16, end, out);
    case LinkType.LINUX_SLL2:
      if (end - start < LINUX_SLL2_HEADER_BYTES) return DecodeIssue.TRUNCATED_LINUX_SLL2;
      // The interface index (bytes 4-7, network order) tells the interfaces of an `any` capture apart.
      out.linkInterfaceIndex = readUint32(data, start + 4);
      return decodeEtherType(data, (data[start] << 8) | data[start + 1], start + 20, end, out);
    case LinkType.RAW:
    case 12: // DLT_RAW on most platforms (see DLT_RAW_ALIASES): some writers store the DLT
    case 14: // DLT_RAW on OpenBSD
      if (end - start < 1) return DecodeIssue.TRUNCATED_IP;
      return setIpStart(start, data[start] >> 4, out);
    case LinkType.IPV4:
      return setIpStart(start, 4, out);
    case LinkType.IPV6:
      return setIpStart(start, 6, out);
    case LinkType.NULL: {
      if (end - start < LOOPBACK_HEADER_BYTES) return DecodeIssue.TRUNCATED_LOOPBACK;
      // The family is in the capturing host's byte order, which the file does not record. Every
      // family value fits in 16 bits, so the reading that yields a small number is the right one.
      const bigEndian = readUint32(data, start);
      const family =
        bigEndian <= 0xffff
          ? bigEndian
          : (data[start] | (data[start + 1] << 8) | (data[start + 2] << 16) | (data[start + 3] << 24)) >>> 0;
      return decodeAddressFamily(family, start + LOOPBACK_HEADER_BYTES, out);
    }
    case LinkType.LOOP:
      // OpenBSD DLT_LOOP: the same header as NULL, but always in network byte order.
      if (end - start < LOOPBACK_HEADER_BYTES) return DecodeIssue.TRUNCATED_LOOPBACK;
      return decodeAddressFamily(readUint32(data, start), start + LOOPBACK_HEADER_BYTES, out);
    default:
      return DecodeIssue.UNSUPPORTED_LINK_TYPE;
  }
}

/**
 * Follows an EtherType (after any 802.1Q / 802.1ad tags) to the IP header at `payload`.
 * Each tag is 4 bytes: TCI (PCP 3 bits, DEI 1 bit, VID 12 bits), then the next EtherType.
 */
function decodeEtherType(
  data: Uint8Array,
  etherType: number,
  payload: number,
  end: number,
  out: DecodedPacket,
): DecodeIssueCode | null {
  for (let tags = 0; isVlanTpid(etherType); tags++) {
    if (tags === MAX_VLAN_TAGS) return DecodeIssue.TOO_MANY_VLAN_TAGS;
    if (end - payload < 4) return DecodeIssue.TRUNCATED_VLAN;
    // The outermost tag identifies the VLAN the frame was seen on (the service VLAN in QinQ).
    if (tags === 0) out.vlanId = ((data[payload] & 0x0f) << 8) | data[payload + 1];
    etherType = (data[payload + 2] << 8) | data[payload + 3];
    payload += 4;
  }
  if (etherType === EtherType.IPV4) return setIpStart(payload, 4, out);
  if (etherType === EtherType.IPV6) return setIpStart(payload, 6, out);
  // Includes 802.3 length fields (< 0x0600: LLC/SNAP), ARP, LLDP, MPLS, PPPoE: not decoded.
  return DecodeIssue.NON_IP;
}

function isVlanTpid(etherType: number): boolean {
  return etherType === EtherType.VLAN || etherType === EtherType.QINQ || etherType === EtherType.QINQ_LEGACY;
}

function decodeAddressFamily(family: number, payload: number, out: DecodedPacket): DecodeIssueCode | null {
  if (family === AF_INET) return setIpStart(payload, 4, out);
  if (family === AF_INET6_BSD || family === AF_INET6_FREEBSD || family === AF_INET6_DARWIN) {
    return setIpStart(payload, 6, out);
  }
  return DecodeIssue.NON_IP;
}

function setIpStart(ipOffset: number, ipVersion: number, out: DecodedPacket): DecodeIssueCode | null {
  if (ipVersion !== 4 && ipVersion !== 6) return DecodeIssue.BAD_IP_VERSION;
  out.ipOffset = ipOffset;
  out.ipVersion = ipVersion;
  return null;
}

function readUint32(data: Uint8Array, at: number): number {
  return ((data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]) >>> 0;
}

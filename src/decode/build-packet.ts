/**
 * Test and benchmark support (not exported from index.ts): builds well-formed frames from a short
 * description, so tests state what they send instead of spelling bytes.
 */
import { LinkType } from '../capture/link-type.js';
import { decodePacket } from './decode-packet.js';
import { DecodedPacket } from './decoded-packet.js';
import { parseAddress } from './format-address.js';
import { IpProtocol } from './ip-protocol.js';

/** One IPv6 extension header to emit, in order. */
export type Ipv6ExtensionSpec =
  /** Hop-by-hop (0), routing (43) or destination options (60); `bytes` a multiple of 8 (default 8). */
  | { type: 0 | 43 | 60; bytes?: number }
  /** Authentication header; `bytes` a multiple of 4, at least 12 (default 24: 12 + a 96-bit ICV). */
  | { type: 51; bytes?: number }
  /** Fragment header; `offset` in bytes, a multiple of 8. */
  | { type: 44; offset: number; more: boolean; id: number };

/** What to build; everything but `ipVersion` and `protocol` has a default. */
export interface PacketSpec {
  /** Default Ethernet. */
  linkType?: number;
  /** 802.1Q/802.1ad tags, outermost first; each `{ tpid, vid }`. */
  vlanTags?: readonly { tpid: number; vid: number }[];
  /** For LINKTYPE_NULL: the byte order of the family word (default little-endian, as on x86). */
  nullBigEndian?: boolean;
  /** For LINKTYPE_LINUX_SLL2: the interface index (default 1). */
  sll2InterfaceIndex?: number;
  /** For LINKTYPE_NULL/LOOP: the family value (default 2, or 30 for IPv6). */
  addressFamily?: number;
  /** Default: 0x0800 / 0x86dd per ipVersion. */
  etherType?: number;
  ipVersion: 4 | 6;
  /** Text addresses (defaults 192.0.2.1 -> 198.51.100.2, 2001:db8::1 -> 2001:db8::2). */
  src?: string;
  dst?: string;
  protocol: number;
  srcPort?: number;
  dstPort?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** IPv4 option bytes (multiple of 4, at most 40), filled with NOP (1). */
  ipv4OptionBytes?: number;
  /** IPv4 fragment: `offset` in bytes (multiple of 8), More Fragments flag, identification. */
  ipv4Fragment?: { offset: number; more: boolean; id: number };
  ipv6Extensions?: readonly Ipv6ExtensionSpec[];
  /** When set, no transport header is written (e.g. for a non-first fragment). */
  omitTransportHeader?: boolean;
  /** Bytes of payload after the transport header (default 0). */
  payloadBytes?: number;
  /** Ethernet-style padding bytes after the IP packet (not counted in IP lengths). */
  trailerBytes?: number;
}

/** Builds the frame described by `spec`. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const ip = spec.ipVersion === 4 ? buildIpv4(spec) : buildIpv6(spec);
  const link = buildLinkHeader(spec);
  const frame = new Uint8Array(link.length + ip.length + (spec.trailerBytes ?? 0));
  frame.set(link, 0);
  frame.set(ip, link.length);
  return frame;
}

function buildLinkHeader(spec: PacketSpec): number[] {
  const linkType = spec.linkType ?? LinkType.ETHERNET;
  const etherType = spec.etherType ?? (spec.ipVersion === 4 ? 0x0800 : 0x86dd);
  const tags = spec.vlanTags ?? [];
  const outerType = tags.length > 0 ? tags[0].tpid : etherType;
  // Each tag is its TCI followed by the next type (the next tag's TPID, or the EtherType).
  const tagBytes: number[] = [];
  for (let i = 0; i < tags.length; i++) {
    tagBytes.push(...u16(tags[i].vid & 0x0fff), ...u16(i + 1 < tags.length ? tags[i + 1].tpid : etherType));
  }
  const family = spec.addressFamily ?? (spec.ipVersion === 4 ? 2 : 30);
  switch (linkType) {
    case LinkType.ETHERNET: // destination MAC, source MAC, type
      return [0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, ...u16(outerType), ...tagBytes];
    case LinkType.LINUX_SLL: // packet type, ARPHRD_ETHER, address length 6, address padded to 8, protocol
      return [...u16(0), ...u16(1), ...u16(6), 2, 0, 0, 0, 0, 2, 0, 0, ...u16(outerType), ...tagBytes];
    case LinkType.LINUX_SLL2: // protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address
      return [...u16(outerType), 0, 0, ...u32(spec.sll2InterfaceIndex ?? 1), ...u16(1), 0, 6, 2, 0, 0, 0, 0, 2, 0, 0, ...tagBytes];
    case LinkType.NULL:
      return spec.nullBigEndian ? u32(family) : u32(family).reverse();
    case LinkType.LOOP:
      return u32(family);
    default:
      return []; // RAW, IPV4, IPV6 and anything else: the IP packet alone
  }
}

function buildTransport(spec: PacketSpec): number[] {
  if (spec.omitTransportHeader) return [];
  const srcPort = spec.srcPort ?? 40000;
  const dstPort = spec.dstPort ?? 443;
  switch (spec.protocol) {
    case IpProtocol.TCP: // RFC 9293 §3.1: ports, seq, ack, data offset 5, flags, window, csum, urg
      return [...u16(srcPort), ...u16(dstPort), ...u32(1), ...u32(0), 0x50, spec.tcpFlags ?? 0x02, ...u16(65535), 0, 0, 0, 0];
    case IpProtocol.UDP:
      return [...u16(srcPort), ...u16(dstPort), ...u16(8 + (spec.payloadBytes ?? 0)), 0, 0];
    case IpProtocol.SCTP: // RFC 9260 §3.1: ports, verification tag, checksum
      return [...u16(srcPort), ...u16(dstPort), ...u32(0x01020304), ...u32(0)];
    case IpProtocol.ICMP:
    case IpProtocol.ICMPV6:
      return [spec.icmpType ?? 8, spec.icmpCode ?? 0, 0, 0, ...u32(0x00010001)];
    case IpProtocol.GRE: // RFC 2784: flags/version, protocol type
      return [0, 0, ...u16(0x0800)];
    case IpProtocol.ESP: // RFC 4303: SPI, sequence number
      return [...u32(0x1000), ...u32(1)];
    default:
      return [];
  }
}

function buildIpv4(spec: PacketSpec): number[] {
  const options = spec.ipv4OptionBytes ?? 0;
  const headerBytes = 20 + options;
  const body = [...buildTransport(spec), ...new Array<number>(spec.payloadBytes ?? 0).fill(0xab)];
  const total = headerBytes + body.length;
  const fragment = spec.ipv4Fragment;
  const flagsAndOffset = fragment ? (fragment.more ? 0x2000 : 0) | (fragment.offset >> 3) : 0x4000; // DF
  const header = [
    0x40 | (headerBytes >> 2),
    0,
    ...u16(total),
    ...u16(fragment?.id ?? 0x1234),
    ...u16(flagsAndOffset),
    64,
    spec.protocol,
    0,
    0,
    ...addressBytes(spec.src ?? '192.0.2.1', 4),
    ...addressBytes(spec.dst ?? '198.51.100.2', 4),
    ...new Array<number>(options).fill(1),
  ];
  return [...header, ...body];
}

function buildIpv6(spec: PacketSpec): number[] {
  const extensions = spec.ipv6Extensions ?? [];
  const chain: number[] = [];
  for (let i = 0; i < extensions.length; i++) {
    const ext = extensions[i];
    const next = i + 1 < extensions.length ? extensions[i + 1].type : spec.protocol;
    if (ext.type === 44) {
      chain.push(next, 0, ...u16(ext.offset | (ext.more ? 1 : 0)), ...u32(ext.id));
    } else if (ext.type === 51) {
      const bytes = ext.bytes ?? 24;
      // RFC 4302 §2.2: Payload Len = length in 32-bit words minus 2
      chain.push(next, bytes / 4 - 2, 0, 0, ...u32(0x2000), ...u32(1), ...new Array<number>(bytes - 12).fill(0xcc));
    } else {
      const bytes = ext.bytes ?? 8;
      // RFC 8200 §4.3: Hdr Ext Len = length in 8-octet units minus 1; PadN fills the options
      chain.push(next, bytes / 8 - 1, 1, bytes - 4, ...new Array<number>(bytes - 4).fill(0));
    }
  }
  const body = [...chain, ...buildTransport(spec), ...new Array<number>(spec.payloadBytes ?? 0).fill(0xab)];
  const firstNext = extensions.length > 0 ? extensions[0].type : spec.protocol;
  return [
    0x60,
    0,
    0,
    0,
    ...u16(body.length),
    firstNext,
    64,
    ...addressBytes(spec.src ?? '2001:db8::1', 6),
    ...addressBytes(spec.dst ?? '2001:db8::2', 6),
    ...body,
  ];
}

function addressBytes(text: string, ipVersion: 4 | 6): number[] {
  const parsed = parseAddress(text);
  if (parsed === null || parsed.ipVersion !== ipVersion) throw new Error(`Cannot build packet: bad IPv${ipVersion} address ${text}`);
  const bytes: number[] = [];
  for (let i = 0; i < (ipVersion === 4 ? 1 : 4); i++) bytes.push(...u32(parsed.words[i]));
  return bytes;
}

function u16(value: number): number[] {
  return [(value >>> 8) & 0xff, value & 0xff];
}

function u32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

/** Result of `decodeFrame`: the issue code (null on success) and the filled packet. */
export interface DecodedFrame {
  issue: string | null;
  packet: DecodedPacket;
}

/** Decodes `frame` as captured at offset 0; caplen and wirelen default to the frame's length. */
export function decodeFrame(
  frame: Uint8Array,
  linkType: number = LinkType.ETHERNET,
  caplen: number = frame.length,
  wirelen: number = frame.length,
): DecodedFrame {
  const packet = new DecodedPacket();
  const issue = decodePacket(frame, 0, caplen, wirelen, linkType, packet);
  return { issue, packet };
}

/** A small seeded PRNG (mulberry32) returning floats in [0, 1), so randomized tests replay from a seed. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

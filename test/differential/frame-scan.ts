/**
 * A deliberately small packet scanner for the differential test, independent of src/decode. It finds
 * what the peers are known to count differently from a per-fragment NetFlow meter (IP fragments,
 * IPv6 extension headers) and what the capture must contain (VLAN/QinQ-tagged frames, fragments),
 * so that the comparison can move the peers' counts for exactly those packets, and count them.
 * Totals themselves always come from the meters, never from here.
 */
import { canonicalAddress, tupleKey, type FlowTuple } from './meter-flow.js';
import { recordTimeUs, VLAN_TPIDS, type PcapFile } from './pcap-file.js';

/** One IP packet of the capture, reduced to what the comparison needs. */
export interface ScannedPacket {
  index: number;
  timeUs: number;
  /** TPIDs of the VLAN tags in the frame, outer first (empty when untagged or cooked). */
  vlanTpids: number[];
  ipVersion: 4 | 6;
  srcAddr: string;
  dstAddr: string;
  /** IPv4 total length; IPv6 40 + payload length. */
  ipBytes: number;
  /** IPv4 protocol, or IPv6's first Next Header (what a meter that does not walk headers sees). */
  firstNextHeader: number;
  /** Upper-layer protocol (IPv6: after extension headers, including a fragment header's). */
  protocol: number;
  /** IPv6: at least one extension header (Hop-by-Hop, Routing, Fragment, Destination Options). */
  hasExtensionHeaders: boolean;
  fragment: FragmentInfo | null;
  /** Ports from the transport header (ICMP: 0 and type*256+code); null when the packet has none (non-first fragment). */
  srcPort: number | null;
  dstPort: number | null;
  tcpFlags: number;
}

/** Fragment fields of a fragmented packet. */
export interface FragmentInfo {
  /** IPv4 identification or IPv6 fragment identification. */
  id: number;
  offsetBytes: number;
  more: boolean;
  /** IPv4 header length (IHL * 4); for IPv6 the bytes before the fragmentable part. */
  headerBytes: number;
}

/** What {@link scanCapture} found. */
export interface CaptureScan {
  linkType: number;
  packets: ScannedPacket[];
  /** Frames that carried no IP packet the scanner understood (ARP, ...). */
  nonIpFrames: number;
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const IPV6_EXTENSION_HEADERS = new Set([0, 43, 44, 60]);

/** Scans an Ethernet (1), Linux cooked v1 (113) or v2 (276) capture. */
export function scanCapture(file: PcapFile): CaptureScan {
  const packets: ScannedPacket[] = [];
  let nonIpFrames = 0;
  file.records.forEach((record, index) => {
    const d = record.data;
    let etherType: number;
    let at: number;
    const vlanTpids: number[] = [];
    switch (file.linkType) {
      case 1:
        etherType = be16(d, 12);
        at = 14;
        while (VLAN_TPIDS.has(etherType) && at + 4 <= d.length) {
          vlanTpids.push(etherType);
          etherType = be16(d, at + 2);
          at += 4;
        }
        break;
      case 113:
        etherType = be16(d, 14);
        at = 16;
        break;
      case 276:
        etherType = be16(d, 0);
        at = 20;
        break;
      default:
        throw new Error(`Cannot scan link type ${file.linkType}`);
    }
    const packet =
      etherType === ETHERTYPE_IPV4 ? scanIpv4(d, at) : etherType === ETHERTYPE_IPV6 ? scanIpv6(d, at) : null;
    if (!packet) {
      nonIpFrames++;
      return;
    }
    packets.push({ ...packet, index, timeUs: recordTimeUs(file, record), vlanTpids });
  });
  return { linkType: file.linkType, packets, nonIpFrames };
}

type Scanned = Omit<ScannedPacket, 'index' | 'timeUs' | 'vlanTpids'>;

function scanIpv4(d: Uint8Array, at: number): Scanned | null {
  if (d.length < at + 20 || d[at] >> 4 !== 4) return null;
  const ihl = (d[at] & 0x0f) * 4;
  const total = be16(d, at + 2);
  const id = be16(d, at + 4);
  const fragField = be16(d, at + 6);
  const more = (fragField & 0x2000) !== 0;
  const offsetBytes = (fragField & 0x1fff) * 8;
  const protocol = d[at + 9];
  const fragment = more || offsetBytes > 0 ? { id, offsetBytes, more, headerBytes: ihl } : null;
  const ports = offsetBytes === 0 ? transportPorts(d, at + ihl, protocol) : null;
  return {
    ipVersion: 4,
    srcAddr: `${d[at + 12]}.${d[at + 13]}.${d[at + 14]}.${d[at + 15]}`,
    dstAddr: `${d[at + 16]}.${d[at + 17]}.${d[at + 18]}.${d[at + 19]}`,
    ipBytes: total,
    firstNextHeader: protocol,
    protocol,
    hasExtensionHeaders: false,
    fragment,
    srcPort: ports?.src ?? null,
    dstPort: ports?.dst ?? null,
    tcpFlags: ports?.flags ?? 0,
  };
}

function scanIpv6(d: Uint8Array, at: number): Scanned | null {
  if (d.length < at + 40 || d[at] >> 4 !== 6) return null;
  const payloadLength = be16(d, at + 4);
  const firstNextHeader = d[at + 6];
  let next = firstNextHeader;
  let p = at + 40;
  let fragment: FragmentInfo | null = null;
  while (IPV6_EXTENSION_HEADERS.has(next) && p + 8 <= d.length) {
    if (next === 44) {
      const offsetField = be16(d, p + 2);
      fragment = {
        id: ((d[p + 4] << 24) | (d[p + 5] << 16) | (d[p + 6] << 8) | d[p + 7]) >>> 0,
        offsetBytes: offsetField & 0xfff8,
        more: (offsetField & 1) === 1,
        headerBytes: p + 8 - at,
      };
      next = d[p];
      p += 8;
      if (fragment.offsetBytes !== 0) break;
    } else {
      const length = (d[p + 1] + 1) * 8;
      next = d[p];
      p += length;
    }
  }
  const ports = fragment && fragment.offsetBytes !== 0 ? null : transportPorts(d, p, next);
  return {
    ipVersion: 6,
    srcAddr: canonicalAddress(ipv6Text(d, at + 8)),
    dstAddr: canonicalAddress(ipv6Text(d, at + 24)),
    ipBytes: 40 + payloadLength,
    firstNextHeader,
    protocol: next,
    hasExtensionHeaders: IPV6_EXTENSION_HEADERS.has(firstNextHeader),
    fragment,
    srcPort: ports?.src ?? null,
    dstPort: ports?.dst ?? null,
    tcpFlags: ports?.flags ?? 0,
  };
}

function transportPorts(d: Uint8Array, p: number, protocol: number): { src: number; dst: number; flags: number } {
  switch (protocol) {
    case 6:
      return { src: be16(d, p), dst: be16(d, p + 2), flags: d[p + 13] ?? 0 };
    case 17:
    case 132:
      return { src: be16(d, p), dst: be16(d, p + 2), flags: 0 };
    case 1:
    case 58:
      // NetFlow convention: ICMP type*256+code in the destination port.
      return { src: 0, dst: (d[p] << 8) | d[p + 1], flags: 0 };
    default:
      return { src: 0, dst: 0, flags: 0 };
  }
}

function ipv6Text(d: Uint8Array, p: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(be16(d, p + i).toString(16));
  return groups.join(':');
}

function be16(b: Uint8Array, i: number): number {
  return ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
}

/** A fragmented datagram: all its fragments, in capture order. */
export interface Datagram {
  key: string;
  fragments: ScannedPacket[];
  /** The fragment at offset 0, if captured. */
  first: ScannedPacket | null;
  /** Every byte from 0 to the end of the last fragment is covered. */
  complete: boolean;
}

/** Groups fragments by datagram (RFC 791: src, dst, protocol, id; RFC 8200 §4.5: src, dst, id). */
export function fragmentedDatagrams(scan: CaptureScan): Datagram[] {
  const byKey = new Map<string, ScannedPacket[]>();
  for (const p of scan.packets) {
    if (!p.fragment) continue;
    const key =
      p.ipVersion === 4
        ? `4 ${p.srcAddr} ${p.dstAddr} ${p.protocol} ${p.fragment.id}`
        : `6 ${p.srcAddr} ${p.dstAddr} ${p.fragment.id}`;
    const list = byKey.get(key) ?? [];
    list.push(p);
    byKey.set(key, list);
  }
  return [...byKey].map(([key, fragments]) => {
    const first = fragments.find((f) => f.fragment!.offsetBytes === 0) ?? null;
    const sorted = [...fragments].sort((a, b) => a.fragment!.offsetBytes - b.fragment!.offsetBytes);
    let covered = 0;
    let complete = true;
    for (const f of sorted) {
      const payload = f.ipBytes - f.fragment!.headerBytes;
      if (f.fragment!.offsetBytes > covered) complete = false;
      covered = Math.max(covered, f.fragment!.offsetBytes + payload);
    }
    if (sorted[sorted.length - 1].fragment!.more) complete = false;
    return { key, fragments, first, complete };
  });
}

/**
 * The 5-tuple a per-packet NetFlow meter that follows fragments to their datagram gives a packet:
 * the ports of the datagram's first fragment, for every fragment; IPv6 after extension headers.
 * This is how endsight documents its metering (src/flow/fragment-table.ts).
 */
export function datagramTuple(p: ScannedPacket, datagram: Datagram | undefined): FlowTuple {
  const source = p.fragment ? datagram?.first ?? null : p;
  return {
    srcAddr: p.srcAddr,
    dstAddr: p.dstAddr,
    srcPort: source?.srcPort ?? 0,
    dstPort: source?.dstPort ?? 0,
    protocol: p.protocol,
  };
}

/** Index from packet to its datagram, for {@link datagramTuple}. */
export function datagramIndex(datagrams: readonly Datagram[]): Map<ScannedPacket, Datagram> {
  const out = new Map<ScannedPacket, Datagram>();
  for (const d of datagrams) for (const f of d.fragments) out.set(f, d);
  return out;
}

/** Keys of the datagram tuples whose frames carried exactly one VLAN tag, and two or more. */
export function vlanTuples(scan: CaptureScan): { single: Set<string>; stacked: Set<string> } {
  const index = datagramIndex(fragmentedDatagrams(scan));
  const single = new Set<string>();
  const stacked = new Set<string>();
  for (const p of scan.packets) {
    if (p.vlanTpids.length === 0) continue;
    const key = tupleKey(datagramTuple(p, index.get(p)));
    (p.vlanTpids.length === 1 ? single : stacked).add(key);
  }
  return { single, stacked };
}

/**
 * The normalised flow record every meter in the differential test is reduced to, and the keys and
 * helpers around it. One record per unidirectional flow, as the product's `flows` table has it.
 */

/** One unidirectional flow record, from any meter. */
export interface MeterFlow {
  /** First and last packet, microseconds since the epoch. */
  startUs: number;
  endUs: number;
  /** 1 for endsight (µs), 1000 for anything read through nfdump (milliseconds, truncated). */
  timeResolutionUs: number;
  /** Dotted quad or RFC 5952 IPv6 text. */
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  /** ICMP/ICMPv6: type * 256 + code. */
  dstPort: number;
  protocol: number;
  packets: number;
  /** IP-layer bytes. */
  bytes: number;
  /** OR of TCP flags (0 elsewhere). */
  tcpFlags: number;
  /** endsight's end_reason; null for peers (nfdump does not report one here). */
  endReason: string | null;
}

/** The 5-tuple of a flow. */
export interface FlowTuple {
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
}

/** Stable text key of a 5-tuple: `proto src:sport > dst:dport` (IPv6 in brackets). */
export function tupleKey(t: FlowTuple): string {
  const host = (a: string) => (a.includes(':') ? `[${a}]` : a);
  return `${t.protocol} ${host(t.srcAddr)}:${t.srcPort} > ${host(t.dstAddr)}:${t.dstPort}`;
}

/** Parses a key made by {@link tupleKey}. */
export function parseTupleKey(key: string): FlowTuple {
  const m = key.match(/^(\d+) (\[[^\]]+\]|[^:]+):(\d+) > (\[[^\]]+\]|[^:]+):(\d+)$/);
  if (!m) throw new Error(`Cannot parse flow key ${key}`);
  const strip = (a: string) => a.replace(/^\[|\]$/g, '');
  return { protocol: Number(m[1]), srcAddr: strip(m[2]), srcPort: Number(m[3]), dstAddr: strip(m[4]), dstPort: Number(m[5]) };
}

/**
 * Canonical text form of an IP address: IPv4 unchanged, IPv6 per RFC 5952 (lower case, longest
 * run of zero groups compressed). Uses the WHATWG URL host serialiser, which implements exactly that
 * compression for IPv6 (it prints IPv4-mapped addresses in hex, which the lab never produces).
 */
export function canonicalAddress(address: string): string {
  const a = address.trim();
  if (!a.includes(':')) return a;
  const host = new URL(`http://[${a.replace(/%.*$/, '')}]/`).hostname;
  return host.slice(1, -1);
}

/** Per-5-tuple totals. */
export interface TupleTotals {
  packets: number;
  bytes: number;
  tcpFlags: number;
  records: number;
}

/** Sums packets, bytes, flags and record count per 5-tuple. */
export function totalsByTuple(flows: Iterable<MeterFlow>): Map<string, TupleTotals> {
  const out = new Map<string, TupleTotals>();
  for (const f of flows) {
    const key = tupleKey(f);
    const t = out.get(key) ?? { packets: 0, bytes: 0, tcpFlags: 0, records: 0 };
    t.packets += f.packets;
    t.bytes += f.bytes;
    t.tcpFlags |= f.tcpFlags;
    t.records += 1;
    out.set(key, t);
  }
  return out;
}

/** TCP flag letters as nfdump prints them, most significant bit first (CWR ECE URG ACK PSH RST SYN FIN). */
const FLAG_LETTERS = 'CEUAPRSF';

/** Parses nfdump's `%flg` ("...AP.SF", or "0x1b" for unusual combinations) into the flags byte. */
export function parseTcpFlags(text: string): number {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  let flags = 0;
  for (let i = 0; i < FLAG_LETTERS.length && i < t.length; i++) {
    if (t[i] === FLAG_LETTERS[i]) flags |= 0x80 >> i;
    else if (t[i] !== '.') throw new Error(`Cannot parse TCP flags "${text}"`);
  }
  return flags;
}

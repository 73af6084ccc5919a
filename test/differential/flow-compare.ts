/**
 * Comparing flow meters: per-5-tuple totals, record-for-record matching, and the precisely modelled
 * adjustments for what the peers are documented to count differently (see peers.ts). Every
 * adjustment is computed from the capture's own packets (frame-scan.ts), moves exactly those packets,
 * and is counted, so that a real difference can never hide behind it.
 */
import {
  datagramIndex,
  datagramTuple,
  fragmentedDatagrams,
  type CaptureScan,
  type Datagram,
  type ScannedPacket,
} from './frame-scan.js';
import { tupleKey, type FlowTuple, type MeterFlow, type TupleTotals, totalsByTuple } from './meter-flow.js';

/** A peer whose documented differences {@link adjustPeerTotals} knows. */
export type PeerModel = 'nfpcapd' | 'softflowd';

/** Per-tuple totals of a peer after its documented differences were undone, and what was undone. */
export interface AdjustedTotals {
  totals: Map<string, TupleTotals>;
  /** Rule → number of packets moved by it. */
  moved: Record<string, number>;
  /** Tuples a rule took packets from or gave packets to (their records are not comparable 1:1). */
  touched: Set<string>;
}

interface Contribution {
  key: string;
  packets: number;
  bytes: number;
  tcpFlags: number;
}

/**
 * Rewrites a peer's per-tuple totals to what a per-packet NetFlow meter that follows fragments to
 * their datagram would report (endsight's documented model): every fragment one packet of its own
 * IP length, in the 5-tuple of its datagram's first fragment; IPv6 after extension headers.
 *
 * For each special packet of the capture (IP fragment, IPv6 packet with extension headers) this
 * subtracts what the peer is documented to have counted and where, and adds what the model counts.
 * Throws when a subtraction finds less in the peer's tuple than the model says is there, i.e. when
 * the peer does not behave as documented.
 */
export function adjustPeerTotals(model: PeerModel, flows: readonly MeterFlow[], scan: CaptureScan): AdjustedTotals {
  const totals = totalsByTuple(flows);
  const datagrams = fragmentedDatagrams(scan);
  const index = datagramIndex(datagrams);
  const peer: (Contribution & { rule: string })[] = [];
  const canonical: Contribution[] = [];
  const special = scan.packets.filter((p) => p.fragment || p.hasExtensionHeaders);
  for (const p of special) {
    canonical.push({ key: tupleKey(datagramTuple(p, index.get(p))), packets: 1, bytes: p.ipBytes, tcpFlags: p.tcpFlags });
  }
  if (model === 'nfpcapd') {
    // IPv4 fragments: reassembled, one packet per datagram (first header + all payload).
    for (const d of datagrams) {
      if (d.fragments[0].ipVersion !== 4) continue;
      if (!d.complete || !d.first) throw new Error(`Cannot model nfpcapd for the incomplete IPv4 datagram ${d.key}`);
      peer.push({ rule: 'nfpcapd: IPv4 fragments reassembled', ...nfpcapdReassembled(d) });
    }
    // IPv6: counted under the first Next Header, ports 0, whatever follows.
    for (const p of special) {
      if (p.ipVersion !== 6) continue;
      const rule = p.firstNextHeader === 44 ? 'nfpcapd: IPv6 fragments as protocol 44' : `nfpcapd: IPv6 extension header ${p.firstNextHeader} not walked`;
      peer.push({ rule, key: tupleKey(portless(p, p.firstNextHeader)), packets: 1, bytes: p.ipBytes, tcpFlags: 0 });
    }
  } else {
    for (const p of special) {
      const nonFirst = p.fragment !== null && p.fragment.offsetBytes !== 0;
      if (nonFirst && p.ipVersion === 4) {
        peer.push({ rule: 'softflowd: non-first IPv4 fragment in a port-0 flow', key: tupleKey(portless(p, p.protocol)), packets: 1, bytes: p.ipBytes, tcpFlags: 0 });
      } else if (nonFirst) {
        peer.push({ rule: 'softflowd: non-first IPv6 fragment in a protocol-0 flow', key: tupleKey(portless(p, 0)), packets: 1, bytes: p.ipBytes, tcpFlags: 0 });
      } else {
        // First fragments and Hop-by-Hop packets: softflowd walks the headers and uses the ports.
        peer.push({ rule: 'softflowd: as the model', key: tupleKey(datagramTuple(p, index.get(p))), packets: 1, bytes: p.ipBytes, tcpFlags: p.tcpFlags });
      }
    }
  }

  const moved: Record<string, number> = {};
  const delta = new Map<string, { packets: number; bytes: number }>();
  const change = (key: string, packets: number, bytes: number) => {
    const d = delta.get(key) ?? { packets: 0, bytes: 0 };
    d.packets += packets;
    d.bytes += bytes;
    delta.set(key, d);
  };
  for (const c of peer) {
    const t = totals.get(c.key);
    if (!t || t.packets < c.packets || t.bytes < c.bytes) {
      throw new Error(
        `${model} does not behave as modelled: "${c.rule}" expects at least ${c.packets} packets / ${c.bytes} bytes in ` +
          `${c.key}, the peer has ${t ? `${t.packets} / ${t.bytes}` : 'no such flow'}`,
      );
    }
    t.packets -= c.packets;
    t.bytes -= c.bytes;
    change(c.key, -c.packets, -c.bytes);
    if (!c.rule.endsWith('as the model')) moved[c.rule] = (moved[c.rule] ?? 0) + c.packets;
  }
  for (const c of canonical) {
    const t = totals.get(c.key) ?? { packets: 0, bytes: 0, tcpFlags: 0, records: 0 };
    t.packets += c.packets;
    t.bytes += c.bytes;
    t.tcpFlags |= c.tcpFlags;
    totals.set(c.key, t);
    change(c.key, c.packets, c.bytes);
  }
  for (const [key, t] of totals) {
    if (t.packets === 0 && t.bytes === 0) totals.delete(key);
  }
  const touched = new Set([...delta].filter(([, d]) => d.packets !== 0 || d.bytes !== 0).map(([key]) => key));
  return { totals, moved, touched };
}

function nfpcapdReassembled(d: Datagram): Contribution {
  const first = d.first!;
  let bytes = first.fragment!.headerBytes;
  for (const f of d.fragments) bytes += f.ipBytes - f.fragment!.headerBytes;
  // nfpcapd puts the IP identification in the source port of a reassembled ICMP datagram.
  const srcPort = first.protocol === 1 ? first.fragment!.id : first.srcPort ?? 0;
  const key = tupleKey({ srcAddr: first.srcAddr, dstAddr: first.dstAddr, srcPort, dstPort: first.dstPort ?? 0, protocol: first.protocol });
  return { key, packets: 1, bytes, tcpFlags: first.tcpFlags };
}

function portless(p: ScannedPacket, protocol: number): FlowTuple {
  return { srcAddr: p.srcAddr, dstAddr: p.dstAddr, srcPort: 0, dstPort: 0, protocol };
}

/** One tuple whose totals differ between two meters. */
export interface TotalsDifference {
  key: string;
  a: TupleTotals | undefined;
  b: TupleTotals | undefined;
}

/** Tuples whose packets, bytes or TCP flags differ (or that only one side has). */
export function diffTotals(a: Map<string, TupleTotals>, b: Map<string, TupleTotals>, compareFlags = true): TotalsDifference[] {
  const out: TotalsDifference[] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key);
    const y = b.get(key);
    if (!x || !y || x.packets !== y.packets || x.bytes !== y.bytes || (compareFlags && x.tcpFlags !== y.tcpFlags)) {
      out.push({ key, a: x, b: y });
    }
  }
  return out.sort((p, q) => p.key.localeCompare(q.key));
}

/** A compact table of totals differences, at most `maxRows` rows. */
export function formatTotalsDiff(diffs: readonly TotalsDifference[], aName: string, bName: string, maxRows = 40): string {
  const cell = (t: TupleTotals | undefined) => (t ? `${t.packets} p ${t.bytes} B f=${t.tcpFlags.toString(16)}` : '—');
  const rows = diffs.slice(0, maxRows).map((d) => {
    const dp = (d.a?.packets ?? 0) - (d.b?.packets ?? 0);
    const db = (d.a?.bytes ?? 0) - (d.b?.bytes ?? 0);
    return [d.key, cell(d.a), cell(d.b), `Δ ${dp} p ${db} B`];
  });
  const header = ['5-tuple', aName, bName, `${aName} − ${bName}`];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  const more = diffs.length > maxRows ? `\n… ${diffs.length - maxRows} more` : '';
  return [line(header), ...rows.map(line)].join('\n') + more;
}

/** Records grouped per tuple, sorted by start time. */
export type RecordsByTuple = Map<string, MeterFlow[]>;

function groupRecords(flows: readonly MeterFlow[]): RecordsByTuple {
  const out: RecordsByTuple = new Map();
  for (const f of flows) {
    const key = tupleKey(f);
    const list = out.get(key) ?? [];
    list.push(f);
    out.set(key, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.startUs - b.startUs || a.endUs - b.endUs);
  return out;
}

function mergeInto(a: MeterFlow, b: MeterFlow): MeterFlow {
  return {
    ...a,
    startUs: Math.min(a.startUs, b.startUs),
    endUs: Math.max(a.endUs, b.endUs),
    packets: a.packets + b.packets,
    bytes: a.bytes + b.bytes,
    tcpFlags: a.tcpFlags | b.tcpFlags,
    endReason: b.endReason,
  };
}

/**
 * endsight keeps a TCP record open for a FIN timeout (default 5 s) after it saw FIN or RST, so the
 * closing side's last ACK stays in it, and ends it (end_reason fin/rst) at the tuple's next SYN or
 * once the tuple is quiet for longer than the FIN timeout (src/flow/flow-table.ts). nfpcapd ends no
 * record at FIN/RST: a packet later than the FIN timeout, or a new SYN, stays in its record. Joins
 * each endsight record to the next one of its tuple when it ended by fin/rst and the next one starts
 * within the idle timeout; `joined` counts the joins, which {@link expectedTcpCloseSplits} predicts.
 */
export function joinEndsightTcpCloseSplits(flows: readonly MeterFlow[], idleTimeoutUs: number): { records: RecordsByTuple; joined: number } {
  const grouped = groupRecords(flows);
  let joined = 0;
  for (const [key, list] of grouped) {
    const out: MeterFlow[] = [];
    for (const f of list) {
      const prev = out[out.length - 1];
      if (prev && (prev.endReason === 'fin' || prev.endReason === 'rst') && f.startUs - prev.endUs <= idleTimeoutUs) {
        out[out.length - 1] = mergeInto(prev, f);
        joined++;
      } else {
        out.push(f);
      }
    }
    grouped.set(key, out);
  }
  return { records: grouped, joined };
}

/** A TCP packet of the capture that makes endsight end the tuple's record at FIN/RST and start a new one. */
export interface TcpCloseSplit {
  key: string;
  packetIndex: number;
  /** Time since the tuple's previous packet. */
  gapUs: number;
  /** A new SYN (not SYN-ACK) rather than a gap longer than the FIN timeout. */
  syn: boolean;
}

/**
 * The FIN/RST splits endsight's documented TCP rule makes in `scan` (computed from the capture's own
 * packets, independently of endsight): per 5-tuple in time order, once a record saw FIN or RST, a
 * packet more than `finTimeoutUs` after the tuple's previous one, or a SYN without ACK, ends the
 * record and opens a new one; a gap longer than the idle timeout ends it by idle instead (not a split).
 */
export function expectedTcpCloseSplits(scan: CaptureScan, finTimeoutUs: number, idleTimeoutUs: number): TcpCloseSplit[] {
  const FIN = 0x01;
  const SYN = 0x02;
  const RST = 0x04;
  const ACK = 0x10;
  const state = new Map<string, { lastUs: number; closing: boolean }>();
  const splits: TcpCloseSplit[] = [];
  const packets = scan.packets.filter((p) => p.protocol === 6 && p.srcPort !== null && p.dstPort !== null);
  for (const p of [...packets].sort((a, b) => a.timeUs - b.timeUs || a.index - b.index)) {
    const key = tupleKey({ srcAddr: p.srcAddr, dstAddr: p.dstAddr, srcPort: p.srcPort!, dstPort: p.dstPort!, protocol: 6 });
    const s = state.get(key);
    let closing = s?.closing ?? false;
    if (s) {
      const gapUs = p.timeUs - s.lastUs;
      const syn = (p.tcpFlags & (SYN | ACK)) === SYN;
      if (closing && (gapUs > finTimeoutUs || syn)) {
        splits.push({ key, packetIndex: p.index, gapUs, syn });
        closing = false;
      } else if (gapUs > idleTimeoutUs) {
        closing = false;
      }
    }
    state.set(key, { lastUs: Math.max(p.timeUs, s?.lastUs ?? p.timeUs), closing: closing || (p.tcpFlags & (FIN | RST)) !== 0 });
  }
  return splits;
}

/**
 * nfpcapd writes one record per packet for ICMP/ICMPv6 and for UDP to or from port 53. Joins them
 * per tuple into the record a NetFlow meter makes, checking that no gap exceeds the idle timeout
 * and no record the active timeout (true for a lab run of seconds; otherwise this throws).
 */
export function joinNfpcapdPerPacketRecords(
  flows: readonly MeterFlow[],
  idleTimeoutUs: number,
  activeTimeoutUs: number,
): { records: RecordsByTuple; joined: number } {
  const grouped = groupRecords(flows);
  let joined = 0;
  for (const [key, list] of grouped) {
    const f0 = list[0];
    const perPacket = f0.protocol === 1 || f0.protocol === 58 || (f0.protocol === 17 && (f0.srcPort === 53 || f0.dstPort === 53));
    if (!perPacket || list.length === 1) continue;
    let merged = list[0];
    for (const f of list.slice(1)) {
      if (f.startUs - merged.endUs > idleTimeoutUs) throw new Error(`Cannot join nfpcapd's records of ${key}: gap longer than the idle timeout`);
      merged = mergeInto(merged, f);
      joined++;
    }
    if (merged.endUs - merged.startUs > activeTimeoutUs) throw new Error(`Cannot join nfpcapd's records of ${key}: longer than the active timeout`);
    grouped.set(key, [merged]);
  }
  return { records: grouped, joined };
}

/** Result of a record-for-record comparison. */
export interface RecordComparison {
  comparedTuples: number;
  comparedRecords: number;
  excludedTuples: string[];
  differences: string[];
}

/**
 * Compares records one for one per tuple (same count, then pairwise by start time): packets, bytes,
 * TCP flags exactly; start and end within `toleranceUs` after truncating endsight's µs to the
 * other side's resolution (nfdump prints milliseconds, truncated).
 */
export function compareRecords(
  endsight: RecordsByTuple,
  peer: RecordsByTuple,
  excluded: ReadonlySet<string>,
  toleranceUs = 1000,
): RecordComparison {
  const differences: string[] = [];
  const excludedTuples: string[] = [];
  let comparedTuples = 0;
  let comparedRecords = 0;
  for (const key of [...new Set([...endsight.keys(), ...peer.keys()])].sort()) {
    if (excluded.has(key)) {
      excludedTuples.push(key);
      continue;
    }
    const a = endsight.get(key) ?? [];
    const b = peer.get(key) ?? [];
    comparedTuples++;
    if (a.length !== b.length) {
      differences.push(`${key}: endsight ${a.length} records, peer ${b.length}: ${a.map(brief).join(', ')} | ${b.map(brief).join(', ')}`);
      continue;
    }
    for (let i = 0; i < a.length; i++) {
      comparedRecords++;
      const x = a[i];
      const y = b[i];
      const res = y.timeResolutionUs;
      const start = Math.floor(x.startUs / res) * res - y.startUs;
      const end = Math.floor(x.endUs / res) * res - y.endUs;
      const problems: string[] = [];
      if (x.packets !== y.packets) problems.push(`packets ${x.packets} vs ${y.packets}`);
      if (x.bytes !== y.bytes) problems.push(`bytes ${x.bytes} vs ${y.bytes}`);
      if (x.tcpFlags !== y.tcpFlags) problems.push(`tcp flags 0x${x.tcpFlags.toString(16)} vs 0x${y.tcpFlags.toString(16)}`);
      if (Math.abs(start) > toleranceUs) problems.push(`start differs by ${start} µs`);
      if (Math.abs(end) > toleranceUs) problems.push(`end differs by ${end} µs`);
      if (problems.length > 0) differences.push(`${key} #${i}: ${problems.join(', ')}`);
    }
  }
  return { comparedTuples, comparedRecords, excludedTuples, differences };
}

function brief(f: MeterFlow): string {
  return `[${f.startUs}..${f.endUs} ${f.packets}p ${f.bytes}B${f.endReason ? ` ${f.endReason}` : ''}]`;
}


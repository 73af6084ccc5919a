/**
 * Cross-validation of hosts' records (issue 9): a flow between two instrumented hosts is recorded by
 * both, as `out` by its sender and `in` by its receiver. Both records of a flow are matched (the same
 * 5-tuple, starts within the clocks' skew) and their packets and bytes compared. A broken or lying
 * host disagrees with every peer, an honest one only with the liar: a host is flagged when its
 * records disagree with those of at least two peers, or with its only peer beyond the rate honest
 * pairs show (then both are named, since one pair cannot tell which end lies).
 *
 * Tolerances, for ordinary loss and skew: starts within `skewMs` (default 2 s; a matched pair's
 * records end within it too, or one end split the flow and the other did not), packets within
 * max(2, 1%), bytes within max(3,000, 1%).
 */

export interface EndRecord {
  host: string;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  protocol: number;
  startMs: number;
  endMs: number;
  packets: number;
  bytes: number;
  direction: 'in' | 'out';
}

export type Discrepancy =
  | { kind: 'altered'; sender: string; receiver: string; flow: string; startMs: number; senderPackets: number; receiverPackets: number; senderBytes: number; receiverBytes: number }
  | { kind: 'unmatched'; at: string; peer: string; flow: string; startMs: number; packets: number; bytes: number };

export interface HostCheck {
  host: string;
  /** Its records whose peer is instrumented (those that can be checked). */
  checkable: number;
  matched: number;
  altered: number;
  /** Its records that the peer does not have, and the peer's records of flows with it that it does not have. */
  unmatchedHere: number;
  unmatchedAtPeers: number;
  /** Discrepancies over checkable records (and the peers' records with it). */
  score: number;
  /** Peers it disagrees with. */
  disagreesWith: string[];
  flagged: boolean;
  reason: string | null;
}

export interface CrossCheckOptions {
  skewMs?: number;
  /** A host is flagged above this score. Default 0.05. */
  threshold?: number;
}

const flowKey = (r: Pick<EndRecord, 'srcAddr' | 'dstAddr' | 'srcPort' | 'dstPort' | 'protocol'>): string => `${r.protocol} ${r.srcAddr}:${r.srcPort} > ${r.dstAddr}:${r.dstPort}`;

export function crossCheck(records: readonly EndRecord[], options: CrossCheckOptions = {}): { hosts: HostCheck[]; discrepancies: Discrepancy[] } {
  const skew = options.skewMs ?? 2000;
  const threshold = options.threshold ?? 0.05;
  // Which host owns which address: the source of its out records, the destination of its in records.
  const owner = new Map<string, string>();
  for (const r of records) owner.set(r.direction === 'out' ? r.srcAddr : r.dstAddr, r.host);
  const sent = new Map<string, EndRecord[]>();
  const received = new Map<string, EndRecord[]>();
  for (const r of records) {
    const peerHost = owner.get(r.direction === 'out' ? r.dstAddr : r.srcAddr);
    if (peerHost === undefined || peerHost === r.host) continue; // the other end is not instrumented (or is this host)
    const map = r.direction === 'out' ? sent : received;
    const key = flowKey(r);
    let list = map.get(key);
    if (!list) map.set(key, (list = []));
    list.push(r);
  }
  const stats = new Map<string, HostCheck>();
  const statOf = (host: string): HostCheck => {
    let s = stats.get(host);
    if (!s) stats.set(host, (s = { host, checkable: 0, matched: 0, altered: 0, unmatchedHere: 0, unmatchedAtPeers: 0, score: 0, disagreesWith: [], flagged: false, reason: null }));
    return s;
  };
  const pairDisagreements = new Map<string, number>(); // "a|b" (sorted) → count
  const pairChecked = new Map<string, number>();
  const pairKey = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`);
  const bump = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);
  const discrepancies: Discrepancy[] = [];
  const keys = new Set([...sent.keys(), ...received.keys()]);
  for (const key of keys) {
    const outs = [...(sent.get(key) ?? [])].sort((a, b) => a.startMs - b.startMs);
    const ins = [...(received.get(key) ?? [])].sort((a, b) => a.startMs - b.startMs);
    const used = new Uint8Array(ins.length);
    for (const o of outs) {
      statOf(o.host).checkable++;
      // The receiver's record of the same flow: the nearest start within the skew.
      let best = -1;
      for (let i = 0; i < ins.length; i++) {
        if (used[i] || Math.abs(ins[i].startMs - o.startMs) > skew) continue;
        if (best < 0 || Math.abs(ins[i].startMs - o.startMs) < Math.abs(ins[best].startMs - o.startMs)) best = i;
      }
      const receiverHost = owner.get(o.dstAddr)!;
      bump(pairChecked, pairKey(o.host, receiverHost));
      if (best < 0) {
        statOf(o.host).unmatchedHere++;
        statOf(receiverHost).unmatchedAtPeers++;
        bump(pairDisagreements, pairKey(o.host, receiverHost));
        discrepancies.push({ kind: 'unmatched', at: o.host, peer: receiverHost, flow: key, startMs: o.startMs, packets: o.packets, bytes: o.bytes });
        continue;
      }
      used[best] = 1;
      const r = ins[best];
      statOf(o.host).matched++;
      statOf(r.host).matched++;
      statOf(r.host).checkable++;
      const packetsOk = Math.abs(o.packets - r.packets) <= Math.max(2, 0.01 * o.packets);
      const bytesOk = Math.abs(o.bytes - r.bytes) <= Math.max(3000, 0.01 * o.bytes);
      if (!packetsOk || !bytesOk) {
        statOf(o.host).altered++;
        statOf(r.host).altered++;
        bump(pairDisagreements, pairKey(o.host, r.host));
        discrepancies.push({ kind: 'altered', sender: o.host, receiver: r.host, flow: key, startMs: o.startMs, senderPackets: o.packets, receiverPackets: r.packets, senderBytes: o.bytes, receiverBytes: r.bytes });
      }
    }
    ins.forEach((r, i) => {
      if (used[i]) return;
      const senderHost = owner.get(r.srcAddr)!;
      statOf(r.host).checkable++;
      statOf(r.host).unmatchedHere++;
      statOf(senderHost).unmatchedAtPeers++;
      bump(pairChecked, pairKey(r.host, senderHost));
      bump(pairDisagreements, pairKey(r.host, senderHost));
      discrepancies.push({ kind: 'unmatched', at: r.host, peer: senderHost, flow: key, startMs: r.startMs, packets: r.packets, bytes: r.bytes });
    });
  }
  // Per host: who it disagrees with (pairs above the threshold), and its score.
  const peersOf = new Map<string, Set<string>>();
  for (const key of pairChecked.keys()) {
    const [a, b] = key.split('|');
    if (!peersOf.has(a)) peersOf.set(a, new Set());
    if (!peersOf.has(b)) peersOf.set(b, new Set());
    peersOf.get(a)!.add(b);
    peersOf.get(b)!.add(a);
  }
  for (const s of stats.values()) {
    const involved = s.checkable + s.unmatchedAtPeers;
    s.score = involved > 0 ? (s.altered + s.unmatchedHere + s.unmatchedAtPeers) / involved : 0;
    const peers = [...(peersOf.get(s.host) ?? [])];
    s.disagreesWith = peers.filter((p) => (pairDisagreements.get(pairKey(s.host, p)) ?? 0) / Math.max(1, pairChecked.get(pairKey(s.host, p)) ?? 0) > threshold).sort();
  }
  for (const s of stats.values()) {
    const peers = [...(peersOf.get(s.host) ?? [])];
    if (s.disagreesWith.length >= 2 || (s.disagreesWith.length >= 1 && s.disagreesWith.length === peers.length && peers.length >= 2)) {
      s.flagged = true;
      s.reason = `its records disagree with those of ${s.disagreesWith.length} of its ${peers.length} instrumented peers`;
    } else if (s.disagreesWith.length === 1 && peers.length === 1) {
      // One pair: either end may be the one that lies.
      const other = s.disagreesWith[0];
      const otherPeers = peersOf.get(other)?.size ?? 0;
      if (otherPeers <= 1) {
        s.flagged = true;
        s.reason = `its records disagree with its only instrumented peer ${other}; one of the two is wrong`;
      }
    }
  }
  return { hosts: [...stats.values()].sort((a, b) => b.score - a.score || (a.host < b.host ? -1 : 1)), discrepancies };
}

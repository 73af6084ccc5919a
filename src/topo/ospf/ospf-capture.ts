/**
 * OSPF from a capture file (pcap or pcapng, as `endsight import` reads them): every IPv4 packet of
 * protocol 89 decoded, and a link-state database built from the LSAs its updates flooded, each
 * installed in the area of the packet that carried it, at the packet's time. Packets and LSAs that
 * cannot be decoded are counted by reason and skipped.
 */
import { openCapture, type CaptureSource } from '../../capture/index.js';
import { IssueCounter } from '../../common/issue-counter.js';
import { decodePacket, DecodedPacket } from '../../decode/index.js';
import { LinkStateDatabase } from './lsdb.js';
import { decodeOspfPacket, type OspfPacket } from './ospf-packet.js';

const OSPF_PROTOCOL = 89;

export interface OspfCapture {
  lsdb: LinkStateDatabase;
  /** OSPF packets decoded, by type (hello, database-description, …). */
  packets: Record<string, number>;
  /** LSAs installed, flushed, and heard again (same or older). */
  lsas: { installed: number; flushed: number; same: number; older: number };
  /** What could not be used, by reason: capture damage, decode issues, OSPF issues. */
  issues: IssueCounter;
  /** The capture's first and last packet times, ms since the epoch; null without packets. */
  firstMs: number | null;
  lastMs: number | null;
}

/** Reads `file` and calls `onPacket` for each OSPF packet (its time in ms). */
export async function readOspfCapture(file: string, onPacket?: (packet: OspfPacket, timeMs: number) => void): Promise<OspfCapture> {
  const issues = new IssueCounter();
  return collectOspf(await openCapture(file, issues), issues, onPacket);
}

/** Reads OSPF from an open capture (a file, or a live capture's stream) to its end. */
export async function collectOspf(source: CaptureSource, issues: IssueCounter, onPacket?: (packet: OspfPacket, timeMs: number) => void): Promise<OspfCapture> {
  const lsdb = new LinkStateDatabase();
  const result: OspfCapture = { lsdb, packets: {}, lsas: { installed: 0, flushed: 0, same: 0, older: 0 }, issues, firstMs: null, lastMs: null };
  const decoded = new DecodedPacket();
  for await (const batch of source.batches()) {
    for (let i = 0; i < batch.count; i++) {
      const issue = decodePacket(batch.data, batch.offset[i], batch.caplen[i], batch.wirelen[i], batch.linkType[i], decoded);
      if (issue !== null) {
        issues.add(issue);
        continue;
      }
      if (decoded.ipVersion !== 4 || decoded.protocol !== OSPF_PROTOCOL) continue;
      if (decoded.isFragment) {
        issues.add('ospf_fragment');
        continue;
      }
      const headerBytes = (batch.data[decoded.ipOffset] & 0x0f) << 2;
      const capEnd = batch.offset[i] + batch.caplen[i];
      const end = Math.min(capEnd, decoded.ipOffset + decoded.ipBytes);
      const packet = decodeOspfPacket(batch.data, decoded.ipOffset + headerBytes, end);
      if (typeof packet === 'string') {
        issues.add(packet);
        continue;
      }
      const timeMs = batch.timestampUs[i] / 1000;
      result.firstMs ??= timeMs;
      result.lastMs = timeMs;
      result.packets[packet.body.kind] = (result.packets[packet.body.kind] ?? 0) + 1;
      if (packet.body.kind === 'link-state-update') {
        for (const skipped of packet.body.skipped) issues.add(skipped);
        // Copied: the batch's buffer is reused for the next batch.
        for (const lsa of packet.body.lsas) result.lsas[lsdb.install(packet.header.areaId, { ...lsa, bytes: lsa.bytes.slice() }, timeMs)]++;
      }
      onPacket?.(packet, timeMs);
    }
  }
  return result;
}

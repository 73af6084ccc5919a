import type { PacketSource } from './packet-batch.js';

/** One packet copied out of a batch (batches are reused, so tests and tools copy what they keep). */
export interface CollectedPacket {
  data: Uint8Array;
  caplen: number;
  wirelen: number;
  timestampUs: number;
  linkType: number;
  interfaceId: number;
}

/** Reads a whole source into an array of copied packets, checking that every packet lies inside its batch's data. For tests and small files only. */
export async function collectPackets(source: PacketSource): Promise<CollectedPacket[]> {
  const out: CollectedPacket[] = [];
  for await (const batch of source.batches()) {
    for (let i = 0; i < batch.count; i++) {
      const offset = batch.offset[i];
      const caplen = batch.caplen[i];
      if (offset < 0 || caplen < 0 || offset + caplen > batch.data.length) {
        throw new Error(`packet ${i} at ${offset}+${caplen} lies outside its batch data (${batch.data.length} bytes)`);
      }
      out.push({
        data: batch.data.slice(offset, offset + caplen),
        caplen,
        wirelen: batch.wirelen[i],
        timestampUs: batch.timestampUs[i],
        linkType: batch.linkType[i],
        interfaceId: batch.interfaceId[i],
      });
    }
  }
  return out;
}

/** Test support: a PacketBatch from whole frames (not exported from index.ts). */
import { createPacketBatch, type PacketBatch } from '../capture/packet-batch.js';
import { LinkType } from '../capture/link-type.js';

/** One frame with its timestamp (µs) and optional link type / interface. */
export interface TestFrame {
  frame: Uint8Array;
  timestampUs: number;
  linkType?: number;
  interfaceId?: number;
  wirelen?: number;
}

/** Packs frames back to back into one batch. */
export function batchOf(frames: readonly TestFrame[]): PacketBatch {
  const batch = createPacketBatch(frames.length);
  const total = frames.reduce((sum, f) => sum + f.frame.length, 0);
  batch.data = new Uint8Array(total);
  let at = 0;
  frames.forEach((f, i) => {
    batch.data.set(f.frame, at);
    batch.offset[i] = at;
    batch.caplen[i] = f.frame.length;
    batch.wirelen[i] = f.wirelen ?? f.frame.length;
    batch.timestampUs[i] = f.timestampUs;
    batch.linkType[i] = f.linkType ?? LinkType.ETHERNET;
    batch.interfaceId[i] = f.interfaceId ?? 0;
    at += f.frame.length;
  });
  batch.count = frames.length;
  return batch;
}

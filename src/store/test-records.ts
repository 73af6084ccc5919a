/** Test support: deterministic flow record batches (not exported from index.ts). */
import { FlowRecordBatch, type FlowRecord } from '../flow/index.js';

/** `count` records starting at `startUs`, one every `stepUs`, with varied addresses and ports. */
export function testBatch(count: number, startUs: number, stepUs = 1_000_000, seed = 1): FlowRecordBatch {
  const batch = new FlowRecordBatch();
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
  for (let i = 0; i < count; i++) {
    const v6 = next() % 4 === 0;
    const a = next();
    const record: FlowRecord = {
      host: 'h1',
      startUs: startUs + i * stepUs,
      endUs: startUs + i * stepUs + (next() % 5_000_000),
      srcAddr: v6 ? `fd00::${(a & 0xffff).toString(16)}` : `10.0.${(a >>> 8) & 0xff}.${a & 0xff}`,
      dstAddr: v6 ? '2001:db8::1' : `192.0.2.${next() % 200}`,
      srcPort: 1024 + (next() % 60000),
      dstPort: [53, 80, 443][next() % 3],
      protocol: [6, 17][next() % 2],
      packets: 1 + (next() % 1000),
      bytes: 40 + (next() % 1_000_000),
      tcpFlags: next() % 64,
      direction: 'unknown',
      endReason: 'idle',
      sampling: 1,
      interfaceName: 'eth0',
      source: 'test',
      process: i % 7 === 0 ? 'curl' : null,
      pid: i % 7 === 0 ? 4242 : null,
      username: null,
      uid: null,
      container: null,
      command: null,
      tunnel: null,
    };
    batch.push(record);
  }
  return batch;
}

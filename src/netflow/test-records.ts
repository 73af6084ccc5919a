/** Test support: flow records to encode (not exported from an index). */
import type { FlowRecord } from '../flow/index.js';

const T0 = Date.UTC(2026, 10, 1, 12) * 1000;

/** Record i: IPv4 from 10.0.x.y, or IPv6 from 2001:db8::i+1 with `v6`; TCP to port 443, with host context. */
export function sampleRecord(i: number, v6 = false): FlowRecord {
  return {
    host: 'h', startUs: T0 + i * 1_000_000, endUs: T0 + i * 1_000_000 + 250_000,
    srcAddr: v6 ? `2001:db8::${i + 1}` : `10.0.${i >> 8}.${(i & 255) + 1}`, dstAddr: v6 ? '2001:db8:1::1' : '192.0.2.7',
    srcPort: 40000 + i, dstPort: 443, protocol: 6, packets: 10 + i, bytes: 1500 * (i + 1), tcpFlags: 0x1b,
    direction: 'out', endReason: 'fin', sampling: 1, interfaceName: null, source: 'test',
    process: 'curl', pid: 4242, username: 'alice', uid: 1000, container: null, command: null, tunnel: null,
  };
}


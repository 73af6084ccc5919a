import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IssueCounter } from '../common/issue-counter.js';
import { buildPacket, type PacketSpec } from '../decode/build-packet.js';
import { FlowMeter } from './flow-meter.js';
import { batchOf, type TestFrame } from './test-batch.js';
import type { FlowRecord } from './flow-record.js';

const S = 1_000_000;
const TCP = 6, UDP = 17, ICMP = 1;
const FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10;

function meterOf(frames: TestFrame[], options: Partial<{ idle: number; active: number; maxFlows: number }> = {}) {
  const issues = new IssueCounter();
  const meter = new FlowMeter(
    {
      idleTimeoutUs: options.idle ?? 90 * S,
      activeTimeoutUs: options.active ?? 1800 * S,
      maxFlows: options.maxFlows ?? 1000,
      host: 'test-host',
      source: 'pcap:test.pcap',
    },
    issues,
  );
  meter.processBatch(batchOf(frames), [{ linkType: 1, name: 'eth0', snaplen: 65535 }]);
  meter.finish();
  return { records: meter.drain().toRecords(), issues, stats: meter.stats() };
}

const frame = (spec: PacketSpec, timestampUs: number): TestFrame => ({ frame: buildPacket(spec), timestampUs });
const brief = (r: FlowRecord) => `${r.srcAddr}:${r.srcPort}>${r.dstAddr}:${r.dstPort}/${r.protocol} p=${r.packets} b=${r.bytes} ${r.endReason}`;

test('FlowMeter makes one unidirectional record per direction, with IP-layer bytes', () => {
  const out = { ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 5000, dstPort: 53, payloadBytes: 30 } as const;
  const back = { ipVersion: 4, protocol: UDP, src: '10.0.0.2', dst: '10.0.0.1', srcPort: 53, dstPort: 5000, payloadBytes: 100 } as const;
  const { records } = meterOf([frame(out, 0), frame(back, 1000), frame(out, 2000)]);
  assert.deepEqual(records.map(brief).sort(), [
    '10.0.0.1:5000>10.0.0.2:53/17 p=2 b=116 end', // 2 × (20 IP + 8 UDP + 30)
    '10.0.0.2:53>10.0.0.1:5000/17 p=1 b=128 end',
  ]);
  const r = records.find((x) => x.srcPort === 5000)!;
  assert.equal(r.startUs, 0);
  assert.equal(r.endUs, 2000);
  assert.equal(r.host, 'test-host');
  assert.equal(r.interfaceName, 'eth0');
  assert.equal(r.direction, 'unknown');
  assert.equal(r.process, null);
  assert.equal(r.sampling, 1);
});

test('FlowMeter ends a TCP record after FIN once it goes quiet, keeping the last ACK in it', () => {
  const tcp = (flags: number): PacketSpec => ({ ipVersion: 6, protocol: TCP, src: '2001:db8::1', dst: '2001:db8::2', srcPort: 40000, dstPort: 443, tcpFlags: flags });
  const { records } = meterOf([
    frame(tcp(SYN), 0), frame(tcp(ACK), 1), frame(tcp(FIN | ACK), 2), frame(tcp(ACK), 3), // last ACK: same record
    frame(tcp(ACK), 3 + 5 * S + 1), // quiet for longer than the FIN timeout: a new record
    frame(tcp(RST), 4 + 5 * S + 1),
  ]);
  assert.deepEqual(records.map((r) => [r.packets, r.tcpFlags, r.endReason]), [
    [4, SYN | ACK | FIN, 'fin'],
    [2, ACK | RST, 'rst'],
  ]);
  assert.equal(records[0].srcAddr, '2001:db8::1');
});

test('FlowMeter: a new SYN after FIN starts a new record (port reuse)', () => {
  const tcp = (flags: number): PacketSpec => ({ ipVersion: 4, protocol: TCP, srcPort: 40000, dstPort: 80, tcpFlags: flags });
  const { records } = meterOf([frame(tcp(SYN), 0), frame(tcp(FIN | ACK), 10), frame(tcp(SYN), 20), frame(tcp(ACK), 30)]);
  assert.deepEqual(records.map((r) => [r.packets, r.endReason]), [[2, 'fin'], [2, 'end']]);
});

test('FlowMeter puts ICMP type*256+code in dst_port', () => {
  const { records } = meterOf([frame({ ipVersion: 4, protocol: ICMP, icmpType: 8, icmpCode: 0 }, 0), frame({ ipVersion: 4, protocol: ICMP, icmpType: 3, icmpCode: 1 }, 1)]);
  assert.deepEqual(records.map((r) => [r.srcPort, r.dstPort]).sort((a, b) => a[1] - b[1]), [[0, 769], [0, 2048]]);
});

test('FlowMeter counts non-first fragments in the flow of their datagram', () => {
  const base = { ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 7000, dstPort: 9000 } as const;
  const { records, issues } = meterOf([
    frame({ ...base, payloadBytes: 1472, ipv4Fragment: { offset: 0, more: true, id: 77 } }, 0),
    frame({ ...base, payloadBytes: 1480, omitTransportHeader: true, ipv4Fragment: { offset: 1480, more: true, id: 77 } }, 1),
    frame({ ...base, payloadBytes: 40, omitTransportHeader: true, ipv4Fragment: { offset: 2960, more: false, id: 77 } }, 2),
  ]);
  assert.deepEqual(records.map(brief), ['10.0.0.1:7000>10.0.0.2:9000/17 p=3 b=3060 end']);
  assert.equal(issues.total(), 0);
});

test('FlowMeter holds fragments that arrive before their first fragment', () => {
  const base = { ipVersion: 6, protocol: UDP, src: 'fd00::1', dst: 'fd00::2', srcPort: 7000, dstPort: 9000 } as const;
  const { records } = meterOf([
    frame({ ...base, payloadBytes: 100, omitTransportHeader: true, ipv6Extensions: [{ type: 44, offset: 1448, more: false, id: 5 }] }, 10),
    frame({ ...base, payloadBytes: 1440, ipv6Extensions: [{ type: 44, offset: 0, more: true, id: 5 }] }, 20),
  ]);
  assert.equal(records.length, 1);
  assert.equal(records[0].srcPort, 7000);
  assert.equal(records[0].packets, 2);
  assert.equal(records[0].startUs, 10);
  assert.equal(records[0].endUs, 20);
});

test('FlowMeter counts fragments whose first fragment never came in a port-0 flow', () => {
  const base = { ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.2' } as const;
  const { records, issues } = meterOf([
    frame({ ...base, payloadBytes: 80, omitTransportHeader: true, ipv4Fragment: { offset: 1480, more: false, id: 9 } }, 0),
  ]);
  assert.deepEqual(records.map(brief), ['10.0.0.1:0>10.0.0.2:0/17 p=1 b=100 end']);
  assert.equal(issues.get('fragment_without_first'), 1);
});

test('FlowMeter skips and counts malformed packets by reason', () => {
  const good = buildPacket({ ipVersion: 4, protocol: UDP });
  const { records, issues, stats } = meterOf([
    { frame: good.subarray(0, 20), timestampUs: 0 }, // truncated inside the IPv4 header
    { frame: good, timestampUs: 1 },
  ]);
  assert.equal(records.length, 1);
  assert.equal(stats.packetsSkipped, 1);
  assert.equal(issues.total(), 1);
});

test('FlowMeter is deterministic: the same packets give the same records', () => {
  const frames: TestFrame[] = [];
  for (let i = 0; i < 500; i++) {
    frames.push(frame({ ipVersion: i % 3 === 0 ? 6 : 4, protocol: i % 2 ? TCP : UDP, srcPort: 1000 + (i % 37), dstPort: 80 }, i * 997_000));
  }
  const a = meterOf(frames, { idle: 5 * S }).records;
  const b = meterOf(frames, { idle: 5 * S }).records;
  assert.deepEqual(a, b);
  assert.equal(a.reduce((sum, r) => sum + r.packets, 0), 500);
});


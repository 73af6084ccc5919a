import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IssueCounter } from '../common/issue-counter.js';
import { buildPcap, buildPcapRecord, type PcapRecordSpec } from './capture-builder.js';
import { collectPackets } from './collect-packets.js';
import { openCaptureBytes } from './open-capture.js';
import type { CaptureOptions } from './capture-options.js';

const T0 = 1_700_000_000;

/** `length` bytes counting up from `seed`, so every packet's content is recognisable. */
function payload(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i) & 0xff;
  return out;
}

/** Three ordinary records. */
function records(): PcapRecordSpec[] {
  return [
    { seconds: T0, fraction: 1, data: payload(60, 1) },
    { seconds: T0 + 1, fraction: 999_999, data: payload(1514, 2), wirelen: 1514 },
    { seconds: T0 + 2, fraction: 500_000, data: payload(40, 3), wirelen: 9000 },
  ];
}

async function read(bytes: Uint8Array, options?: CaptureOptions) {
  const issues = new IssueCounter();
  const source = await openCaptureBytes(bytes, issues, options);
  const packets = await collectPackets(source);
  return { source, packets, issues };
}

for (const littleEndian of [true, false]) {
  const order = littleEndian ? 'little-endian' : 'big-endian';

  test(`pcap ${order} microsecond: packets, lengths, timestamps, link type`, async () => {
    const bytes = buildPcap({ littleEndian, linkTypeField: 1, snaplen: 65535 }, records());
    const { source, packets, issues } = await read(bytes);
    assert.equal(source.format, 'pcap');
    assert.deepEqual(source.interfaces, [{ linkType: 1, name: null, snaplen: 65535 }]);
    assert.equal(packets.length, 3);
    assert.deepEqual(packets.map((p) => p.caplen), [60, 1514, 40]);
    assert.deepEqual(packets.map((p) => p.wirelen), [60, 1514, 9000]);
    assert.deepEqual(packets.map((p) => p.timestampUs), [T0 * 1e6 + 1, (T0 + 1) * 1e6 + 999_999, (T0 + 2) * 1e6 + 500_000]);
    assert.deepEqual(packets[1].data, payload(1514, 2));
    assert.ok(packets.every((p) => p.linkType === 1 && p.interfaceId === 0));
    assert.equal(issues.total(), 0);
    assert.equal(source.bytesRead, bytes.length);
    assert.equal(source.totalBytes, bytes.length);
  });

  test(`pcap ${order} nanosecond: timestamps floored to microseconds`, async () => {
    const bytes = buildPcap({ littleEndian, nanosecond: true }, [
      { seconds: T0, fraction: 123_456_789, data: payload(10) },
      { seconds: T0, fraction: 999_999_999, data: payload(10) },
      { seconds: T0, fraction: 999, data: payload(10) },
    ]);
    const { packets, issues } = await read(bytes);
    assert.deepEqual(packets.map((p) => p.timestampUs), [T0 * 1e6 + 123_456, T0 * 1e6 + 999_999, T0 * 1e6]);
    assert.equal(issues.total(), 0);
  });
}

test('pcap: FCS bits in the upper LinkType field are masked off (draft-ietf-opsawg-pcap §4)', async () => {
  // FCS len = 2 (16-bit words) in bits 28-31, the "FCS length present" flag (bit 26), LINKTYPE_ETHERNET.
  const { source, packets } = await read(buildPcap({ linkTypeField: (2 << 28) | (1 << 26) | 1 }, records()));
  assert.equal(source.interfaces[0].linkType, 1);
  assert.ok(packets.every((p) => p.linkType === 1));
});

test('pcap: link type is passed through, even one we cannot decode', async () => {
  const { packets, issues } = await read(buildPcap({ linkTypeField: 147 }, records()));
  assert.ok(packets.every((p) => p.linkType === 147));
  assert.equal(issues.total(), 0);
});

test('pcap: caplen > snaplen is counted and the packet kept', async () => {
  const { packets, issues } = await read(buildPcap({ snaplen: 100 }, records()));
  assert.equal(packets.length, 3);
  assert.equal(issues.get('caplen_exceeds_snaplen'), 1);
});

test('pcap: caplen > wirelen skips that packet and reads on', async () => {
  const recs = records();
  recs[1] = { ...recs[1], wirelen: 100 };
  const { packets, issues } = await read(buildPcap({}, recs));
  assert.deepEqual(packets.map((p) => p.caplen), [60, 40]);
  assert.equal(issues.get('caplen_exceeds_wirelen'), 1);
});

test('pcap: impossible caplen resynchronises on the next plausible record', async () => {
  const recs: PcapRecordSpec[] = [];
  for (let i = 0; i < 6; i++) recs.push({ seconds: T0 + i, fraction: i, data: payload(50 + i, i) });
  recs[2] = { ...recs[2], caplen: 0x7fff0000, data: new Uint8Array(300) };
  const { packets, issues } = await read(buildPcap({}, recs));
  assert.deepEqual(packets.map((p) => p.caplen), [50, 51, 53, 54, 55]);
  assert.deepEqual(packets[2].data, payload(53, 3));
  assert.equal(issues.get('caplen_exceeds_limit'), 1);
  assert.equal(issues.get('unrecoverable_corruption'), 0);
});

test('pcap: resynchronisation ignores look-alike headers with implausible timestamps', async () => {
  // The damaged record's data holds a fake header with a sane caplen but a timestamp years away.
  const fake = buildPcapRecord(true, { seconds: 1000, fraction: 0, data: payload(20) });
  const recs: PcapRecordSpec[] = [
    { seconds: T0, fraction: 0, data: payload(30) },
    { seconds: T0, fraction: 0, data: fake, caplen: 400_000 },
    { seconds: T0 + 5, fraction: 0, data: payload(31) },
    { seconds: T0 + 6, fraction: 0, data: payload(32) },
  ];
  const { packets, issues } = await read(buildPcap({}, recs));
  assert.deepEqual(packets.map((p) => p.caplen), [30, 31, 32]);
  assert.equal(issues.get('caplen_exceeds_limit'), 1);
});

test('pcap: garbage with no plausible record is unrecoverable; what came before is kept', async () => {
  const garbage = new Uint8Array(5000).fill(0xff);
  const bytes = buildPcap({}, [
    { seconds: T0, fraction: 0, data: payload(30) },
    { seconds: T0, fraction: 0, data: garbage, caplen: 0xffffffff },
  ]);
  const { packets, issues } = await read(bytes, { chunkSize: 1000 });
  assert.equal(packets.length, 1);
  assert.equal(issues.get('caplen_exceeds_limit'), 1);
  assert.equal(issues.get('unrecoverable_corruption'), 1);
});

test('pcap: a file cut inside a record delivers everything before and counts the cut once', async () => {
  const whole = buildPcap({}, records());
  for (const cut of [whole.length - 1, whole.length - 40, 24 + 16 + 60 + 8]) {
    const { packets, issues } = await read(whole.subarray(0, cut), { chunkSize: 64 });
    assert.equal(issues.get('truncated_file'), 1, `cut at ${cut}`);
    assert.equal(packets.length, cut === 24 + 16 + 60 + 8 ? 1 : 2);
  }
});

test('pcap: a file cut inside the file header yields nothing and counts the cut', async () => {
  const whole = buildPcap({}, records());
  const { source, packets, issues } = await read(whole.subarray(0, 10));
  assert.equal(packets.length, 0);
  assert.deepEqual(source.interfaces, []);
  assert.equal(issues.get('truncated_file'), 1);
});

test('pcap: header only is an empty capture, not an error', async () => {
  const { packets, issues } = await read(buildPcap({}, []));
  assert.equal(packets.length, 0);
  assert.equal(issues.total(), 0);
});

test('pcap: same packets for every chunk size and batch capacity (records spanning reads)', async () => {
  const recs: PcapRecordSpec[] = [];
  for (let i = 0; i < 40; i++) recs.push({ seconds: T0 + i, fraction: i, data: payload((i * 37) % 300, i) });
  recs.push({ seconds: T0 + 50, fraction: 0, data: payload(20_000, 9) });
  recs.push({ seconds: T0 + 51, fraction: 0, data: payload(0) , wirelen: 60 });
  const bytes = buildPcap({}, recs);
  const reference = (await read(bytes)).packets;
  assert.equal(reference.length, recs.length);
  for (const chunkSize of [1, 2, 3, 7, 15, 16, 17, 100, 4096]) {
    for (const batchCapacity of [1, 3, 1000]) {
      const { packets, issues } = await read(bytes, { chunkSize, batchCapacity });
      assert.deepEqual(packets, reference, `chunkSize ${chunkSize} batchCapacity ${batchCapacity}`);
      assert.equal(issues.total(), 0);
    }
  }
});

test('pcap: largest allowed packet (262144 bytes) through a small chunk size', async () => {
  const big = payload(262144, 5);
  const bytes = buildPcap({}, [{ seconds: T0, fraction: 0, data: big }, { seconds: T0, fraction: 1, data: payload(10) }]);
  const { packets, issues } = await read(bytes, { chunkSize: 1000 });
  assert.equal(packets.length, 2);
  assert.deepEqual(packets[0].data, big);
  assert.equal(issues.total(), 0);
});

test('pcap: batches respect the capacity and are reused', async () => {
  const recs: PcapRecordSpec[] = [];
  for (let i = 0; i < 10; i++) recs.push({ seconds: T0, fraction: i, data: payload(8, i) });
  const source = await openCaptureBytes(buildPcap({}, recs), new IssueCounter(), { batchCapacity: 4 });
  const counts: number[] = [];
  const seen = new Set<object>();
  for await (const batch of source.batches()) {
    counts.push(batch.count);
    seen.add(batch);
  }
  assert.deepEqual(counts, [4, 4, 2]);
  assert.equal(seen.size, 1);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IssueCounter } from '../common/issue-counter.js';
import { PcapngBuilder } from './capture-builder.js';
import { collectPackets } from './collect-packets.js';
import { openCaptureBytes } from './open-capture.js';
import type { CaptureOptions } from './capture-options.js';
import { CaptureError } from './capture-error.js';

const T0_US = 1_700_000_000_000_000n;

function payload(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 7 + i) & 0xff;
  return out;
}

async function read(bytes: Uint8Array, options?: CaptureOptions) {
  const issues = new IssueCounter();
  const source = await openCaptureBytes(bytes, issues, options);
  const packets = await collectPackets(source);
  return { source, packets, issues };
}

for (const littleEndian of [true, false]) {
  const order = littleEndian ? 'little-endian' : 'big-endian';
  test(`pcapng ${order}: SHB, IDB with if_name, EPBs (default microsecond resolution)`, async () => {
    const bytes = new PcapngBuilder()
      .section(littleEndian)
      .interface({ linkType: 1, snaplen: 65535, name: 'eth0' })
      .enhanced({ interfaceId: 0, timestamp: T0_US + 1n, data: payload(60, 1) })
      .enhanced({ interfaceId: 0, timestamp: T0_US + 2n, data: payload(61, 2), wirelen: 1500 })
      .bytes();
    const { source, packets, issues } = await read(bytes);
    assert.equal(source.format, 'pcapng');
    assert.deepEqual(source.interfaces, [{ linkType: 1, name: 'eth0', snaplen: 65535 }]);
    assert.deepEqual(packets.map((p) => [p.caplen, p.wirelen, p.timestampUs, p.linkType, p.interfaceId]), [
      [60, 60, Number(T0_US + 1n), 1, 0],
      [61, 1500, Number(T0_US + 2n), 1, 0],
    ]);
    assert.deepEqual(packets[1].data, payload(61, 2));
    assert.equal(issues.total(), 0);
    assert.equal(source.bytesRead, bytes.length);
  });
}

test('pcapng: if_tsresol 10^-9 floors exactly to microseconds (no double rounding of 64-bit counts)', async () => {
  const ns = 1_700_000_000_123_456_789n;
  const bytes = new PcapngBuilder()
    .section()
    .interface({ linkType: 1, tsresol: 9 })
    .enhanced({ interfaceId: 0, timestamp: ns, data: payload(10) })
    .enhanced({ interfaceId: 0, timestamp: 1_700_000_000_999_999_999n, data: payload(10) })
    .bytes();
  const { packets } = await read(bytes);
  assert.deepEqual(packets.map((p) => p.timestampUs), [1_700_000_000_123_456, 1_700_000_000_999_999]);
});

test('pcapng: if_tsresol 2^-10 (most significant bit set) and 2^-32', async () => {
  const bytes = new PcapngBuilder()
    .section()
    .interface({ linkType: 1, tsresol: 0x80 | 10 })
    .interface({ linkType: 1, tsresol: 0x80 | 32 })
    .enhanced({ interfaceId: 0, timestamp: 1_700_000_000n * 1024n + 512n, data: payload(10) })
    .enhanced({ interfaceId: 0, timestamp: 1_700_000_000n * 1024n + 1n, data: payload(10) })
    .enhanced({ interfaceId: 1, timestamp: (1_700_000_000n << 32n) + (1n << 31n), data: payload(10) })
    .bytes();
  const { packets } = await read(bytes);
  assert.deepEqual(packets.map((p) => p.timestampUs), [
    1_700_000_000_500_000,
    1_700_000_000_000_976, // 1/1024 s = 976.5625 µs, floored
    1_700_000_000_500_000,
  ]);
});

test('pcapng: other resolutions (milliseconds, picoseconds, 10^-15) convert exactly', async () => {
  const bytes = new PcapngBuilder()
    .section()
    .interface({ linkType: 1, tsresol: 3 })
    .interface({ linkType: 1, tsresol: 12 })
    .interface({ linkType: 1, tsresol: 15 })
    .enhanced({ interfaceId: 0, timestamp: 1_700_000_000_123n, data: payload(4) })
    .enhanced({ interfaceId: 1, timestamp: 1_700_000_000_123_456_789_012n & 0xffffffffffffffffn, data: payload(4) })
    .enhanced({ interfaceId: 2, timestamp: 1_234_567_891_234_567n, data: payload(4) })
    .bytes();
  const { packets } = await read(bytes);
  const expectedPico = Number((1_700_000_000_123_456_789_012n & 0xffffffffffffffffn) / 1_000_000n);
  assert.deepEqual(packets.map((p) => p.timestampUs), [1_700_000_000_123_000, expectedPico, 1_234_567]);
});

test('pcapng: if_tsoffset adds seconds, negative too', async () => {
  const bytes = new PcapngBuilder()
    .section(false)
    .interface({ linkType: 1, tsoffset: 1_600_000_000n })
    .interface({ linkType: 1, tsoffset: -100n, tsresol: 9 })
    .enhanced({ interfaceId: 0, timestamp: 5_000_001n, data: payload(4) })
    .enhanced({ interfaceId: 1, timestamp: 1_000_000_000_000n, data: payload(4) })
    .bytes();
  const { packets } = await read(bytes);
  assert.deepEqual(packets.map((p) => p.timestampUs), [1_600_000_005_000_001, 900_000_000]);
});

test('pcapng: several interfaces, each with its own link type', async () => {
  const bytes = new PcapngBuilder()
    .section()
    .interface({ linkType: 1, name: 'eth0' })
    .interface({ linkType: 113, name: 'any' })
    .interface({ linkType: 101 })
    .enhanced({ interfaceId: 2, timestamp: T0_US, data: payload(20) })
    .enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(21) })
    .enhanced({ interfaceId: 1, timestamp: T0_US, data: payload(22) })
    .bytes();
  const { source, packets, issues } = await read(bytes);
  assert.deepEqual(source.interfaces.map((i) => [i.linkType, i.name]), [[1, 'eth0'], [113, 'any'], [101, null]]);
  assert.deepEqual(packets.map((p) => [p.interfaceId, p.linkType, p.caplen]), [[2, 101, 20], [0, 1, 21], [1, 113, 22]]);
  assert.equal(issues.total(), 0);
});

test('pcapng: a second SHB switches byte order and restarts interface numbering', async () => {
  const bytes = new PcapngBuilder()
    .section(true)
    .interface({ linkType: 1, name: 'a' })
    .enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(10) })
    .section(false)
    .interface({ linkType: 113, name: 'b', tsresol: 9 })
    .enhanced({ interfaceId: 0, timestamp: T0_US * 1000n + 7000n, data: payload(11) })
    .enhanced({ interfaceId: 1, timestamp: T0_US, data: payload(12) })
    .section(true)
    .interface({ linkType: 101, name: 'c' })
    .enhanced({ interfaceId: 0, timestamp: T0_US + 9n, data: payload(13) })
    .bytes();
  const { source, packets, issues } = await read(bytes);
  assert.deepEqual(source.interfaces.map((i) => i.name), ['a', 'b', 'c']);
  assert.deepEqual(packets.map((p) => [p.interfaceId, p.linkType, p.caplen, p.timestampUs]), [
    [0, 1, 10, Number(T0_US)],
    [1, 113, 11, Number(T0_US) + 7],
    [2, 101, 13, Number(T0_US) + 9],
  ]);
  assert.equal(issues.get('unknown_interface'), 1);
  assert.equal(issues.total(), 1);
});

test('pcapng: Simple Packet Block uses interface 0; caplen = min(wirelen, snaplen, block space)', async () => {
  const bytes = new PcapngBuilder()
    .section()
    .interface({ linkType: 1, snaplen: 100 })
    .enhanced({ interfaceId: 0, timestamp: T0_US + 5n, data: payload(30) })
    .simple(payload(60), 60) // whole packet
    .simple(payload(100), 1500) // cut by snaplen
    .simple(payload(42), 42) // padded to 44 in the block: caplen is wirelen, not block space
    .simple(payload(40), 80) // cut by block space (lying wirelen but snaplen allows more)
    .bytes();
  const { packets, issues } = await read(bytes);
  assert.deepEqual(packets.map((p) => [p.caplen, p.wirelen]), [[30, 30], [60, 60], [100, 1500], [42, 42], [40, 80]]);
  assert.deepEqual(packets[3].data, payload(42));
  // SPBs carry no timestamp: they get the previous packet's.
  assert.ok(packets.every((p) => p.timestampUs === Number(T0_US + 5n)));
  assert.equal(issues.get('missing_timestamp'), 4);
});

test('pcapng: Simple Packet Block before any interface counts unknown_interface', async () => {
  const { packets, issues } = await read(new PcapngBuilder().section().simple(payload(10)).bytes());
  assert.equal(packets.length, 0);
  assert.equal(issues.get('unknown_interface'), 1);
});

test('pcapng: obsolete Packet Block (type 2) is read like an EPB with a 16-bit interface id', async () => {
  const bytes = new PcapngBuilder()
    .section(false)
    .interface({ linkType: 1 })
    .interface({ linkType: 228 })
    .obsolete({ interfaceId: 1, timestamp: T0_US + 3n, data: payload(33), wirelen: 40 })
    .bytes();
  const { packets, issues } = await read(bytes);
  assert.deepEqual(packets.map((p) => [p.interfaceId, p.linkType, p.caplen, p.wirelen, p.timestampUs]), [
    [1, 228, 33, 40, Number(T0_US + 3n)],
  ]);
  assert.deepEqual(packets[0].data, payload(33));
  assert.equal(issues.total(), 0);
});

test('pcapng: NRB, ISB, DSB, custom and unknown blocks are skipped by length', async () => {
  const bytes = new PcapngBuilder()
    .section()
    .block(4, payload(20)) // NRB
    .interface({ linkType: 1 })
    .block(5, payload(24)) // ISB
    .enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(10) })
    .block(0x0a, payload(17)) // DSB
    .block(0xbad, payload(8)) // custom
    .block(0x12345678, payload(100)) // unknown
    .enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(11) })
    .bytes();
  const { packets, issues } = await read(bytes);
  assert.deepEqual(packets.map((p) => p.caplen), [10, 11]);
  assert.equal(issues.total(), 0);
});

test('pcapng: EPB naming an undescribed interface is counted and skipped', async () => {
  const bytes = new PcapngBuilder()
    .section()
    .enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(10) })
    .interface({ linkType: 1 })
    .enhanced({ interfaceId: 3, timestamp: T0_US, data: payload(11) })
    .enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(12) })
    .bytes();
  const { packets, issues } = await read(bytes);
  assert.deepEqual(packets.map((p) => p.caplen), [12]);
  assert.equal(issues.get('unknown_interface'), 2);
});

test('pcapng: lying lengths inside a well-framed EPB skip only that packet', async () => {
  const b = new PcapngBuilder().section().interface({ linkType: 1, snaplen: 50 });
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(20), caplen: 200 }); // overflows its block
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(300_000) }); // over the caplen limit
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(20), wirelen: 10 }); // caplen > wirelen
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(60) }); // caplen > snaplen: kept
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(7), wirelen: 0xffffffff }); // wirelen clamped
  const { packets, issues } = await read(b.bytes(), { chunkSize: 4096 });
  assert.deepEqual(packets.map((p) => [p.caplen, p.wirelen]), [[60, 60], [7, 0x7fffffff]]);
  assert.deepEqual(issues.toJSON(), {
    bad_block_body: 1,
    caplen_exceeds_limit: 1,
    caplen_exceeds_snaplen: 1,
    caplen_exceeds_wirelen: 1,
    wirelen_exceeds_limit: 1,
  });
});

/** A file whose third block has broken framing of the given kind, followed by good blocks. */
function damaged(kind: 'trailer' | 'small' | 'unaligned' | 'huge' | 'zero'): Uint8Array {
  const b = new PcapngBuilder().section().interface({ linkType: 1 });
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(16, 1) });
  const at = b.length;
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(40, 2) });
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(24, 3) });
  b.block(4, payload(8)); // NRB
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(20, 4) });
  const bytes = b.bytes();
  const view = new DataView(bytes.buffer);
  const length = view.getUint32(at + 4, true);
  if (kind === 'trailer') view.setUint32(at + length - 4, length + 4, true);
  if (kind === 'small') view.setUint32(at + 4, 8, true);
  if (kind === 'unaligned') view.setUint32(at + 4, length + 2, true);
  if (kind === 'huge') view.setUint32(at + 4, 0x7ffffff0, true);
  if (kind === 'zero') view.setUint32(at + 4, 0, true);
  return bytes;
}

for (const kind of ['trailer', 'small', 'unaligned', 'huge', 'zero'] as const) {
  test(`pcapng: bad block length (${kind}) resynchronises on the next good block`, async () => {
    for (const chunkSize of [5, 64, 1 << 20]) {
      const { packets, issues } = await read(damaged(kind), { chunkSize });
      assert.deepEqual(packets.map((p) => p.caplen), [16, 24, 20], `chunk ${chunkSize}`);
      assert.equal(issues.get('bad_block_length'), 1);
      assert.equal(issues.total(), 1);
    }
  });
}

test('pcapng: resynchronisation can land on a new Section Header Block in the other byte order', async () => {
  const b = new PcapngBuilder().section(true).interface({ linkType: 1 });
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(16) });
  b.raw(Uint8Array.of(6, 0, 0, 0, 0xff, 0xff, 0xff, 0x0f)); // an EPB header claiming 268 MB
  b.raw(new Uint8Array(64));
  b.section(false).interface({ linkType: 101 }).enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(17) });
  const { packets, issues } = await read(b.bytes());
  assert.deepEqual(packets.map((p) => [p.caplen, p.linkType, p.interfaceId]), [[16, 1, 0], [17, 101, 1]]);
  assert.equal(issues.get('bad_block_length'), 1);
});

test('pcapng: garbage to the end after a bad block is unrecoverable; earlier packets are kept', async () => {
  const b = new PcapngBuilder().section().interface({ linkType: 1 });
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(16) });
  b.raw(new Uint8Array(1000).fill(0xee));
  const { packets, issues } = await read(b.bytes());
  assert.equal(packets.length, 1);
  assert.equal(issues.get('bad_block_length'), 1);
  assert.equal(issues.get('unrecoverable_corruption'), 1);
});

test('pcapng: a bad byte-order magic in a later SHB is counted and skipped', async () => {
  const b = new PcapngBuilder().section().interface({ linkType: 1 });
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(16) });
  const at = b.length;
  b.section().interface({ linkType: 1 }).enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(17) });
  const bytes = b.bytes();
  bytes[at + 8] ^= 0xff;
  const { source, packets, issues } = await read(bytes);
  // The section header is lost, so its IDB joins the first section (as its interface 1), and the EPB's
  // interface 0 is read as the first section's interface 0.
  assert.equal(source.interfaces.length, 2);
  assert.deepEqual(packets.map((p) => [p.caplen, p.interfaceId]), [[16, 0], [17, 0]]);
  assert.equal(issues.get('bad_section_header'), 1);
  assert.equal(issues.get('unknown_interface'), 0);
});

test('pcapng: unsupported section version and damaged options are counted but parsed', async () => {
  const b = new PcapngBuilder().section(true, 2);
  // IDB whose if_name option claims 200 bytes.
  const idb = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 200, 0, 0x65, 0x74, 0x68, 0x30]);
  b.block(1, idb);
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(16) });
  const { source, packets, issues } = await read(b.bytes());
  assert.equal(packets.length, 1);
  assert.equal(source.interfaces[0].name, null);
  assert.equal(issues.get('unsupported_section_version'), 1);
  assert.equal(issues.get('bad_option'), 1);
});

test('pcapng: a file cut inside a block delivers everything before and counts the cut once', async () => {
  const b = new PcapngBuilder().section().interface({ linkType: 1 });
  for (let i = 0; i < 5; i++) b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(30 + i) });
  const whole = b.bytes();
  const blockLength = 28 + 32 + 4; // EPB of 30..33 bytes padded to 32
  for (const cut of [whole.length - 1, whole.length - blockLength + 6, whole.length - 4]) {
    const { packets, issues } = await read(whole.subarray(0, cut), { chunkSize: 50 });
    assert.equal(packets.length, 4, `cut at ${cut}`);
    assert.equal(issues.get('truncated_file'), 1);
    assert.equal(issues.total(), 1);
  }
  const { packets, issues } = await read(whole.subarray(0, 10));
  assert.equal(packets.length, 0);
  assert.equal(issues.get('truncated_file'), 1);
});

test('pcapng: a first block that is not a valid SHB is not a capture', async () => {
  const bytes = new PcapngBuilder().section().bytes();
  bytes[8] = 0;
  await assert.rejects(openCaptureBytes(bytes, new IssueCounter(), {}, 'x.pcapng'), (err: unknown) => {
    assert.ok(err instanceof CaptureError);
    assert.equal(err.message, 'Cannot read capture "x.pcapng": expected a pcapng section header with byte-order magic 1a2b3c4d or 4d3c2b1a, found 003c2b1a');
    return true;
  });
});

test('pcapng: same packets for every chunk size and batch capacity (blocks spanning reads)', async () => {
  const b = new PcapngBuilder().section(false).interface({ linkType: 1, tsresol: 9 }).interface({ linkType: 113 });
  for (let i = 0; i < 30; i++) {
    b.enhanced({ interfaceId: i % 2, timestamp: T0_US + BigInt(i), data: payload((i * 53) % 400, i) });
    if (i % 7 === 0) b.block(5, payload(16));
    if (i % 11 === 0) b.simple(payload(i + 3));
  }
  b.enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(20_000, 3) });
  b.section(true).interface({ linkType: 101 }).enhanced({ interfaceId: 0, timestamp: T0_US, data: payload(5) });
  const bytes = b.bytes();
  const reference = await read(bytes);
  assert.equal(reference.packets.length, 30 + 3 + 2);
  for (const chunkSize of [1, 3, 4, 7, 12, 13, 100, 4096]) {
    for (const batchCapacity of [1, 4, 1000]) {
      const { packets, issues } = await read(bytes, { chunkSize, batchCapacity });
      assert.deepEqual(packets, reference.packets, `chunkSize ${chunkSize} batchCapacity ${batchCapacity}`);
      assert.deepEqual(issues.toJSON(), reference.issues.toJSON());
    }
  }
});

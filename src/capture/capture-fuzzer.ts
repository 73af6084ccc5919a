/**
 * The fuzzer behind fuzz.test.ts: generates damaged pcap and pcapng inputs from a seeded PRNG and reads
 * each one, checking the readers' promises on hostile input. It runs in a worker thread, away from the
 * node:test harness, whose async hook makes every promise (one per read) several times dearer.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { IssueCounter } from '../common/issue-counter.js';
import { buildPcap, PcapngBuilder, type PcapRecordSpec } from './capture-builder.js';
import { CaptureError } from './capture-error.js';
import { openCaptureBytes } from './open-capture.js';

/** No single case may take longer than this (they take microseconds; this catches blow-ups that do return). */
const MAX_CASE_MS = 2000;

/** mulberry32: small, fast, good enough to drive a fuzzer. */
class Rng {
  constructor(private state: number) {}
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  u32(): number {
    return (this.next() * 4294967296) >>> 0;
  }
  bool(): boolean {
    return this.next() < 0.5;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const T0 = 1_700_000_000;
const LIES = [0, 1, 3, 4, 8, 11, 12, 13, 15, 16, 20, 28, 31, 32, 33, 100, 262144, 262145, 0xffff, 0x10000, 16 << 20, (16 << 20) + 4, 0x7fffffff, 0x80000000, 0xfffffffc, 0xffffffff];

function lie(rng: Rng, honest: number): number {
  switch (rng.int(4)) {
    case 0:
      return rng.pick(LIES);
    case 1:
      return (honest + rng.pick([-8, -4, -1, 1, 2, 4, 8, 64])) >>> 0;
    case 2:
      return rng.int(512);
    default:
      return rng.u32();
  }
}

/** A valid pcap file and the offsets of its record headers. */
function validPcap(rng: Rng): { bytes: Uint8Array; le: boolean; records: number[] } {
  const le = rng.bool();
  const nano = rng.bool();
  const recs: PcapRecordSpec[] = [];
  const count = 1 + rng.int(8);
  for (let i = 0; i < count; i++) {
    const caplen = rng.int(4) === 0 ? rng.int(400) : rng.int(80);
    recs.push({ seconds: T0 + rng.int(100), fraction: rng.int(nano ? 1e9 : 1e6), data: rng.bytes(caplen), wirelen: caplen + rng.int(3) * rng.int(1500) });
  }
  const bytes = buildPcap({ littleEndian: le, nanosecond: nano, snaplen: rng.pick([0, 64, 65535, 262144]), linkTypeField: rng.pick([1, 101, 113, 0x14000001]) }, recs);
  const records: number[] = [];
  for (let p = 24, i = 0; i < count; i++) {
    records.push(p);
    p += 16 + recs[i].data.length;
  }
  return { bytes, le, records };
}

/** A valid pcapng file and its blocks (offset, byte order). */
function validPcapng(rng: Rng): { bytes: Uint8Array; blocks: { at: number; le: boolean; type: number }[] } {
  const b = new PcapngBuilder();
  const blocks: { at: number; le: boolean; type: number }[] = [];
  const sections = 1 + rng.int(2);
  for (let s = 0; s < sections; s++) {
    const le = rng.bool();
    blocks.push({ at: b.length, le, type: 0x0a0d0d0a });
    b.section(le);
    const interfaces = 1 + rng.int(3);
    for (let i = 0; i < interfaces; i++) {
      blocks.push({ at: b.length, le, type: 1 });
      b.interface({
        linkType: rng.pick([1, 101, 113, 276]),
        snaplen: rng.pick([0, 64, 65535]),
        name: rng.bool() ? `if${i}` : undefined,
        tsresol: rng.bool() ? rng.pick([3, 6, 9, 0x80 | 10, 0x80 | 32, 15, 0x80 | 60]) : undefined,
        tsoffset: rng.bool() ? BigInt(rng.int(1e9) - 5e8) : undefined,
      });
    }
    const count = 1 + rng.int(8);
    for (let i = 0; i < count; i++) {
      const at = b.length;
      const kind = rng.int(8);
      const data = rng.bytes(rng.int(4) === 0 ? rng.int(400) : rng.int(80));
      const timestamp = BigInt(T0) * 1_000_000n + BigInt(rng.int(1e9));
      if (kind <= 3) b.enhanced({ interfaceId: rng.int(interfaces), timestamp, data, wirelen: data.length + rng.int(100) });
      else if (kind === 4) b.simple(data, data.length + rng.int(3) * rng.int(1500));
      else if (kind === 5) b.obsolete({ interfaceId: rng.int(interfaces), timestamp, data });
      else b.block(rng.pick([4, 5, 10, 0xbad, 0x40000bad, 0x1234]), rng.bytes(rng.int(40)));
      blocks.push({ at, le, type: kind <= 3 ? 6 : kind === 4 ? 3 : kind === 5 ? 2 : 0 });
    }
  }
  return { bytes: b.bytes(), blocks };
}

function flip(rng: Rng, bytes: Uint8Array, header: number): void {
  const flips = 1 + rng.int(8);
  for (let i = 0; i < flips; i++) {
    // Mostly after the header, so the magic survives and the reader gets to run.
    const at = rng.int(10) === 0 ? rng.int(bytes.length) : header + rng.int(Math.max(1, bytes.length - header));
    if (at < bytes.length) bytes[at] ^= 1 << rng.int(8);
  }
}

function setU32(bytes: Uint8Array, at: number, value: number, le: boolean): void {
  if (at >= 0 && at + 4 <= bytes.length) new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value >>> 0, le);
}

function getU32(bytes: Uint8Array, at: number, le: boolean): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, le);
}

/** One damaged pcap input. */
function pcapCase(rng: Rng, index: number, truncations: Uint8Array): Uint8Array {
  // The first cases cut a small valid file at every offset.
  if (index < truncations.length + 1) return truncations.subarray(0, index);
  const { bytes, le, records } = validPcap(rng);
  switch (rng.int(5)) {
    case 0: {
      const out = new Uint8Array(24 + rng.int(700));
      out.set(bytes.subarray(0, 24));
      out.set(rng.bytes(out.length - 24), 24);
      return out;
    }
    case 1:
      flip(rng, bytes, 24);
      return bytes;
    case 2: {
      // caplen different from wirelen, honest framing.
      const r = rng.pick(records);
      setU32(bytes, r + 12, lie(rng, getU32(bytes, r + 8, le)), le);
      return bytes;
    }
    case 3: {
      const r = rng.pick(records);
      setU32(bytes, r + 8, lie(rng, getU32(bytes, r + 8, le)), le);
      if (rng.bool()) setU32(bytes, r + 12, lie(rng, getU32(bytes, r + 12, le)), le);
      return bytes;
    }
    default:
      return bytes.subarray(0, rng.int(bytes.length + 1));
  }
}

/** One damaged pcapng input. */
function pcapngCase(rng: Rng, index: number, truncations: Uint8Array): Uint8Array {
  if (index < truncations.length + 1) return truncations.subarray(0, index);
  const { bytes, blocks } = validPcapng(rng);
  switch (rng.int(5)) {
    case 0: {
      // A valid SHB and IDB, then noise (with a sprinkle of plausible block types in it).
      const head = blocks.length > 2 ? blocks[2].at : bytes.length;
      const out = new Uint8Array(head + rng.int(700));
      out.set(bytes.subarray(0, head));
      out.set(rng.bytes(out.length - head), head);
      for (let k = rng.int(4); k > 0; k--) setU32(out, head + 4 * rng.int((out.length - head) >> 2), rng.pick([1, 2, 3, 6, 0x0a0d0d0a]), rng.bool());
      return out;
    }
    case 1:
      flip(rng, bytes, 28);
      return bytes;
    case 2: {
      // caplen different from wirelen in packet blocks, honest framing.
      const packetBlocks = blocks.filter((b) => b.type === 6 || b.type === 2);
      if (packetBlocks.length === 0) return bytes;
      const blk = rng.pick(packetBlocks);
      setU32(bytes, blk.at + (rng.bool() ? 20 : 24), lie(rng, getU32(bytes, blk.at + 20, blk.le)), blk.le);
      return bytes;
    }
    case 3: {
      // Lying framing: leading or trailing length, or an option length in an IDB.
      const blk = rng.pick(blocks);
      const length = getU32(bytes, blk.at + 4, blk.le);
      const which = rng.int(3);
      if (which === 0) setU32(bytes, blk.at + 4, lie(rng, length), blk.le);
      else if (which === 1) setU32(bytes, blk.at + length - 4, lie(rng, length), blk.le);
      else if (blk.type === 1 && length > 20) setU32(bytes, blk.at + 16, rng.u32(), blk.le);
      else setU32(bytes, blk.at + 8, lie(rng, 0), blk.le);
      return bytes;
    }
    default:
      return bytes.subarray(0, rng.int(bytes.length + 1));
  }
}

/** Reads one input with random chunk size and batch capacity, checking the invariants. */
async function check(input: Uint8Array, rng: Rng, label: string, issues: IssueCounter): Promise<void> {
  // Mostly whole-input reads; some cases split records across small reads (each read is an await, which
  // node:test's async hooks make costly, so the tiniest sizes are rarer).
  const split = rng.int(16);
  const chunkSize = split === 0 ? 1 + rng.int(16) : split < 5 ? 17 + rng.int(300) : 1 << 20;
  const batchCapacity = rng.int(4) === 0 ? 1 + rng.int(4) : 1 + rng.int(256);
  const started = performance.now();
  let source;
  try {
    source = await openCaptureBytes(input, issues, { chunkSize, batchCapacity });
  } catch (err) {
    if (err instanceof CaptureError) return;
    throw new Error(`${label}: open threw ${String(err)}`, { cause: err });
  }
  let delivered = 0;
  let packets = 0;
  let batches = 0;
  try {
    for await (const batch of source.batches()) {
      batches++;
      if (batch.count < 1 || batch.count > batchCapacity) throw new Error(`${label}: batch of ${batch.count} (capacity ${batchCapacity})`);
      for (let i = 0; i < batch.count; i++) {
        const offset = batch.offset[i];
        const caplen = batch.caplen[i];
        if (offset < 0 || caplen < 0 || offset + caplen > batch.data.length) {
          throw new Error(`${label}: packet at ${offset}+${caplen} outside data of ${batch.data.length}`);
        }
        if (batch.wirelen[i] < caplen) throw new Error(`${label}: wirelen ${batch.wirelen[i]} < caplen ${caplen}`);
        delivered += caplen;
        packets++;
      }
      if (batches > input.length) throw new Error(`${label}: more batches than input bytes`);
    }
  } catch (err) {
    throw new Error(`${label} (chunkSize ${chunkSize}, batchCapacity ${batchCapacity}): ${String(err)}`, { cause: err });
  }
  if (delivered > input.length) throw new Error(`${label}: delivered ${delivered} captured bytes from ${input.length} input bytes`);
  if (packets * 12 > input.length) throw new Error(`${label}: ${packets} packets from ${input.length} bytes`);
  const ms = performance.now() - started;
  if (ms > MAX_CASE_MS) throw new Error(`${label}: took ${ms.toFixed(0)} ms`);
}

/** What one fuzz run did. */
export interface FuzzReport {
  format: 'pcap' | 'pcapng';
  cases: number;
  seconds: number;
  /** Issues counted over all cases, to show which damage paths were exercised. */
  issues: Record<string, number>;
  /** The first invariant broken, or null. */
  failure: string | null;
}

/** Runs `cases` fuzz cases against one reader; case i uses a PRNG seeded from `seed` and i. */
export async function fuzzReader(format: 'pcap' | 'pcapng', seed: number, cases: number): Promise<FuzzReport> {
  const started = performance.now();
  const issues = new IssueCounter();
  const truncations = format === 'pcap' ? validPcap(new Rng(seed)).bytes : validPcapng(new Rng(seed)).bytes;
  const make = format === 'pcap' ? pcapCase : pcapngCase;
  let failure: string | null = null;
  for (let index = 0; index < cases && failure === null; index++) {
    const rng = new Rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    const input = make(rng, index, truncations);
    try {
      await check(input, rng, `${format} case ${index}`, issues);
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
  }
  return { format, cases, seconds: (performance.now() - started) / 1000, issues: issues.toJSON(), failure };
}

if (!isMainThread && parentPort && (workerData as { fuzz?: unknown } | null)?.fuzz) {
  const { format, seed, cases } = (workerData as { fuzz: { format: 'pcap' | 'pcapng'; seed: number; cases: number } }).fuzz;
  parentPort.postMessage(await fuzzReader(format, seed, cases));
}

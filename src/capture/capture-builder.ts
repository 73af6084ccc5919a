/**
 * Builds pcap and pcapng files byte by byte, for tests. It writes exactly what it is told, lies
 * included (a caplen that disagrees with the data, a wrong trailing length), so tests can fake damage.
 */

/** One pcap record to write. */
export interface PcapRecordSpec {
  seconds: number;
  /** Micro- or nanoseconds, matching the file's resolution. */
  fraction: number;
  data: Uint8Array;
  /** Original length; default data.length. */
  wirelen?: number;
  /** Captured length written in the header; default data.length (the data written is always `data`). */
  caplen?: number;
}

/** Header fields of a pcap file to write. */
export interface PcapFileSpec {
  littleEndian?: boolean;
  nanosecond?: boolean;
  snaplen?: number;
  /** The whole 32-bit LinkType field, FCS bits included; default 1 (Ethernet). */
  linkTypeField?: number;
}

/** A little growable byte writer with both byte orders. */
class ByteWriter {
  private bytes: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(capacity = 64) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const bigger = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    bigger.set(this.bytes.subarray(0, this.length));
    this.bytes = bigger;
    this.view = new DataView(bigger.buffer);
  }

  u8(x: number): this {
    this.ensure(1);
    this.view.setUint8(this.length, x);
    this.length += 1;
    return this;
  }

  u16(x: number, le: boolean): this {
    this.ensure(2);
    this.view.setUint16(this.length, x, le);
    this.length += 2;
    return this;
  }

  u32(x: number, le: boolean): this {
    this.ensure(4);
    this.view.setUint32(this.length, x >>> 0, le);
    this.length += 4;
    return this;
  }

  u64(x: bigint, le: boolean): this {
    this.ensure(8);
    this.view.setBigUint64(this.length, BigInt.asUintN(64, x), le);
    this.length += 8;
    return this;
  }

  raw(data: Uint8Array): this {
    this.ensure(data.length);
    this.bytes.set(data, this.length);
    this.length += data.length;
    return this;
  }

  pad4(): this {
    while (this.length % 4 !== 0) this.u8(0);
    return this;
  }

  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/** Builds a classic pcap file (draft-ietf-opsawg-pcap §4, §5). */
export function buildPcap(file: PcapFileSpec, records: readonly PcapRecordSpec[]): Uint8Array {
  const le = file.littleEndian ?? true;
  const w = new ByteWriter(1024);
  w.u32(file.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, le)
    .u16(2, le)
    .u16(4, le)
    .u32(0, le)
    .u32(0, le)
    .u32(file.snaplen ?? 262144, le)
    .u32(file.linkTypeField ?? 1, le);
  for (const r of records) appendPcapRecord(w, le, r);
  return w.result();
}

/** Builds just one pcap record (header and data) in the given byte order. */
export function buildPcapRecord(littleEndian: boolean, record: PcapRecordSpec): Uint8Array {
  const w = new ByteWriter();
  appendPcapRecord(w, littleEndian, record);
  return w.result();
}

/** Writes one record header and its data. */
function appendPcapRecord(w: ByteWriter, le: boolean, r: PcapRecordSpec): void {
  w.u32(r.seconds, le)
    .u32(r.fraction, le)
    .u32(r.caplen ?? r.data.length, le)
    .u32(r.wirelen ?? r.data.length, le)
    .raw(r.data);
}

/** Interface Description Block fields (pcapng §4.2). */
export interface IdbSpec {
  linkType: number;
  snaplen?: number;
  name?: string;
  /** if_tsresol byte. */
  tsresol?: number;
  /** if_tsoffset seconds. */
  tsoffset?: bigint;
}

/** Enhanced (or obsolete) Packet Block fields (pcapng §4.3, Appendix A). */
export interface EpbSpec {
  interfaceId: number;
  /** Timestamp in the interface's units. */
  timestamp: bigint;
  data: Uint8Array;
  wirelen?: number;
  /** Captured length written in the block; default data.length. */
  caplen?: number;
}

/** Builds pcapng files block by block; each section has its own byte order. */
export class PcapngBuilder {
  private readonly out = new ByteWriter(1024);
  private le = true;

  /** Starts a section (Section Header Block, pcapng §4.1) in the given byte order. */
  section(littleEndian = true, majorVersion = 1): this {
    this.le = littleEndian;
    const body = new ByteWriter();
    body.u32(0x1a2b3c4d, this.le).u16(majorVersion, this.le).u16(0, this.le).u64(-1n, this.le);
    return this.block(0x0a0d0d0a, body.result());
  }

  /** Appends an Interface Description Block. */
  interface(spec: IdbSpec): this {
    const le = this.le;
    const body = new ByteWriter();
    body.u16(spec.linkType, le).u16(0, le).u32(spec.snaplen ?? 0, le);
    const option = (code: number, value: Uint8Array): void => {
      body.u16(code, le).u16(value.length, le).raw(value).pad4();
    };
    if (spec.name !== undefined) option(2, new TextEncoder().encode(spec.name));
    if (spec.tsresol !== undefined) option(9, Uint8Array.of(spec.tsresol));
    if (spec.tsoffset !== undefined) option(14, new ByteWriter().u64(spec.tsoffset, le).result());
    if (spec.name !== undefined || spec.tsresol !== undefined || spec.tsoffset !== undefined) body.u32(0, le);
    return this.block(1, body.result());
  }

  /** Appends an Enhanced Packet Block (32-bit Interface ID, pcapng §4.3). */
  enhanced(spec: EpbSpec): this {
    return this.packetBlock(6, new ByteWriter().u32(spec.interfaceId, this.le), spec);
  }

  /** Appends an obsolete Packet Block (16-bit Interface ID and a 16-bit drops count, pcapng Appendix A). */
  obsolete(spec: EpbSpec): this {
    return this.packetBlock(2, new ByteWriter().u16(spec.interfaceId, this.le).u16(0, this.le), spec);
  }

  /** Appends a Simple Packet Block (pcapng §4.4). */
  simple(data: Uint8Array, wirelen = data.length): this {
    const body = new ByteWriter();
    body.u32(wirelen, this.le).raw(data).pad4();
    return this.block(3, body.result());
  }

  /** Finishes an Enhanced or obsolete Packet Block, whose bodies agree after the interface fields: timestamp, lengths, data. */
  private packetBlock(type: number, body: ByteWriter, spec: EpbSpec): this {
    const le = this.le;
    body
      .u32(Number(spec.timestamp >> 32n), le)
      .u32(Number(spec.timestamp & 0xffffffffn), le)
      .u32(spec.caplen ?? spec.data.length, le)
      .u32(spec.wirelen ?? spec.data.length, le)
      .raw(spec.data)
      .pad4();
    return this.block(type, body.result());
  }

  /** Appends a block of any type with correct framing; `trailingLength` overrides the trailing copy to fake damage. */
  block(type: number, body: Uint8Array, trailingLength?: number): this {
    const le = this.le;
    const length = 12 + body.length + ((4 - (body.length % 4)) % 4);
    this.out.u32(type, le).u32(length, le).raw(body).pad4().u32(trailingLength ?? length, le);
    return this;
  }

  /** Appends arbitrary bytes. */
  raw(bytes: Uint8Array): this {
    this.out.raw(bytes);
    return this;
  }

  /** Current length of the file so far (to remember where a block starts). */
  get length(): number {
    return this.out.length;
  }

  /** The file. */
  bytes(): Uint8Array {
    return this.out.result();
  }
}

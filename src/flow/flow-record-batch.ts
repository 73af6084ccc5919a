/**
 * Finished flow records, column by column: numbers in Float64Arrays, text as codes into one
 * StringDictionary. This is how records travel from the meter to the store: a million records are
 * a few dozen typed arrays and one short list of distinct strings, not a million objects.
 */
import type { Direction, EndReason, FlowRecord } from './flow-record.js';
import { StringDictionary } from './string-dictionary.js';
import { formatAddress } from '../decode/format-address.js';

/**
 * Numeric columns (NaN stands for NULL where a column is nullable: pid, uid). `srcIpv4`/`dstIpv4`
 * hold an IPv4 address as its 32-bit number, with -1 in the `srcAddr`/`dstAddr` code; other
 * addresses are text codes, with NaN here. Most addresses are IPv4, and a number costs nothing to
 * make: the store formats them (segment-writer.ts), so a batch of a million distinct addresses
 * does not make a million strings.
 */
export const NUMBER_COLUMNS = [
  'startUs', 'endUs', 'srcPort', 'dstPort', 'protocol', 'packets', 'bytes', 'tcpFlags', 'pid', 'uid', 'sampling', 'srcIpv4', 'dstIpv4',
] as const;
/** Text columns, stored as dictionary codes (-1 for NULL). */
export const STRING_COLUMNS = [
  'host', 'srcAddr', 'dstAddr', 'direction', 'process', 'command', 'tunnel', 'username', 'container', 'endReason', 'interfaceName', 'source',
] as const;

export type NumberColumn = (typeof NUMBER_COLUMNS)[number];
export type StringColumn = (typeof STRING_COLUMNS)[number];

export class FlowRecordBatch {
  length = 0;
  readonly strings = new StringDictionary();
  readonly numbers = {} as Record<NumberColumn, Float64Array>;
  readonly codes = {} as Record<StringColumn, Int32Array>;
  private capacity: number;

  constructor(initialCapacity = 1024) {
    this.capacity = Math.max(1, initialCapacity);
    for (const c of NUMBER_COLUMNS) this.numbers[c] = new Float64Array(this.capacity);
    for (const c of STRING_COLUMNS) this.codes[c] = new Int32Array(this.capacity);
  }

  /** Reserves the next row and returns its index; the caller fills every column. */
  addRow(): number {
    if (this.length === this.capacity) this.grow();
    return this.length++;
  }

  /** Appends one record given as an object. */
  push(record: FlowRecord): void {
    const i = this.addRow();
    const n = this.numbers;
    n.startUs[i] = record.startUs;
    n.endUs[i] = record.endUs;
    n.srcPort[i] = record.srcPort;
    n.dstPort[i] = record.dstPort;
    n.protocol[i] = record.protocol;
    n.packets[i] = record.packets;
    n.bytes[i] = record.bytes;
    n.tcpFlags[i] = record.tcpFlags;
    n.pid[i] = record.pid ?? NaN;
    n.uid[i] = record.uid ?? NaN;
    n.sampling[i] = record.sampling;
    n.srcIpv4[i] = NaN;
    n.dstIpv4[i] = NaN;
    const c = this.codes;
    const s = this.strings;
    c.host[i] = s.code(record.host);
    c.srcAddr[i] = s.code(record.srcAddr);
    c.dstAddr[i] = s.code(record.dstAddr);
    c.direction[i] = s.code(record.direction);
    c.process[i] = s.code(record.process);
    c.username[i] = s.code(record.username);
    c.container[i] = s.code(record.container);
    c.command[i] = s.code(record.command);
    c.tunnel[i] = s.code(record.tunnel);
    c.endReason[i] = s.code(record.endReason);
    c.interfaceName[i] = s.code(record.interfaceName);
    c.source[i] = s.code(record.source);
  }

  /** Appends every row of `other`, re-coding its strings into this batch's dictionary. */
  appendBatch(other: FlowRecordBatch): void {
    const remap = Int32Array.from(other.strings.values, (value) => this.strings.code(value));
    while (this.capacity < this.length + other.length) this.grow();
    for (const c of NUMBER_COLUMNS) this.numbers[c].set(other.numbers[c].subarray(0, other.length), this.length);
    for (const c of STRING_COLUMNS) {
      const from = other.codes[c];
      const to = this.codes[c];
      for (let i = 0; i < other.length; i++) to[this.length + i] = from[i] < 0 ? -1 : remap[from[i]];
    }
    this.length += other.length;
  }

  /**
   * Row `i` as an object (for tests and small consumers). An address that is neither text nor number
   * (removed by a privacy policy; NULL in the store) reads as the unspecified address 0.0.0.0.
   */
  record(i: number): FlowRecord {
    const n = this.numbers;
    const c = this.codes;
    const s = this.strings;
    return {
      host: s.value(c.host[i])!,
      startUs: n.startUs[i],
      endUs: n.endUs[i],
      srcAddr: c.srcAddr[i] >= 0 ? s.value(c.srcAddr[i])! : formatAddress([n.srcIpv4[i] || 0], 4),
      dstAddr: c.dstAddr[i] >= 0 ? s.value(c.dstAddr[i])! : formatAddress([n.dstIpv4[i] || 0], 4),
      srcPort: n.srcPort[i],
      dstPort: n.dstPort[i],
      protocol: n.protocol[i],
      packets: n.packets[i],
      bytes: n.bytes[i],
      tcpFlags: n.tcpFlags[i],
      direction: s.value(c.direction[i]) as Direction,
      endReason: s.value(c.endReason[i]) as EndReason,
      sampling: n.sampling[i],
      interfaceName: s.value(c.interfaceName[i]),
      source: s.value(c.source[i])!,
      process: s.value(c.process[i]),
      pid: Number.isNaN(n.pid[i]) ? null : n.pid[i],
      username: s.value(c.username[i]),
      uid: Number.isNaN(n.uid[i]) ? null : n.uid[i],
      container: s.value(c.container[i]),
      command: s.value(c.command[i]),
      tunnel: s.value(c.tunnel[i]),
    };
  }

  /** Every row as an object. */
  toRecords(): FlowRecord[] {
    const out: FlowRecord[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.record(i));
    return out;
  }

  private grow(): void {
    this.capacity *= 2;
    for (const c of NUMBER_COLUMNS) {
      const bigger = new Float64Array(this.capacity);
      bigger.set(this.numbers[c]);
      this.numbers[c] = bigger;
    }
    for (const c of STRING_COLUMNS) {
      const bigger = new Int32Array(this.capacity);
      bigger.set(this.codes[c]);
      this.codes[c] = bigger;
    }
  }
}

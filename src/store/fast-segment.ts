/**
 * A fresh segment written straight from a FlowRecordBatch, in TypeScript, without DuckDB: for the
 * NetFlow collector's `fastWrites` store (issue 6), where records arrive faster than anything else
 * meters them. Staging a batch into DuckDB and having it format IPv4 dotted quads, encode and
 * compress cost about 2.5 CPU seconds per million records, half of the collector's whole cost; here
 * a column is a few typed-array passes and one copy.
 *
 * The file is plain Parquet (format 1.0 pages) with exactly the column types DuckDB gives the
 * same columns (flow-schema.ts), so every reader of the store (the `flows` view, compaction,
 * other tools) sees no difference:
 * - numbers PLAIN (INT32/INT64, unsigned as the converted type says), with min/max statistics so
 *   that time filters still skip segments;
 * - addresses PLAIN byte arrays: IPv4 numbers written as dotted quads byte by byte, no string;
 * - other text dictionary-encoded (a handful of distinct values: host, source, end reason, …);
 * - no compression: compaction (compaction.ts) rewrites the day sorted and zstd-compressed, as it
 *   does the DuckDB-written fresh segments, so the extra bytes live until then.
 * One row group, one page per column (a batch is at most a flush's worth of rows).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import type { FlowRecordBatch, NumberColumn } from '../flow/index.js';
import { STORED_COLUMNS, type StoredColumn } from './flow-schema.js';

/** Whether this machine can write the segments (Parquet is little-endian, so are typed arrays here). */
export const FAST_SEGMENTS_SUPPORTED = os.endianness() === 'LE';

// Parquet's Thrift enums (parquet.thrift).
const TYPE_INT32 = 1;
const TYPE_INT64 = 2;
const TYPE_BYTE_ARRAY = 6;
const REPETITION_REQUIRED = 0;
const REPETITION_OPTIONAL = 1;
const CONVERTED_UTF8 = 0;
const CONVERTED_TIMESTAMP_MICROS = 10;
const CONVERTED_UINT_8 = 11;
const CONVERTED_UINT_16 = 12;
const CONVERTED_UINT_32 = 13;
const CONVERTED_UINT_64 = 14;
const CONVERTED_INT_32 = 17;
const ENCODING_PLAIN = 0;
const ENCODING_PLAIN_DICTIONARY = 2;
const ENCODING_RLE = 3;
const ENCODING_RLE_DICTIONARY = 8;
const CODEC_UNCOMPRESSED = 0;
const PAGE_DATA = 0;
const PAGE_DICTIONARY = 2;

/** Physical and converted type of each SQL type in flow-schema.ts, as DuckDB writes them. */
const PARQUET_TYPES: Record<string, { physical: number; converted: number }> = {
  VARCHAR: { physical: TYPE_BYTE_ARRAY, converted: CONVERTED_UTF8 },
  TIMESTAMP: { physical: TYPE_INT64, converted: CONVERTED_TIMESTAMP_MICROS },
  UBIGINT: { physical: TYPE_INT64, converted: CONVERTED_UINT_64 },
  USMALLINT: { physical: TYPE_INT32, converted: CONVERTED_UINT_16 },
  UTINYINT: { physical: TYPE_INT32, converted: CONVERTED_UINT_8 },
  INTEGER: { physical: TYPE_INT32, converted: CONVERTED_INT_32 },
  UINTEGER: { physical: TYPE_INT32, converted: CONVERTED_UINT_32 },
};

/** A growable byte buffer. */
class Bytes {
  buf: Uint8Array;
  length = 0;
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }
  ensure(more: number): void {
    if (this.length + more <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + more));
    bigger.set(this.buf.subarray(0, this.length));
    this.buf = bigger;
  }
  byte(v: number): void {
    this.ensure(1);
    this.buf[this.length++] = v;
  }
  /** An unsigned LEB128 varint of a non-negative integer up to 2^53. */
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }
  u32le(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const at = this.length;
    b[at] = v & 255;
    b[at + 1] = (v >>> 8) & 255;
    b[at + 2] = (v >>> 16) & 255;
    b[at + 3] = (v >>> 24) & 255;
    this.length += 4;
  }
  append(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * Thrift's compact protocol (the encoding of Parquet's headers and footer), for the few shapes used
 * here: structs of integers, binaries, booleans, lists and nested structs.
 */
class Thrift {
  readonly out = new Bytes();
  private lastField: number[] = [0];

  private header(id: number, type: number): void {
    const delta = id - this.lastField[this.lastField.length - 1];
    if (delta > 0 && delta <= 15) this.out.byte((delta << 4) | type);
    else {
      this.out.byte(type);
      this.out.varint(zigzag(id));
    }
    this.lastField[this.lastField.length - 1] = id;
  }
  i32(id: number, v: number): this {
    this.header(id, 5);
    this.out.varint(zigzag(v));
    return this;
  }
  i64(id: number, v: number): this {
    this.header(id, 6);
    this.out.varint(zigzag(v));
    return this;
  }
  bool(id: number, v: boolean): this {
    this.header(id, v ? 1 : 2);
    return this;
  }
  binary(id: number, v: Uint8Array | string): this {
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.header(id, 8);
    this.out.varint(bytes.length);
    this.out.append(bytes);
    return this;
  }
  /** A list of i32 (zigzag varints), strings or structs. */
  list(id: number, elementType: 'i32' | 'string' | 'struct', items: number, each: (i: number) => void): this {
    this.header(id, 9);
    const type = elementType === 'i32' ? 5 : elementType === 'string' ? 8 : 12;
    if (items < 15) this.out.byte((items << 4) | type);
    else {
      this.out.byte(0xf0 | type);
      this.out.varint(items);
    }
    for (let i = 0; i < items; i++) each(i);
    return this;
  }
  listI32(id: number, values: readonly number[]): this {
    return this.list(id, 'i32', values.length, (i) => this.out.varint(zigzag(values[i])));
  }
  listString(id: number, values: readonly string[]): this {
    return this.list(id, 'string', values.length, (i) => {
      const bytes = Buffer.from(values[i], 'utf8');
      this.out.varint(bytes.length);
      this.out.append(bytes);
    });
  }
  /** A struct field (id > 0) or a bare struct (a list element: id 0). */
  struct(id: number, body: () => void): this {
    if (id > 0) this.header(id, 12);
    this.lastField.push(0);
    body();
    this.out.byte(0); // stop
    this.lastField.pop();
    return this;
  }
}

function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

/** One column chunk, encoded: its pages, and what the footer says of it. */
interface EncodedColumn {
  column: StoredColumn;
  pages: Uint8Array[];
  bytes: number;
  /** Whether the chunk starts with a dictionary page (of dictionaryPageBytes, header included). */
  hasDictionary: boolean;
  dictionaryPageBytes: number;
  encodings: number[];
  nullCount: number;
  /** PLAIN-encoded min and max (numbers only). */
  min: Uint8Array | null;
  max: Uint8Array | null;
}

/** Rows of one batch that go into a segment (`rows` null: all of them, in order). */
export interface SegmentPart {
  batch: FlowRecordBatch;
  rows: Int32Array | null;
}

/** Buffers one segment's columns are encoded in, one after the other (each written out before the next reuses them). */
class Scratch {
  readonly present: Uint8Array;
  readonly words: Uint32Array;
  readonly bytes: Bytes;
  readonly levels = new Bytes(64);
  constructor(readonly rows: number) {
    this.present = new Uint8Array(rows);
    this.words = new Uint32Array(rows * 2);
    this.bytes = new Bytes(rows * 19 + 64);
  }
}

/** `values[0..n)` as RLE runs of the RLE/bit-packed hybrid: count << 1, then the value in `valueBytes` little-endian bytes. */
function rleRuns(out: Bytes, values: Uint8Array | Int32Array, n: number, valueBytes: number): void {
  for (let i = 0; i < n; ) {
    const v = values[i];
    let j = i + 1;
    while (j < n && values[j] === v) j++;
    out.varint((j - i) * 2);
    out.ensure(valueBytes);
    for (let b = 0; b < valueBytes; b++) out.buf[out.length++] = (v >>> (8 * b)) & 255;
    i = j;
  }
}

/** Definition levels (the RLE/bit-packed hybrid, bit width 1) of `present`, with the 4-byte length page v1 puts first. */
function definitionLevels(scratch: Scratch, n: number, nulls: number): Uint8Array {
  const out = scratch.levels;
  out.length = 0;
  out.u32le(0);
  if (nulls === 0 || nulls === n) {
    out.varint(n * 2); // one RLE run: count << 1, then the value in one byte
    out.byte(nulls === 0 ? 1 : 0);
  } else rleRuns(out, scratch.present, n, 1);
  const bytes = out.view();
  const length = bytes.length - 4;
  bytes[0] = length & 255;
  bytes[1] = (length >>> 8) & 255;
  bytes[2] = (length >>> 16) & 255;
  bytes[3] = (length >>> 24) & 255;
  return bytes;
}

function pageHeader(type: number, bytes: number, values: number, encoding: number): Uint8Array {
  const t = new Thrift();
  t.struct(0, () => {
    t.i32(1, type).i32(2, bytes).i32(3, bytes);
    if (type === PAGE_DATA) t.struct(5, () => void t.i32(1, values).i32(2, encoding).i32(3, ENCODING_RLE).i32(4, ENCODING_RLE));
    else t.struct(7, () => void t.i32(1, values).i32(2, ENCODING_PLAIN_DICTIONARY));
  });
  return t.out.view().slice();
}

function dataPage(levels: Uint8Array, values: Uint8Array, n: number, encoding: number): Uint8Array[] {
  return [pageHeader(PAGE_DATA, levels.length + values.length, n, encoding), levels, values];
}

function chunk(column: StoredColumn, pages: Uint8Array[], nullCount: number, encodings: number[], dictionaryPages = 0, min: Uint8Array | null = null, max: Uint8Array | null = null): EncodedColumn {
  const dictionaryPageBytes = pages.slice(0, dictionaryPages).reduce((s, p) => s + p.length, 0);
  return { column, pages, bytes: pages.reduce((s, p) => s + p.length, 0), hasDictionary: dictionaryPages > 0, dictionaryPageBytes, encodings, nullCount, min, max };
}

/**
 * A number column (NaN: NULL) as PLAIN INT32 or INT64, rounded as DuckDB's CAST rounds; `subtract`
 * (the duration: end − start) names a second column taken from it.
 */
function numberColumn(column: StoredColumn, parts: readonly SegmentPart[], scratch: Scratch, n: number, source: NumberColumn, subtract: NumberColumn | null): EncodedColumn {
  const wide = PARQUET_TYPES[column.sqlType].physical === TYPE_INT64;
  const words = scratch.words;
  const narrow = new Int32Array(words.buffer, 0, n);
  const present = scratch.present;
  let count = 0;
  let k = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const { batch, rows } of parts) {
    const values = batch.numbers[source];
    const minus = subtract ? batch.numbers[subtract] : null;
    const m = rows ? rows.length : batch.length;
    for (let r = 0; r < m; r++, k++) {
      const i = rows ? rows[r] : r;
      let v = minus ? values[i] - minus[i] : values[i];
      if (v !== v) {
        present[k] = 0;
        continue;
      }
      present[k] = 1;
      v = Math.round(v);
      if (v < min) min = v;
      if (v > max) max = v;
      if (wide) {
        const low = v >>> 0; // v modulo 2^32, for negative v too
        words[count * 2] = low;
        words[count * 2 + 1] = (v - low) / 4294967296;
      } else narrow[count] = v;
      count++;
    }
  }
  const bytes = new Uint8Array(words.buffer, 0, count * (wide ? 8 : 4));
  const stat = (v: number): Uint8Array => {
    const s = wide ? new Uint32Array([v >>> 0, (v - (v >>> 0)) / 4294967296]) : new Int32Array([v]);
    return new Uint8Array(s.buffer);
  };
  const levels = definitionLevels(scratch, n, n - count);
  return chunk(column, dataPage(levels, bytes, n, ENCODING_PLAIN), n - count, [ENCODING_PLAIN, ENCODING_RLE], 0, count > 0 ? stat(min) : null, count > 0 ? stat(max) : null);
}

/** ASCII of 0..255 for dotted quads: length, then up to three digits. */
const DECIMAL = new Uint8Array(256 * 4);
for (let v = 0; v < 256; v++) {
  const text = String(v);
  DECIMAL[v * 4] = text.length;
  for (let c = 0; c < text.length; c++) DECIMAL[v * 4 + 1 + c] = text.charCodeAt(c);
}

const utf8 = new TextEncoder();

/**
 * A batch may carry IPv6 addresses as their 16 bytes instead of text (the collector's batches,
 * collected-flows.ts): row i's address is `ipv6Bytes[column][i*16 .. i*16+16)` when its code is
 * IPV6_BYTES. Only fast segments read these; formatting them here, straight into the page's bytes,
 * spares a string per address that would live until the flush.
 */
export const IPV6_BYTES = -3;
export interface Ipv6Bytes {
  ipv6Bytes?: Partial<Record<'srcAddr' | 'dstAddr', Uint8Array>>;
}

/** Lower-case hex digits. */
const HEX = new Uint8Array(16);
for (let v = 0; v < 16; v++) HEX[v] = '0123456789abcdef'.charCodeAt(v);
const ipv6Groups = new Int32Array(8);

/** A 16-bit group in hex without leading zeros (RFC 5952 §4.1, §4.3) at `at`; returns the end. */
function writeGroup(b: Uint8Array, at: number, g: number): number {
  if (g >= 0x1000) b[at++] = HEX[g >>> 12];
  if (g >= 0x100) b[at++] = HEX[(g >>> 8) & 15];
  if (g >= 0x10) b[at++] = HEX[(g >>> 4) & 15];
  b[at++] = HEX[g & 15];
  return at;
}

/** A dotted quad of `word` at `at`; returns the end. */
function writeIpv4(b: Uint8Array, at: number, word: number): number {
  for (let shift = 24; shift >= 0; shift -= 8) {
    const d = ((word >>> shift) & 255) * 4;
    const digits = DECIMAL[d];
    for (let c = 0; c < digits; c++) b[at + c] = DECIMAL[d + 1 + c];
    at += digits;
    if (shift > 0) b[at++] = 46; // '.'
  }
  return at;
}

/**
 * The IPv6 address in `src[s .. s+16)` (network order) as RFC 5952 text at `at` in `b` (at most 39
 * bytes), exactly as formatAddress (decode/format-address.ts) spells it; returns the end.
 */
export function writeIpv6(b: Uint8Array, at: number, src: Uint8Array, s: number): number {
  const g = ipv6Groups;
  for (let i = 0; i < 8; i++) g[i] = (src[s + 2 * i] << 8) | src[s + 2 * i + 1];
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    // RFC 5952 §5: IPv4-mapped, ::ffff:a.b.c.d.
    for (let c = 0; c < 7; c++) b[at + c] = '::ffff:'.charCodeAt(c);
    return writeIpv4(b, at + 7, ((g[6] << 16) | g[7]) >>> 0);
  }
  // §4.2: the longest run of zero groups (the first on a tie), never a single one.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0, run = 0; i < 8; i++) {
    run = g[i] === 0 ? run + 1 : 0;
    if (run > bestLength) {
      bestLength = run;
      bestStart = i - run + 1;
    }
  }
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      b[at++] = 58;
      b[at++] = 58;
      i += bestLength - 1;
      continue;
    }
    if (i !== 0 && i !== bestStart + bestLength) b[at++] = 58;
    at = writeGroup(b, at, g[i]);
  }
  return at;
}

/** A batch's strings as UTF-8, each encoded once when first needed (shared by the columns of one segment). */
class EncodedStrings {
  private readonly at: Int32Array;
  private readonly pool = new Bytes(4096);
  constructor(private readonly values: readonly string[]) {
    this.at = new Int32Array(values.length * 2).fill(-1);
  }
  /** Encodes code's string unless done; then its bytes are at start(slot) in `bytes`, length(slot) long. */
  locate(code: number): number {
    if (this.at[code * 2] < 0) {
      const text = this.values[code];
      this.pool.ensure(text.length * 3);
      const { written } = utf8.encodeInto(text, this.pool.buf.subarray(this.pool.length));
      this.at[code * 2] = this.pool.length;
      this.at[code * 2 + 1] = written;
      this.pool.length += written;
    }
    return code * 2;
  }
  start(slot: number): number {
    return this.at[slot];
  }
  length(slot: number): number {
    return this.at[slot + 1];
  }
  get bytes(): Uint8Array {
    return this.pool.buf;
  }
}

/** What a segment keeps per part: its strings as UTF-8, and a code → dictionary index map (all -1 between columns). */
interface PartStrings {
  encoded: EncodedStrings;
  local: Int32Array;
}

/** An address column: IPv4 numbers as dotted quads, other addresses from their text codes; PLAIN byte arrays. */
function addressColumn(column: StoredColumn & { kind: 'address' }, parts: readonly SegmentPart[], strings: readonly PartStrings[], scratch: Scratch, n: number): EncodedColumn {
  const out = scratch.bytes;
  out.length = 0;
  const present = scratch.present;
  let count = 0;
  let k = 0;
  for (let p = 0; p < parts.length; p++) {
    const { batch, rows } = parts[p];
    const codes = batch.codes[column.source];
    const ipv4s = batch.numbers[column.ipv4];
    const encoded = strings[p].encoded;
    const m = rows ? rows.length : batch.length;
    const v6 = (batch as FlowRecordBatch & Ipv6Bytes).ipv6Bytes?.[column.source] ?? null;
    for (let r = 0; r < m; r++, k++) {
      const i = rows ? rows[r] : r;
      const code = codes[i];
      if (code === IPV6_BYTES && v6 !== null) {
        out.ensure(4 + 39);
        const lengthAt = out.length;
        const at = writeIpv6(out.buf, lengthAt + 4, v6, i * 16);
        out.buf[lengthAt] = at - lengthAt - 4; // at most 39 bytes: the rest of the little-endian length is zero
        out.buf[lengthAt + 1] = 0;
        out.buf[lengthAt + 2] = 0;
        out.buf[lengthAt + 3] = 0;
        out.length = at;
      } else if (code >= 0) {
        const slot = encoded.locate(code);
        const start = encoded.start(slot);
        const length = encoded.length(slot);
        out.ensure(4 + length);
        out.u32le(length);
        out.buf.set(encoded.bytes.subarray(start, start + length), out.length);
        out.length += length;
      } else {
        const v = ipv4s[i];
        if (v !== v) {
          present[k] = 0;
          continue;
        }
        out.ensure(24); // 4 + 15, and the two digit bytes written past the last octet
        const b = out.buf;
        const lengthAt = out.length;
        let at = lengthAt + 4;
        for (let shift = 24; shift >= 0; shift -= 8) {
          const d = ((v >>> shift) & 255) * 4;
          const digits = DECIMAL[d];
          b[at] = DECIMAL[d + 1];
          b[at + 1] = DECIMAL[d + 2]; // past the digits: overwritten by what follows
          b[at + 2] = DECIMAL[d + 3];
          at += digits;
          b[at++] = 46; // '.', the last one dropped below
        }
        at--;
        b[lengthAt] = at - lengthAt - 4; // under 16 bytes: the rest of the little-endian length is zero
        b[lengthAt + 1] = 0;
        b[lengthAt + 2] = 0;
        b[lengthAt + 3] = 0;
        out.length = at;
      }
      present[k] = 1;
      count++;
    }
  }
  const levels = definitionLevels(scratch, n, n - count);
  return chunk(column, dataPage(levels, out.view(), n, ENCODING_PLAIN), n - count, [ENCODING_PLAIN, ENCODING_RLE]);
}

/**
 * A text column of few distinct values, dictionary-encoded: a dictionary page of the distinct
 * strings, then the data page's indices as RLE runs (bit width byte, then runs of count << 1 and the
 * index; consecutive rows mostly repeat, as they come from one exporter's datagram).
 */
function stringColumn(column: StoredColumn & { kind: 'string' }, parts: readonly SegmentPart[], strings: readonly PartStrings[], scratch: Scratch, n: number): EncodedColumn {
  const indices = new Int32Array(scratch.words.buffer, 0, n);
  const present = scratch.present;
  const dictionary: string[] = [];
  const byValue = new Map<string, number>();
  let count = 0;
  let k = 0;
  for (let p = 0; p < parts.length; p++) {
    const { batch, rows } = parts[p];
    const codes = batch.codes[column.source];
    const local = strings[p].local;
    const seen: number[] = [];
    const m = rows ? rows.length : batch.length;
    for (let r = 0; r < m; r++, k++) {
      const code = codes[rows ? rows[r] : r];
      if (code < 0) {
        present[k] = 0;
        continue;
      }
      present[k] = 1;
      let index = local[code];
      if (index < 0) {
        const value = batch.strings.values[code];
        index = byValue.get(value) ?? -1;
        if (index < 0) {
          index = dictionary.length;
          dictionary.push(value);
          byValue.set(value, index);
        }
        local[code] = index;
        seen.push(code);
      }
      indices[count++] = index;
    }
    for (const code of seen) local[code] = -1;
  }
  const levels = definitionLevels(scratch, n, n - count);
  if (count === 0) return chunk(column, dataPage(levels, new Uint8Array(0), n, ENCODING_PLAIN), n, [ENCODING_PLAIN, ENCODING_RLE]);
  const dict = new Bytes(64);
  for (const value of dictionary) {
    const bytes = Buffer.from(value, 'utf8');
    dict.u32le(bytes.length);
    dict.append(bytes);
  }
  let bitWidth = 1;
  while (1 << bitWidth < dictionary.length) bitWidth++;
  const valueBytes = Math.ceil(bitWidth / 8);
  const data = scratch.bytes;
  data.length = 0;
  data.byte(bitWidth);
  rleRuns(data, indices, count, valueBytes);
  const dictPage = dict.view();
  return chunk(
    column,
    [pageHeader(PAGE_DICTIONARY, dictPage.length, dictionary.length, ENCODING_PLAIN_DICTIONARY), dictPage, ...dataPage(levels, data.view(), n, ENCODING_RLE_DICTIONARY)],
    n - count,
    [ENCODING_PLAIN, ENCODING_RLE, ENCODING_RLE_DICTIONARY],
    2,
  );
}

/** The footer (FileMetaData) of a segment of `n` rows whose column chunks start at `starts`. */
function footer(columns: readonly EncodedColumn[], starts: readonly number[], n: number): Uint8Array {
  const t = new Thrift();
  t.struct(0, () => {
    t.i32(1, 1);
    t.list(2, 'struct', columns.length + 1, (i) => t.struct(0, () => {
      if (i === 0) {
        t.i32(3, REPETITION_REQUIRED).binary(4, 'duckdb_schema').i32(5, columns.length);
        return;
      }
      const column = columns[i - 1].column;
      const type = PARQUET_TYPES[column.sqlType];
      t.i32(1, type.physical).i32(3, REPETITION_OPTIONAL).binary(4, column.name).i32(6, type.converted);
      // TIMESTAMP(isAdjustedToUTC = false, MICROS), as DuckDB marks its TIMESTAMP columns.
      if (type.converted === CONVERTED_TIMESTAMP_MICROS) t.struct(10, () => t.struct(8, () => void t.bool(1, false).struct(2, () => t.struct(2, () => undefined))));
    }));
    t.i64(3, n);
    t.list(4, 'struct', 1, () => t.struct(0, () => {
      t.list(1, 'struct', columns.length, (i) => t.struct(0, () => {
        const c = columns[i];
        t.i64(2, starts[i]);
        t.struct(3, () => {
          t.i32(1, PARQUET_TYPES[c.column.sqlType].physical).listI32(2, c.encodings).listString(3, [c.column.name]).i32(4, CODEC_UNCOMPRESSED);
          t.i64(5, n).i64(6, c.bytes).i64(7, c.bytes).i64(9, starts[i] + c.dictionaryPageBytes);
          if (c.hasDictionary) t.i64(11, starts[i]);
          t.struct(12, () => {
            t.i64(3, c.nullCount);
            if (c.max && c.min) t.binary(5, c.max).binary(6, c.min);
          });
        });
      }));
      t.i64(2, columns.reduce((s, c) => s + c.bytes, 0)).i64(3, n);
    }));
    t.binary(6, 'endsight fast segment');
  });
  return t.out.view();
}

/**
 * Writes the rows of `parts`, in order, as one segment at `path`, which must not exist. Each column
 * is encoded into the same scratch buffers and written before the next, so a segment costs its
 * largest column in memory, not its size.
 */
export async function writeFastSegment(parts: readonly SegmentPart[], path: string): Promise<void> {
  const n = parts.reduce((s, p) => s + (p.rows ? p.rows.length : p.batch.length), 0);
  const scratch = new Scratch(n);
  const strings: PartStrings[] = parts.map((p) => ({ encoded: new EncodedStrings(p.batch.strings.values), local: new Int32Array(p.batch.strings.values.length).fill(-1) }));
  const magic = Buffer.from('PAR1', 'ascii');
  const file = await fs.open(path, 'wx');
  try {
    await file.write(magic);
    let offset = magic.length;
    const columns: EncodedColumn[] = [];
    const starts: number[] = [];
    for (const column of STORED_COLUMNS) {
      const encoded =
        column.kind === 'address' ? addressColumn(column, parts, strings, scratch, n)
        : column.kind === 'string' ? stringColumn(column, parts, strings, scratch, n)
        : column.kind === 'duration' ? numberColumn(column, parts, scratch, n, 'endUs', 'startUs')
        : numberColumn(column, parts, scratch, n, column.source, null);
      await file.writev(encoded.pages);
      encoded.pages = []; // they are views of the scratch buffers, reused by the next column
      starts.push(offset);
      offset += encoded.bytes;
      columns.push(encoded);
    }
    const meta = footer(columns, starts, n);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, meta.length, true);
    await file.writev([meta, length, magic]);
  } finally {
    await file.close();
  }
}

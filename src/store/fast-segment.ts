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
import type { FlowRecordBatch } from '../flow/index.js';
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

/** Definition levels (RFC-like "RLE/bit-packed hybrid", bit width 1) of `present`, with the 4-byte length page v1 puts first. */
function definitionLevels(present: Uint8Array, n: number): Uint8Array {
  const out = new Bytes(16);
  out.u32le(0);
  let i = 0;
  while (i < n) {
    const v = present[i];
    let j = i + 1;
    while (j < n && present[j] === v) j++;
    out.varint((j - i) * 2); // an RLE run: count << 1, then the value in one byte
    out.byte(v);
    i = j;
  }
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

/** A number column (NaN: NULL), rows `rows[0..n)`, as PLAIN INT32 or INT64 (rounded as DuckDB's CAST rounds). */
function numberColumn(column: StoredColumn, values: Float64Array, rows: Int32Array | null, n: number, present: Uint8Array, physical: number, subtract: Float64Array | null): EncodedColumn {
  let count = 0;
  let min = Infinity;
  let max = -Infinity;
  const wide = physical === TYPE_INT64;
  const out = wide ? new Uint32Array(n * 2) : new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = rows ? rows[k] : k;
    let v = values[i];
    if (subtract) v -= subtract[i];
    if (v !== v) {
      present[k] = 0;
      continue;
    }
    present[k] = 1;
    v = Math.round(v);
    if (v < min) min = v;
    if (v > max) max = v;
    if (wide) {
      out[count * 2] = v % 4294967296;
      out[count * 2 + 1] = Math.floor(v / 4294967296);
    } else out[count] = v;
    count++;
  }
  const bytes = new Uint8Array(out.buffer, 0, count * (wide ? 8 : 4));
  const stat = (v: number): Uint8Array => {
    const s = wide ? new Uint32Array([v % 4294967296, Math.floor(v / 4294967296)]) : new Int32Array([v]);
    return new Uint8Array(s.buffer);
  };
  return chunk(column, dataPage(definitionLevels(present, n), bytes, n, ENCODING_PLAIN), n - count, [ENCODING_PLAIN, ENCODING_RLE], 0, count > 0 ? stat(min) : null, count > 0 ? stat(max) : null);
}

/** ASCII of 0..255 for dotted quads: length, then up to three digits. */
const DECIMAL = new Uint8Array(256 * 4);
for (let v = 0; v < 256; v++) {
  const text = String(v);
  DECIMAL[v * 4] = text.length;
  for (let c = 0; c < text.length; c++) DECIMAL[v * 4 + 1 + c] = text.charCodeAt(c);
}

const utf8 = new TextEncoder();

/** The batch's strings as UTF-8, each encoded once when first needed (shared by the columns of one segment). */
class EncodedStrings {
  private readonly at: Int32Array;
  private readonly pool = new Bytes(4096);
  constructor(private readonly values: readonly string[]) {
    this.at = new Int32Array(values.length * 2).fill(-1);
  }
  /** Where code's bytes are in `pool.buf` (after this call): [start, length]. */
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

/** An address column: IPv4 numbers as dotted quads, other addresses from their text codes; PLAIN byte arrays. */
function addressColumn(column: StoredColumn, codes: Int32Array, ipv4s: Float64Array, rows: Int32Array | null, n: number, present: Uint8Array, strings: EncodedStrings): EncodedColumn {
  const out = new Bytes(n * 18 + 64);
  let count = 0;
  for (let k = 0; k < n; k++) {
    const i = rows ? rows[k] : k;
    const code = codes[i];
    if (code >= 0) {
      const slot = strings.locate(code);
      const start = strings.start(slot);
      const length = strings.length(slot);
      out.ensure(4 + length);
      out.u32le(length);
      out.buf.set(strings.bytes.subarray(start, start + length), out.length);
      out.length += length;
    } else {
      const v = ipv4s[i];
      if (v !== v) {
        present[k] = 0;
        continue;
      }
      out.ensure(19);
      const b = out.buf;
      let at = out.length + 4;
      for (let shift = 24; shift >= 0; shift -= 8) {
        const d = ((v >>> shift) & 255) * 4;
        const digits = DECIMAL[d];
        b[at] = DECIMAL[d + 1];
        if (digits > 1) b[at + 1] = DECIMAL[d + 2];
        if (digits > 2) b[at + 2] = DECIMAL[d + 3];
        at += digits;
        if (shift > 0) b[at++] = 46; // '.'
      }
      const length = at - out.length - 4;
      b[out.length] = length; // under 16 bytes: the rest of the little-endian length is zero
      b[out.length + 1] = 0;
      b[out.length + 2] = 0;
      b[out.length + 3] = 0;
      out.length = at;
    }
    present[k] = 1;
    count++;
  }
  return chunk(column, dataPage(definitionLevels(present, n), out.view(), n, ENCODING_PLAIN), n - count, [ENCODING_PLAIN, ENCODING_RLE]);
}

/**
 * A text column of few distinct values, dictionary-encoded: a dictionary page of the distinct
 * strings, then the data page's indices as RLE runs (bit width byte, then runs of count << 1 and the
 * index). `local` maps batch codes to dictionary indices; it is all -1 again on return.
 */
function stringColumn(column: StoredColumn, codes: Int32Array, rows: Int32Array | null, n: number, present: Uint8Array, strings: EncodedStrings, local: Int32Array): EncodedColumn {
  const indices = new Int32Array(n);
  const dictionary: number[] = [];
  let count = 0;
  for (let k = 0; k < n; k++) {
    const code = codes[rows ? rows[k] : k];
    if (code < 0) {
      present[k] = 0;
      continue;
    }
    present[k] = 1;
    let index = local[code];
    if (index < 0) {
      index = local[code] = dictionary.length;
      dictionary.push(code);
    }
    indices[count++] = index;
  }
  for (const code of dictionary) local[code] = -1;
  const levels = definitionLevels(present, n);
  if (count === 0) return chunk(column, dataPage(levels, new Uint8Array(0), n, ENCODING_PLAIN), n, [ENCODING_PLAIN, ENCODING_RLE]);
  const dict = new Bytes(64);
  for (const code of dictionary) {
    const slot = strings.locate(code);
    dict.u32le(strings.length(slot));
    dict.append(strings.bytes.subarray(strings.start(slot), strings.start(slot) + strings.length(slot)));
  }
  let bitWidth = 1;
  while (1 << bitWidth < dictionary.length) bitWidth++;
  const valueBytes = Math.ceil(bitWidth / 8);
  const data = new Bytes(count + 16);
  data.byte(bitWidth);
  for (let k = 0; k < count; ) {
    const v = indices[k];
    let j = k + 1;
    while (j < count && indices[j] === v) j++;
    data.varint((j - k) * 2);
    data.ensure(valueBytes);
    for (let b = 0; b < valueBytes; b++) data.buf[data.length++] = (v >>> (8 * b)) & 255;
    k = j;
  }
  const dictPage = dict.view();
  return chunk(
    column,
    [pageHeader(PAGE_DICTIONARY, dictPage.length, dictionary.length, ENCODING_PLAIN_DICTIONARY), dictPage, ...dataPage(levels, data.view(), n, ENCODING_RLE_DICTIONARY)],
    n - count,
    [ENCODING_PLAIN, ENCODING_RLE, ENCODING_RLE_DICTIONARY],
    2,
  );
}

/** The segment's bytes for rows `rows` (null: every row) of `batch`: a list of buffers, written in order. */
export function encodeFastSegment(batch: FlowRecordBatch, rows: Int32Array | null): Uint8Array[] {
  const n = rows ? rows.length : batch.length;
  const present = new Uint8Array(n);
  const strings = new EncodedStrings(batch.strings.values);
  const local = new Int32Array(batch.strings.values.length).fill(-1);
  const columns: EncodedColumn[] = [];
  for (const column of STORED_COLUMNS) {
    const physical = PARQUET_TYPES[column.sqlType].physical;
    if (column.kind === 'address') columns.push(addressColumn(column, batch.codes[column.source], batch.numbers[column.ipv4], rows, n, present, strings));
    else if (column.kind === 'string') columns.push(stringColumn(column, batch.codes[column.source], rows, n, present, strings, local));
    else if (column.kind === 'duration') columns.push(numberColumn(column, batch.numbers.endUs, rows, n, present, physical, batch.numbers.startUs));
    else columns.push(numberColumn(column, batch.numbers[column.source], rows, n, present, physical, null));
  }
  const magic = Buffer.from('PAR1', 'ascii');
  const parts: Uint8Array[] = [magic];
  let offset = magic.length;
  const starts: number[] = [];
  for (const c of columns) {
    starts.push(offset);
    parts.push(...c.pages);
    offset += c.bytes;
  }
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
  const footer = t.out.view();
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, footer.length, true);
  parts.push(footer, length, magic);
  return parts;
}

/** Writes rows `rows` (null: all) of `batch` as a segment at `path`, which must not exist. */
export async function writeFastSegment(batch: FlowRecordBatch, rows: Int32Array | null, path: string): Promise<void> {
  const parts = encodeFastSegment(batch, rows);
  const file = await fs.open(path, 'wx');
  try {
    await file.writev(parts);
  } finally {
    await file.close();
  }
}

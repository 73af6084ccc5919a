/**
 * Writes a FlowRecordBatch into Parquet segments (zstd, Parquet v2 encodings) through DuckDB.
 *
 * The node binding copies a numeric vector in one call but crosses into native code once per
 * string, so only numbers are staged row by row: text columns travel as dictionary codes and the
 * distinct strings once, and columns constant in the batch (host, source, the NULL attribution of a
 * capture file) become literals. DuckDB joins the dictionary back while it writes each file.
 * IPv4 addresses travel as numbers and DuckDB writes their dotted quads: making a JS string per
 * distinct address and handing each across cost more than the rest of a NetFlow collector's work.
 */
import { DuckDBDataChunk, DOUBLE, INTEGER, UINTEGER, VARCHAR, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import duckdb from '@duckdb/node-bindings';
import type { FlowRecordBatch } from '../flow/index.js';
import { STORED_COLUMNS, type StoredColumn } from './flow-schema.js';
import { sqlString } from '../common/sql-string.js';
import { formatAddress } from '../decode/format-address.js';

const CHUNK_ROWS = 2048;
const DAY_US = 86_400_000_000;
/**
 * Row order in a segment: rows of one protocol and address pair sit together, so their addresses,
 * ports and times compress far better than in time order (18.0 against 20.8 bytes per record on the
 * synthetic capture).
 */
export const SEGMENT_ORDER = 'proto, src_addr, dst_addr, start_time';
/**
 * Parquet v2 encodings (delta for times and durations), zstd. One row group per segment up to a
 * million records (a row group is buffered while written): its own dictionaries and headers cost
 * about 0.5 B per record each time. No Bloom filters (a false-positive ratio of 1): DuckDB writes
 * them for dictionary-encoded columns, where the dictionary already answers equality, and they
 * took about 1 B per record. Measured on the bench's synthetic capture: 18.0 → 16.5 B per record.
 */
export const SEGMENT_OPTIONS =
  'FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 6, PARQUET_VERSION v2, ROW_GROUP_SIZE 1000000, BLOOM_FILTER_FALSE_POSITIVE_RATIO 1';

interface StagedColumn {
  column: StoredColumn;
  stageName: string;
  type: 'DOUBLE' | 'INTEGER' | 'UINTEGER';
  values: Float64Array | Int32Array | Uint32Array;
  /** Rows that are NULL: NaN here (numbers, IPv4 addresses), or a negative code. */
  nullsFrom: Float64Array | Int32Array;
  /** Added back in SQL to a UINTEGER column staged as `value - offset`. */
  offset: number;
}

/** A staged number column's value in SQL, as DuckDB's DOUBLE, INTEGER or (with its offset) BIGINT. */
const valueOf = (s: StagedColumn): string => (s.offset !== 0 || s.type === 'UINTEGER' ? `(CAST(s.${s.stageName} AS BIGINT) + ${s.offset})` : `s.${s.stageName}`);

/** An IPv4 address from its number (a UINTEGER column) as a dotted quad, in DuckDB. */
const dottedQuad = (v: string): string => `concat_ws('.', ${v} >> 24, (${v} >> 16) & 255, (${v} >> 8) & 255, ${v} & 255)`;

/** A batch loaded into DuckDB, ready to be written out one UTC day at a time. */
export class StagedBatch {
  private constructor(
    private readonly connection: DuckDBConnection,
    private readonly selectList: string,
    private readonly fromClause: string,
    private readonly dayExpression: string,
  ) {}

  /** Loads `batch` (at least one row) into staging tables. */
  static async create(connection: DuckDBConnection, batch: FlowRecordBatch): Promise<StagedBatch> {
    const staged: StagedColumn[] = [];
    const stage = (column: StoredColumn, type: StagedColumn['type'], values: StagedColumn['values'], nullsFrom: StagedColumn['nullsFrom'], offset = 0): StagedColumn => {
      const s: StagedColumn = { column, stageName: `c${staged.length}`, type, values: values.subarray(0, batch.length), nullsFrom: nullsFrom.subarray(0, batch.length), offset };
      staged.push(s);
      return s;
    };
    const select: string[] = [];
    const joins: string[] = [];
    for (const column of STORED_COLUMNS) {
      if (column.kind === 'address') {
        // IPv4 travels as numbers and DuckDB formats it; other addresses as text codes.
        const codes = batch.codes[column.source];
        const ipv4s = batch.numbers[column.ipv4];
        if (isConstant(codes, batch.length) && isConstant(ipv4s, batch.length)) {
          const text = addressText(codes[0], ipv4s[0], batch);
          select.push(`${text === null ? 'CAST(NULL AS VARCHAR)' : sqlString(text)} AS ${column.name}`);
          continue;
        }
        const anyText = codes.subarray(0, batch.length).some((c) => c >= 0);
        const anyIpv4 = ipv4s.subarray(0, batch.length).some((v) => !Number.isNaN(v));
        const text = anyText ? stage(column, 'INTEGER', codes, codes) : null;
        const ipv4 = anyIpv4 ? stage(column, 'UINTEGER', Uint32Array.from(ipv4s.subarray(0, batch.length)), ipv4s) : null;
        if (text) joins.push(`LEFT JOIN dict d_${text.stageName} ON d_${text.stageName}.code = s.${text.stageName}`);
        const expression =
          text && ipv4 ? `CASE WHEN s.${ipv4.stageName} IS NULL THEN d_${text.stageName}.value ELSE ${dottedQuad(`s.${ipv4.stageName}`)} END`
          : text ? `d_${text.stageName}.value`
          : dottedQuad(`s.${ipv4!.stageName}`);
        select.push(`${expression} AS ${column.name}`);
        continue;
      }
      const values =
        column.kind === 'string' ? batch.codes[column.source]
        : column.kind === 'duration' ? durations(batch)
        : batch.numbers[column.source];
      if (isConstant(values, batch.length)) {
        select.push(`${literalFor(column, values[0], batch)} AS ${column.name}`);
        continue;
      }
      if (column.kind === 'string') {
        const s = stage(column, 'INTEGER', values, values);
        joins.push(`LEFT JOIN dict d_${s.stageName} ON d_${s.stageName}.code = s.${s.stageName}`);
        select.push(`d_${s.stageName}.value AS ${column.name}`);
        continue;
      }
      const narrow = narrowest(values as Float64Array, batch.length);
      const s = stage(column, narrow.type, narrow.values, values, narrow.offset);
      if (column.kind === 'timestamp') select.push(`make_timestamp(CAST(${valueOf(s)} AS BIGINT)) AS ${column.name}`);
      else select.push(`CAST(${valueOf(s)} AS ${column.sqlType}) AS ${column.name}`);
    }
    await stageRows(connection, staged, batch.length);
    if (joins.length > 0) await stageDictionary(connection, batch.strings.values);
    const from = staged.length > 0 ? `stage s ${joins.join(' ')}` : `range(${batch.length})`;
    const start = staged.find((s) => s.column.kind === 'timestamp');
    const day = start ? `floor(${valueOf(start)} / ${DAY_US})` : String(Math.floor(batch.numbers.startUs[0] / DAY_US));
    return new StagedBatch(connection, select.join(', '), from, day);
  }

  /**
   * Writes the rows starting on UTC day `day` (days since the epoch) to `path`, which must not exist.
   * `fast` (the NetFlow collector, where records arrive faster than they are metered here): arrival
   * order, zstd level 1 and no dictionaries (addresses from many exporters have hardly a repeat in a
   * segment, and building their dictionary cost a quarter of the write): less sorting and
   * compressing, at some cost in bytes, which compaction wins back when it merges the day.
   */
  async writeDay(day: number, path: string, fast = false): Promise<void> {
    const order = fast ? '' : ` ORDER BY ${SEGMENT_ORDER}`;
    const options = fast ? `${SEGMENT_OPTIONS.replace('COMPRESSION_LEVEL 6', 'COMPRESSION_LEVEL 1')}, DICTIONARY_SIZE_LIMIT 1` : SEGMENT_OPTIONS;
    await this.connection.run(`COPY (SELECT ${this.selectList} FROM ${this.fromClause} WHERE ${this.dayExpression} = ${day}${order}) TO ${sqlString(path)} (${options})`);
  }

  /** Drops the staging tables. */
  async dispose(): Promise<void> {
    await this.connection.run('DROP TABLE IF EXISTS stage');
    await this.connection.run('DROP TABLE IF EXISTS dict');
  }
}

function durations(batch: FlowRecordBatch): Float64Array {
  const out = new Float64Array(batch.length);
  const { startUs, endUs } = batch.numbers;
  for (let i = 0; i < batch.length; i++) out[i] = endUs[i] - startUs[i];
  return out;
}

function isConstant(values: Float64Array | Int32Array, length: number): boolean {
  const first = values[0];
  if (Number.isNaN(first)) {
    for (let i = 1; i < length; i++) if (!Number.isNaN(values[i])) return false;
    return true;
  }
  for (let i = 1; i < length; i++) if (values[i] !== first) return false;
  return true;
}

/**
 * The narrowest staging of a number column: INTEGER when every value is a 32-bit integer, UINTEGER
 * as `value - min` when the integers span less than 2^32 (times, durations, byte counts), DOUBLE
 * otherwise. DuckDB's appender takes 4-byte integers about three times as fast as doubles, and
 * staging was a third of a collector's store time.
 */
function narrowest(values: Float64Array, length: number): { type: StagedColumn['type']; values: StagedColumn['values']; offset: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    if (!Number.isInteger(v)) return { type: 'DOUBLE', values, offset: 0 };
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity) return { type: 'DOUBLE', values, offset: 0 };
  if (min >= -0x80000000 && max <= 0x7fffffff) {
    const out = new Int32Array(length);
    for (let i = 0; i < length; i++) out[i] = values[i]; // NaN becomes 0, under the validity mask
    return { type: 'INTEGER', values: out, offset: 0 };
  }
  if (max - min <= 0xffffffff) {
    const out = new Uint32Array(length);
    for (let i = 0; i < length; i++) out[i] = values[i] - min;
    return { type: 'UINTEGER', values: out, offset: min };
  }
  return { type: 'DOUBLE', values, offset: 0 };
}

/** An address as text: the code's string, or the IPv4 number's dotted quad. */
function addressText(code: number, ipv4: number, batch: FlowRecordBatch): string | null {
  if (code >= 0) return batch.strings.value(code);
  return Number.isNaN(ipv4) ? null : formatAddress([ipv4], 4);
}

function literalFor(column: StoredColumn, value: number, batch: FlowRecordBatch): string {
  if (column.kind === 'string') {
    const text = batch.strings.value(value);
    return text === null ? `CAST(NULL AS VARCHAR)` : sqlString(text);
  }
  if (Number.isNaN(value)) return `CAST(NULL AS ${column.sqlType})`;
  if (column.kind === 'timestamp') return `make_timestamp(CAST(${value} AS BIGINT))`;
  return `CAST(${value} AS ${column.sqlType})`;
}

/**
 * Appends the staged columns in chunks of CHUNK_ROWS, each column copied into its vector in one call
 * (the bindings' `copy_data_to_vector`: the typed arrays already hold DuckDB's DOUBLE and INTEGER
 * layouts). Setting items one by one through the vector objects cost about 150 ms per 200k records
 * on the main thread. NULLs (NaN numbers, negative codes) go into the vector's validity mask.
 */
async function stageRows(connection: DuckDBConnection, staged: StagedColumn[], rowCount: number): Promise<void> {
  if (staged.length === 0) return;
  const types: DuckDBType[] = staged.map((s) => (s.type === 'INTEGER' ? INTEGER : s.type === 'UINTEGER' ? UINTEGER : DOUBLE));
  await connection.run(`CREATE OR REPLACE TABLE stage (${staged.map((s, i) => `${s.stageName} ${types[i].toString()}`).join(', ')})`);
  const appender = await connection.createAppender('stage');
  const validity = new Uint32Array(CHUNK_ROWS / 32);
  try {
    for (let start = 0; start < rowCount; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, rowCount - start);
      const chunk = DuckDBDataChunk.create(types, rows);
      for (let c = 0; c < staged.length; c++) {
        const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
        const values = staged[c].values.subarray(start, start + rows);
        duckdb.copy_data_to_vector(vector, 0, values.buffer as ArrayBuffer, values.byteOffset, values.byteLength);
        if (nullMask(staged[c].nullsFrom.subarray(start, start + rows), validity)) {
          duckdb.vector_ensure_validity_writable(vector);
          duckdb.copy_data_to_vector_validity(vector, 0, validity.buffer, 0, Math.ceil(rows / 64) * 8);
        }
      }
      appender.appendDataChunk(chunk);
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

/**
 * Fills `mask` with one bit per value, set when the value is present (DuckDB's validity layout: 64-bit
 * little-endian words, bit i of the mask for row i); false, leaving the mask unused, when none is NULL.
 */
function nullMask(values: Float64Array | Int32Array, mask: Uint32Array): boolean {
  const isCode = values instanceof Int32Array;
  let anyNull = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (isCode ? v < 0 : Number.isNaN(v)) {
      anyNull = true;
      break;
    }
  }
  if (!anyNull) return false;
  mask.fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(isCode ? v < 0 : Number.isNaN(v))) mask[i >>> 5] |= 1 << (i & 31);
  }
  return true;
}

/** Joins the dictionary's strings for one crossing into DuckDB; a string holding it takes the slow path. */
const DICTIONARY_SEPARATOR = '\u001f';

/**
 * The batch's distinct strings as table `dict` (code, value). They cross into DuckDB as one string
 * that DuckDB splits: one crossing per string cost about 1 µs each, and a collector's batch can
 * hold a few hundred thousand IPv6 addresses. A string with the separator in it (it could come
 * from the wire) sends the whole dictionary the slow way, one value at a time.
 */
async function stageDictionary(connection: DuckDBConnection, values: readonly string[]): Promise<void> {
  if (values.length > 0 && !values.some((v) => v.includes(DICTIONARY_SEPARATOR))) {
    await connection.run(
      `CREATE OR REPLACE TABLE dict AS SELECT CAST(generate_subscripts(l, 1) - 1 AS INTEGER) AS code, unnest(l) AS value FROM (SELECT string_split($1, chr(31)) AS l)`,
      [values.join(DICTIONARY_SEPARATOR)],
    );
    return;
  }
  await connection.run('CREATE OR REPLACE TABLE dict (code INTEGER, value VARCHAR)');
  const appender = await connection.createAppender('dict');
  try {
    for (let start = 0; start < values.length; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, values.length - start);
      const chunk = DuckDBDataChunk.create([INTEGER, VARCHAR], rows);
      const codes: DuckDBValue[] = [];
      for (let r = 0; r < rows; r++) codes.push(start + r);
      chunk.setColumnValues(0, codes);
      chunk.setColumnValues(1, values.slice(start, start + rows));
      appender.appendDataChunk(chunk);
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

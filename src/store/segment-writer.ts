/**
 * Writes flow records into one Parquet segment (zstd, Parquet v2 encodings) through DuckDB.
 *
 * Getting a million records into DuckDB quickly is the hard part: the node binding crosses into
 * native code once per string but copies numeric vectors whole. So strings are dictionary-encoded
 * here (each distinct value crosses once), columns that are constant in the batch (host, source,
 * the NULL attribution of a capture file) become literals, and only numbers are staged row by row.
 * DuckDB joins the dictionaries back while it writes the file, sorted by start time.
 */
import { DuckDBConnection, DuckDBDataChunk, DOUBLE, INTEGER, VARCHAR, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import type { FlowRecord } from '../flow/index.js';
import { STORED_COLUMNS, type StoredColumn } from './flow-schema.js';

const CHUNK_ROWS = 2048;

/** SQL string literal with quotes doubled. */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

interface StagedColumn {
  column: StoredColumn;
  stageName: string;
  /** Numbers (timestamps in µs) or dictionary codes; NaN / -1 stand for NULL. */
  values: Float64Array | Int32Array;
  dictionary: string[] | null;
}

export class SegmentWriter {
  constructor(private readonly connection: DuckDBConnection) {}

  /** Writes `records` (any order) to the Parquet file `path`, which must not exist yet. */
  async write(records: readonly FlowRecord[], path: string): Promise<void> {
    const literals = new Map<string, string>();
    const staged: StagedColumn[] = [];
    for (const column of STORED_COLUMNS) {
      const first = column.get(records[0]);
      let constant = true;
      for (let i = 1; i < records.length && constant; i++) constant = column.get(records[i]) === first;
      if (constant) literals.set(column.name, literalFor(column, first));
      else staged.push(stageColumn(column, records, `c${staged.length}`));
    }

    const dictionaries = staged.filter((s) => s.dictionary !== null);
    try {
      await this.stageRows(staged, records.length);
      for (const s of dictionaries) await this.stageDictionary(s);
      const select = STORED_COLUMNS.map((column) => {
        const literal = literals.get(column.name);
        if (literal !== undefined) return `${literal} AS ${column.name}`;
        const s = staged.find((x) => x.column === column)!;
        if (s.dictionary !== null) return `d_${s.stageName}.value AS ${column.name}`;
        if (column.kind === 'timestamp') return `make_timestamp(CAST(s.${s.stageName} AS BIGINT)) AS ${column.name}`;
        return `CAST(s.${s.stageName} AS ${column.sqlType}) AS ${column.name}`;
      });
      const joins = dictionaries
        .map((s) => `LEFT JOIN dict_${s.stageName} d_${s.stageName} ON d_${s.stageName}.code = s.${s.stageName}`)
        .join(' ');
      const from = staged.length > 0 ? `stage s ${joins}` : `range(${records.length})`;
      await this.connection.run(
        `COPY (SELECT ${select.join(', ')} FROM ${from} ORDER BY start_time, end_time) ` +
          `TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION v2)`,
      );
    } finally {
      await this.connection.run('DROP TABLE IF EXISTS stage');
      for (const s of dictionaries) await this.connection.run(`DROP TABLE IF EXISTS dict_${s.stageName}`);
    }
  }

  private async stageRows(staged: StagedColumn[], rowCount: number): Promise<void> {
    if (staged.length === 0) return;
    const types: DuckDBType[] = staged.map((s) => (s.dictionary !== null ? INTEGER : DOUBLE));
    await this.connection.run(
      `CREATE OR REPLACE TABLE stage (${staged.map((s, i) => `${s.stageName} ${types[i].toString()}`).join(', ')})`,
    );
    const appender = await this.connection.createAppender('stage');
    try {
      for (let start = 0; start < rowCount; start += CHUNK_ROWS) {
        const rows = Math.min(CHUNK_ROWS, rowCount - start);
        const chunk = DuckDBDataChunk.create(types, rows);
        for (let c = 0; c < staged.length; c++) {
          const vector = chunk.getColumnVector(c);
          const values = staged[c].values;
          const isCode = staged[c].dictionary !== null;
          for (let r = 0; r < rows; r++) {
            const v = values[start + r];
            vector.setItem(r, (isCode ? v < 0 : Number.isNaN(v)) ? null : v);
          }
          vector.flush();
        }
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }

  private async stageDictionary(s: StagedColumn): Promise<void> {
    const name = `dict_${s.stageName}`;
    await this.connection.run(`CREATE OR REPLACE TABLE ${name} (code INTEGER, value VARCHAR)`);
    const appender = await this.connection.createAppender(name);
    try {
      const words = s.dictionary!;
      for (let start = 0; start < words.length; start += CHUNK_ROWS) {
        const rows = Math.min(CHUNK_ROWS, words.length - start);
        const chunk = DuckDBDataChunk.create([INTEGER, VARCHAR], rows);
        const codes: DuckDBValue[] = [];
        for (let r = 0; r < rows; r++) codes.push(start + r);
        chunk.setColumnValues(0, codes);
        chunk.setColumnValues(1, words.slice(start, start + rows));
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
  }
}

function literalFor(column: StoredColumn, value: string | number | null): string {
  if (value === null) return `CAST(NULL AS ${column.sqlType})`;
  if (column.kind === 'string') return sqlString(String(value));
  if (column.kind === 'timestamp') return `make_timestamp(CAST(${Number(value)} AS BIGINT))`;
  return `CAST(${Number(value)} AS ${column.sqlType})`;
}

function stageColumn(column: StoredColumn, records: readonly FlowRecord[], stageName: string): StagedColumn {
  if (column.kind !== 'string') {
    const values = new Float64Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const v = column.get(records[i]);
      values[i] = v === null ? NaN : (v as number);
    }
    return { column, stageName, values, dictionary: null };
  }
  const codes = new Int32Array(records.length);
  const dictionary: string[] = [];
  const index = new Map<string, number>();
  for (let i = 0; i < records.length; i++) {
    const v = column.get(records[i]);
    if (v === null) {
      codes[i] = -1;
      continue;
    }
    let code = index.get(v as string);
    if (code === undefined) {
      code = dictionary.length;
      dictionary.push(v as string);
      index.set(v as string, code);
    }
    codes[i] = code;
  }
  return { column, stageName, values: codes, dictionary };
}

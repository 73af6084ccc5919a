/**
 * Runs read-only SQL over the local store.
 *
 * Each engine is a private in-memory DuckDB whose `flows` view reads the store's Parquet segments.
 * Queries cannot change anything: only single SELECT statements are accepted, and the engine may
 * read files under the store's flows/ and imports/ folders only (the configuration is locked).
 */
import {
  DuckDBInstance,
  DuckDBArrayValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  DuckDBTimestampValue,
  StatementType,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { STORED_COLUMNS, listSegments, sqlString } from '../store/index.js';
import { SQL_MACROS, withCommunityId } from './sql-macros.js';
import { ANOMALY_MACROS } from '../anomaly/anomaly-sql.js';
import { QueryError } from './query-error.js';
import type { TimeWindow } from './time-window.js';

/** Columns of the `flows` view, in PRODUCT.md's order. */
export const FLOW_COLUMNS: readonly string[] = [
  'host', 'start_time', 'end_time', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'packets', 'bytes',
  'tcp_flags', 'direction', 'process', 'pid', 'username', 'uid', 'container', 'end_reason', 'sampling',
  'community_id', 'interface', 'source', 'command', 'tunnel',
];

/** A result value as JSON can carry it: nested lists, structs and maps stay nested. */
export type CellValue = string | number | boolean | null | CellValue[] | { [key: string]: CellValue };

export interface QueryColumn {
  name: string;
  /** DuckDB type name, e.g. VARCHAR, UBIGINT, TIMESTAMP. */
  type: string;
}

export interface QueryEngineOptions {
  window?: TimeWindow;
  /** DuckDB worker threads (default: DuckDB's choice, all cores). */
  threads?: number;
  /** DuckDB's memory limit, e.g. "256MB" (default: DuckDB's, 80% of the machine). */
  memoryLimit?: string;
}

export class QueryEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  /** Opens an engine over the store in `dataDir` (which need not contain any flows yet). */
  static async open(dataDir: string, options: QueryEngineOptions = {}): Promise<QueryEngine> {
    const root = path.resolve(dataDir);
    if (!(await fs.stat(path.join(root, 'store.json')).catch(() => null))) {
      throw new QueryError(
        `No store at "${root}": import something there first (endsight import --data-dir ${dataDir} FILE), ` +
          `or pass the right --data-dir`,
      );
    }
    const config: Record<string, string> = {};
    if (options.threads !== undefined) config.threads = String(options.threads);
    if (options.memoryLimit !== undefined) config.memory_limit = options.memoryLimit;
    const instance = await DuckDBInstance.create(':memory:', config);
    const connection = await instance.connect();
    const engine = new QueryEngine(instance, connection);
    try {
      for (const macro of SQL_MACROS) await connection.run(macro);
      await connection.run(await flowsViewSql(root, options.window));
      for (const macro of ANOMALY_MACROS) await connection.run(macro); // table macros over flows: after the view
      await connection.run(await importsViewSql(connection, root));
      const allowed = [path.join(root, 'flows') + '/', path.join(root, 'imports') + '/'];
      await connection.run(`SET allowed_directories = [${allowed.map(sqlString).join(', ')}]`);
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
    } catch (error) {
      engine.close();
      throw error;
    }
    return engine;
  }

  /**
   * Runs one SELECT and yields its rows in chunks as they are produced (constant memory for any
   * result size). Throws QueryError for anything but a single SELECT, and for the engine's errors.
   */
  async *stream(sql: string): AsyncGenerator<{ columns: QueryColumn[]; rows: CellValue[][] }> {
    const prepared = await this.prepareSelect(sql);
    let result;
    try {
      result = await prepared.stream();
    } catch (error) {
      throw engineError(error);
    }
    const columns = result.columnNames().map((name, i) => ({ name, type: result.columnType(i).toString() }));
    let yielded = false;
    for (;;) {
      let chunk;
      try {
        chunk = await result.fetchChunk();
      } catch (error) {
        throw engineError(error);
      }
      if (!chunk || chunk.rowCount === 0) break;
      yielded = true;
      yield { columns, rows: chunk.getRows().map((row) => row.map(toCell)) };
    }
    if (!yielded) yield { columns, rows: [] };
  }

  /** Runs one SELECT and returns all rows (for small results; use stream() for large ones). */
  async all(sql: string): Promise<{ columns: QueryColumn[]; rows: CellValue[][] }> {
    let columns: QueryColumn[] = [];
    const rows: CellValue[][] = [];
    for await (const part of this.stream(sql)) {
      columns = part.columns;
      for (const row of part.rows) rows.push(row);
    }
    return { columns, rows };
  }

  /** Stops the query that runs now: its stream() or all() then throws. */
  interrupt(): void {
    this.connection.interrupt();
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }

  private async prepareSelect(sql: string) {
    let extracted;
    try {
      extracted = await this.connection.extractStatements(sql);
    } catch (error) {
      throw engineError(error);
    }
    if (extracted.count !== 1) {
      throw new QueryError(`Cannot run the query: expected exactly one SQL statement, found ${extracted.count}`);
    }
    let prepared;
    try {
      prepared = await extracted.prepare(0);
    } catch (error) {
      // Statements that do not even prepare (DELETE on the view...) still deserve the plain refusal.
      const keyword = leadingKeyword(sql);
      if (keyword !== null && !QUERY_KEYWORDS.has(keyword)) throw notSelect(keyword);
      throw engineError(error);
    }
    if (prepared.statementType === StatementType.EXPLAIN) {
      // EXPLAIN ANALYZE runs its statement: allow it only in front of a SELECT.
      const inner = sql.replace(/^\s*EXPLAIN\s+(ANALY[SZ]E\s+)?/i, '');
      if (inner !== sql) await this.prepareSelect(inner);
      else throw notSelect('EXPLAIN');
    } else if (prepared.statementType !== StatementType.SELECT) {
      throw notSelect(StatementType[prepared.statementType]);
    }
    return prepared;
  }
}

/**
 * Defines the macros and an empty `flows` view with the real columns and types on `connection`: a
 * coordinator plans and checks fleet queries against it without holding any flows.
 */
export async function defineEmptyFlows(connection: DuckDBConnection): Promise<void> {
  for (const macro of SQL_MACROS) await connection.run(macro);
  await connection.run(flowsViewOver(null, undefined));
  for (const macro of ANOMALY_MACROS) await connection.run(macro);
}

async function flowsViewSql(root: string, window: TimeWindow | undefined): Promise<string> {
  const segments = await listSegments(root);
  // The segments listed now, by name: a glob is expanded again at every statement, and would read a
  // day twice once a compaction has renamed its merged segment in (its inputs are hidden only by
  // their sidecar, and stay on disk for the grace period that keeps this list readable).
  return flowsViewOver(segments.length === 0 ? null : root, window, segments.map((s) => s.path));
}

/** The `flows` view over the segments under `root` (all, or the `files` named), or over nothing when null. */
function flowsViewOver(root: string | null, window: TimeWindow | undefined, files: readonly string[] | null = null): string {
  const conditions: string[] = [];
  if (window?.fromUs != null) conditions.push(`end_time >= make_timestamp(${Math.floor(window.fromUs)})`);
  if (window?.toUs != null) conditions.push(`start_time < make_timestamp(${Math.floor(window.toUs)})`);
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  // No data yet: an empty relation with the right column types, so queries still bind.
  const stored =
    root === null
      ? `SELECT ${STORED_COLUMNS.map((c) => `CAST(NULL AS ${c.sqlType}) AS ${c.name}`).join(', ')} WHERE false`
      : `SELECT * FROM read_parquet(${files ? `[${files.map(sqlString).join(', ')}]` : sqlString(path.join(root, 'flows', 'day=*', '*.parquet'))}, hive_partitioning = false)`;
  return flowsViewOverRelation(stored, where);
}

/**
 * `CREATE VIEW flows` over any relation with the stored columns (STORED_COLUMNS): the view every
 * query sees, with end_time and community_id derived as for a store. The fleet benchmark's virtual
 * hosts use it over their in-memory records.
 */
export function flowsViewOverRelation(stored: string, where = ''): string {
  const withEndTime = `SELECT *, start_time + to_microseconds(CAST(duration_us AS BIGINT)) AS end_time FROM (${stored})`;
  return `CREATE VIEW flows AS SELECT ${FLOW_COLUMNS.join(', ')} FROM (${withCommunityId(`SELECT * FROM (${withEndTime})${where}`)})`;
}

async function importsViewSql(connection: DuckDBConnection, root: string): Promise<string> {
  const dir = path.join(root, 'imports');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  if (!names.some((n) => n.endsWith('.json'))) {
    return `CREATE VIEW imports AS SELECT CAST(NULL AS VARCHAR) AS file WHERE false`;
  }
  // Nested fields as JSON text, so their type does not depend on what the imports happened to meet.
  // Only a complete import has them: a store whose imports are all running or failed has none.
  const source = `read_json_auto(${sqlString(path.join(dir, '*.json'))}, union_by_name = true)`;
  const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
  const present = new Set(described.getRows().map((row) => String(row[0])));
  const nested = ['issues', 'meter', 'options', 'privacy'].filter((name) => present.has(name));
  const replace = nested.length > 0 ? ` REPLACE (${nested.map((n) => `to_json(${n}) AS ${n}`).join(', ')})` : '';
  return `CREATE VIEW imports AS SELECT *${replace} FROM ${source}`;
}

/** Keywords that can start a read-only query in DuckDB's dialect. */
const QUERY_KEYWORDS = new Set(['SELECT', 'WITH', 'FROM', 'VALUES', 'TABLE', 'DESCRIBE', 'SUMMARIZE', 'SHOW', 'PIVOT', 'UNPIVOT', 'EXPLAIN']);

/** The first word of a statement (after comments, parentheses and EXPLAIN [ANALYZE]), upper-cased. */
function leadingKeyword(sql: string): string | null {
  const match = /^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/|\(|EXPLAIN\s+(?:ANALY[SZ]E\s+)?)*([A-Za-z]+)/i.exec(sql);
  return match ? match[1].toUpperCase() : null;
}

function notSelect(found: string): QueryError {
  return new QueryError(`Cannot run the query: only SELECT is allowed, found a statement of type ${found}`);
}

function engineError(error: unknown): QueryError {
  const message = error instanceof Error ? error.message : String(error);
  return new QueryError(message.trim(), { cause: error });
}

/** Converts a DuckDB value into something JSON and CSV can carry. */
export function toCell(value: DuckDBValue): CellValue {
  if (value === null || typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (value instanceof DuckDBTimestampValue) return formatTimestampUs(value.micros);
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(toCell);
  if (value instanceof DuckDBStructValue) {
    const out: { [key: string]: CellValue } = {};
    for (const [key, item] of Object.entries(value.entries)) out[key] = toCell(item);
    return out;
  }
  if (value instanceof DuckDBMapValue) {
    const out: { [key: string]: CellValue } = {};
    for (const { key, value: item } of value.entries) out[String(toCell(key))] = toCell(item);
    return out;
  }
  if (value instanceof DuckDBDecimalValue) return value.toDouble();
  return String(value);
}

/** `2026-11-22T07:50:00.123456Z`: UTC with microseconds. */
export function formatTimestampUs(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const fraction = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return new Date(ms).toISOString().slice(0, 19) + '.' + fraction.toString().padStart(6, '0') + 'Z';
}

/**
 * The top-10 GROUP BY benchmark: a store of N (default 10 million) flow records, written straight as
 * Parquet segments by DuckDB (`COPY (SELECT ... FROM range(...)) TO ...`) in the store's own layout and
 * schema (src/store: flows/day=YYYY-MM-DD/*.parquet, zstd, Parquet v2, sorted by start time), then
 * timed through the query engine (src/query) in-process: median of several runs after a warm-up.
 *
 * The records spread over a week in hourly segments (an export every hour), each day then merged
 * into one segment as the agent's compaction leaves a past day (src/store/compaction.ts); addresses follow the
 * synthetic capture's population (4,000 internal hosts, 40,000 external ones, Zipf-like popularity,
 * a quarter IPv6), packets per flow are Pareto-distributed.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { QueryEngine } from '../query/index.js';
import { FlowStore, STORED_COLUMNS, STORE_FORMAT_VERSION, sqlString } from '../store/index.js';
import { COMPACTION_GRACE_MS, finishCompactions } from '../store/compaction.js';
import { directoryBytes, median } from './process-stats.js';

export const GROUPBY_SQL = 'SELECT src_addr, sum(bytes) b FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 10';
/** Bumped when the generated records change (part of the cache key). */
const STORE_GENERATOR_VERSION = 3;
/** A busy host's week, one segment per hour of exports. */
const SPAN_US = 7 * 24 * 3600 * 1_000_000;
const SEGMENTS = 168;
const BASE_US = Date.UTC(2024, 2, 1, 0, 0, 0) * 1000;

/**
 * SQL for each FlowRecord field, over the relation built in recordsSql (start_us and end_us are
 * microseconds). Stored columns are matched by the record field they come from (`source`), so the
 * generator follows the store's schema; a column of a kind or field it does not know is an error.
 */
const FIELD_SQL: Record<string, string> = {
  host: `'bench-host-01'`,
  startUs: `start_us`,
  endUs: `end_us`,
  srcAddr: `CASE WHEN out THEN int_addr ELSE ext_addr END`,
  dstAddr: `CASE WHEN out THEN ext_addr ELSE int_addr END`,
  srcPort: `CASE WHEN proto IN (6, 17) THEN (CASE WHEN out THEN client_port ELSE server_port END) ELSE 0 END`,
  dstPort: `CASE WHEN proto IN (6, 17) THEN (CASE WHEN out THEN server_port ELSE client_port END) WHEN proto IN (1, 58) THEN (CASE WHEN proto = 1 THEN 2048 ELSE 32768 END) ELSE 0 END`,
  protocol: `proto`,
  packets: `pkts`,
  bytes: `pkts * (40 + h2 % 1460)`,
  tcpFlags: `CASE WHEN proto = 6 THEN [27, 27, 27, 2, 22, 31, 18, 16][CAST(1 + h3 % 8 AS BIGINT)] ELSE 0 END`,
  direction: `CASE WHEN out THEN 'out' ELSE 'in' END`,
  // Applications, by popularity: the fleet benchmark's "top applications by bytes".
  process: `['firefox', 'chrome', 'firefox', 'ssh', 'curl', 'apt', 'systemd-resolve', 'chronyd', 'smbd', 'thunderbird', 'code', 'slack', 'zoom', 'node', 'postgres', 'python3'][CAST(1 + (h5 >> 20) % 16 AS BIGINT)]`,
  pid: `NULL`,
  username: `NULL`,
  uid: `NULL`,
  container: `NULL`,
  command: `NULL`,
  tunnel: `NULL`,
  endReason: `CASE WHEN proto = 6 THEN ['fin', 'fin', 'fin', 'fin', 'rst', 'idle', 'end', 'active'][CAST(1 + h4 % 8 AS BIGINT)] ELSE (CASE WHEN u4 < 0.98 THEN 'idle' ELSE 'active' END) END`,
  sampling: `1`,
  interfaceName: `NULL`,
  source: `'pcap:synthetic.pcap'`,
};

/** Older schemas named columns only; map those names to record fields. */
const NAME_TO_FIELD: Record<string, string> = {
  host: 'host', start_time: 'startUs', end_time: 'endUs', src_addr: 'srcAddr', dst_addr: 'dstAddr', src_port: 'srcPort',
  dst_port: 'dstPort', proto: 'protocol', packets: 'packets', bytes: 'bytes', tcp_flags: 'tcpFlags', direction: 'direction',
  process: 'process', pid: 'pid', username: 'username', uid: 'uid', container: 'container', end_reason: 'endReason',
  sampling: 'sampling', interface: 'interfaceName', source: 'source', duration_us: 'endUs', command: 'command', tunnel: 'tunnel',
};

interface ColumnLike {
  name: string;
  sqlType: string;
  kind: string;
  source?: unknown;
}

function columnSql(column: ColumnLike): string {
  const field = typeof column.source === 'string' ? column.source : NAME_TO_FIELD[column.name];
  const value = field === undefined ? undefined : FIELD_SQL[field];
  if (value === undefined) throw new Error(`groupby store generator does not know the stored column ${column.name}: update src/bench/groupby.ts`);
  switch (column.kind) {
    case 'timestamp':
      return `make_timestamp(CAST(${value} AS BIGINT))`;
    case 'duration':
      return `CAST(end_us - start_us AS ${column.sqlType})`;
    case 'number':
    case 'string':
    case 'address':
      return `CAST(${value} AS ${column.sqlType})`;
    default:
      throw new Error(`groupby store generator does not know the column kind ${column.kind} (${column.name}): update src/bench/groupby.ts`);
  }
}

/** Short fingerprint of the stored schema, part of the cache key (the layout may change while the version does not). */
function schemaTag(): string {
  const text = (STORED_COLUMNS as readonly ColumnLike[]).map((c) => `${c.name}:${c.sqlType}:${c.kind}`).join(',');
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/** The hosts the records are between: internal ones (one end of every record) and external ones. */
export interface HostPopulation {
  internal: number;
  external: number;
}

/** The fleet and GROUP BY benchmarks' busy host: 4,000 internal hosts (dual-stack), 40,000 external ones. */
const BUSY_HOST: HostPopulation = { internal: 4000, external: 40_000 };

export function recordsSql(from: number, to: number, total: number, population: HostPopulation = BUSY_HOST): string {
  const unit = (k: number): string => `(hash(i, ${k}) % 4294967296)::DOUBLE / 4294967296`;
  const base = `
    SELECT i,
      ${BASE_US} + CAST(floor(i * ${SPAN_US / total}) AS BIGINT) AS start_us,
      ${BASE_US} + CAST(floor(i * ${SPAN_US / total}) AS BIGINT) + CAST(least(1800e6, floor(exp(${unit(13)} * ln(1800e6)))) AS BIGINT) AS end_us,
      ${unit(2)} < 0.25 AS v6, ${unit(3)} < 0.7 AS out, ${unit(4)} AS u4,
      least(${population.internal - 1}, CAST(floor(exp(${unit(5)} * ln(${population.internal + 1}))) AS BIGINT) - 1) AS kint,
      least(${population.external - 1}, CAST(floor(exp(${unit(6)} * ln(${population.external + 1}))) AS BIGINT) - 1) AS kext,
      ${unit(7)} AS u7, ${unit(8)} AS u8,
      hash(i, 9) AS h2, hash(i, 10) AS h3, hash(i, 11) AS h4, hash(i, 12) AS h5
    FROM range(${from}, ${to}) t(i)`;
  const mid = `
    SELECT *,
      CASE WHEN u7 < 0.6 THEN 6 WHEN u7 < 0.93 THEN 17 WHEN u7 < 0.97 THEN 50 WHEN v6 THEN 58 ELSE 1 END AS proto,
      [443, 443, 443, 80, 53, 22, 445, 993, 123, 3389][CAST(1 + h5 % 10 AS BIGINT)] AS server_port,
      32768 + CAST((h5 >> 8) % 28232 AS INTEGER) AS client_port,
      CAST(least(200000, floor(1 / (1 - u8))) AS BIGINT) AS pkts,
      CASE WHEN v6 THEN ih.a6 ELSE ih.a4 END AS int_addr,
      CASE WHEN v6 THEN eh.a6 ELSE eh.a4 END AS ext_addr
    FROM (${base}) r JOIN bench_int_hosts ih ON ih.k = r.kint JOIN bench_ext_hosts eh ON eh.k = r.kext`;
  const columns = STORED_COLUMNS as readonly ColumnLike[];
  const select = columns.map((c) => `${columnSql(c)} AS ${c.name}`).join(',\n      ');
  return `SELECT ${select} FROM (${mid}) ORDER BY start_us, end_us`;
}

export interface GroupByStore {
  dataDir: string;
  records: number;
  segments: number;
  bytes: number;
  bytesPerRecord: number;
  /** Milliseconds spent writing it (0 when reused from the cache). */
  buildMs: number;
  reused: boolean;
}

/** Builds (or reuses) a store of `records` synthetic flow records under `cacheDir`. */
/**
 * The store of `records` records (cached in `cacheDir`); `population` other than the busy host's, and
 * `compact` false (hourly segments as written, for a store too large to merge quickly), make another.
 */
export async function ensureGroupByStore(cacheDir: string, records: number, log: (line: string) => void, options: { population?: HostPopulation; compact?: boolean } = {}): Promise<GroupByStore> {
  const population = options.population ?? BUSY_HOST;
  const compact = options.compact ?? true;
  const variant = (population === BUSY_HOST ? '' : `-h${population.internal}x${population.external}`) + (compact ? '' : '-hourly');
  const dataDir = path.join(cacheDir, `groupby-store-v${STORE_GENERATOR_VERSION}-f${STORE_FORMAT_VERSION}-${schemaTag()}-${records}${variant}`);
  const marker = path.join(dataDir, '.bench-complete');
  if (existsSync(marker)) {
    const usage = await directoryBytes(path.join(dataDir, 'flows'), (n) => n.endsWith('.parquet'));
    return { dataDir, records, segments: usage.files, bytes: usage.bytes, bytesPerRecord: usage.bytes / records, buildMs: 0, reused: true };
  }
  const began = performance.now();
  await fs.rm(dataDir, { recursive: true, force: true });
  await fs.mkdir(path.join(dataDir, 'flows'), { recursive: true });
  await fs.mkdir(path.join(dataDir, 'imports'), { recursive: true });
  await fs.writeFile(path.join(dataDir, 'store.json'), JSON.stringify({ formatVersion: STORE_FORMAT_VERSION }) + '\n');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    // The address population; up to 60,000 internal hosts in the busy host's numbering, more in one of 10/8's.
    const internal = population.internal <= 60_000
      ? `'10.' || (1 + k // 254) || '.' || (k % 7) || '.' || (1 + k % 254) AS a4, 'fd00:1a2b:' || printf('%x', 1 + k // 254) || ':' || printf('%x', k % 7) || '::' || printf('%x', 1 + k) AS a6`
      : `'10.' || (k // 65536) || '.' || ((k // 256) % 256) || '.' || (k % 256) AS a4, 'fd00:1a2b:0:' || printf('%x', k // 65536) || '::' || printf('%x', 1 + k % 65536) AS a6`;
    await connection.run(`CREATE TEMP TABLE bench_int_hosts AS SELECT k, ${internal} FROM range(${population.internal}) t(k)`);
    await connection.run(`CREATE TEMP TABLE bench_ext_hosts AS SELECT k,
        (1 + h % 223) || '.' || ((h >> 8) % 256) || '.' || ((h >> 16) % 256) || '.' || (1 + (h >> 24) % 254) AS a4,
        '2001:' || printf('%x', 1024 + h % 3072) || ':' || printf('%x', (h >> 12) % 65536) || '::' || printf('%x', 1 + (h >> 28) % 65535) AS a6
      FROM (SELECT k, hash(k, 98) AS h FROM range(${population.external}) t(k))`);
    const segments = Math.min(SEGMENTS, records);
    for (let s = 0; s < segments; s++) {
      const from = Math.floor((s * records) / segments);
      const to = Math.floor(((s + 1) * records) / segments);
      const firstStartUs = BASE_US + Math.floor(from * (SPAN_US / records));
      const day = new Date(firstStartUs / 1000).toISOString().slice(0, 10);
      const dir = path.join(dataDir, 'flows', `day=${day}`);
      await fs.mkdir(dir, { recursive: true });
      const file = path.join(dir, `${firstStartUs}-${Date.now() * 1000}-bench${s}.parquet`);
      await connection.run(`COPY (${recordsSql(from, to, records, population)}) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION v2)`);
      if ((s + 1) % 8 === 0 || s + 1 === segments) log(`  groupby store: ${s + 1}/${segments} segments, ${to.toLocaleString('en-US')} records`);
    }
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  // Each past day merged as the agent's compaction does, and the hourly inputs deleted at once.
  if (compact) await compactStore(dataDir, log);
  await fs.writeFile(marker, new Date().toISOString() + '\n');
  const usage = await directoryBytes(path.join(dataDir, 'flows'), (n) => n.endsWith('.parquet'));
  return {
    dataDir,
    records,
    segments: usage.files,
    bytes: usage.bytes,
    bytesPerRecord: usage.bytes / records,
    buildMs: performance.now() - began,
    reused: false,
  };
}

export interface GroupByResult {
  sql: string;
  records: number;
  openMs: number;
  warmupMs: number;
  runsMs: number[];
  medianMs: number;
  /** The same SQL straight on read_parquet over the segments (no view, no macros): the engine's floor. */
  rawMedianMs: number;
  /** The answer's first rows, to show the query did real work. */
  top: Array<[string, number | string]>;
  countCheck: number;
}

/** Opens the query engine over the store and times GROUPBY_SQL: one warm-up, then `runs` timed runs. */
export async function timeGroupBy(dataDir: string, runs: number): Promise<GroupByResult> {
  const t0 = performance.now();
  const engine = await QueryEngine.open(dataDir);
  const openMs = performance.now() - t0;
  try {
    const count = await engine.all('SELECT count(*) AS n FROM flows');
    const t1 = performance.now();
    let answer = await engine.all(GROUPBY_SQL);
    const warmupMs = performance.now() - t1;
    const runsMs: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      answer = await engine.all(GROUPBY_SQL);
      runsMs.push(performance.now() - t);
    }
    const rawMedianMs = await timeRawGroupBy(dataDir, runs);
    return {
      sql: GROUPBY_SQL,
      records: Number(count.rows[0]?.[0] ?? 0),
      openMs,
      warmupMs,
      runsMs,
      medianMs: median(runsMs),
      rawMedianMs,
      top: answer.rows.slice(0, 3).map((row) => [String(row[0]), row[1] as number | string]),
      countCheck: Number(count.rows[0]?.[0] ?? 0),
    };
  } finally {
    engine.close();
  }
}

/** GROUPBY_SQL with `flows` replaced by read_parquet over the segments, in a plain DuckDB instance. */
async function timeRawGroupBy(dataDir: string, runs: number): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const glob = path.join(path.resolve(dataDir), 'flows', 'day=*', '*.parquet');
    const sql = GROUPBY_SQL.replace('FROM flows', `FROM read_parquet(${sqlString(glob)}, hive_partitioning = false)`);
    await connection.runAndReadAll(sql);
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      await connection.runAndReadAll(sql);
      times.push(performance.now() - t);
    }
    return median(times);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Merges each day of the store as the agent's compaction does, and deletes the merged segments at once. */
async function compactStore(dataDir: string, log: (line: string) => void): Promise<void> {
  const store = await FlowStore.open(dataDir, { quotaBytes: 64 * 2 ** 30, retentionMs: 100 * 365 * 86_400_000 });
  try {
    for (let merged = await store.compact(); merged !== null; merged = await store.compact()) {
      log(`  groupby store: ${merged.day} compacted, ${merged.segmentsMerged} segments, ${(merged.bytesBefore / 1e6).toFixed(1)} → ${(merged.bytesAfter / 1e6).toFixed(1)} MB`);
    }
  } finally {
    await store.close();
  }
  await finishCompactions(dataDir, Date.now() + COMPACTION_GRACE_MS + 1000);
}

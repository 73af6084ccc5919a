/**
 * The local flow store: time-partitioned Parquet segments under one data directory.
 *
 *   DATA_DIR/store.json                       format version
 *   DATA_DIR/flows/day=YYYY-MM-DD/S-W-N.parquet  one segment: records starting that UTC day,
 *                                              S = first start µs, W = write time µs, N = sequence
 *   DATA_DIR/flows/day=…/S-W-N.replaces        the segments a compaction merged into S-W-N.parquet
 *                                              (compaction.ts), hidden from readers until deleted
 *   DATA_DIR/imports/W-N.json                 summary of each import (counts, issues by reason)
 *   DATA_DIR/.tmp/                            segments being written
 *   DATA_DIR/store.lock                       pid of the one process writing (an import or the agent)
 *
 * Crash safety: a segment is written under .tmp/, fsynced, then renamed into place and the directory
 * fsynced, so a reader (or a restart after kill -9) sees a segment whole or not at all; leftovers in
 * .tmp/ are removed at open. A failed write (full disk) removes only its own temporary file, stops
 * the store from writing, and never touches stored segments.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FlowRecordBatch } from '../flow/index.js';
import { SEGMENT_OPTIONS, SEGMENT_ORDER, StagedBatch } from './segment-writer.js';
import { StoreError } from './store-error.js';
import { STORE_FORMAT_VERSION, STORED_COLUMNS } from './flow-schema.js';
import { enforceRetention, listSegments, type RetentionResult, type SegmentInfo } from './retention.js';
import { finishCompactions, hasPendingCompaction, REPLACES_SUFFIX } from './compaction.js';
import { sqlString } from '../common/sql-string.js';
import { fsyncPath, writeFileAtomic } from './fsync.js';
import { FAST_SEGMENTS_SUPPORTED, writeFastSegment } from './fast-segment.js';

const DAY_US = 86_400_000_000;

export interface FlowStoreOptions {
  /** Segments written longer ago than this are deleted. Default 30 days. */
  retentionMs?: number;
  /** Total bytes of segments allowed; oldest segments go first beyond it. Default: min(2 GiB, 10% of free disk). */
  quotaBytes?: number;
  /** Clock for write times (tests pass a fake one). */
  now?: () => number;
  /** Segments in arrival order with light compression: less CPU, more bytes (segment-writer.ts). */
  fastWrites?: boolean;
  /**
   * Merge small segments after flushes (compaction.ts), at most one day every `everyMs`: a past day
   * once it has two segments, today once it has `todayAt`. For stores that get a segment a minute
   * (the agent, the collector); an import writes few and leaves them.
   */
  compaction?: { everyMs: number; todayAt: number };
}

/** For stores that get a segment a minute: a day's segments merged once past, or once an hour's worth today. */
export const MINUTE_SEGMENTS_COMPACTION = { everyMs: 10 * 60_000, todayAt: 60 } as const;

/** What one compaction did. */
export interface CompactionResult {
  day: string;
  segmentsMerged: number;
  bytesBefore: number;
  bytesAfter: number;
  /** Bytes of earlier compactions' inputs deleted (past their grace period). */
  bytesFreed: number;
  segment: string;
}

export interface FlushResult {
  records: number;
  segments: string[];
  bytesWritten: number;
  retention: RetentionResult;
  /** With the compaction option, when a compaction ran after the flush; or why it failed. */
  compaction?: CompactionResult;
  compactionError?: string;
}

export class FlowStore {
  private pending = new FlowRecordBatch();
  /** A fast store's queued batches, oldest first (append). */
  private pendingParts: FlowRecordBatch[] = [];
  private sequence = 0;
  private failed: StoreError | null = null;
  private readonly instanceTag = randomBytes(3).toString('hex');
  private lastCompactionMs = 0;

  private constructor(
    readonly dataDir: string,
    readonly retentionMs: number,
    readonly quotaBytes: number,
    private readonly now: () => number,
    private readonly connection: DuckDBConnection,
    private readonly instance: DuckDBInstance,
    private readonly fastWrites = false,
    private readonly compaction: FlowStoreOptions['compaction'] = undefined,
  ) {}

  /** Opens (creating if needed) the store in `dataDir`. */
  static async open(dataDir: string, options: FlowStoreOptions = {}): Promise<FlowStore> {
    const root = path.resolve(dataDir);
    try {
      await fs.mkdir(root, { recursive: true });
    } catch (error) {
      const isFile = (error as NodeJS.ErrnoException).code === 'EEXIST';
      const reason = isFile ? 'it is a file, not a directory' : (error as Error).message;
      throw new StoreError(`Cannot open store at "${root}": ${reason}`, { cause: error });
    }
    await acquireLock(root);
    try {
      await fs.mkdir(path.join(root, 'flows'), { recursive: true });
      await fs.mkdir(path.join(root, 'imports'), { recursive: true });
      await fs.rm(path.join(root, '.tmp'), { recursive: true, force: true });
      await fs.mkdir(path.join(root, '.tmp'), { recursive: true });
      // A compaction cut short: its sidecar without its segment goes; inputs past their grace too.
      await finishCompactions(root, Date.now());
      await writeManifest(root);
    } catch (error) {
      await releaseLock(root);
      if (error instanceof StoreError) throw error;
      throw new StoreError(`Cannot open store at "${root}": ${(error as Error).message}`, { cause: error });
    }
    const quotaBytes = options.quotaBytes ?? (await defaultQuotaBytes(root));
    const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
    const connection = await instance.connect();
    return new FlowStore(root, options.retentionMs ?? 30 * 86_400_000, quotaBytes, options.now ?? Date.now, connection, instance, options.fastWrites ?? false, options.compaction);
  }

  /** Queues records for the next flush (the batch may be adopted as it is: do not reuse it). */
  append(batch: FlowRecordBatch): void {
    if (this.fastWrites && FAST_SEGMENTS_SUPPORTED) {
      // Kept apart: a fast segment is written from several batches without merging them first.
      if (batch.length > 0) this.pendingParts.push(batch);
      return;
    }
    if (this.pending.length === 0) this.pending = batch;
    else this.pending.appendBatch(batch);
  }

  /** Records queued and not yet written. */
  get pendingCount(): number {
    return this.pending.length + this.pendingParts.reduce((n, b) => n + b.length, 0);
  }

  /**
   * Writes queued records as one segment per UTC day they start in, then applies retention and quota.
   * Records appended while a flush runs go to the next one; flushes must not overlap (await each).
   * All of a flush's segments are written before any is renamed into place, so a failure (a full
   * disk) leaves nothing behind: the records stay queued and the store refuses further writes.
   */
  async flush(): Promise<FlushResult> {
    if (this.failed) throw this.failed;
    // Take the queued records now, so that appends during the write go to the next flush.
    const batch = this.pending;
    this.pending = new FlowRecordBatch();
    const parts = this.pendingParts;
    this.pendingParts = [];
    const batches = batch.length > 0 ? [batch, ...parts] : parts;
    const records = batches.reduce((n, b) => n + b.length, 0);
    const result: FlushResult = { records: 0, segments: [], bytesWritten: 0, retention: { deleted: [], bytesFreed: 0 } };
    if (records === 0) return result;

    const firstStartByDay = new Map<number, number>();
    for (const b of batches) {
      const starts = b.numbers.startUs;
      for (let i = 0; i < b.length; i++) {
        const day = Math.floor(starts[i] / DAY_US);
        const first = firstStartByDay.get(day);
        if (first === undefined || starts[i] < first) firstStartByDay.set(day, starts[i]);
      }
    }
    const planned = [...firstStartByDay].sort((a, b) => a[0] - b[0]).map(([day, firstStartUs]) => {
      const name = `${Math.floor(firstStartUs)}-${this.now() * 1000}-${this.instanceTag}${this.sequence++}.parquet`;
      const dayDir = path.join(this.dataDir, 'flows', dayDirName(day));
      return { day, tmpPath: path.join(this.dataDir, '.tmp', name), dayDir, finalPath: path.join(dayDir, name) };
    });
    try {
      if (parts.length > 0) {
        // The collector's segments, written without DuckDB (fast-segment.ts).
        for (const segment of planned) {
          await writeFastSegment(batches.map((b) => ({ batch: b, rows: planned.length === 1 ? null : rowsOfDay(b, segment.day) })), segment.tmpPath);
          await fsyncPath(segment.tmpPath);
          result.bytesWritten += (await fs.stat(segment.tmpPath)).size;
        }
      } else {
        const staged = await StagedBatch.create(this.connection, batch);
        try {
          for (const segment of planned) {
            await staged.writeDay(segment.day, segment.tmpPath, this.fastWrites);
            await fsyncPath(segment.tmpPath);
            result.bytesWritten += (await fs.stat(segment.tmpPath)).size;
          }
        } finally {
          await staged.dispose();
        }
      }
      for (const segment of planned) {
        await fs.mkdir(segment.dayDir, { recursive: true });
        await fs.rename(segment.tmpPath, segment.finalPath);
        await fsyncPath(segment.dayDir);
      }
    } catch (error) {
      for (const segment of planned) await fs.rm(segment.tmpPath, { force: true }).catch(() => undefined);
      batch.appendBatch(this.pending); // keep every unwritten record, oldest first
      this.pending = batch;
      this.pendingParts = [...parts, ...this.pendingParts];
      this.failed = describeWriteError(error, this.dataDir);
      throw this.failed;
    }
    result.records = records;
    result.segments = planned.map((s) => s.finalPath);
    result.retention = await enforceRetention(this.dataDir, {
      retentionMs: this.retentionMs,
      quotaBytes: this.quotaBytes,
      nowMs: this.now(),
    });
    if (this.compaction && this.now() - this.lastCompactionMs >= this.compaction.everyMs) {
      const today = Math.floor((this.now() * 1000) / DAY_US);
      try {
        // Fast segments are uncompressed (about 4 times the bytes): today is merged also once they
        // take an eighth of the quota, so that they never make retention delete older records.
        const todayBytes = this.fastWrites ? this.quotaBytes / 8 : Infinity;
        const compacted = await this.compact((day, count, bytes) => (day === dayDirName(today) ? count >= this.compaction!.todayAt || (count >= 2 && bytes >= todayBytes) : count >= 2));
        if (compacted) {
          result.compaction = compacted;
          this.lastCompactionMs = this.now();
        }
      } catch (error) {
        // The flush itself succeeded; the segments stay as they were, and the next interval tries again.
        result.compactionError = (error as Error).message;
        this.lastCompactionMs = this.now();
      }
    }
    return result;
  }

  /**
   * Merges the segments of one day into one segment sorted as a whole (compaction.ts): the day with
   * the most segments among those `wanted` says yes to (given the day, its segments and their bytes;
   * by default, every day with two or more).
   * First finishes earlier compactions past their grace. Returns what it did, or null when no day
   * needed it. A failure (a full disk) removes what it wrote, leaves the segments as they were, and
   * is an error; the store goes on writing.
   */
  async compact(wanted: (day: string, segments: number, bytes: number) => boolean = (_day, n) => n >= 2): Promise<CompactionResult | null> {
    if (this.failed) throw this.failed;
    const bytesFreed = await finishCompactions(this.dataDir, Date.now()); // file times are the real clock's
    const byDay = new Map<string, SegmentInfo[]>();
    for (const segment of await listSegments(this.dataDir)) {
      const day = path.basename(path.dirname(segment.path));
      byDay.set(day, [...(byDay.get(day) ?? []), segment]);
    }
    const candidates: [string, SegmentInfo[]][] = [];
    for (const [day, segments] of byDay) {
      // Not a day whose last compaction still waits out its grace: compactions never chain.
      if (wanted(day, segments.length, segments.reduce((n, s) => n + s.bytes, 0)) && !(await hasPendingCompaction(path.join(this.dataDir, 'flows', day)))) candidates.push([day, segments]);
    }
    candidates.sort((a, b) => b[1].length - a[1].length);
    if (candidates.length === 0) return null;
    const [day, inputs] = candidates[0];
    const dayDir = path.join(this.dataDir, 'flows', day);
    const firstStartUs = Math.min(...inputs.map((s) => s.firstStartUs));
    const writtenUs = Math.max(...inputs.map((s) => s.writtenUs));
    const base = `${firstStartUs}-${writtenUs}-${this.instanceTag}c${this.sequence++}`;
    const tmpPath = path.join(this.dataDir, '.tmp', `${base}.parquet`);
    const finalPath = path.join(dayDir, `${base}.parquet`);
    const sidecar = path.join(dayDir, `${base}${REPLACES_SUFFIX}`);
    const columns = STORED_COLUMNS.map((c) => `CAST(${c.name} AS ${c.sqlType}) AS ${c.name}`).join(', ');
    const files = `[${inputs.map((s) => sqlString(s.path)).join(', ')}]`;
    try {
      await this.connection.run(
        `COPY (SELECT ${columns} FROM read_parquet(${files}, hive_partitioning = false, union_by_name = true) ORDER BY ${SEGMENT_ORDER}) TO ${sqlString(tmpPath)} (${SEGMENT_OPTIONS})`,
      );
      await fsyncPath(tmpPath);
      await writeFileAtomic(path.join(this.dataDir, '.tmp', `${base}${REPLACES_SUFFIX}`), sidecar, JSON.stringify(inputs.map((s) => path.basename(s.path))) + '\n');
      await fs.rename(tmpPath, finalPath);
      await fsyncPath(dayDir);
    } catch (error) {
      await fs.rm(tmpPath, { force: true }).catch(() => undefined);
      if (!(await fs.stat(finalPath).then(() => true, () => false))) await fs.rm(sidecar, { force: true }).catch(() => undefined);
      throw describeWriteError(error, this.dataDir);
    }
    return {
      day, segmentsMerged: inputs.length, bytesBefore: inputs.reduce((n, s) => n + s.bytes, 0), bytesAfter: (await fs.stat(finalPath)).size, bytesFreed, segment: finalPath,
    };
  }

  /** Stores (or replaces) the record of import `id` next to the data, atomically. */
  async recordImport(id: string, summary: object): Promise<string> {
    const name = `${id}.json`;
    const finalPath = path.join(this.dataDir, 'imports', name);
    await writeFileAtomic(path.join(this.dataDir, '.tmp', name), finalPath, JSON.stringify({ id, ...summary }, null, 2) + '\n');
    return finalPath;
  }

  /** A new id for an import record: its start time and this store instance. */
  newImportId(): string {
    return `${this.now() * 1000}-${this.instanceTag}${this.sequence++}`;
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
    await releaseLock(this.dataDir);
  }
}

/** The rows of `batch` that start on UTC day `day`, in order. */
function rowsOfDay(batch: FlowRecordBatch, day: number): Int32Array {
  const starts = batch.numbers.startUs;
  const rows: number[] = [];
  for (let i = 0; i < batch.length; i++) if (Math.floor(starts[i] / DAY_US) === day) rows.push(i);
  return Int32Array.from(rows);
}

/**
 * Takes the store's write lock: a file holding our pid, created exclusively. A lock whose process is
 * gone (killed with -9) is stale and taken over; a live one is an error naming its pid.
 */
async function acquireLock(root: string): Promise<void> {
  const lockPath = path.join(root, 'store.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreError(`Cannot lock store at "${root}": ${(error as Error).message}`, { cause: error });
      }
    }
    const holder = Number.parseInt(await fs.readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
      throw new StoreError(
        `Cannot write to store at "${root}": process ${holder} is writing to it (another import or the agent); ` +
          `wait for it to finish or use another --data-dir`,
      );
    }
    await fs.rm(lockPath, { force: true }); // stale: its process is gone
  }
  throw new StoreError(`Cannot lock store at "${root}": another process keeps taking the lock`);
}

async function releaseLock(root: string): Promise<void> {
  const lockPath = path.join(root, 'store.lock');
  const holder = await fs.readFile(lockPath, 'utf8').catch(() => '');
  if (Number.parseInt(holder, 10) === process.pid) await fs.rm(lockPath, { force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `day=YYYY-MM-DD` for a day number since the epoch (UTC). */
export function dayDirName(day: number): string {
  return `day=${new Date(day * 86_400_000).toISOString().slice(0, 10)}`;
}

async function writeManifest(root: string): Promise<void> {
  const manifestPath = path.join(root, 'store.json');
  try {
    const manifest = JSON.parse(await fs.readFile(manifestPath, 'utf8')) as { formatVersion?: number };
    if (manifest.formatVersion !== STORE_FORMAT_VERSION) {
      throw new StoreError(`Cannot open store at "${root}": format version ${manifest.formatVersion} is not the supported ${STORE_FORMAT_VERSION}`);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await writeFileAtomic(path.join(root, '.tmp', 'store.json'), manifestPath, JSON.stringify({ formatVersion: STORE_FORMAT_VERSION }) + '\n');
  }
}

/** min(2 GiB, 10% of the free space of the file system holding the store). */
async function defaultQuotaBytes(root: string): Promise<number> {
  const stats = await fs.statfs(root);
  return Math.min(2 * 1024 ** 3, Math.floor(stats.bavail * stats.bsize * 0.1));
}

function describeWriteError(error: unknown, dataDir: string): StoreError {
  const message = (error as Error).message ?? String(error);
  if (/no space left|ENOSPC|disk full|quota exceeded|EDQUOT/i.test(message)) {
    return new StoreError(
      `Cannot write flow segment to "${dataDir}": the disk is full. Stored data is intact; ` +
        `free space or lower the quota, then retry.`,
      { cause: error },
    );
  }
  return new StoreError(`Cannot write flow segment to "${dataDir}": ${message.split('\n')[0]}`, { cause: error });
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { FlowStore } from './flow-store.js';
import { testBatch } from './test-records.js';
import type { FlowRecordBatch } from '../flow/index.js';

const DAY_US = 86_400_000_000;
const T0 = Date.UTC(2026, 10, 1) * 1000;

/** The test batch with the edge cases of the collector's columns: extreme and missing addresses, big numbers, NULLs. */
function edgyBatch(count: number, startUs: number): FlowRecordBatch {
  const b = testBatch(count, startUs);
  b.numbers.srcIpv4[3] = 0xffffffff;
  b.codes.srcAddr[3] = -1;
  b.numbers.dstIpv4[4] = 0;
  b.codes.dstAddr[4] = -1;
  b.numbers.dstIpv4[5] = NaN; // an address removed: NULL
  b.codes.dstAddr[5] = -1;
  b.numbers.srcIpv4[6] = (10 << 24) | (200 << 16) | (7 << 8) | 99;
  b.codes.srcAddr[6] = -1;
  b.numbers.uid[6] = 4294967294;
  b.numbers.pid[7] = 2147483647;
  b.numbers.bytes[8] = 2 ** 53 - 1;
  b.numbers.packets[9] = 2 ** 40 + 3;
  b.codes.username[10] = b.strings.code('ünïcode 用户');
  return b;
}

async function writeStore(dir: string, batch: FlowRecordBatch | FlowRecordBatch[], fastWrites: boolean): Promise<string[]> {
  const store = await FlowStore.open(dir, { quotaBytes: 1e9, fastWrites });
  for (const b of Array.isArray(batch) ? batch : [batch]) store.append(b);
  const result = await store.flush();
  await store.close();
  return result.segments;
}

async function query(sql: string): Promise<string[]> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const rows = (await c.runAndReadAll(sql)).getRows().map((r) => r.map(String).join('|'));
  c.closeSync();
  db.closeSync();
  return rows;
}

test('fast segments hold exactly what DuckDB writes for the same batch, with the same column types', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-fast-'));
  const [slow] = await writeStore(path.join(dir, 'slow'), edgyBatch(3000, T0), false);
  const [fast] = await writeStore(path.join(dir, 'fast'), edgyBatch(3000, T0), true);
  const read = (f: string): string => `read_parquet('${f}', hive_partitioning = false)`;
  assert.deepEqual(await query(`DESCRIBE SELECT * FROM ${read(fast)}`), await query(`DESCRIBE SELECT * FROM ${read(slow)}`));
  const rows = await query(`SELECT * FROM ${read(fast)} ORDER BY start_time, src_addr, dst_addr`);
  assert.equal(rows.length, 3000);
  assert.deepEqual(rows, await query(`SELECT * FROM ${read(slow)} ORDER BY start_time, src_addr, dst_addr`));
  assert.deepEqual(await query(`SELECT src_addr, dst_addr FROM ${read(fast)} WHERE start_time IN (SELECT start_time FROM ${read(fast)} ORDER BY start_time LIMIT 1 OFFSET 3) OR src_addr = '10.200.7.99' ORDER BY start_time`), [
    '255.255.255.255|' + rows[3].split('|')[4],
    '10.200.7.99|' + rows[6].split('|')[4],
  ]);
  assert.deepEqual(await query(`SELECT count(dst_addr), max(bytes), max(packets), max(uid), max(pid), count(process) FROM ${read(fast)}`),
    await query(`SELECT count(dst_addr), max(bytes), max(packets), max(uid), max(pid), count(process) FROM ${read(slow)}`));
  // Statistics: a time filter outside the segment's span reads nothing, one inside finds its rows.
  const [stats] = await query(`SELECT stats_min_value, stats_max_value FROM parquet_metadata('${fast}') WHERE path_in_schema = 'start_time'`);
  assert.deepEqual(stats.split('|'), (await query(`SELECT min(start_time), max(start_time) FROM ${read(slow)}`))[0].split('|'));
  await fs.rm(dir, { recursive: true, force: true });
});

test('fast segments split a batch by UTC day, and compaction merges them with DuckDB-written ones', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-fast-'));
  const segments = await writeStore(path.join(dir, 'fast'), testBatch(100, T0 + DAY_US - 50_000_000), true);
  assert.deepEqual(segments.map((s) => path.basename(path.dirname(s))), ['day=2026-11-01', 'day=2026-11-02']);
  assert.deepEqual(await query(`SELECT count(*) FROM read_parquet('${segments[0]}')`), ['50']);
  assert.deepEqual(await query(`SELECT count(*) FROM read_parquet('${segments[1]}')`), ['50']);

  const store = await FlowStore.open(path.join(dir, 'mixed'), { quotaBytes: 1e9, fastWrites: true });
  store.append(edgyBatch(500, T0));
  await store.flush();
  await store.close();
  const slowStore = await FlowStore.open(path.join(dir, 'mixed'), { quotaBytes: 1e9 });
  slowStore.append(testBatch(200, T0 + 3_600e6, 1_000_000, 7));
  await slowStore.flush();
  const compacted = await slowStore.compact();
  await slowStore.close();
  assert.equal(compacted?.segmentsMerged, 2);
  const all = `read_parquet('${compacted!.segment}', hive_partitioning = false)`;
  assert.deepEqual(await query(`SELECT count(*), count(dst_addr), max(uid) FROM ${all}`), ['700|699|4294967294']);
  await fs.rm(dir, { recursive: true, force: true });
});

test('a fast store merges today once its uncompressed segments take an eighth of the quota, not before', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-fast-'));
  let nowMs = T0 / 1000 + 3_600_000;
  // About 84 B a record uncompressed: two segments of 1,000 records pass 1/8 of 1.2 MB, one does not.
  const store = await FlowStore.open(dir, { quotaBytes: 1_200_000, fastWrites: true, now: () => nowMs, compaction: { everyMs: 600_000, todayAt: 60 } });
  const merged: number[] = [];
  for (let i = 0; i < 3; i++) {
    nowMs += 1000;
    store.append(testBatch(1000, T0 + i * 1_000_000_000, 1000, 40 + i));
    const result = await store.flush();
    merged.push(result.compaction?.segmentsMerged ?? 0);
  }
  await store.close();
  assert.deepEqual(merged, [0, 2, 0], 'merged at the second flush, then not again within everyMs');
  await fs.rm(dir, { recursive: true, force: true });
});

test('a fast segment of several batches (each its own dictionary) holds what DuckDB writes for them, across two days', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-fast-'));
  // Three batches whose strings are coded in different orders, the last one crossing midnight.
  const batches = (): FlowRecordBatch[] => {
    const first = edgyBatch(700, T0);
    const second = testBatch(500, T0 + 3_600e6, 1_000_000, 9);
    second.codes.host.fill(second.strings.code('other-exporter'), 0, 200);
    const third = edgyBatch(400, T0 + DAY_US - 200_000_000);
    return [first, second, third];
  };
  const slow = await writeStore(path.join(dir, 'slow'), batches(), false);
  const fast = await writeStore(path.join(dir, 'fast'), batches(), true);
  assert.equal(fast.length, 2);
  for (let day = 0; day < 2; day++) {
    const read = (f: string): string => `read_parquet('${f}', hive_partitioning = false)`;
    const rows = await query(`SELECT * FROM ${read(fast[day])} ORDER BY ALL`);
    assert.equal(rows.length, day === 0 ? 1400 : 200);
    assert.deepEqual(rows, await query(`SELECT * FROM ${read(slow[day])} ORDER BY ALL`));
  }
  await fs.rm(dir, { recursive: true, force: true });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { FlowStore } from './flow-store.js';
import { listSegments } from './retention.js';
import { testBatch } from './test-records.js';

const DAY_US = 86_400_000_000;
const T0 = Date.UTC(2026, 10, 1) * 1000; // µs

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'endsight-store-'));
}

async function countRows(dataDir: string): Promise<number> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const r = await c.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${dataDir}/flows/*/*.parquet')`);
  const n = r.getRowObjects()[0].n as number;
  c.closeSync();
  db.closeSync();
  return n;
}

test('FlowStore writes one crash-safe segment per UTC day and leaves nothing in .tmp', async () => {
  const dir = await tempDir();
  const store = await FlowStore.open(dir, { quotaBytes: 1e9 });
  const batch = testBatch(100, T0 + DAY_US - 50_000_000); // 50 s before midnight, one a second
  store.append(batch);
  const result = await store.flush();
  await store.close();
  assert.equal(result.records, 100);
  assert.deepEqual(result.segments.map((s) => path.basename(path.dirname(s))), ['day=2026-11-01', 'day=2026-11-02']);
  assert.equal(await countRows(dir), 100);
  assert.deepEqual(await fs.readdir(path.join(dir, '.tmp')), []);
});

test('FlowStore stores every value as given, NULLs included, over several 2,048-row chunks', async () => {
  const dir = await tempDir();
  const store = await FlowStore.open(dir, { quotaBytes: 1e9 });
  const batch = testBatch(5000, T0, 1_000);
  const expected = batch.toRecords();
  store.append(batch);
  await store.flush();
  await store.close();
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const rows = (
    await c.runAndReadAll(
      `SELECT epoch_us(start_time)::DOUBLE AS s, src_addr, dst_addr, src_port::INTEGER AS sp, bytes::DOUBLE AS b, pid, process ` +
        `FROM read_parquet('${dir}/flows/*/*.parquet') ORDER BY s`,
    )
  ).getRowObjects();
  c.closeSync();
  db.closeSync();
  assert.equal(rows.length, expected.length);
  for (let i = 0; i < rows.length; i++) {
    const want = expected[i];
    assert.deepEqual(
      [rows[i].s, rows[i].src_addr, rows[i].dst_addr, rows[i].sp, rows[i].b, rows[i].pid, rows[i].process],
      [want.startUs, want.srcAddr, want.dstAddr, want.srcPort, want.bytes, want.pid, want.process],
      `row ${i}`,
    );
  }
});

test('FlowStore.open removes leftovers of an interrupted write', async () => {
  const dir = await tempDir();
  await (await FlowStore.open(dir)).close();
  await fs.writeFile(path.join(dir, '.tmp', '123-456-x0.parquet'), 'half a segment');
  const store = await FlowStore.open(dir);
  await store.close();
  assert.deepEqual(await fs.readdir(path.join(dir, '.tmp')), []);
});

test('FlowStore retention deletes segments written longer ago than the retention', async () => {
  const dir = await tempDir();
  let nowMs = Date.UTC(2026, 10, 1);
  const store = await FlowStore.open(dir, { retentionMs: 30 * 86_400_000, quotaBytes: 1e9, now: () => nowMs });
  store.append(testBatch(10, T0));
  await store.flush();
  nowMs += 29 * 86_400_000;
  store.append(testBatch(10, T0, 1_000_000, 2));
  let result = await store.flush();
  assert.equal(result.retention.deleted.length, 0);
  nowMs += 2 * 86_400_000; // the first segment is now 31 days old, the second 2
  store.append(testBatch(10, T0, 1_000_000, 3));
  result = await store.flush();
  await store.close();
  assert.equal(result.retention.deleted.length, 1);
  assert.equal((await listSegments(dir)).length, 2);
});

test('FlowStore quota deletes the oldest segments first', async () => {
  const dir = await tempDir();
  let nowMs = Date.UTC(2026, 10, 1);
  const probe = await FlowStore.open(await tempDir(), { quotaBytes: 1e9 });
  probe.append(testBatch(2000, T0));
  const oneSegment = (await probe.flush()).bytesWritten;
  await probe.close();
  const store = await FlowStore.open(dir, { quotaBytes: Math.floor(oneSegment * 2.5), now: () => nowMs });
  const written: string[] = [];
  for (let i = 0; i < 4; i++) {
    nowMs += 1000;
    store.append(testBatch(2000, T0, 1_000_000, 10 + i));
    written.push(...(await store.flush()).segments);
  }
  await store.close();
  const left = (await listSegments(dir)).map((s) => s.path);
  assert.deepEqual(left, written.slice(2), 'the two oldest segments were deleted');
});

test('FlowStore on a full disk: clear error, nothing stored is lost or damaged, no more writes', async (t) => {
  assert.equal(process.getuid?.(), 0, 'this test mounts a small tmpfs and needs root (CI runs as root)');
  const mountPoint = await tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mountPoint]);
  t.after(() => execFileSync('umount', ['-l', mountPoint]));
  const store = await FlowStore.open(mountPoint, { quotaBytes: 1e9 });
  store.append(testBatch(500, T0));
  await store.flush();
  const stored = await listSegments(mountPoint);
  const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
  const before = stored.map((s) => digest(s.path));

  let error: Error | null = null;
  for (let i = 0; i < 200 && error === null; i++) {
    store.append(testBatch(5000, T0 + (i + 1) * 10_000_000_000, 1_000_000, 100 + i));
    try {
      await store.flush();
    } catch (e) {
      error = e as Error;
    }
  }
  assert.ok(error, 'the small disk filled up');
  assert.equal(error.name, 'StoreError');
  assert.match(error.message, /disk is full.*Stored data is intact/);
  assert.equal(error.message.includes('\n'), false, 'one line');
  assert.deepEqual(stored.map((s) => digest(s.path)), before, 'earlier segments untouched');
  assert.deepEqual(await fs.readdir(path.join(mountPoint, '.tmp')), [], 'no partial segment left');
  assert.ok(store.pendingCount > 0, 'unwritten records are kept');
  await assert.rejects(store.flush(), /disk is full/);
  await store.close();
  // Every complete segment still reads.
  const rows = await countRows(mountPoint);
  assert.ok(rows >= 500);
});

test('FlowStore: one writer at a time; a lock left by a killed process is taken over', async () => {
  const dir = await tempDir();
  const first = await FlowStore.open(dir);
  await assert.rejects(FlowStore.open(dir), /process \d+ is writing to it.*use another --data-dir/);
  await first.close();
  // A lock file naming a process that no longer exists, as kill -9 leaves it.
  const dead = execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString();
  await fs.writeFile(path.join(dir, 'store.lock'), `${dead}\n`);
  const second = await FlowStore.open(dir);
  await second.close();
  await assert.rejects(fs.stat(path.join(dir, 'store.lock')), /ENOENT/, 'close() releases the lock');
});

/**
 * Compaction: a day's segments merged into one keep every record, exactly; readers never see a
 * record twice, neither while the inputs wait out their grace period nor after a crash at any step;
 * a sidecar without its segment (a crash before the swap) is removed at the next open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryEngine } from '../query/index.js';
import { COMPACTION_GRACE_MS, finishCompactions, REPLACES_SUFFIX } from './compaction.js';
import { FlowStore } from './flow-store.js';
import { listSegments } from './retention.js';
import { testBatch } from './test-records.js';

const DAY_US = 86_400_000_000;
const T0 = Date.UTC(2026, 10, 1) * 1000; // µs

/** What a reader sees: rows, and sums that change if any record is lost, doubled or altered. */
async function contents(dir: string): Promise<string> {
  const engine = await QueryEngine.open(dir);
  try {
    const { rows } = await engine.all(
      'SELECT count(*) AS n, sum(bytes) AS b, sum(packets) AS p, sum(epoch_us(start_time) % 1000003) AS t, count(DISTINCT src_addr) AS s, string_agg(DISTINCT coalesce(process, \'-\'), \',\' ORDER BY coalesce(process, \'-\')) AS procs FROM flows',
    );
    return JSON.stringify(rows);
  } finally {
    engine.close();
  }
}

async function storeWithSegments(): Promise<{ dir: string; store: FlowStore }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-compact-'));
  let nowMs = Date.UTC(2026, 10, 2);
  const store = await FlowStore.open(dir, { quotaBytes: 1e9, now: () => (nowMs += 60_000) });
  // Five flushes of day 1 and two of day 2: seven segments.
  for (let i = 0; i < 5; i++) {
    store.append(testBatch(700, T0 + i * 3_600_000_000, 1_000_000, 10 + i));
    await store.flush();
  }
  for (let i = 0; i < 2; i++) {
    store.append(testBatch(300, T0 + DAY_US + i * 1_000_000_000, 1_000_000, 20 + i));
    await store.flush();
  }
  return { dir, store };
}

test('compacting merges a day into one segment, keeps every record, and hides the inputs until their grace is over', async () => {
  const { dir, store } = await storeWithSegments();
  const before = await contents(dir);
  assert.equal((await listSegments(dir)).length, 7);
  const result = await store.compact();
  assert.ok(result !== null);
  assert.equal(result.day, 'day=2026-11-01');
  assert.equal(result.segmentsMerged, 5, 'the day with the most segments first');
  assert.ok(result.bytesAfter < result.bytesBefore, `smaller: ${result.bytesBefore} → ${result.bytesAfter} bytes`);
  const day1 = path.join(dir, 'flows', 'day=2026-11-01');
  const onDisk = await fs.readdir(day1);
  assert.equal(onDisk.filter((n) => n.endsWith('.parquet')).length, 6, 'the inputs stay on disk for their grace period');
  assert.equal(onDisk.filter((n) => n.endsWith(REPLACES_SUFFIX)).length, 1);
  assert.equal((await listSegments(dir)).length, 3, 'but are no segments any more');
  assert.equal(await contents(dir), before, 'every record once');
  // The merged segment keeps the newest input's write time (retention counts from it).
  const merged = path.basename(result.segment);
  const newestInput = Math.max(...onDisk.filter((n) => n !== merged && n.endsWith('.parquet')).map((n) => Number(n.split('-')[1])));
  assert.equal(Number(merged.split('-')[1]), newestInput);

  assert.equal(await finishCompactions(dir, Date.now()), 0, 'within the grace period nothing is deleted');
  const freed = await finishCompactions(dir, Date.now() + COMPACTION_GRACE_MS + 1000);
  assert.ok(freed > 0);
  assert.deepEqual((await fs.readdir(day1)).sort(), [merged]);
  assert.equal(await contents(dir), before);

  const second = await store.compact();
  assert.equal(second?.day, 'day=2026-11-02');
  assert.equal(await store.compact(), null, 'nothing left to merge');
  await store.close();
  assert.equal(await contents(dir), before);
});

test('a crash at any step of a compaction leaves every record readable once', async () => {
  const { dir, store } = await storeWithSegments();
  const before = await contents(dir);
  const result = (await store.compact())!;
  await store.close();
  const dayDir = path.dirname(result.segment);
  const merged = path.basename(result.segment);
  const sidecar = merged.replace(/\.parquet$/, REPLACES_SUFFIX);
  const inputs = JSON.parse(await fs.readFile(path.join(dayDir, sidecar), 'utf8')) as string[];
  const copy = async (label: string, keep: (name: string) => boolean): Promise<string> => {
    const crashed = await fs.mkdtemp(path.join(os.tmpdir(), `endsight-crash-${label}-`));
    await fs.cp(dir, crashed, { recursive: true });
    for (const name of await fs.readdir(path.join(crashed, 'flows', path.basename(dayDir)))) {
      if (!keep(name)) await fs.rm(path.join(crashed, 'flows', path.basename(dayDir), name));
    }
    return crashed;
  };
  // Before step 2 (no sidecar, no segment), after step 2 (a sidecar, no segment), after step 3
  // (both, every input), during step 4 (some inputs gone), after step 4 (only the segment).
  const states: [string, (name: string) => boolean][] = [
    ['before-sidecar', (n) => n !== merged && n !== sidecar],
    ['sidecar-only', (n) => n !== merged],
    ['swapped', () => true],
    ['half-deleted', (n) => n !== inputs[0] && n !== inputs[1]],
    ['done', (n) => n === merged],
  ];
  for (const [label, keep] of states) {
    const crashed = await copy(label, keep);
    assert.equal(await contents(crashed), before, `${label}: read as it was left`);
    const reopened = await FlowStore.open(crashed, { quotaBytes: 1e9 });
    await reopened.close();
    assert.equal(await contents(crashed), before, `${label}: after the next open`);
    const left = await fs.readdir(path.join(crashed, 'flows', path.basename(dayDir)));
    if (label === 'sidecar-only') assert.ok(!left.includes(sidecar), 'a sidecar without its segment is removed at open');
  }
});

test('a store with the compaction option merges after a flush, at most once per interval', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-compact-'));
  let nowMs = Date.UTC(2026, 10, 2);
  const store = await FlowStore.open(dir, { quotaBytes: 1e9, now: () => nowMs, compaction: { everyMs: 600_000, todayAt: 60 } });
  const compactions: string[] = [];
  for (let i = 0; i < 6; i++) {
    nowMs += 60_000;
    store.append(testBatch(100, T0 + i * 60_000_000, 1_000_000, 30 + i)); // yesterday's records
    const result = await store.flush();
    if (result.compaction) compactions.push(`${i}:${result.compaction.segmentsMerged}`);
  }
  await store.close();
  assert.deepEqual(compactions, ['1:2'], 'the first flush that finds two segments of a past day, then not again within 10 minutes');
});

test('retention that deletes a merged segment within its grace deletes its hidden inputs too: nothing comes back', async () => {
  const { dir, store } = await storeWithSegments();
  const merged = (await store.compact())!;
  await store.close();
  const day1 = path.dirname(merged.segment);
  const { enforceRetention } = await import('./retention.js');
  // A quota that only the newest day's segments fit: the merged day 1 goes, within its grace.
  const result = await enforceRetention(dir, { retentionMs: 1e12, quotaBytes: 1, nowMs: Date.now() });
  assert.ok(result.deleted.includes(merged.segment));
  assert.deepEqual(await fs.readdir(day1), [], 'the merged segment, its inputs and its sidecar are gone');
  await (await FlowStore.open(dir, { quotaBytes: 1e9 })).close();
  assert.deepEqual(await fs.readdir(day1), [], 'and nothing comes back at the next open');
});

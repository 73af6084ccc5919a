/**
 * Crash safety of the store: "kill -9 at any moment loses at most the records not yet flushed and
 * never leaves the store unreadable".
 *
 * A synthetic capture is imported once in full (the reference, timed). Then `endsight import` of the
 * same capture, with a short export interval so that many segments are written, is started again and
 * again in ONE store and killed with SIGKILL after a random delay; the delays are spread evenly over
 * the reference import's duration (a seeded PRNG; CRASH_SEED=<n> repeats a run). After every kill:
 *   (a) `endsight query` over the store succeeds;
 *   (b) every segment under flows/ reads completely (DuckDB read_parquet), and they hold exactly the
 *       records the query counts;
 *   (c) nothing stored earlier is lost (every earlier segment is still there, the record count never
 *       decreases), and what the killed run stored is records of the reference import, nothing else;
 *   (d) once the store is opened again, nothing is left in .tmp/.
 * Finally, a complete import into the crashed store and one into a fresh store each add exactly the
 * reference records (their packets sum to the capture's packets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { generateSyntheticCapture } from '../../src/bench/synthetic-capture.js';
import { Rng } from '../../src/bench/prng.js';
import { FlowStore, sqlString } from '../../src/store/index.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/crash → repository root
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const SEED = process.env.CRASH_SEED !== undefined ? Number(process.env.CRASH_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
const PACKETS = Number(process.env.CRASH_PACKETS ?? 1_500_000);
const KILLS = Number(process.env.CRASH_KILLS ?? 12);
const IMPORT_ARGS = ['import', '--export-interval', '0.05s'];

console.log(`crash-safety seed ${SEED} (repeat with CRASH_SEED=${SEED}), ${PACKETS} packets, ${KILLS} kills`);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs `node bin/endsight.js ...args`; with `killAfterMs`, sends SIGKILL after that long (if it still runs). */
function endsight(args: readonly string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const killer = killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (killer) clearTimeout(killer);
      clearTimeout(watchdog);
      resolve({ code, signal, stdout, stderr, elapsedMs: performance.now() - started });
    });
  });
}

async function segmentsOf(dataDir: string): Promise<string[]> {
  const flows = path.join(dataDir, 'flows');
  const names = await fs.readdir(flows, { recursive: true }).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.parquet')).map((n) => path.join(flows, n)).sort();
}

async function scalar(connection: DuckDBConnection, sql: string): Promise<number> {
  const rows = (await connection.runAndReadAll(sql)).getRows();
  return Number(rows[0][0] ?? 0);
}

const parquetList = (files: readonly string[]): string => `[${files.map(sqlString).join(', ')}]`;

test(`kill -9 during import loses only unflushed records and never leaves the store unreadable (seed ${SEED})`, { timeout: 180_000 }, async (t) => {
  const began = performance.now();
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-crash-'));
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const duck = await instance.connect();
  try {
    const capture = path.join(work, 'synthetic.pcap');
    const generated = await generateSyntheticCapture({ path: capture, packets: PACKETS, seed: 0xc0ffee });
    assert.equal(generated.packets, PACKETS);

    // The reference: one complete import, timed to spread the kills over an import's duration.
    const reference = path.join(work, 'reference');
    const full = await endsight([...IMPORT_ARGS, '--format', 'json', '--data-dir', reference, capture]);
    assert.equal(full.code, 0, full.stderr);
    const fullSummary = JSON.parse(full.stdout) as { packets: number; flows: number; segmentsWritten: number };
    assert.equal(fullSummary.packets, PACKETS);
    const referenceSegments = await segmentsOf(reference);
    const referenceRecords = await scalar(duck, `SELECT count(*) FROM read_parquet(${parquetList(referenceSegments)})`);
    assert.equal(referenceRecords, fullSummary.flows);
    assert.equal(await scalar(duck, `SELECT sum(packets) FROM read_parquet(${parquetList(referenceSegments)})`), PACKETS);
    assert.ok(fullSummary.segmentsWritten >= 4, `the reference import wrote only ${fullSummary.segmentsWritten} segments: the kills would rarely land between two`);
    const durationMs = full.elapsedMs;
    t.diagnostic(`reference import: ${durationMs.toFixed(0)} ms, ${fullSummary.flows} records in ${fullSummary.segmentsWritten} segments`);

    // Kill delays: one in each of KILLS equal slices of [0, duration), at a random point of its slice, in random order.
    const rng = new Rng(SEED);
    const delays = Array.from({ length: KILLS }, (_, i) => Math.round((durationMs * (i + rng.next())) / KILLS));
    for (let i = delays.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [delays[i], delays[j]] = [delays[j], delays[i]];
    }

    // The store exists before the first kill (a query of a directory that never became a store is refused).
    const store = path.join(work, 'store');
    await (await FlowStore.open(store)).close();
    let previousSegments: string[] = [];
    let previousRecords = 0;
    let partialRuns = 0;
    let leftoversCleaned = 0;
    const log: string[] = [];
    for (const [k, delay] of delays.entries()) {
      const killed = await endsight([...IMPORT_ARGS, '--data-dir', store, capture], delay);
      const what = `kill #${k} after ${delay} ms (seed ${SEED})`;
      assert.ok(killed.signal === 'SIGKILL' || killed.code === 0, `${what}: import exited ${killed.code ?? killed.signal}: ${killed.stderr}`);

      // (a) the store answers queries.
      const q = await endsight(['query', '--format', 'json', '--data-dir', store, 'SELECT count(*) AS n, sum(packets) AS p FROM flows']);
      assert.equal(q.code, 0, `${what}: query failed: ${q.stderr}`);
      const { n, p } = JSON.parse(q.stdout) as { n: number; p: number | null };

      // (b) every segment is complete, and the segments hold exactly what the query counted.
      const segments = await segmentsOf(store);
      let inSegments = 0;
      for (const segment of segments) {
        try {
          inSegments += await scalar(duck, `SELECT count(*) FROM read_parquet(${sqlString(segment)})`);
        } catch (error) {
          assert.fail(`${what}: segment ${segment} does not read: ${(error as Error).message}`);
        }
      }
      assert.equal(inSegments, n, `${what}: the segments hold ${inSegments} records, the query counts ${n}`);

      // (c) nothing stored is lost; what the killed run added are records of the reference import.
      const lost = previousSegments.filter((s) => !segments.includes(s));
      assert.deepEqual(lost, [], `${what}: earlier segments disappeared`);
      assert.ok(n >= previousRecords, `${what}: records went from ${previousRecords} down to ${n}`);
      const added = segments.filter((s) => !previousSegments.includes(s));
      if (added.length > 0) {
        const foreign = await scalar(
          duck,
          `SELECT count(*) FROM (SELECT * FROM read_parquet(${parquetList(added)}) EXCEPT ALL SELECT * FROM read_parquet(${parquetList(referenceSegments)}))`,
        );
        assert.equal(foreign, 0, `${what}: ${foreign} stored records are not records of the complete import`);
      }
      const addedRecords = n - previousRecords;
      if (killed.code === 0) assert.equal(addedRecords, referenceRecords, `${what}: a run that finished stored everything`);
      if (addedRecords > 0 && addedRecords < referenceRecords) partialRuns++;

      // (d) leftovers of the killed write are gone once the store is opened again.
      const leftovers = await fs.readdir(path.join(store, '.tmp')).catch(() => [] as string[]);
      if (leftovers.length > 0) leftoversCleaned++;
      const reopened = await FlowStore.open(store);
      await reopened.close();
      assert.deepEqual(await fs.readdir(path.join(store, '.tmp')), [], `${what}: .tmp not emptied at open`);
      assert.deepEqual(await segmentsOf(store), segments, `${what}: opening the store changed its segments`);

      log.push(`${delay} ms: ${killed.signal ?? `exit ${killed.code}`}, +${addedRecords} records (+${added.length} segments, ${p ?? 0} packets in all), .tmp ${leftovers.length}`);
      previousSegments = segments;
      previousRecords = n;
    }
    t.diagnostic(log.join('\n'));
    // The kills must have hit imports in the middle, or the test proved nothing.
    assert.ok(partialRuns >= 2, `only ${partialRuns} of ${KILLS} kills landed while an import had stored part of its records`);

    // Finally: a complete import into the crashed store adds exactly the reference records, and so does one into a fresh store.
    const again = await endsight([...IMPORT_ARGS, '--format', 'json', '--data-dir', store, capture]);
    assert.equal(again.code, 0, again.stderr);
    const afterAll = await segmentsOf(store);
    const addedLast = afterAll.filter((s) => !previousSegments.includes(s));
    const fresh = path.join(work, 'fresh');
    const last = await endsight([...IMPORT_ARGS, '--format', 'json', '--data-dir', fresh, capture]);
    assert.equal(last.code, 0, last.stderr);
    for (const [name, files] of [['the crashed store', addedLast], ['a fresh store', await segmentsOf(fresh)]] as const) {
      const mine = `read_parquet(${parquetList(files)})`;
      const ref = `read_parquet(${parquetList(referenceSegments)})`;
      assert.equal(await scalar(duck, `SELECT sum(packets) FROM ${mine}`), PACKETS, `${name}: packets`);
      assert.equal(await scalar(duck, `SELECT count(*) FROM (SELECT * FROM ${mine} EXCEPT ALL SELECT * FROM ${ref})`), 0, `${name}: records not in the reference`);
      assert.equal(await scalar(duck, `SELECT count(*) FROM (SELECT * FROM ${ref} EXCEPT ALL SELECT * FROM ${mine})`), 0, `${name}: reference records missing`);
    }
    t.diagnostic(`${partialRuns} partial imports, ${leftoversCleaned} left files in .tmp; ${((performance.now() - began) / 1000).toFixed(1)} s in all`);
  } finally {
    duck.closeSync();
    instance.closeSync();
    await fs.rm(work, { recursive: true, force: true });
  }
});

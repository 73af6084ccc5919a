/**
 * Fuzz test of both readers: ≥ 100,000 damaged inputs each from a seeded PRNG (FUZZ_SEED=<n> repeats a
 * run, FUZZ_CASES=<n> changes the count). Whatever the input, reading must not throw (a CaptureError
 * from opening is allowed: the damage hit the magic), must terminate, must keep every packet inside its
 * batch's data, and must never deliver more captured bytes than the input holds. The cases run in two
 * worker threads (see capture-fuzzer.ts), one per reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { FuzzReport } from './capture-fuzzer.js';

const CASES_PER_READER = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;

console.log(`fuzz seed ${SEED} (repeat with FUZZ_SEED=${SEED})`);

/** Runs one reader's fuzz cases in a worker thread. */
function runWorker(format: 'pcap' | 'pcapng'): Promise<FuzzReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./capture-fuzzer.js', import.meta.url), {
      workerData: { fuzz: { format, seed: SEED, cases: CASES_PER_READER } },
    });
    worker.once('message', (report: FuzzReport) => resolve(report));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`${format} fuzz worker exited with code ${code} before reporting`)));
  });
}

const reports = {
  pcap: runWorker('pcap'),
  pcapng: runWorker('pcapng'),
};

for (const format of ['pcap', 'pcapng'] as const) {
  test(`fuzz ${format} reader: ${CASES_PER_READER} damaged inputs (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const report = await reports[format];
    console.log(`${format}: ${report.cases} cases in ${report.seconds.toFixed(1)} s; issues ${JSON.stringify(report.issues)}`);
    assert.equal(report.failure, null, `${report.failure} (FUZZ_SEED=${SEED})`);
    assert.equal(report.cases, CASES_PER_READER);
  });
}

/**
 * Memory per active flow: meters a capture in which every flow stays active to the end (see
 * `generateActiveFlowsCapture`) and reports how much the process grew per flow held.
 *
 * Run as its own process so that nothing else shares the heap:
 *   node --expose-gc dist/src/bench/meter-memory.js FILE [MAX_FLOWS]
 * Prints one JSON object on stdout. The baseline is taken after the first batch (modules loaded,
 * reader buffers allocated, the table at its initial size), the end point after the last packet,
 * before the meter is finished (so no records are built): both after a full GC.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCapture } from '../capture/index.js';
import { IssueCounter } from '../common/issue-counter.js';
import { FlowMeter } from '../flow/index.js';

export interface MeterMemoryResult {
  file: string;
  packets: number;
  activeFlows: number;
  flowsEnded: number;
  maxFlows: number;
  /**
   * Bytes per flow held: growth of resident memory, of JS heap + external (typed arrays), and peak RSS
   * over the baseline. The flow table reserves its record storage at construction (untouched pages
   * are not resident), so the heap figure counts only what grows after it: the index, addresses.
   */
  rssBytesPerFlow: number;
  heapBytesPerFlow: number;
  peakRssBytesPerFlow: number;
  baseline: { rss: number; heapUsed: number; external: number; flows: number };
  final: { rss: number; heapUsed: number; external: number; peakRss: number };
  elapsedMs: number;
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

export async function measureMeterMemory(file: string, maxFlows: number): Promise<MeterMemoryResult> {
  const began = performance.now();
  const issues = new IssueCounter();
  const meter = new FlowMeter(
    { idleTimeoutUs: 90_000_000, activeTimeoutUs: 1_800_000_000, maxFlows, host: 'bench', source: 'pcap:active-flows' },
    issues,
  );
  const source = await openCapture(file, issues);
  let baseline: MeterMemoryResult['baseline'] | null = null;
  for await (const batch of source.batches()) {
    meter.processBatch(batch, source.interfaces);
    meter.drain(); // records of flows that ended (none expected) are not the table's memory
    if (baseline === null) {
      gc();
      const m = process.memoryUsage();
      baseline = { rss: m.rss, heapUsed: m.heapUsed, external: m.external, flows: meter.stats().flowsActive };
    }
  }
  gc();
  const m = process.memoryUsage();
  const stats = meter.stats();
  const b = baseline ?? { rss: m.rss, heapUsed: m.heapUsed, external: m.external, flows: 0 };
  const held = Math.max(1, stats.flowsActive - b.flows);
  const final = { rss: m.rss, heapUsed: m.heapUsed, external: m.external, peakRss: peakRss() };
  return {
    file,
    packets: stats.packetsSeen,
    activeFlows: stats.flowsActive,
    flowsEnded: stats.flowsEnded,
    maxFlows,
    rssBytesPerFlow: (final.rss - b.rss) / held,
    heapBytesPerFlow: (final.heapUsed + final.external - b.heapUsed - b.external) / held,
    peakRssBytesPerFlow: (final.peakRss - b.rss) / held,
    baseline: b,
    final,
    elapsedMs: performance.now() - began,
  };
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]);
if (isMain) {
  const [file, maxFlowsText] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node --expose-gc dist/src/bench/meter-memory.js FILE [MAX_FLOWS]');
    process.exit(2);
  }
  measureMeterMemory(file, Number(maxFlowsText ?? 4_194_304))
    .then((result) => console.log(JSON.stringify(result)))
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    });
}

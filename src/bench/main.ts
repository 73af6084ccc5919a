/**
 * `npm run bench`: endsight's import against softflowd and nfpcapd on the same synthetic capture, in
 * the same run, plus memory per active flow and a top-10 GROUP BY over 10 million stored records.
 *
 *   npm run bench                      5M packets, 3 runs of each tool, medians
 *   npm run bench -- --quick           500k packets, 1 run, smaller memory and GROUP BY sets
 *   npm run bench -- --json            the results as one JSON document on stdout
 *   npm run bench -- --only-agent      only the live agent against softflowd and nethogs (agent-bench.ts)
 *   npm run bench -- --only-fleet      only the fleet query plane's costs (fleet-bench.ts, fleet-scale-bench.ts)
 *   npm run bench -- --only-topo       only the network view's SPF on generated networks (topo-bench.ts)
 *   npm run bench -- --help            every option
 *
 * Progress goes to stderr; the report (or JSON) to stdout. Captures and the GROUP BY store are cached
 * in $ENDSIGHT_BENCH_DIR (default /var/tmp/endsight-bench) and reused when their parameters match.
 * Every ratio is against the peers measured in this run; the machine's cores and load are printed
 * with the results, since the machine may be shared and noisy.
 */
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { AGENT_TARGETS, formatAgentBench, runAgentBench, type AgentBenchReport } from './agent-bench.js';
import { formatFleetLocal, runFleetLocalBench } from './fleet-bench.js';
import { formatFleetScale, runFleetScaleBench, type FleetScaleOptions } from './fleet-scale-bench.js';
import { formatTopoBench, runTopoBench } from './topo-bench.js';
import { formatCollectBench, runCollectBench } from './collect-bench.js';
import { ensureGroupByStore, timeGroupBy, type GroupByResult, type GroupByStore } from './groupby.js';
import type { MeterMemoryResult } from './meter-memory.js';
import { lastLines, runEndsightImport, runNfpcapd, runSoftflowd, toolVersions, DEFAULT_TIMEOUTS, type ToolRun } from './peers.js';
import { haveGnuTime, machineInfo, median, timedRun } from './process-stats.js';
import {
  generateActiveFlowsCapture,
  generateSyntheticCapture,
  GENERATOR_VERSION,
  type ActiveFlowsCaptureResult,
  type SyntheticCaptureResult,
} from './synthetic-capture.js';

/** Targets from the issue. */
export const TARGETS = {
  importSpeedupOverFasterPeer: 1.5,
  bytesPerActiveFlow: 128,
  bytesPerStoredRecord: 16,
  storedSizeVsNfdumpLz4: 0.6,
  groupByMs: 300,
};

const TOOLS = ['softflowd', 'nfpcapd', 'endsight'] as const;
type Tool = (typeof TOOLS)[number];

interface BenchOptions {
  packets: number;
  seed: number;
  durationSeconds: number;
  snaplen: number;
  runs: number;
  dir: string;
  activeFlows: number;
  groupbyRecords: number;
  groupbyRuns: number;
  tools: Tool[];
  memory: boolean;
  groupby: boolean;
  softflowdMaxFlows: number;
  endsightArgs: string[];
  json: boolean;
  check: boolean;
  quick: boolean;
  agent: boolean;
  onlyAgent: boolean;
  onlyFleet: boolean;
  fleetHosts: number[];
  fleetRuns: number;
  fleetScale: boolean;
  onlyTopo: boolean;
  onlyCollect: boolean;
  onlyPlan: boolean;
  coverageRecords: number;
  collectRecords: number;
  collectExporters: number;
  collectRate: number;
}

export interface ToolSummary {
  tool: string;
  runs: number;
  ok: boolean;
  errors: string[];
  packets: number;
  packetsPerSecond: number;
  wallS: number;
  cpuS: number;
  maxRssBytes: number;
  records: number | null;
  storedBytes: number | null;
  bytesPerRecord: number | null;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: ReturnType<typeof machineInfo> & { loadAverageAfter: number[] };
  versions: Record<string, string>;
  options: Omit<BenchOptions, 'json' | 'check' | 'agent' | 'onlyAgent' | 'onlyFleet' | 'fleetHosts' | 'fleetRuns' | 'fleetScale' | 'onlyTopo' | 'onlyCollect' | 'onlyPlan' | 'coverageRecords' | 'collectRecords' | 'collectExporters' | 'collectRate'>;
  capture: SyntheticCaptureResult & { reused: boolean };
  runs: ToolRun[];
  summary: ToolSummary[];
  memory: (MeterMemoryResult & { capture: ActiveFlowsCaptureResult; processMaxRssBytes: number }) | { error: string } | null;
  groupBy: ({ store: GroupByStore } & GroupByResult) | { error: string } | null;
  ratios: {
    fasterPeer: string | null;
    importSpeedup: number | null;
    importCpuPerPacketVsFasterPeer: number | null;
    bytesPerRecord: number | null;
    storedSizeVsNfdumpLz4: number | null;
    /** Whole store vs all of nfpcapd's files for the capture (record counts differ between tools). */
    totalStoredVsNfdumpLz4: number | null;
    bytesPerActiveFlow: number | null;
    groupByMs: number | null;
  };
  targets: typeof TARGETS;
  verdicts: Record<string, boolean | null>;
}

const log = (line: string): void => {
  process.stderr.write(line + '\n');
};

function parseOptions(argv: string[]): BenchOptions {
  const program = new Command('bench')
    .description("endsight's benchmark: import vs softflowd and nfpcapd, memory per flow, GROUP BY over stored records")
    .option('--packets <n>', 'packets in the synthetic capture', '5000000')
    .option('--seed <n>', 'generator seed', '1')
    .option('--duration <seconds>', 'span of packet time', '3600')
    .option('--snaplen <bytes>', 'bytes stored per frame', '96')
    .option('--runs <n>', 'runs of each tool (medians are reported)', '3')
    .option('--dir <dir>', 'cache and work directory', process.env.ENDSIGHT_BENCH_DIR || '/var/tmp/endsight-bench')
    .option('--active-flows <n>', 'flows held at once for the memory measurement', '1000000')
    .option('--groupby-records <n>', 'records in the GROUP BY store', '10000000')
    .option('--groupby-runs <n>', 'timed GROUP BY runs after the warm-up', '5')
    .option('--tools <list>', 'tools to run, comma-separated', TOOLS.join(','))
    .option('--no-memory', 'skip the memory-per-flow measurement')
    .option('--no-groupby', 'skip the GROUP BY measurement')
    .option('--no-agent', 'skip the live agent measurement (needs root)')
    .option('--only-agent', 'run only the live agent measurement: endsight agent vs softflowd and nethogs at 20,000 and 150,000 packets/s')
    .option('--only-fleet', "run only the fleet query plane's measurement: typical aggregates on a week's store, locally and as a fleet host answers them")
    .option('--only-topo', "run only the network view's measurement: SPF on generated networks of 100, 1,000 and 2,500 routers")
    .option('--only-plan', 'run only the coverage and probe placement measurement (300,000 hosts; 2,500 routers)')
    .option('--only-collect', 'run only the collector measurement: endsight collect and nfcapd on the same replayed IPFIX')
    .option('--collect-records <n>', 'with --only-collect: records replayed', '1000000')
    .option('--coverage-records <n>', 'with --only-plan: also time endsight coverage end to end on a store of this many records (100000000: the issue\'s 100 million; 0: not)', '0')
    .option('--collect-exporters <n>', 'with --only-collect: exporters sending at once', '4')
    .option('--collect-rate <n>', 'with --only-collect: datagrams per second, all exporters together', '16000')
    .option('--fleet-hosts <list>', 'with --only-fleet: sizes of the virtual fleet, comma-separated', '1000,10000')
    .option('--fleet-runs <n>', 'with --only-fleet: timed queries per size, path and query', '15')
    .option('--no-fleet-scale', 'with --only-fleet: only the local part (no virtual fleet)')
    .option('--softflowd-max-flows <n>', 'softflowd -m (flows tracked at once; endsight import --max-flows defaults to 1000000)', '1000000')
    .option('--endsight-arg <arg>', 'extra argument for `endsight import` (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--quick', 'a fast check: 500k packets, 1 run, 200k active flows, 1M GROUP BY records')
    .option('--json', 'print the results as JSON on stdout')
    .option('--check', 'exit with status 1 when a target is missed')
    .allowExcessArguments(false);
  program.parse(argv, { from: 'user' });
  const o = program.opts<Record<string, string | boolean | string[]>>();
  const int = (name: string, value: unknown, min = 1): number => {
    const n = Number(String(value).replaceAll('_', ''));
    if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be a whole number >= ${min}: ${String(value)}`);
    return n;
  };
  const quick = o.quick === true;
  const given = (name: string): boolean => program.getOptionValueSource(name) === 'cli';
  const tools = String(o.tools)
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of tools) if (!(TOOLS as readonly string[]).includes(t)) throw new RangeError(`--tools: unknown tool "${t}" (known: ${TOOLS.join(', ')})`);
  return {
    packets: quick && !given('packets') ? 500_000 : int('packets', o.packets),
    seed: int('seed', o.seed, 0),
    durationSeconds: int('duration', o.duration),
    snaplen: int('snaplen', o.snaplen, 14),
    runs: quick && !given('runs') ? 1 : int('runs', o.runs),
    dir: path.resolve(String(o.dir)),
    activeFlows: quick && !given('activeFlows') ? 200_000 : int('active-flows', o.activeFlows),
    groupbyRecords: quick && !given('groupbyRecords') ? 1_000_000 : int('groupby-records', o.groupbyRecords),
    groupbyRuns: int('groupby-runs', o.groupbyRuns),
    tools: tools as Tool[],
    memory: o.memory !== false,
    groupby: o.groupby !== false,
    softflowdMaxFlows: int('softflowd-max-flows', o.softflowdMaxFlows),
    endsightArgs: o.endsightArg as string[],
    json: o.json === true,
    check: o.check === true,
    quick,
    agent: o.agent !== false,
    onlyAgent: o.onlyAgent === true,
    onlyFleet: o.onlyFleet === true,
    fleetHosts: String(o.fleetHosts).split(',').map((size) => int('fleet-hosts', size.trim())),
    fleetRuns: int('fleet-runs', o.fleetRuns),
    fleetScale: o.fleetScale !== false,
    onlyTopo: o.onlyTopo === true,
    onlyCollect: o.onlyCollect === true,
    onlyPlan: o.onlyPlan === true,
    coverageRecords: int('coverage-records', o.coverageRecords, 0),
    collectRecords: Number(o.collectRecords),
    collectExporters: Number(o.collectExporters),
    collectRate: Number(o.collectRate),
  };
}

/** The repository root: dist/src/bench/main.js -> ../../.. */
function repoDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

function progressPrinter(label: string, total: number): (done: number) => void {
  let last = 0;
  return (done) => {
    const now = Date.now();
    if (now - last < 500 && done < total) return;
    last = now;
    const pct = ((100 * done) / total).toFixed(0).padStart(3);
    if (process.stderr.isTTY) process.stderr.write(`\r  ${label}: ${pct}% (${done.toLocaleString('en-US')} packets)${done >= total ? '\n' : ''}`);
    else if (done >= total) log(`  ${label}: 100% (${done.toLocaleString('en-US')} packets)`);
  };
}

async function ensureCapture(o: BenchOptions): Promise<SyntheticCaptureResult & { reused: boolean }> {
  const name = `synthetic-v${GENERATOR_VERSION}-p${o.packets}-s${o.seed}-d${o.durationSeconds}-snap${o.snaplen}`;
  const file = path.join(o.dir, `${name}.pcap`);
  const meta = path.join(o.dir, `${name}.json`);
  if (existsSync(file) && existsSync(meta)) {
    const saved = JSON.parse(await fs.readFile(meta, 'utf8')) as SyntheticCaptureResult;
    const st = await fs.stat(file);
    if (st.size === saved.bytes) {
      log(`capture: reusing ${file} (${(st.size / 1e6).toFixed(0)} MB)`);
      return { ...saved, path: file, reused: true };
    }
  }
  log(`capture: generating ${o.packets.toLocaleString('en-US')} packets into ${file}`);
  const result = await generateSyntheticCapture({
    path: file,
    packets: o.packets,
    seed: o.seed,
    durationSeconds: o.durationSeconds,
    snaplen: o.snaplen,
    onProgress: progressPrinter('generate', o.packets),
  });
  await fs.writeFile(meta, JSON.stringify(result, null, 2) + '\n');
  log(`capture: ${(result.bytes / 1e6).toFixed(0)} MB, ${result.flows.toLocaleString('en-US')} flows, in ${(result.elapsedMs / 1000).toFixed(1)} s`);
  return { ...result, reused: false };
}

async function ensureActiveFlowsCapture(o: BenchOptions): Promise<ActiveFlowsCaptureResult> {
  const name = `active-flows-v${GENERATOR_VERSION}-f${o.activeFlows}-s${o.seed}-snap${o.snaplen}`;
  const file = path.join(o.dir, `${name}.pcap`);
  const meta = path.join(o.dir, `${name}.json`);
  if (existsSync(file) && existsSync(meta)) {
    const saved = JSON.parse(await fs.readFile(meta, 'utf8')) as ActiveFlowsCaptureResult;
    if ((await fs.stat(file)).size === saved.bytes) return { ...saved, path: file };
  }
  log(`memory: generating ${o.activeFlows.toLocaleString('en-US')} concurrently active flows into ${file}`);
  const result = await generateActiveFlowsCapture({ path: file, flows: o.activeFlows, seed: o.seed, snaplen: o.snaplen });
  await fs.writeFile(meta, JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** Reads the file once so that every tool finds it in the page cache. */
async function warmPageCache(file: string): Promise<number> {
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file, { highWaterMark: 4 * 1024 * 1024 });
    stream.on('data', () => undefined);
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  return performance.now() - t;
}

function summarize(tool: string, runs: ToolRun[]): ToolSummary {
  const good = runs.filter((r) => r.ok);
  const pick = (f: (r: ToolRun) => number | null): number | null => {
    const values = good.map(f).filter((v): v is number => v !== null && Number.isFinite(v));
    return values.length > 0 ? median(values) : null;
  };
  return {
    tool,
    runs: runs.length,
    ok: good.length > 0,
    errors: runs.filter((r) => !r.ok).map((r) => r.error ?? 'failed'),
    packets: pick((r) => r.packets) ?? 0,
    packetsPerSecond: pick((r) => r.packetsPerSecond) ?? Number.NaN,
    wallS: (pick((r) => r.wallMs) ?? Number.NaN) / 1000,
    cpuS: pick((r) => r.cpuS) ?? Number.NaN,
    maxRssBytes: pick((r) => r.maxRssBytes) ?? Number.NaN,
    records: pick((r) => r.records),
    storedBytes: pick((r) => r.storedBytes),
    bytesPerRecord: pick((r) => r.bytesPerRecord),
  };
}

async function runMemory(o: BenchOptions): Promise<BenchReport['memory']> {
  try {
    const capture = await ensureActiveFlowsCapture(o);
    const script = fileURLToPath(new URL('./meter-memory.js', import.meta.url));
    log(`memory: metering ${capture.flows.toLocaleString('en-US')} active flows (${capture.packets.toLocaleString('en-US')} packets)`);
    const workDir = path.join(o.dir, 'runs');
    await fs.mkdir(workDir, { recursive: true });
    const maxFlows = Math.max(o.activeFlows * 2, 1024);
    const timed = await timedRun(process.execPath, ['--expose-gc', script, capture.path, String(maxFlows)], { workDir, timeoutMs: 20 * 60_000 });
    if (timed.exitCode !== 0) return { error: `meter-memory failed: ${lastLines(timed.stderr || timed.stdout, 5)}` };
    const result = JSON.parse(timed.stdout.trim().split('\n').pop() ?? '{}') as MeterMemoryResult;
    return { ...result, capture, processMaxRssBytes: timed.maxRssBytes };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

async function runGroupBy(o: BenchOptions): Promise<BenchReport['groupBy']> {
  try {
    log(`groupby: store of ${o.groupbyRecords.toLocaleString('en-US')} records`);
    const store = await ensureGroupByStore(o.dir, o.groupbyRecords, log);
    log(`groupby: ${store.reused ? 'reusing' : 'built'} ${store.dataDir} (${(store.bytes / 1e6).toFixed(0)} MB, ${store.segments} segments${store.reused ? '' : `, ${(store.buildMs / 1000).toFixed(1)} s`})`);
    const result = await timeGroupBy(store.dataDir, o.groupbyRuns);
    log(`groupby: median ${result.medianMs.toFixed(0)} ms (runs ${result.runsMs.map((x) => x.toFixed(0)).join(', ')} ms; read_parquet directly ${result.rawMedianMs.toFixed(0)} ms)`);
    return { store, ...result };
  } catch (error) {
    log(`groupby: FAILED: ${(error as Error).message}`);
    return { error: (error as Error).message };
  }
}

const fmtInt = (n: number | null): string => (n === null || !Number.isFinite(n) ? '-' : Math.round(n).toLocaleString('en-US'));
const fmt = (n: number | null, digits = 2): string => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits));
const mb = (n: number | null): string => (n === null || !Number.isFinite(n) ? '-' : (n / 1e6).toFixed(1));

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

function verdict(ok: boolean | null): string {
  return ok === null ? 'n/a' : ok ? 'PASS' : 'MISS';
}

function printReport(r: BenchReport): void {
  const out: string[] = [];
  const m = r.machine;
  out.push('');
  out.push(`endsight benchmark  ${r.finishedAt}`);
  out.push(
    `machine: ${m.cores} cores (${m.cpuModel}), ${(m.totalMemoryBytes / 1e9).toFixed(1)} GB, load average ${m.loadAverage.join(' ')} before, ${m.loadAverageAfter.join(' ')} after; node ${m.node}; softflowd ${r.versions.softflowd}, nfdump ${r.versions.nfdump}`,
  );
  const c = r.capture;
  out.push(
    `capture: ${c.packets.toLocaleString('en-US')} packets, ${(c.bytes / 1e6).toFixed(0)} MB, ${c.flows.toLocaleString('en-US')} unidirectional flows, ` +
      `${(((c.lastUs - c.firstUs) / 1e6) / 60).toFixed(0)} min; IPv6 ${((100 * c.mix.ipv6) / c.packets).toFixed(0)}%, TCP ${((100 * c.mix.tcp) / c.packets).toFixed(0)}%, ` +
      `UDP ${((100 * c.mix.udp) / c.packets).toFixed(0)}%, ESP ${((100 * c.mix.esp) / c.packets).toFixed(0)}%, ICMP ${((100 * (c.mix.icmp + c.mix.icmpv6)) / c.packets).toFixed(1)}%`,
  );
  out.push(`runs: ${r.options.runs} per tool, medians; timeouts idle ${DEFAULT_TIMEOUTS.idleS} s, active ${DEFAULT_TIMEOUTS.activeS} s`);
  out.push('');
  const rows = [['tool', 'packets/s', 'wall s', 'CPU s', 'CPU µs/pkt', 'peak RSS MB', 'records', 'stored MB', 'bytes/record']];
  for (const s of r.summary) {
    rows.push([
      s.ok ? s.tool : `${s.tool} (failed)`,
      fmtInt(s.packetsPerSecond),
      fmt(s.wallS),
      fmt(s.cpuS),
      fmt((s.cpuS * 1e6) / s.packets),
      mb(s.maxRssBytes),
      fmtInt(s.records),
      mb(s.storedBytes),
      fmt(s.bytesPerRecord, 1),
    ]);
  }
  out.push(table(rows));
  out.push('  softflowd: NetFlow v9 to a local nfcapd; its own CPU and RSS only; records = what it exported; bytes/record = the collector\'s LZ4 files.');
  out.push('  nfpcapd: nfcapd files, LZ4 (-y), one file per 300 s of packet time; one record per ICMP packet.');
  for (const s of r.summary) {
    const each = r.runs.filter((x) => x.tool === s.tool && x.ok).map((x) => fmtInt(x.packetsPerSecond));
    if (each.length > 1) out.push(`  ${s.tool} packets/s per run: ${each.join(', ')}`);
  }
  for (const x of r.runs) {
    const received = x.details.collectorRecords;
    if (x.tool === 'softflowd' && typeof received === 'number' && x.records !== null && received < x.records) {
      out.push(`  softflowd: the collector received ${fmtInt(received)} of ${fmtInt(x.records)} records in one run (UDP loss at the end-of-file flush; net.core.rmem_max caps nfcapd's socket buffer)`);
    }
  }
  for (const s of r.summary) for (const e of s.errors) out.push(`  ${s.tool} error: ${e}`);
  out.push('');
  const q = r.ratios;
  const lines: string[][] = [['measure', 'value', 'target', '']];
  lines.push([
    `import packets/s vs faster peer (${q.fasterPeer ?? '-'})`,
    q.importSpeedup === null ? '-' : `${fmt(q.importSpeedup)}x`,
    `>= ${TARGETS.importSpeedupOverFasterPeer}x`,
    verdict(r.verdicts.importSpeedup),
  ]);
  lines.push(['import CPU per packet vs faster peer', q.importCpuPerPacketVsFasterPeer === null ? '-' : `${fmt(q.importCpuPerPacketVsFasterPeer)}x`, '', '']);
  lines.push(['bytes per stored record (endsight)', fmt(q.bytesPerRecord, 1), `<= ${TARGETS.bytesPerStoredRecord}`, verdict(r.verdicts.bytesPerRecord)]);
  lines.push(['bytes/record vs nfdump LZ4, same capture', q.storedSizeVsNfdumpLz4 === null ? '-' : `${fmt(q.storedSizeVsNfdumpLz4 * 100, 0)}%`, `< ${TARGETS.storedSizeVsNfdumpLz4 * 100}%`, verdict(r.verdicts.storedSize)]);
  lines.push(['total stored bytes vs nfdump LZ4 files', q.totalStoredVsNfdumpLz4 === null ? '-' : `${fmt(q.totalStoredVsNfdumpLz4 * 100, 0)}%`, '', '']);
  lines.push([
    `memory per active flow at ${r.options.activeFlows.toLocaleString('en-US')} flows`,
    q.bytesPerActiveFlow === null ? '-' : `${fmt(q.bytesPerActiveFlow, 0)} B`,
    `<= ${TARGETS.bytesPerActiveFlow} B`,
    verdict(r.verdicts.bytesPerActiveFlow),
  ]);
  lines.push([
    `top-10 GROUP BY over ${r.options.groupbyRecords.toLocaleString('en-US')} records`,
    q.groupByMs === null ? '-' : `${fmt(q.groupByMs, 0)} ms`,
    `< ${TARGETS.groupByMs} ms`,
    verdict(r.verdicts.groupBy),
  ]);
  out.push(table(lines));
  if (r.memory && !('error' in r.memory)) {
    out.push(
      `  memory: peak RSS growth ${fmt(r.memory.peakRssBytesPerFlow, 0)} B/flow, resident growth ${fmt(r.memory.rssBytesPerFlow, 0)} B/flow, JS heap + typed arrays ${fmt(r.memory.heapBytesPerFlow, 0)} B/flow; ${r.memory.activeFlows.toLocaleString('en-US')} flows held (${r.memory.flowsEnded} ended early)`,
    );
  } else if (r.memory && 'error' in r.memory) out.push(`  memory error: ${r.memory.error}`);
  if (r.groupBy && !('error' in r.groupBy)) {
    const g = r.groupBy;
    out.push(
      `  GROUP BY: through the query engine's flows view, median of ${g.runsMs.length} after a warm-up (${g.runsMs.map((x) => x.toFixed(0)).join(', ')} ms); ` +
        `engine open ${g.openMs.toFixed(0)} ms; the same SQL on read_parquet directly ${g.rawMedianMs.toFixed(0)} ms; store ${(g.store.bytes / 1e6).toFixed(0)} MB in ${g.store.segments} segments (${fmt(g.store.bytesPerRecord, 1)} B/record, synthetic records)`,
    );
  } else if (r.groupBy && 'error' in r.groupBy) out.push(`  GROUP BY error: ${r.groupBy.error}`);
  out.push('');
  process.stdout.write(out.join('\n') + '\n');
}

/** The live agent's measurement; in --quick mode shorter windows and fewer active flows. */
async function runAgent(o: BenchOptions): Promise<AgentBenchReport | { error: string }> {
  try {
    return await runAgentBench(
      { repoDir: repoDir(), rates: [20_000, 150_000], windowSeconds: o.quick ? 5 : 10, activeFlows: o.quick ? 20_000 : 100_000 },
      log,
    );
  } catch (error) {
    log(`agent bench: FAILED: ${(error as Error).message}`);
    return { error: (error as Error).message };
  }
}

function printAgent(agent: AgentBenchReport | { error: string }): void {
  process.stdout.write(('error' in agent ? [`agent bench error: ${agent.error}`] : formatAgentBench(agent)).join('\n') + '\n');
}

/** The fleet query plane's measurement on the GROUP BY store (fleet-bench.ts). */
async function runFleet(o: BenchOptions): Promise<number> {
  const machine = machineInfo();
  log(`fleet bench: ${machine.cores} cores, load average ${machine.loadAverage.join(' ')}; cache ${o.dir}`);
  await fs.mkdir(o.dir, { recursive: true });
  const store = await ensureGroupByStore(o.dir, o.groupbyRecords, log);
  log(`fleet bench: ${store.reused ? 'reusing' : 'built'} ${store.dataDir} (${(store.bytes / 1e6).toFixed(0)} MB, ${store.segments} segments)`);
  const local = await runFleetLocalBench(store.dataDir, o.groupbyRuns, log);
  const scaleOptions: FleetScaleOptions = { sizes: o.fleetHosts, clusters: [1, 3], runs: o.fleetRuns, sites: 10, recordsPerHost: 40, hostsPerProcess: 2500 };
  const scale = o.fleetScale ? await runFleetScaleBench(scaleOptions, log) : null;
  const after = machineInfo().loadAverage;
  if (o.json) process.stdout.write(JSON.stringify({ machine: { ...machine, loadAverageAfter: after }, store, local, scale }, null, 2) + '\n');
  else {
    process.stdout.write(
      [
        `machine: ${machine.cores} cores, load average ${machine.loadAverage.join(' ')} before, ${after.join(' ')} after`,
        ...formatFleetLocal(store.records, local),
        ...(scale ? formatFleetScale(scale, scaleOptions) : []),
      ].join('\n') + '\n',
    );
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const o = parseOptions(argv);
  if (o.onlyAgent) {
    const agent = await runAgent(o);
    if (o.json) process.stdout.write(JSON.stringify({ agent, targets: AGENT_TARGETS }, null, 2) + '\n');
    else printAgent(agent);
    return 'error' in agent ? 2 : 0;
  }
  if (o.onlyFleet) return runFleet(o);
  if (o.onlyPlan) {
    const { runPlanBench, runCoverageEndToEnd, formatPlanBench } = await import('./plan-bench.js');
    const plan = runPlanBench(log);
    if (o.coverageRecords > 0) plan.endToEnd = await runCoverageEndToEnd(o.dir, o.coverageRecords, log);
    if (o.json) process.stdout.write(JSON.stringify({ machine: machineInfo(), plan }, null, 2) + '\n');
    else process.stdout.write(formatPlanBench(plan).join('\n') + '\n');
    return 0;
  }
  if (o.onlyCollect) {
    const machine = machineInfo();
    log(`collect bench: ${machine.cores} cores, load average ${machine.loadAverage.join(' ')}`);
    const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'endsight.js');
    const collect = await runCollectBench({ records: o.collectRecords, exporters: o.collectExporters, datagramsPerS: o.collectRate, bin }, log);
    if (o.json) process.stdout.write(JSON.stringify({ machine, collect }, null, 2) + '\n');
    else process.stdout.write(formatCollectBench(collect).join('\n') + '\n');
    return 0;
  }
  if (o.onlyTopo) {
    const machine = machineInfo();
    log(`topo bench: ${machine.cores} cores, load average ${machine.loadAverage.join(' ')}`);
    const topo = runTopoBench([100, 1000, 2500], o.runs, log);
    if (o.json) process.stdout.write(JSON.stringify({ machine, topo }, null, 2) + '\n');
    else process.stdout.write(formatTopoBench(topo).join('\n') + '\n');
    return 0;
  }
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  await fs.mkdir(o.dir, { recursive: true });
  log(`endsight bench: ${machine.cores} cores, load average ${machine.loadAverage.join(' ')}; cache ${o.dir}`);
  if (!haveGnuTime()) throw new Error('/usr/bin/time is missing: install it with `apt-get install time`');
  const versions = await toolVersions();
  for (const tool of ['softflowd', 'nfpcapd'] as const) {
    if (o.tools.includes(tool) && versions[tool === 'softflowd' ? 'softflowd' : 'nfdump'] === 'missing') {
      throw new Error(`${tool} is missing: install the Debian package ${tool === 'softflowd' ? 'softflowd' : 'nfdump'}`);
    }
  }
  if (o.tools.includes('endsight') && !existsSync(path.join(repoDir(), 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('endsight is not built (dist/src/cli/main.js): run `npm run build`');
  }

  const capture = await ensureCapture(o);
  const warmMs = await warmPageCache(capture.path);
  log(`capture: read once into the page cache in ${(warmMs / 1000).toFixed(1)} s`);

  const workDir = path.join(o.dir, 'runs');
  await fs.mkdir(workDir, { recursive: true });
  const runs: ToolRun[] = [];
  for (let r = 0; r < o.runs; r++) {
    // Rotate the order so that a burst of load elsewhere does not always hit the same tool.
    const order = o.tools.map((_, i) => o.tools[(i + r) % o.tools.length]);
    for (const tool of order) {
      log(`run ${r + 1}/${o.runs}: ${tool} ...`);
      let run: ToolRun;
      try {
        if (tool === 'softflowd') run = await runSoftflowd(capture.path, { workDir, packets: capture.packets, maxFlows: o.softflowdMaxFlows });
        else if (tool === 'nfpcapd') run = await runNfpcapd(capture.path, { workDir, packets: capture.packets });
        else run = await runEndsightImport(capture.path, { workDir, repoDir: repoDir(), packets: capture.packets, extraArgs: o.endsightArgs });
      } catch (error) {
        run = {
          tool, commandLine: '', ok: false, error: (error as Error).message, packets: capture.packets, wallMs: NaN, packetsPerSecond: NaN,
          userS: NaN, sysS: NaN, cpuS: NaN, maxRssBytes: NaN, records: null, storedBytes: null, bytesPerRecord: null, details: {},
        };
      }
      runs.push(run);
      log(
        run.ok
          ? `  ${tool}: ${fmtInt(run.packetsPerSecond)} packets/s, ${fmt(run.wallMs / 1000)} s wall, ${fmt(run.cpuS)} s CPU, ${mb(run.maxRssBytes)} MB peak RSS, ${fmtInt(run.records)} records, ${fmt(run.bytesPerRecord, 1)} B/record`
          : `  ${tool}: FAILED: ${run.error}`,
      );
    }
  }
  const summary = o.tools.map((t) => summarize(t, runs.filter((r) => r.tool === t)));

  const memory = o.memory ? await runMemory(o) : null;
  if (memory && !('error' in memory)) log(`memory: ${fmt(memory.peakRssBytesPerFlow, 0)} B of peak RSS per active flow (${fmt(memory.heapBytesPerFlow, 0)} B heap + typed arrays)`);
  else if (memory) log(`memory: FAILED: ${memory.error}`);
  const groupBy = o.groupby ? await runGroupBy(o) : null;

  const by = (t: string): ToolSummary | undefined => summary.find((s) => s.tool === t && s.ok);
  const peers = [by('softflowd'), by('nfpcapd')].filter((s): s is ToolSummary => s !== undefined);
  const faster = peers.sort((a, b) => b.packetsPerSecond - a.packetsPerSecond)[0] ?? null;
  const endsight = by('endsight') ?? null;
  const nfpcapd = by('nfpcapd') ?? null;
  const ratios: BenchReport['ratios'] = {
    fasterPeer: faster?.tool ?? null,
    importSpeedup: endsight && faster ? endsight.packetsPerSecond / faster.packetsPerSecond : null,
    importCpuPerPacketVsFasterPeer: endsight && faster ? endsight.cpuS / endsight.packets / (faster.cpuS / faster.packets) : null,
    bytesPerRecord: endsight?.bytesPerRecord ?? null,
    // Same capture, same flows: total stored bytes relative to nfdump's, and per record.
    storedSizeVsNfdumpLz4: endsight?.bytesPerRecord && nfpcapd?.bytesPerRecord ? endsight.bytesPerRecord / nfpcapd.bytesPerRecord : null,
    totalStoredVsNfdumpLz4: endsight?.storedBytes && nfpcapd?.storedBytes ? endsight.storedBytes / nfpcapd.storedBytes : null,
    bytesPerActiveFlow: memory && !('error' in memory) ? memory.peakRssBytesPerFlow : null,
    groupByMs: groupBy && !('error' in groupBy) ? groupBy.medianMs : null,
  };
  const verdicts = {
    importSpeedup: ratios.importSpeedup === null ? null : ratios.importSpeedup >= TARGETS.importSpeedupOverFasterPeer,
    bytesPerRecord: ratios.bytesPerRecord === null ? null : ratios.bytesPerRecord <= TARGETS.bytesPerStoredRecord,
    storedSize: ratios.storedSizeVsNfdumpLz4 === null ? null : ratios.storedSizeVsNfdumpLz4 < TARGETS.storedSizeVsNfdumpLz4,
    bytesPerActiveFlow: ratios.bytesPerActiveFlow === null ? null : ratios.bytesPerActiveFlow <= TARGETS.bytesPerActiveFlow,
    groupBy: ratios.groupByMs === null ? null : ratios.groupByMs < TARGETS.groupByMs,
  };
  const { json: _json, check: _check, agent: _agent, onlyAgent: _onlyAgent, onlyFleet: _onlyFleet, fleetHosts: _fleetHosts, fleetRuns: _fleetRuns, fleetScale: _fleetScale, onlyTopo: _onlyTopo, ...shownOptions } = o;
  const report: BenchReport = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadAverageAfter: machineInfo().loadAverage },
    versions,
    options: shownOptions,
    capture,
    runs,
    summary,
    memory,
    groupBy,
    ratios,
    targets: TARGETS,
    verdicts,
  };
  const agent = o.agent ? await runAgent(o) : null;
  if (o.json) process.stdout.write(JSON.stringify({ ...report, agent }, null, 2) + '\n');
  else {
    printReport(report);
    if (agent) printAgent(agent);
  }
  const missed = Object.values(verdicts).some((v) => v === false);
  return o.check && missed ? 1 : 0;
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(2);
    },
  );
}

/**
 * The collector's benchmark (issue 6): `endsight collect` and nfcapd receive the same replayed IPFIX
 * on loopback, in the same run. The input: RECORDS flow records (IPv4 and IPv6, heavy-tailed sizes)
 * encoded once, replayed from EXPORTERS senders at once, each at a steady rate, bursts of 16
 * datagrams every millisecond or so. Measured per tool: records received (loss), the tool's own
 * CPU seconds (from /proc) and so its records per CPU-second: how fast it would go with a core to
 * itself; the wall-clock rate is the replay's, the same for both.
 * Targets: 400,000 records/s (ten times Netflowize's 40,000 per collector) and at least nfcapd's.
 */
import dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FlowRecord } from '../flow/index.js';
import { freeUdpPort } from '../common/free-port.js';
import { cpuSeconds } from '../lab/proc.js';
import { Lab, sleep } from '../lab/netns.js';
import { NetflowEncoder } from '../netflow/netflow-encoder.js';
import { Rng } from './prng.js';

export const COLLECT_TARGET_RECORDS_PER_S = 400_000;

export interface CollectBenchResult {
  tool: string;
  records: number;
  received: number;
  cpuS: number;
  wallS: number;
  recordsPerCpuS: number;
  /** CPU seconds by thread name (comm; threads of one name summed) over the same window. */
  threads: Record<string, number>;
}

/** CPU seconds of each thread of `pid`, by thread id, with its name. */
function threadCpu(pid: number): Map<string, { name: string; s: number }> {
  const out = new Map<string, { name: string; s: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
      out.set(tid, { name: readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(), s });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/**
 * The CPU seconds of each thread between two threadCpu readings, by name; Node's threads are all
 * `node`, so each of those is named by its rank instead (`main` is the process's first thread).
 */
function threadDelta(pid: number, before: Map<string, { name: string; s: number }>, after: Map<string, { name: string; s: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  const nodeThreads: number[] = [];
  for (const [tid, t] of after) {
    const s = t.s - (before.get(tid)?.s ?? 0);
    if (tid === String(pid)) out.main = s;
    else if (t.name === 'node') nodeThreads.push(s);
    else out[t.name] = (out[t.name] ?? 0) + s;
  }
  nodeThreads.sort((a, b) => b - a).forEach((s, i) => (out[`node#${i + 1}`] = s));
  return out;
}

/**
 * Flows of the last hour, and of today (UTC), as a collector gets them: flows of a past day would
 * each time start the compaction of that day (flow-store.ts), which is not what is measured here.
 */
function records(count: number, seed: number): FlowRecord[] {
  const rng = new Rng(seed);
  const nowUs = Date.now() * 1000;
  const t0 = Math.max(Math.floor(nowUs / 86_400e6) * 86_400e6, nowUs - 3_600e6);
  const span = Math.max(1, nowUs - 60e6 - t0);
  const out: FlowRecord[] = [];
  for (let i = 0; i < count; i++) {
    const v6 = rng.next() < 0.2;
    const start = t0 + rng.int(span);
    out.push({
      host: 'bench', startUs: start, endUs: start + rng.int(60_000_000),
      srcAddr: v6 ? `2001:db8::${(rng.int(65535) + 1).toString(16)}` : `10.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`,
      dstAddr: v6 ? `2001:db8:1::${(rng.int(65535) + 1).toString(16)}` : `192.0.2.${1 + rng.int(254)}`,
      srcPort: 1024 + rng.int(60000), dstPort: [53, 80, 443, 8080][rng.int(4)], protocol: rng.next() < 0.7 ? 6 : 17,
      packets: 1 + Math.round(rng.pareto(1, 1.3, 1e6)), bytes: 40 + Math.round(rng.pareto(200, 1.2, 1e9)), tcpFlags: 0x1b,
      direction: 'unknown', endReason: 'idle', sampling: 1, interfaceName: null, source: 'bench',
      process: null, pid: null, username: null, uid: null, container: null, command: null, tunnel: null,
    });
  }
  return out;
}

/** Replays `messages` to 127.0.0.1:port from `senders` sockets at about `datagramsPerS` in all. */
async function replay(messages: Uint8Array[][], port: number, datagramsPerS: number): Promise<void> {
  const burst = 16;
  const sockets = messages.map(() => dgram.createSocket('udp4'));
  const perSenderIntervalMs = (burst * messages.length * 1000) / datagramsPerS;
  try {
    await Promise.all(messages.map(async (list, s) => {
      const started = performance.now();
      for (let i = 0; i < list.length; i += burst) {
        for (const m of list.slice(i, i + burst)) sockets[s].send(m, port, '127.0.0.1');
        const due = started + ((i / burst) + 1) * perSenderIntervalMs;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        else await new Promise((r) => setImmediate(r));
      }
    }));
  } finally {
    for (const s of sockets) s.close();
  }
}

/** Extra Node options for `endsight collect`, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it (NODE_OPTIONS refuses those). */
const nodeArgs = (process.env.ENDSIGHT_COLLECT_NODE_ARGS ?? '').split(' ').filter(Boolean);

export async function runCollectBench(options: { records: number; exporters: number; datagramsPerS: number; bin: string }, log: (line: string) => void): Promise<CollectBenchResult[]> {
  const input = records(options.records, 5);
  // One encoder per exporter: each its own templates and sequence numbers.
  const share = Math.ceil(input.length / options.exporters);
  const messages = Array.from({ length: options.exporters }, (_, e) => new NetflowEncoder(10, e).encode(input.slice(e * share, (e + 1) * share)));
  const datagrams = messages.reduce((n, list) => n + list.length, 0);
  log(`collect bench: ${input.length} records in ${datagrams} IPFIX datagrams from ${options.exporters} exporters, at about ${options.datagramsPerS} datagrams/s`);
  const results: CollectBenchResult[] = [];
  const lab = new Lab(`es-collectbench-${process.pid}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'endsight-collect-bench-'));
  try {
    for (const tool of ['nfcapd', 'endsight collect']) {
      const port = await freeUdpPort();
      const out = path.join(dir, tool.replace(/\s/g, '-'));
      const child = tool === 'nfcapd'
        ? lab.start(tool, ['sh', '-c', `mkdir -p ${out} && exec nfcapd -b 127.0.0.1 -p ${port} -w ${out} -t 3600 -B ${16 << 20}`])
        : lab.start(tool, [process.execPath, ...nodeArgs, options.bin, 'collect', '--listen', `udp://127.0.0.1:${port}`, '--data-dir', out, '--export-interval', '2s', '--format', 'json']);
      await child.waitForOutput(tool === 'nfcapd' ? /Startup nfcapd/ : /collecting on/, 30_000);
      const cpuBefore = cpuSeconds(child.pid!);
      const threadsBefore = threadCpu(child.pid!);
      const started = performance.now();
      await replay(messages, port, options.datagramsPerS);
      const wallS = (performance.now() - started) / 1000;
      // Until the tool is idle (what it received is decoded and written), at least 1.5 s.
      await sleep(1500);
      for (let last = cpuSeconds(child.pid!), k = 0; k < 100; k++) {
        await sleep(300);
        const now = cpuSeconds(child.pid!);
        if (now - last < 0.01) break;
        last = now;
      }
      const cpuS = cpuSeconds(child.pid!) - cpuBefore;
      const threads = threadDelta(child.pid!, threadsBefore, threadCpu(child.pid!));
      await child.stop('SIGTERM', 30_000);
      const received = tool === 'nfcapd'
        ? Number(/Flows: (\d+)/.exec(child.stdout + child.stderr)?.[1] ?? -1)
        : (JSON.parse(child.stdout.trim()) as { stored: number }).stored;
      const result = { tool, records: input.length, received, cpuS, wallS, recordsPerCpuS: received / Math.max(cpuS, 1e-3), threads };
      log(`collect bench: ${tool}: ${received} of ${input.length} records, ${cpuS.toFixed(2)} CPU s, ${Math.round(result.recordsPerCpuS)} records per CPU second`);
      log(`collect bench: ${tool}: CPU s by thread: ${Object.entries(threads).filter(([, v]) => v >= 0.005).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
      results.push(result);
    }
  } finally {
    await lab.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

export function formatCollectBench(results: readonly CollectBenchResult[]): string[] {
  const nfcapd = results.find((r) => r.tool === 'nfcapd');
  const lines = [`collector: IPFIX replayed on loopback to each tool in turn; target ≥ ${COLLECT_TARGET_RECORDS_PER_S.toLocaleString('en-US')} records/s and ≥ nfcapd's`];
  const table = [['tool', 'records sent', 'received', 'lost', 'CPU s', 'records per CPU s', 'vs nfcapd', 'verdict']];
  for (const r of results) {
    const ratio = nfcapd ? r.recordsPerCpuS / nfcapd.recordsPerCpuS : NaN;
    const verdict = r.tool === 'nfcapd' ? '' : r.received === r.records && r.recordsPerCpuS >= COLLECT_TARGET_RECORDS_PER_S && ratio >= 1 ? 'PASS' : 'MISS';
    table.push([r.tool, String(r.records), String(r.received), String(r.records - r.received), r.cpuS.toFixed(2), Math.round(r.recordsPerCpuS).toLocaleString('en-US'), Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '', verdict]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) lines.push('  ' + row.map((cell, c) => cell.padStart(widths[c])).join('  '));
  lines.push('  records per CPU s: records received and stored over the tool\'s own CPU time (from /proc, all its threads) from the replay\'s start until it is idle again.');
  return lines;
}

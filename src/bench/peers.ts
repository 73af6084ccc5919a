/**
 * The peers endsight's import is measured against, run on the same capture in the same benchmark:
 *
 * - softflowd (1.1.0 on Debian 12) reading the file and exporting NetFlow v9 over UDP to a local
 *   nfcapd. In file mode it does not apply idle timeouts (it only expires flows at `-m` max flows,
 *   at maxlife, and flushes everything at the end), and it must be given `-c none` or it waits on
 *   its control socket after the file ends.
 * - nfpcapd (nfdump 1.7.1) reading the file and writing nfcapd files itself, LZ4-compressed (`-y`);
 *   it uses two threads (packet and flow processing). It makes one record per ICMP packet.
 *
 * The nfcapd files nfpcapd writes are also the reference for "bytes per stored flow record".
 */
import { spawn, execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freeUdpPort } from '../common/free-port.js';
import { directoryBytes, procSnapshot, timedRun, type TimedRun } from './process-stats.js';

const execFileAsync = promisify(execFile);

export interface FlowTimeouts {
  /** Idle timeout, seconds (endsight default 90). */
  idleS: number;
  /** Active timeout, seconds (endsight default 1800). */
  activeS: number;
}

export const DEFAULT_TIMEOUTS: FlowTimeouts = { idleS: 90, activeS: 1800 };

/** One measured run of a tool on a capture. */
export interface ToolRun {
  tool: string;
  /** Command line, for the report. */
  commandLine: string;
  ok: boolean;
  error: string | null;
  packets: number;
  wallMs: number;
  packetsPerSecond: number;
  userS: number;
  sysS: number;
  cpuS: number;
  maxRssBytes: number;
  /** Flow records the tool produced (and stored). */
  records: number | null;
  /** Bytes of the stored records (files on disk), or null when not applicable. */
  storedBytes: number | null;
  bytesPerRecord: number | null;
  /** Anything tool-specific worth keeping (collector numbers, summaries). */
  details: Record<string, unknown>;
}

export async function toolVersions(): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  const first = async (cmd: string, args: string[], pattern: RegExp): Promise<string> => {
    try {
      const { stdout, stderr } = await execFileAsync(cmd, args, { timeout: 5000 }).catch((e: { stdout?: string; stderr?: string }) => ({
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      }));
      const m = pattern.exec(`${stdout}\n${stderr}`);
      return m ? m[1] : 'unknown';
    } catch {
      return 'missing';
    }
  };
  versions.softflowd = await first('softflowd', ['-h'], /softflowd version ([0-9][0-9.]*[0-9])/);
  versions.nfdump = await first('nfdump', ['-V'], /Version:\s*(\S+)/);
  return versions;
}

/** Flows, packets and bytes in the nfcapd files under `dir` (`nfdump -R dir -I`). */
export async function nfdumpSummary(dir: string): Promise<{ flows: number; packets: number; bytes: number } | null> {
  try {
    const { stdout } = await execFileAsync('nfdump', ['-R', dir, '-I'], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    const get = (label: string): number => {
      const m = new RegExp(`^${label}:\\s*(\\d+)`, 'm').exec(stdout);
      return m ? Number(m[1]) : Number.NaN;
    };
    return { flows: get('Flows'), packets: get('Packets'), bytes: get('Bytes') };
  } catch {
    return null;
  }
}

const isNfcapdFile = (name: string): boolean => name.startsWith('nfcapd.');

function fromTimed(tool: string, timed: TimedRun, packets: number): ToolRun {
  const ok = timed.exitCode === 0;
  const wallMs = timed.wallMs;
  const cpuS = timed.userS + timed.sysS;
  return {
    tool,
    commandLine: [timed.command, ...timed.args].join(' '),
    ok,
    error: ok ? null : `exit ${timed.exitCode ?? timed.signal}: ${lastLines(timed.stderr || timed.stdout, 5)}`,
    packets,
    wallMs,
    packetsPerSecond: packets / (wallMs / 1000),
    userS: timed.userS,
    sysS: timed.sysS,
    cpuS,
    maxRssBytes: timed.maxRssBytes,
    records: null,
    storedBytes: null,
    bytesPerRecord: null,
    details: {},
  };
}

export function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

export interface SoftflowdOptions {
  workDir: string;
  timeouts?: FlowTimeouts;
  /** softflowd `-m`: flows tracked at once (default 8192 would force early expiry). */
  maxFlows?: number;
  /** Packets in the file (for packets/s when softflowd does not say). */
  packets: number;
}

/**
 * softflowd -r FILE -c none -n 127.0.0.1:PORT -v 9, exporting to an nfcapd started for the run.
 * Measures softflowd alone (the collector's CPU is reported in details).
 */
export async function runSoftflowd(pcap: string, options: SoftflowdOptions): Promise<ToolRun> {
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const runDir = path.join(options.workDir, 'softflowd');
  const flowDir = path.join(runDir, 'nfcapd');
  await fs.rm(runDir, { recursive: true, force: true });
  await fs.mkdir(flowDir, { recursive: true });
  const port = await freeUdpPort();

  // The collector: -y LZ4, a large socket buffer (the kernel caps it at net.core.rmem_max), one file
  // for the whole run.
  const collector = spawn('nfcapd', ['-b', '127.0.0.1', '-p', String(port), '-w', flowDir, '-y', '-B', String(64 * 1024 * 1024), '-t', '3600'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let collectorLog = '';
  collector.stdout.on('data', (d: Buffer) => (collectorLog += d.toString()));
  collector.stderr.on('data', (d: Buffer) => (collectorLog += d.toString()));
  const collectorExit = new Promise<void>((resolve) => collector.on('close', () => resolve()));
  const collectorError = new Promise<Error>((resolve) => collector.on('error', (e) => resolve(e)));
  const started = await Promise.race([
    waitFor(() => /Startup/.test(collectorLog), 5000).then(() => null),
    collectorError,
  ]);
  if (started instanceof Error) throw new Error(`cannot start nfcapd: ${started.message}`);

  const t = (s: number): string => `${Math.round(s)}s`;
  const args = [
    '-r', pcap,
    '-c', 'none',
    '-p', path.join(runDir, 'softflowd.pid'),
    '-n', `127.0.0.1:${port}`,
    '-v', '9',
    '-m', String(options.maxFlows ?? 1_048_576),
    '-t', `general=${t(timeouts.idleS)}`,
    '-t', `tcp=${t(timeouts.idleS)}`,
    '-t', `tcp.rst=${t(timeouts.idleS)}`,
    '-t', `tcp.fin=${t(timeouts.idleS)}`,
    '-t', `udp=${t(timeouts.idleS)}`,
    '-t', `icmp=${t(timeouts.idleS)}`,
    '-t', `maxlife=${t(timeouts.activeS)}`,
  ];
  let timed: TimedRun;
  let collectorStats: Awaited<ReturnType<typeof procSnapshot>> = null;
  try {
    timed = await timedRun('softflowd', args, { workDir: runDir, timeoutMs: 30 * 60_000 });
  } finally {
    // Let the collector drain its socket, then stop it (SIGTERM flushes and closes the file).
    await sleep(500);
    collectorStats = collector.pid ? await procSnapshot(collector.pid) : null;
    collector.kill('SIGTERM');
    await Promise.race([collectorExit, sleep(10_000)]);
  }
  const run = fromTimed('softflowd', timed, options.packets);
  const processed = /Packets processed:\s*(\d+)/.exec(timed.stdout);
  if (processed) run.packets = Number(processed[1]);
  run.packetsPerSecond = run.packets / (run.wallMs / 1000);
  const exported = /Flows exported:\s*(\d+)\s*\((\d+) records\)\s*in\s*(\d+) packets\s*\((\d+) failures\)/.exec(timed.stdout);
  const received = await nfdumpSummary(flowDir);
  const stored = await directoryBytes(flowDir, isNfcapdFile);
  // softflowd's own count of exported records is what it produced; UDP may lose some on the way to
  // the collector (bursts at the end of the file exceed the socket buffer), so both are reported.
  run.records = exported ? Number(exported[2]) : (received?.flows ?? null);
  run.storedBytes = stored.bytes;
  run.bytesPerRecord = received && received.flows > 0 ? stored.bytes / received.flows : null;
  run.details = {
    bidirectionalFlowsExported: exported ? Number(exported[1]) : null,
    exportDatagrams: exported ? Number(exported[3]) : null,
    exportFailures: exported ? Number(exported[4]) : null,
    collectorRecords: received?.flows ?? null,
    collectorPackets: received?.packets ?? null,
    collectorCpuS: collectorStats ? collectorStats.userS + collectorStats.sysS : null,
    collectorMaxRssBytes: collectorStats?.maxRssBytes ?? null,
    expiry: /Expired flow reasons:[\s\S]*?flushed\s*=\s*\d+/.exec(timed.stdout)?.[0].replace(/\s+/g, ' ') ?? null,
  };
  if (run.ok && run.records === null) {
    run.ok = false;
    run.error = `no record count in softflowd output: ${lastLines(timed.stdout, 5)}`;
  }
  return run;
}

export interface NfpcapdOptions {
  workDir: string;
  timeouts?: FlowTimeouts;
  packets: number;
}

/** nfpcapd -r FILE -w DIR -e active,inactive -y: nfcapd files, LZ4, rotated every 300 s of packet time. */
export async function runNfpcapd(pcap: string, options: NfpcapdOptions): Promise<ToolRun> {
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const runDir = path.join(options.workDir, 'nfpcapd');
  const flowDir = path.join(runDir, 'nfcapd');
  await fs.rm(runDir, { recursive: true, force: true });
  await fs.mkdir(flowDir, { recursive: true });
  const args = ['-r', pcap, '-w', flowDir, '-e', `${Math.round(timeouts.activeS)},${Math.round(timeouts.idleS)}`, '-y'];
  // (No -P: nfpcapd 1.7.1 exits with status 1 when reading a file with a pid file set.)
  const timed = await timedRun('nfpcapd', args, { workDir: runDir, timeoutMs: 30 * 60_000 });
  const run = fromTimed('nfpcapd', timed, options.packets);
  const total = /Total: Processed: (\d+)/.exec(timed.stdout + timed.stderr);
  if (total) run.packets = Number(total[1]);
  run.packetsPerSecond = run.packets / (run.wallMs / 1000);
  const summary = await nfdumpSummary(flowDir);
  const stored = await directoryBytes(flowDir, isNfcapdFile);
  run.records = summary?.flows ?? null;
  run.storedBytes = stored.bytes;
  run.bytesPerRecord = summary && summary.flows > 0 ? stored.bytes / summary.flows : null;
  run.details = { files: stored.files, recordPackets: summary?.packets ?? null, recordBytes: summary?.bytes ?? null, compression: 'lz4' };
  if (run.ok && !(summary && summary.flows > 0)) {
    run.ok = false;
    run.error = `no flows in nfpcapd output: ${lastLines(timed.stderr || timed.stdout, 5)}`;
  }
  return run;
}

export interface EndsightImportOptions {
  workDir: string;
  /** Repository root (where bin/endsight.js is). */
  repoDir: string;
  packets: number;
  /** Extra arguments for `endsight import`, e.g. ['--max-flows', '1048576']. */
  extraArgs?: string[];
}

/**
 * `node bin/endsight.js import --data-dir DIR --format json FILE` into a fresh store. Reads the JSON
 * summary from stdout: packets, flows (records stored), storedBytes.
 */
export async function runEndsightImport(pcap: string, options: EndsightImportOptions): Promise<ToolRun> {
  const runDir = path.join(options.workDir, 'endsight');
  const dataDir = path.join(runDir, 'data');
  await fs.rm(runDir, { recursive: true, force: true });
  await fs.mkdir(runDir, { recursive: true });
  const args = [path.join(options.repoDir, 'bin', 'endsight.js'), 'import', '--data-dir', dataDir, '--format', 'json', ...(options.extraArgs ?? []), pcap];
  const timed = await timedRun(process.execPath, args, { workDir: runDir, cwd: options.repoDir, timeoutMs: 60 * 60_000 });
  const run = fromTimed('endsight', timed, options.packets);
  run.commandLine = ['node', ...args].join(' ');
  const summary = parseJsonSummary(timed.stdout);
  const parquet = await directoryBytes(path.join(dataDir, 'flows'), (n) => n.endsWith('.parquet'));
  if (summary) {
    const num = (key: string): number | null => (typeof summary[key] === 'number' ? (summary[key] as number) : null);
    const packets = num('packets');
    if (packets !== null) run.packets = packets;
    run.records = num('flows') ?? num('records') ?? num('flowsStored');
    run.storedBytes = num('storedBytes') ?? parquet.bytes;
    run.details = {
      segments: num('segmentsWritten'),
      parquetBytesOnDisk: parquet.bytes,
      flowsEvicted: num('flowsEvicted'),
      issues: summary.issues ?? null,
      elapsedMsReported: num('elapsedMs'),
    };
    const missing = ['packets', 'flows', 'storedBytes'].filter((k) => num(k) === null);
    if (missing.length > 0) run.details.missingSummaryFields = missing;
  } else if (run.ok) {
    run.ok = false;
    run.error = `no JSON summary on stdout: ${lastLines(timed.stdout || timed.stderr, 5)}`;
  }
  run.packetsPerSecond = run.packets / (run.wallMs / 1000);
  if (run.records !== null && run.records > 0 && run.storedBytes !== null) run.bytesPerRecord = run.storedBytes / run.records;
  return run;
}

/** The last JSON object printed on stdout (the CLI may print one summary per file or one in total). */
function parseJsonSummary(stdout: string): Record<string, unknown> | null {
  const text = stdout.trim();
  if (!text) return null;
  try {
    const value = JSON.parse(text) as unknown;
    if (Array.isArray(value)) return (value[value.length - 1] as Record<string, unknown>) ?? null;
    if (value && typeof value === 'object') {
      const v = value as Record<string, unknown>;
      return (v.summary as Record<string, unknown>) ?? v;
    }
  } catch {
    // One JSON document per line?
    const lines = text.split('\n').filter((l) => l.trim().startsWith('{'));
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        return JSON.parse(lines[i]) as Record<string, unknown>;
      } catch {
        /* keep looking */
      }
    }
  }
  return null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) return; // go on anyway; a missing collector shows as 0 records received
    await sleep(20);
  }
}

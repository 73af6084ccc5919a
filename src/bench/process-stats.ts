/**
 * Running a benchmark child and measuring it: wall time (monotonic clock), CPU (user + system) and
 * peak RSS, through GNU time (`/usr/bin/time -v`, Debian package `time`), which reports the child's
 * rusage after it exits. For long-running helpers that we stop ourselves (the nfcapd collector),
 * `procSnapshot` reads the same numbers from /proc before the signal.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface TimedRun {
  command: string;
  args: string[];
  exitCode: number | null;
  signal: string | null;
  wallMs: number;
  userS: number;
  sysS: number;
  /** Peak resident set size of the child (ru_maxrss), bytes. */
  maxRssBytes: number;
  stdout: string;
  stderr: string;
}

export function haveGnuTime(): boolean {
  return existsSync(GNU_TIME);
}

/**
 * Runs `command args` under `/usr/bin/time -v` and returns its measurements. Never rejects for a
 * non-zero exit: the caller decides (exitCode is in the result).
 */
export async function timedRun(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; workDir: string },
): Promise<TimedRun> {
  if (!haveGnuTime()) {
    throw new Error(`${GNU_TIME} is missing: install it with \`apt-get install time\` (Debian package "time")`);
  }
  const timeFile = path.join(options.workDir, `time-${process.pid}-${Date.now()}.txt`);
  const began = process.hrtime.bigint();
  const child = spawn(GNU_TIME, ['-v', '-o', timeFile, command, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  let timer: NodeJS.Timeout | undefined;
  if (options.timeoutMs) {
    timer = setTimeout(() => {
      if (child.pid) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }, options.timeoutMs);
  }
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  if (timer) clearTimeout(timer);
  const wallMs = Number(process.hrtime.bigint() - began) / 1e6;
  const report = await fs.readFile(timeFile, 'utf8').catch(() => '');
  await fs.rm(timeFile, { force: true });
  const field = (label: string): number => {
    const m = new RegExp(`${label.replace(/[()]/g, '\\$&')}:\\s*([0-9.]+)`).exec(report);
    return m ? Number(m[1]) : Number.NaN;
  };
  // GNU time prints "Command exited with non-zero status N" first when the child failed.
  const exited = /Command exited with non-zero status (\d+)/.exec(report);
  const terminated = /Command terminated by signal (\d+)/.exec(report);
  return {
    command,
    args,
    exitCode: terminated ? null : exited ? Number(exited[1]) : code,
    signal: terminated ? `signal ${terminated[1]}` : signal,
    wallMs,
    userS: field('User time (seconds)'),
    sysS: field('System time (seconds)'),
    maxRssBytes: field('Maximum resident set size (kbytes)') * 1024,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}

let clockTicks = 0;

/** CPU seconds and peak RSS of a running process, from /proc (Linux). */
export async function procSnapshot(pid: number): Promise<{ userS: number; sysS: number; maxRssBytes: number } | null> {
  try {
    if (clockTicks === 0) {
      try {
        clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
      } catch {
        clockTicks = 100;
      }
    }
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    return { userS: utime / clockTicks, sysS: stime / clockTicks, maxRssBytes: hwm ? Number(hwm[1]) * 1024 : Number.NaN };
  } catch {
    return null;
  }
}

/** Cores, load average and the like, for the report (the machine is shared and noisy). */
export function machineInfo(): { cores: number; cpuModel: string; loadAverage: number[]; totalMemoryBytes: number; node: string; kernel: string } {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    kernel: os.release(),
  };
}

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Total size of the regular files under `dir` whose names pass `filter`. */
export async function directoryBytes(dir: string, filter: (name: string) => boolean = () => true): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile() || !filter(entry.name)) continue;
    const parent = (entry as { parentPath?: string; path?: string }).parentPath ?? (entry as { path?: string }).path ?? dir;
    const st = await fs.stat(path.join(parent, entry.name)).catch(() => null);
    if (st) {
      bytes += st.size;
      files++;
    }
  }
  return { bytes, files };
}

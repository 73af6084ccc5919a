/**
 * What /proc says about the processes a test or benchmark started: children, names, CPU time,
 * status fields, and where the cgroup v2 hierarchy is mounted. Linux only (proc(5)).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The direct children of a process (none when it is gone). */
export function childProcesses(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A process's name (comm), or '?' when it is gone. */
export function processName(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/**
 * CPU time of a process in seconds, summed over its threads from /proc/PID/task/TID/schedstat
 * (nanoseconds: the 10 ms ticks of /proc/PID/stat are too coarse for a fraction of a percent).
 */
export function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ns / 1e9;
}

/** A field of /proc/PID/status, e.g. `Uid`, `CapEff`, `RssAnon` ('' when absent). */
export function statusField(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
}

/** Where the cgroup v2 hierarchy is mounted in this mount namespace, or null. */
export function cgroup2Root(): string | null {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // mountinfo(5): … mount point (field 5) … " - " fstype source options
    const [left, right] = line.split(' - ');
    if (right?.startsWith('cgroup2 ')) return left.split(' ')[4] ?? null;
  }
  return null;
}

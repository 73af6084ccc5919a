/**
 * What the agent can say about a process seen in a socket event: its command line, user name and
 * container. Read from /proc as soon as the event arrives (a short-lived process may be gone a
 * moment later); whatever cannot be read for certain stays null.
 *
 * - command line: /proc/PID/cmdline, only if /proc/PID/comm still equals the event's command name
 *   (otherwise the pid was reused or the process exec'd another program since: unknown, not a guess).
 * - container: the cgroup path from /proc/PID/cgroup (the unified hierarchy's `0::` line, else the
 *   systemd one), named by containerName(); when the process is gone, from the event's cgroup id
 *   (the inode of the cgroup directory), found by walking the cgroup2 mount.
 * - user name: from the uid, through /etc/passwd (re-read when it changes). Users known only to NSS
 *   (LDAP, sssd) keep a null name; their uid is still recorded.
 * What was read is kept per pid, so the later events of a process that has exited since (a short
 * burst of connections whose events are read a moment late) still get its command line and
 * container. A cached entry is used only while the event's process name, uid and cgroup id match it
 * and, if a process with that pid is running, its start time (/proc/PID/stat) is the cached one's:
 * a pid reused by a new process is read afresh.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FlowOwner } from '../../flow/index.js';
import { containerName } from './container-name.js';
import type { SocketEvent } from './socket-events.js';

/** What a flow's record says about the process behind it (the flow meter's FlowOwner). */
export type ProcessInfo = FlowOwner;

const MAX_COMMAND_LENGTH = 1024;
const CGROUP_WALK_INTERVAL_MS = 10_000;
const MAX_CGROUP_DIRS = 100_000;
const MAX_CACHED_PROCESSES = 65_536;
/** File descriptors looked at for a tun/tap device; a VPN daemon opens it among its first. */
const MAX_FDS_SCANNED = 256;
const CACHE_IDLE_MS = 300_000;
const EXPIRY_INTERVAL_MS = 10_000;

interface CachedProcess {
  info: ProcessInfo;
  cgroupId: number;
  startTime: string;
  lastUsedMs: number;
}

export class ProcessDirectory {
  private users = new Map<number, string>();
  private passwdMtimeMs = -1;
  private cgroupPaths = new Map<number, string>();
  private lastCgroupWalkMs = -Infinity;
  private cgroup2Root: string | null | undefined;
  private readonly byPid = new Map<number, CachedProcess>();
  private lastExpiryMs = 0;

  constructor(
    private readonly procRoot = '/proc',
    private readonly passwdFile = '/etc/passwd',
    private readonly nowMs: () => number = Date.now,
    /**
     * The tun device a process has open, from the privileged helper, when this process may not read
     * other users' fds (it meters unprivileged). Its answer comes a moment later and completes the
     * process's description, if the pid still names the same process (its start time).
     */
    private readonly tunnelOf?: (pid: number) => Promise<string | null>,
  ) {}

  describe(event: SocketEvent): ProcessInfo {
    // Expired as events come (no timer of its own to wake the agent): without events nothing grows.
    if (this.nowMs() - this.lastExpiryMs >= EXPIRY_INTERVAL_MS) this.expire();
    const cached = this.byPid.get(event.pid);
    const dir = path.join(this.procRoot, String(event.pid));
    const startTime = readStartTime(dir);
    if (cached && cached.info.process === event.comm && cached.info.uid === event.uid && cached.cgroupId === event.cgroupId) {
      if (startTime === null || startTime === cached.startTime) {
        cached.lastUsedMs = this.nowMs();
        return cached.info;
      }
    }
    const info = this.read(event);
    if (info.command !== null && startTime !== null) {
      this.byPid.delete(event.pid);
      this.byPid.set(event.pid, { info, cgroupId: event.cgroupId, startTime, lastUsedMs: this.nowMs() });
      if (this.byPid.size > MAX_CACHED_PROCESSES) this.byPid.delete(this.byPid.keys().next().value!);
    }
    return info;
  }

  /** Forgets processes not seen in events for a while. */
  expire(): void {
    this.lastExpiryMs = this.nowMs();
    const oldest = this.nowMs() - CACHE_IDLE_MS;
    for (const [pid, entry] of this.byPid) if (entry.lastUsedMs < oldest) this.byPid.delete(pid);
  }

  private read(event: SocketEvent): ProcessInfo {
    const dir = path.join(this.procRoot, String(event.pid));
    let command: string | null = null;
    let cgroupPath: string | null = null;
    let tunnel: string | null = null;
    if (readText(path.join(dir, 'comm'))?.trimEnd() === event.comm) {
      const cmdline = readText(path.join(dir, 'cmdline'));
      if (cmdline) command = cmdline.replace(/\0+$/, '').replaceAll('\0', ' ').slice(0, MAX_COMMAND_LENGTH) || null;
      cgroupPath = pickCgroupPath(readText(path.join(dir, 'cgroup')));
      tunnel = this.tunnelOf ? null : tunnelInterface(dir);
      // Read comm again: if the process exec'd or died and its pid was reused while we read, drop what we read.
      if (readText(path.join(dir, 'comm'))?.trimEnd() !== event.comm) {
        command = null;
        cgroupPath = null;
        tunnel = null;
      }
    }
    if (cgroupPath === null) cgroupPath = this.cgroupPathOf(event.cgroupId);
    const info: ProcessInfo = {
      pid: event.pid,
      uid: event.uid,
      process: event.comm,
      command,
      username: this.username(event.uid),
      container: cgroupPath === null ? null : containerName(cgroupPath),
      tunnel,
    };
    if (this.tunnelOf && command !== null) {
      const startTime = readStartTime(dir);
      void this.tunnelOf(event.pid).then(
        (iface) => {
          if (iface !== null && startTime !== null && readStartTime(dir) === startTime) info.tunnel = iface;
        },
        () => undefined,
      );
    }
    return info;
  }

  username(uid: number): string | null {
    try {
      const { mtimeMs } = statSync(this.passwdFile);
      if (mtimeMs !== this.passwdMtimeMs) {
        this.passwdMtimeMs = mtimeMs;
        this.users = parsePasswd(readFileSync(this.passwdFile, 'utf8'));
      }
    } catch {
      return null;
    }
    return this.users.get(uid) ?? null;
  }

  /** The cgroup path of a cgroup id (cgroup v2 directory inode), or null when not found. */
  private cgroupPathOf(id: number): string | null {
    if (id <= 1) return null;
    const known = this.cgroupPaths.get(id);
    if (known !== undefined) return known;
    if (this.nowMs() - this.lastCgroupWalkMs < CGROUP_WALK_INTERVAL_MS) return null;
    this.lastCgroupWalkMs = this.nowMs();
    const root = this.findCgroup2Root();
    if (root === null) return null;
    const paths = new Map<number, string>();
    const stack = [root];
    while (stack.length > 0 && paths.size < MAX_CGROUP_DIRS) {
      const dir = stack.pop()!;
      try {
        paths.set(statSync(dir).ino, '/' + path.relative(root, dir));
        for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) stack.push(path.join(dir, entry.name));
      } catch {
        // A cgroup removed during the walk.
      }
    }
    this.cgroupPaths = paths;
    return paths.get(id) ?? null;
  }

  private findCgroup2Root(): string | null {
    if (this.cgroup2Root !== undefined) return this.cgroup2Root;
    this.cgroup2Root = null;
    const mountinfo = readText(path.join(this.procRoot, 'self', 'mountinfo')) ?? '';
    for (const line of mountinfo.split('\n')) {
      // mountinfo(5): ... mount point (field 5) ... " - " fstype source options
      const [left, right] = line.split(' - ');
      if (right?.startsWith('cgroup2 ')) {
        this.cgroup2Root = left.split(' ')[4] ?? null;
        break;
      }
    }
    return this.cgroup2Root;
  }
}

/**
 * The interface of a tun/tap device the process has open: an fd linked to /dev/net/tun whose
 * fdinfo names it (`iff: tun0`, Linux drivers/net/tun.c). Needs the right to read the process's fds.
 */
function tunnelInterface(dir: string): string | null {
  let fds: string[];
  try {
    fds = readdirSync(path.join(dir, 'fd')).slice(0, MAX_FDS_SCANNED);
  } catch {
    return null;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(path.join(dir, 'fd', fd)) !== '/dev/net/tun') continue;
    } catch {
      continue;
    }
    const iff = /^iff:\s*(\S+)$/m.exec(readText(path.join(dir, 'fdinfo', fd)) ?? '');
    if (iff) return iff[1];
  }
  return null;
}

/** The unified hierarchy's path (`0::/…`) unless it is the root, else the systemd hierarchy's, else null. */
export function pickCgroupPath(text: string | null): string | null {
  if (text === null) return null;
  const lines = text.split('\n').filter(Boolean);
  const unified = lines.find((l) => l.startsWith('0::'))?.slice(3);
  if (unified && unified !== '/') return unified;
  const systemd = lines.find((l) => /^\d+:name=systemd:/.test(l))?.replace(/^\d+:name=systemd:/, '');
  if (systemd && systemd !== '/') return systemd;
  return unified ?? systemd ?? null;
}

function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid !== undefined && /^\d+$/.test(uid) && !users.has(Number(uid))) users.set(Number(uid), name);
  }
  return users;
}

/** Field 22 of /proc/PID/stat, the start time in clock ticks since boot; null when the process is gone. */
function readStartTime(dir: string): string | null {
  const stat = readText(path.join(dir, 'stat'));
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may hold spaces or ')': count from the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

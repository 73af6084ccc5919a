/**
 * Socket ownership events from the kernel, through eBPF tracepoints: the program
 * native/socket-events.bpf.c, loaded by native/build/endsight-socket-events (libbpf), the one part of
 * attribution that needs privileges (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN, or root; run as root
 * it switches to the worker's user once its probes are attached).
 *
 * Which process owns a socket is only certain in the context of a system call made on it, so the
 * program listens where the kernel runs in the caller's context:
 * - `sock:sock_send_length` and `sock:sock_recv_length` (Linux 6.3+): every sendmsg/recvmsg, on
 *   TCP and UDP, in the sending or receiving process. Each socket is reported when first seen, when
 *   another process uses it, and again at most every 10 s while in use,
 *   so the cost stays per socket, not per packet, and a socket opened before the agent started is
 *   learnt at its next use.
 * - `sock:inet_sock_set_state` to SYN_SENT: `connect()`, in the connecting process. The source port
 *   is not chosen yet at that moment, so the owner is remembered by socket address and reported with
 *   the full 4-tuple at the socket's next state change (established, refused, timed out), which
 *   may run in softirq context: the pid printed is the one saved at connect time, never that
 *   context's. This covers connections that never carry data (refused, scans).
 * State changes in softirq context (a SYN arriving for a listening socket) name whatever process
 * was running, so they are never used for ownership.
 * Tracepoints fire for every network namespace, and each event names its socket's namespace (the
 * inode number of /proc/PID/ns/net): containers with their own network stack are on this host too,
 * but the same addresses (127.0.0.1) recur in every namespace, so socket-owners.ts keeps them apart.
 *
 * One line per event on the loader's stdout, the process name (the thread group leader's, not the
 * thread's: dig's sockets are used by threads named isc-net-0000) last because it may hold spaces:
 *   S|C proto family local_addr local_port remote_addr remote_port pid uid cgroup_id netns monotonic_ns comm
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { nativeProgramPath, spawnLocal, type ProgramChild, type SpawnProgram } from '../privilege/spawner.js';

/** This process's network namespace, as socket events name it; null when /proc does not say. */
export function ownNetworkNamespace(): number | null {
  try {
    const inode = /net:\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1];
    return inode === undefined ? null : Number(inode);
  } catch {
    return null;
  }
}
import { createInterface } from 'node:readline';

export interface SocketEvent {
  /** S: seen sending or receiving; C: connect(). */
  kind: 'S' | 'C';
  protocol: number;
  /** Local and remote addresses as the kernel holds them (v4-mapped IPv6 unwrapped); remote :: or 0.0.0.0 and port 0 for an unconnected socket. */
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  pid: number;
  uid: number;
  /** cgroup v2 id (the inode number of the cgroup's directory). */
  cgroupId: number;
  /** The socket's network namespace (inode number of its /proc/PID/ns/net). */
  netns: number;
  /** CLOCK_MONOTONIC time of the event, ns (bpf_ktime_get_ns), to measure how late it arrives. */
  monotonicNs: bigint;
  comm: string;
}

export class AttributionUnavailable extends Error {
  override name = 'AttributionUnavailable';
}

/** The built loader: native/build/endsight-socket-events in the package (from dist/src/agent/attribution/). */
export function socketEventsProgramPath(): string {
  return nativeProgramPath('endsight-socket-events');
}

/** The loader's exit code when the kernel refused for lack of privileges. */
const EXIT_PERMISSION = 3;

/** Parses one line of the program's output; null for anything else (bpftrace's own messages). */
export function parseSocketEvent(line: string): SocketEvent | null {
  const m = /^([SC]) (6|17) (2|10) (\S+) (\d+) (\S+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (.*)$/.exec(line);
  if (m === null) return null;
  return {
    kind: m[1] as 'S' | 'C',
    protocol: Number(m[2]),
    localAddr: unmapV4(m[4]),
    localPort: Number(m[5]),
    remoteAddr: unmapV4(m[6]),
    remotePort: Number(m[7]),
    pid: Number(m[8]),
    uid: Number(m[9]),
    cgroupId: Number(m[10]),
    netns: Number(m[11]),
    monotonicNs: BigInt(m[12]),
    comm: m[13],
  };
}

/** An IPv6 socket carrying IPv4 holds `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2); packets show a.b.c.d. */
function unmapV4(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class SocketEvents {
  private constructor(private readonly child: ProgramChild) {}

  /**
   * Starts the loader and resolves once its probes are attached. `user`: as root, the user it
   * switches to then. `spawnProgram`: how to start it when not as this process's child (the
   * privileged helper, which adds the user itself; tracefs was seen to before privileges were
   * given up: tracefsProblem()). Rejects with AttributionUnavailable, naming what is missing, when
   * the kernel or the system cannot run it.
   */
  static async start(onEvent: (event: SocketEvent) => void, user: string | null = null, spawnProgram: SpawnProgram | null = null): Promise<SocketEvents> {
    if (spawnProgram === null) {
      const problem = tracefsProblem();
      if (problem !== null) throw new AttributionUnavailable(problem);
    }
    const program = socketEventsProgramPath();
    if (!existsSync(program)) {
      throw new AttributionUnavailable(`the socket events program ${program} is not built: run npm run build (it needs clang, bpftool, libbpf-dev and libelf-dev)`);
    }
    const child = spawnProgram !== null ? await spawnProgram('events', []) : spawnLocal('events', user !== null ? ['-Z', user] : []);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096);
    });
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new AttributionUnavailable(`the socket events program did not attach its probes within 30 s: ${lastLine(stderr)}`));
      }, 30_000);
      child.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new AttributionUnavailable(`cannot start the socket events program: ${error.message}`));
      });
      child.once('close', (code: number | null) => {
        clearTimeout(timer);
        reject(
          new AttributionUnavailable(
            code === EXIT_PERMISSION
              ? 'eBPF needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN: ' + lastLine(stderr)
              : `the socket events program stopped (exit code ${code}): ${lastLine(stderr)}`,
          ),
        );
      });
      lines.on('line', (line) => {
        if (line === 'READY') {
          clearTimeout(timer);
          resolve();
          return;
        }
        const event = parseSocketEvent(line);
        if (event !== null) onEvent(event);
      });
    });
    child.removeAllListeners('close');
    return new SocketEvents(child);
  }

  /** Resolves when the program exits (it should not, until stop()). */
  get exited(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('close', () => resolve());
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const closed = this.exited;
    this.child.kill('SIGTERM');
    await closed;
  }
}

/**
 * Mounts tracefs when it is missing and this process may (root); then null, or why eBPF tracepoints
 * cannot attach.
 */
export function tracefsProblem(): string | null {
  if (!tracefsMounted() && process.getuid?.() === 0) {
    spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore' });
  }
  if (tracefsMounted()) return null;
  return 'tracefs is not mounted, so eBPF tracepoints cannot attach: mount -t tracefs nodev /sys/kernel/tracing (the agent tries this itself as root)';
}

function tracefsMounted(): boolean {
  return existsSync('/sys/kernel/tracing/events/sock') || existsSync('/sys/kernel/debug/tracing/events/sock');
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.replace(/^endsight-socket-events: /, '').trim()).filter(Boolean);
  return lines.at(-1) ?? 'no message';
}

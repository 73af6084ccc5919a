/**
 * Live capture through libpcap, by way of tcpdump: the one part of the agent that needs capture
 * privileges (root or CAP_NET_RAW + CAP_NET_ADMIN), and it does nothing else.
 *
 * tcpdump opens Linux's `any` device (every interface, including ones that appear later, each
 * packet tagged with its interface index in a cooked v2 header), applies the BPF filter in the
 * kernel, reads the memory-mapped ring (TPACKET_V3) and writes pcap to a pipe; Debian's build then
 * drops to the unprivileged `tcpdump` user. The agent reads the pipe in large chunks and parses
 * them with the same reader as capture files, so packets cross into TypeScript in batches, never
 * one call per packet. Why a program rather than an own N-API shim: docs/agent.md.
 *
 * tcpdump's signals (tcpdump(8)): SIGUSR2 flushes the pcap output buffer (the agent sends it every
 * second, bounding the delay of a quiet link without a write per packet); SIGUSR1 prints libpcap's
 * counters (captured, received by filter, dropped by kernel) on stderr.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { openCaptureStream, type CaptureSource } from '../capture/index.js';
import type { IssueCounter } from '../common/issue-counter.js';

export interface LiveCaptureOptions {
  /** Bytes kept of each packet; enough for the link, IP and transport headers. */
  snaplen: number;
  /** BPF filter expression (pcap-filter(7)), or null for every packet. */
  filter: string | null;
  /** Kernel ring size, KiB (tcpdump -B). */
  bufferKiB: number;
  /** The tcpdump program; default `tcpdump` on the PATH. */
  tcpdump?: string;
}

/** libpcap's counters (pcap_stats). */
export interface CaptureCounters {
  /** Packets tcpdump handed on. */
  captured: number;
  /** Packets that passed the filter in the kernel. */
  receivedByFilter: number;
  /** Packets the kernel dropped because the ring was full. */
  droppedByKernel: number;
}

/** A capture that could not start, with the reason for the operator. */
export class CaptureStartError extends Error {
  override name = 'CaptureStartError';
}

/** Both forms: one line on SIGUSR1, three lines at exit. */
const STATS_PATTERN = /(\d+) packets? captured[\s\S]*?(\d+) packets? received by filter[\s\S]*?(\d+) packets? dropped by kernel/;
const STARTUP_TIMEOUT_MS = 15_000;
const STDBUF = '/usr/bin/stdbuf';
/** Longer than libpcap's 1 s block timeout (tcpdump's default), plus the agent's 1 s flush. */
const DRAIN_MS = 2_200;

/**
 * A running capture as the agent uses it, whether tcpdump is its own child (the agent runs alone)
 * or the privileged supervisor's (the agent runs as an unprivileged worker: privilege/).
 */
export interface CaptureHandle {
  /** The packets, as a pcap stream. */
  readonly source: CaptureSource;
  /** Resolves when the capture has ended. */
  readonly exited: Promise<void>;
  /** Why it ended on its own; null while it runs or after stop(). */
  readonly failure: string | null;
  /** The last libpcap counters known. */
  readonly lastCounters: CaptureCounters;
  /** Asks for buffered packets to be written out now. */
  flush(): void;
  /** Fresh libpcap counters. */
  stats(): Promise<CaptureCounters>;
  /** Stops the capture; the source then ends. */
  stop(): Promise<void>;
}

/** Starts a capture; rejects with CaptureStartError. */
export type StartCapture = (options: LiveCaptureOptions, issues: IssueCounter) => Promise<CaptureHandle>;

/** tcpdump as this process's own child: the capture of an agent that runs alone. */
export const startLocalCapture: StartCapture = async (options, issues) => {
  const tcpdump = await TcpdumpProcess.start(options);
  tcpdump.flush(); // the pcap file header sits in tcpdump's output buffer until the first flush
  const source = await openTcpdumpStream(tcpdump.stdout, issues, async () => {
    if (!tcpdump.hasExited) tcpdump.kill();
  });
  return new LocalCapture(tcpdump, source);
};

class LocalCapture implements CaptureHandle {
  constructor(
    private readonly tcpdump: TcpdumpProcess,
    readonly source: CaptureSource,
  ) {}

  get exited(): Promise<void> {
    return this.tcpdump.exited;
  }

  get failure(): string | null {
    return this.tcpdump.failure;
  }

  get lastCounters(): CaptureCounters {
    return this.tcpdump.lastCounters;
  }

  flush(): void {
    this.tcpdump.flush();
  }

  stats(): Promise<CaptureCounters> {
    return this.tcpdump.stats();
  }

  stop(): Promise<void> {
    return this.tcpdump.stop();
  }
}

/** Reads tcpdump's pcap output as a capture source. */
export function openTcpdumpStream(stdout: AsyncIterable<Uint8Array>, issues: IssueCounter, onClose: () => Promise<void>): Promise<CaptureSource> {
  return openCaptureStream(stdout, issues, { chunkSize: 256 * 1024 }, 'tcpdump -i any', onClose);
}

/** The tcpdump process: started, signalled, its counters read from stderr. Does not read its output. */
export class TcpdumpProcess {
  private stderrTail = '';
  private counters: CaptureCounters = { captured: 0, receivedByFilter: 0, droppedByKernel: 0 };
  private statsWaiters: ((counters: CaptureCounters) => void)[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** Resolves when tcpdump has exited. */
  readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcessByStdio<null, Readable, Readable>) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      // 'exit', not 'close': the supervisor hands stdout to its worker, and then 'close' never comes.
      // tcpdump's last counters arrive on stderr as it exits; give them a moment.
      else child.once('exit', () => {
        const timer = setTimeout(resolve, 500);
        child.stderr.once('end', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    });
  }

  /**
   * Starts tcpdump and waits until it listens. Rejects with CaptureStartError naming the cause: no
   * tcpdump, missing privileges, a bad filter.
   */
  static async start(options: LiveCaptureOptions): Promise<TcpdumpProcess> {
    const program = options.tcpdump ?? 'tcpdump';
    const args = ['-i', 'any', '-y', 'LINUX_SLL2', '-n', '-s', String(options.snaplen), '-B', String(options.bufferKiB), '-w', '-'];
    if (options.filter !== null && options.filter.trim() !== '') args.push(options.filter);
    // Its own process group: a Ctrl-C or a signal to the agent's group must not stop it before the
    // agent has drained it (stop()).
    // stdbuf (coreutils) gives tcpdump's pcap output a 1 MiB buffer instead of stdio's 4 KiB: the pipe
    // then carries full 64 KiB reads, and the agent handles about 15 times fewer chunks per second
    // (bench: the worker's CPU at 150,000 packets/s). The one-second SIGUSR2 flush bounds the delay.
    const [file, argv] = existsSync(STDBUF) ? [STDBUF, ['-o', '1M', program, ...args]] : [program, args];
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    const onStderr = (chunk: Buffer): void => {
      stderr += chunk.toString('utf8');
    };
    child.stderr.on('data', onStderr);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new CaptureStartError(`tcpdump did not start listening within ${STARTUP_TIMEOUT_MS / 1000} s: ${lastLine(stderr)}`));
      }, STARTUP_TIMEOUT_MS);
      const check = (): void => {
        if (/listening on /.test(stderr)) {
          clearTimeout(timer);
          child.off('close', onClose);
          resolve();
        }
      };
      const onClose = (code: number | null): void => {
        clearTimeout(timer);
        reject(new CaptureStartError(explainFailure(stderr, code)));
      };
      child.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new CaptureStartError(
            error.code === 'ENOENT'
              ? `live capture needs tcpdump, which is not installed: apt-get install tcpdump`
              : `cannot start tcpdump: ${error.message}`,
          ),
        );
      });
      child.once('close', onClose);
      child.stderr.on('data', check);
      check();
    });
    child.stderr.off('data', onStderr);
    const capture = new TcpdumpProcess(child);
    capture.stderrTail = stderr;
    child.stderr.on('data', (chunk: Buffer) => capture.onStderr(chunk.toString('utf8')));
    child.once('exit', (code, signal) => {
      capture.exitInfo = { code, signal };
    });
    return capture;
  }

  /** tcpdump's standard output: the pcap stream. */
  get stdout(): Readable {
    return this.child.stdout;
  }

  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Stops tcpdump at once (SIGTERM), without draining. */
  kill(): void {
    this.signal('SIGTERM');
  }

  /** Asks tcpdump to write out what it buffered (SIGUSR2). */
  flush(): void {
    this.signal('SIGUSR2');
  }

  /** libpcap's counters, asked for now (SIGUSR1); the last known ones if tcpdump does not answer within a second. */
  async stats(): Promise<CaptureCounters> {
    if (!this.signal('SIGUSR1')) return this.counters;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsWaiters = this.statsWaiters.filter((w) => w !== done);
        resolve(this.counters);
      }, 1000);
      const done = (counters: CaptureCounters): void => {
        clearTimeout(timer);
        resolve(counters);
      };
      this.statsWaiters.push(done);
    });
  }

  /** The last counters tcpdump printed. */
  get lastCounters(): CaptureCounters {
    return this.counters;
  }

  /** Why tcpdump ended, when it ended on its own; null while it runs or after stop(). */
  get failure(): string | null {
    if (this.exitInfo === null || this.exitInfo.signal === 'SIGTERM') return null;
    return explainFailure(this.stderrTail, this.exitInfo.code);
  }

  /**
   * Stops tcpdump; it flushes what it holds, then the source ends. libpcap hands the kernel ring's
   * current block to tcpdump only when it fills or after the 1 s block timeout, and a tcpdump told to
   * stop does not read it: waiting DRAIN_MS first keeps the packets of the last second.
   */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
    this.signal('SIGTERM');
    await this.exited;
  }

  private signal(name: NodeJS.Signals): boolean {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return false;
    return this.child.kill(name);
  }

  private onStderr(text: string): void {
    this.stderrTail = (this.stderrTail + text).slice(-4096);
    const parsed = parseTcpdumpCounters(this.stderrTail);
    if (parsed === null) return;
    this.counters = parsed.counters;
    this.stderrTail = this.stderrTail.slice(parsed.end);
    const waiters = this.statsWaiters;
    this.statsWaiters = [];
    for (const w of waiters) w(this.counters);
  }
}

/** The first counters tcpdump printed in `text`, and where they end; null when there are none (yet). */
export function parseTcpdumpCounters(text: string): { counters: CaptureCounters; end: number } | null {
  const match = STATS_PATTERN.exec(text);
  if (match === null) return null;
  return {
    counters: { captured: Number(match[1]), receivedByFilter: Number(match[2]), droppedByKernel: Number(match[3]) },
    end: match.index + match[0].length,
  };
}

/** One line for the operator from tcpdump's complaint. */
export function explainFailure(stderr: string, code: number | null): string {
  if (/permission|Operation not permitted/i.test(stderr)) {
    return (
      'live capture needs root or the capabilities CAP_NET_RAW and CAP_NET_ADMIN: run the agent as root ' +
      '(sudo endsight agent), or under systemd with deploy/endsight-agent.service'
    );
  }
  if (/failed to run command .*No such file or directory/.test(stderr)) {
    return 'live capture needs tcpdump, which is not installed: apt-get install tcpdump';
  }
  if (/syntax error|can't parse filter|expression rejects|illegal/i.test(stderr)) {
    return `the capture filter is not valid BPF (pcap-filter(7)): ${lastLine(stderr)}`;
  }
  return `tcpdump stopped (exit code ${code ?? 'none'}): ${lastLine(stderr)}`;
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/^tcpdump: /, '').trim())
    .filter(Boolean);
  return lines.at(-1) ?? 'no message';
}

/**
 * Live capture through the agent's capture program, native/endsight-capture.c: the one part of the
 * agent that needs capture privileges (root or CAP_NET_RAW), and it does nothing else.
 *
 * The program opens libpcap's `any` device (every interface, including ones that appear later), applies
 * the BPF filter in the kernel, reads the memory-mapped ring (TPACKET_V3), adds up the packets of each
 * flow for about a second and writes those entries, with the packets it left to the agent's decoder,
 * to its standard output (capture-batch.ts). Run as root it switches to the worker's user right
 * after opening the device. Why a program of its own rather than tcpdump: docs/agent.md.
 */
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { nativeProgramPath, spawnLocal, type ProgramChild, type SpawnProgram } from '../privilege/spawner.js';
import { readCaptureBatches, type CaptureBatch } from './capture-batch.js';

export interface LiveCaptureOptions {
  /** Bytes kept of each packet; enough for the link, IP and transport headers. */
  snaplen: number;
  /** BPF filter expression (pcap-filter(7)), or null for every packet. */
  filter: string | null;
  /** Kernel ring size, KiB. */
  bufferKiB: number;
}

/** libpcap's counters and the program's own, since the capture started. */
export interface CaptureCounters {
  /** Packets the program read from the ring. */
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

/**
 * A running capture as the agent uses it, whether the program is its own child (the agent runs
 * alone) or the privileged supervisor's (the agent runs as an unprivileged worker: privilege/).
 */
export interface CaptureHandle {
  /** The program's batches, until it ends. */
  batches(): AsyncIterable<CaptureBatch>;
  /** Resolves when the capture has ended. */
  readonly exited: Promise<void>;
  /** Why it ended on its own; null while it runs or after stop(). */
  readonly failure: string | null;
  /** Meter one packet in `n` from now on (the CPU budget). */
  setSampling(n: number): void;
  /** Stops the capture: the program reads what the kernel holds, writes its last batch and exits. */
  stop(): Promise<void>;
}

/** Starts a capture; rejects with CaptureStartError. */
export type StartCapture = (options: LiveCaptureOptions) => Promise<CaptureHandle>;

const STARTUP_TIMEOUT_MS = 15_000;
/** Exit codes of the program (native/endsight-capture.c). */
const EXIT_PERMISSION = 3;
const EXIT_FILTER = 4;

/** The built program: native/build/endsight-capture in the package (from dist/src/agent/capture/). */
export function captureProgramPath(): string {
  return nativeProgramPath('endsight-capture');
}

/** The capture program as this process's own child: the capture of an agent that runs alone. */
export const startLocalCapture: StartCapture = (options) => startCapture(options, null);

/**
 * A capture through `spawnProgram`: the privileged helper's child when the agent meters
 * unprivileged (privilege/worker.ts), this process's own otherwise.
 */
export async function startCapture(options: LiveCaptureOptions, spawnProgram: SpawnProgram | null): Promise<CaptureHandle> {
  const program = await CaptureProgram.start(options, null, spawnProgram);
  return {
    batches: () => readCaptureBatches(program.stdout),
    exited: program.exited,
    get failure() {
      return program.failure;
    },
    setSampling: (n) => program.setSampling(n),
    stop: () => program.stop(),
  };
}

/** The program's process: started, told the sampling rate, stopped. Does not read its output. */
export class CaptureProgram {
  private stderrTail = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private stopRequested = false;
  /** Resolves when the program has exited. */
  readonly exited: Promise<void>;

  private constructor(private readonly child: ProgramChild) {
    // 'exit', not 'close': the supervisor hands stdout to its worker, and then 'close' never comes.
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  /**
   * Starts the program and waits until it listens. `user`: as root, the user it switches to after
   * opening the device. `spawnProgram`: how to start it, when not as this process's child (the
   * privileged helper, which adds the worker's user itself). Rejects with CaptureStartError naming
   * the cause: not built, no privileges, a bad filter.
   */
  static async start(options: LiveCaptureOptions, user: string | null, spawnProgram: SpawnProgram | null = null): Promise<CaptureProgram> {
    const program = captureProgramPath();
    if (!existsSync(program)) {
      throw new CaptureStartError(`the capture program ${program} is not built: run npm run build (it needs gcc and libpcap-dev)`);
    }
    const args = ['-s', String(options.snaplen), '-B', String(options.bufferKiB)];
    if (user !== null && spawnProgram === null) args.push('-Z', user);
    // After `--`, so that no filter is read as an option.
    args.push('--');
    if (options.filter !== null && options.filter.trim() !== '') args.push(options.filter);
    const child = spawnProgram !== null ? await spawnProgram('capture', args) : spawnLocal('capture', args);
    let stderr = '';
    const onStderr = (chunk: Buffer): void => {
      stderr += chunk.toString('utf8');
    };
    child.stderr.on('data', onStderr);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new CaptureStartError(`the capture program did not start listening within ${STARTUP_TIMEOUT_MS / 1000} s: ${lastLine(stderr)}`));
      }, STARTUP_TIMEOUT_MS);
      const check = (): void => {
        if (/listening on /.test(stderr)) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        // Its last words may still be on their way.
        setImmediate(() => reject(new CaptureStartError(explainFailure(stderr, code))));
      };
      child.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new CaptureStartError(`cannot start the capture program: ${error.message}`));
      });
      child.once('exit', onExit);
      child.stderr.on('data', check);
    });
    child.stderr.off('data', onStderr);
    const capture = new CaptureProgram(child);
    capture.stderrTail = stderr;
    child.stderr.on('data', (chunk: Buffer) => {
      capture.stderrTail = (capture.stderrTail + chunk.toString('utf8')).slice(-4096);
    });
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      capture.exitInfo = { code, signal };
    });
    return capture;
  }

  /** The program's standard output: the batches. */
  get stdout(): Readable {
    return this.child.stdout;
  }

  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Meter one packet in `n` from the program's next batch on. */
  setSampling(n: number): void {
    if (!this.hasExited && this.child.stdin.writable) this.child.stdin.write(`sampling ${Math.max(1, Math.floor(n))}\n`);
  }

  /** Ends the program at once, without its last batch. */
  kill(): void {
    this.stopRequested = true;
    if (!this.hasExited) this.child.kill('SIGKILL');
  }

  /** Why the program ended, when it ended on its own; null while it runs or after stop(). */
  get failure(): string | null {
    if (this.exitInfo === null || this.stopRequested) return null;
    return explainFailure(this.stderrTail, this.exitInfo.code);
  }

  /** Stops the program; it writes what it holds (up to the ring's 1 s block timeout), then the output ends. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    if (!this.hasExited) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** One line for the operator from the program's exit code and complaint. */
export function explainFailure(stderr: string, code: number | null): string {
  if (code === EXIT_PERMISSION || /permission|Operation not permitted/i.test(stderr)) {
    return (
      'live capture needs root or the capability CAP_NET_RAW: run the agent as root ' +
      '(sudo endsight agent), or under systemd with deploy/endsight-agent.service'
    );
  }
  if (code === EXIT_FILTER) return `the capture filter is not valid BPF (pcap-filter(7)): ${lastLine(stderr).replace(/^the filter is not valid BPF \(pcap-filter\(7\)\): /, '')}`;
  return `the capture program stopped (exit code ${code ?? 'none'}): ${lastLine(stderr)}`;
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/^endsight-capture: /, '').trim())
    .filter(Boolean);
  return lines.at(-1) ?? 'no message';
}

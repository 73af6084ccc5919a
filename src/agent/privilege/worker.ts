/**
 * The meter's side of privilege separation (supervisor.ts): the capture program, the socket events
 * program and conntrack are started by the privileged helper (native/endsight-privileged.c), which
 * hands their standard input/output and standard error over as sockets; the rest (reading the
 * capture, describing processes from /proc, metering) happens here, unprivileged.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { AgentConfig } from '../agent-config.js';
import { startLocalAttribution, type StartAttribution } from '../attribution/attribution-feed.js';
import { AttributionUnavailable } from '../attribution/socket-events.js';
import { startCapture, type StartCapture } from '../capture/capture-program.js';
import type { HelperReply, HelperRequest } from './messages.js';
import type { HelperProgram, ProgramChild, SpawnProgram } from './spawner.js';

/** The helper's channel: its ChildProcess, as far as this file needs it. */
export interface HelperChannel {
  send(message: HelperRequest): void;
  readonly connected: boolean;
  on(event: 'message', listener: (message: HelperReply, handle: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
}

/** A program the helper runs: its sockets, its exit as the helper reports it. */
class RemoteChild extends EventEmitter implements ProgramChild {
  exitCode: number | null = null;
  signalCode: string | null = null;
  stdio: Socket | null = null;
  stderrSocket: Socket | null = null;
  private exited = false;
  private outputsOpen = 2;

  constructor(
    private readonly id: number,
    private readonly send: (message: HelperRequest) => void,
  ) {
    super();
  }

  get stdin(): Socket {
    return this.stdio!;
  }
  get stdout(): Socket {
    return this.stdio!;
  }
  get stderr(): Socket {
    return this.stderrSocket!;
  }

  attach(name: 'stdio' | 'stderr', socket: Socket): void {
    if (name === 'stdio') {
      this.stdio = socket;
      socket.on('error', () => undefined); // the program gone: its exit is reported, not this
    } else {
      this.stderrSocket = socket;
    }
    socket.once('close', () => this.outputClosed());
  }

  kill(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): void {
    if (!this.exited) this.send({ op: 'kill', id: this.id, signal: signal === 'SIGKILL' ? 9 : 15 });
  }

  /** After the callers awaiting the start have had their turn to listen (as a ChildProcess's 'exit' comes later too). */
  onExit(code: number | null, signal: string | null): void {
    if (this.exited) return;
    this.exited = true;
    setImmediate(() => {
      this.exitCode = code;
      this.signalCode = code === null ? (signal ?? 'SIGKILL') : null;
      this.emit('exit', this.exitCode, this.signalCode);
      this.maybeClose();
    });
  }

  private outputClosed(): void {
    this.outputsOpen--;
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.exitCode === null && this.signalCode === null) return;
    if (this.outputsOpen === 0) this.emit('close', this.exitCode, this.signalCode);
  }
}

export interface SupervisedHelpers {
  startCapture: StartCapture;
  startAttribution: StartAttribution;
  /** The configuration read again by the helper, as root: the configuration, or the problems found. */
  reload(): Promise<{ config: AgentConfig } | { error: string }>;
}

/**
 * Capture, attribution and reloading through the privileged helper. `tracefsProblem`: why eBPF
 * tracepoints cannot attach, found (and mounted where missing) before privileges were given up.
 */
export function supervisedHelpers(helper: HelperChannel, tracefsProblem: string | null): SupervisedHelpers {
  let nextId = 0;
  const send = (message: HelperRequest): void => {
    if (helper.connected) helper.send(message);
  };
  const children = new Map<number, { child: RemoteChild; started: (child: RemoteChild) => void; failed: (error: Error) => void }>();
  const answers = new Map<number, (reply: HelperReply) => void>();

  helper.on('message', (message: HelperReply, handle: unknown) => {
    switch (message.op) {
      case 'stream':
        children.get(message.id)?.child.attach(message.name, handle as Socket);
        return;
      case 'spawned': {
        const entry = children.get(message.id);
        entry?.started(entry.child);
        return;
      }
      case 'exited': {
        const entry = children.get(message.id);
        if (!entry) return;
        children.delete(message.id);
        // Without its sockets it never started (fork failed); with them, its exit is reported like any other.
        if (entry.child.stdio === null) entry.failed(new Error('the privileged helper could not start the program'));
        else entry.started(entry.child);
        entry.child.onExit(message.code, message.signal);
        return;
      }
      case 'tun':
      case 'reload':
        answers.get(message.id)?.(message);
        answers.delete(message.id);
        return;
    }
  });
  // The helper gone (killed): its programs got SIGTERM from the kernel; what they still write is read.
  helper.on('disconnect', () => {
    for (const { child, started, failed } of children.values()) {
      if (child.stdio === null) failed(new Error('the privileged helper is gone'));
      else started(child);
      child.onExit(null, 'SIGKILL');
    }
    children.clear();
    for (const answer of answers.values()) answer({ op: 'reload', id: -1, config: null });
    answers.clear();
  });

  const spawnProgram: SpawnProgram = (program: HelperProgram, args: string[]) =>
    new Promise<ProgramChild>((resolve, reject) => {
      if (!helper.connected) {
        reject(new Error('the privileged helper is gone'));
        return;
      }
      const id = ++nextId;
      const child = new RemoteChild(id, send);
      children.set(id, { child, started: (c) => resolve(c), failed: reject });
      send({ op: 'spawn', id, program, args: Buffer.from(args.map((a) => a + '\0').join(''), 'utf8').toString('hex') });
    });
  const ask = (request: HelperRequest): Promise<HelperReply | null> =>
    new Promise((resolve) => {
      if (!helper.connected) {
        resolve(null);
        return;
      }
      answers.set(request.id, resolve);
      send(request);
    });
  const tunnelOf = async (pid: number): Promise<string | null> => {
    const reply = await ask({ op: 'tun', id: ++nextId, pid });
    return reply?.op === 'tun' ? reply.iface : null;
  };

  return {
    startCapture: (options) => startCapture(options, spawnProgram),
    startAttribution: async (listener) => {
      if (tracefsProblem !== null) throw new AttributionUnavailable(tracefsProblem);
      return startLocalAttribution(listener, { spawnProgram, tunnelOf });
    },
    reload: async () => {
      const reply = await ask({ op: 'reload', id: ++nextId });
      if (reply?.op !== 'reload' || reply.config === null) return { error: 'the configuration check did not run (see the log above)' };
      return JSON.parse(Buffer.from(reply.config, 'hex').toString('utf8')) as { config: AgentConfig } | { error: string };
    },
  };
}

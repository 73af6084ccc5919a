/**
 * How the agent starts its native helpers (the capture program, the socket events program,
 * conntrack): as its own children when it runs alone, or through the privileged helper
 * (native/endsight-privileged.c) when it meters as an unprivileged user (supervisor.ts). Either way the
 * caller gets what it needs of a child process: its standard input and output, its standard error,
 * its exit, and a way to stop it.
 */
import { spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export type HelperProgram = 'capture' | 'events' | 'conntrack';

/** The part of a ChildProcess the helpers' classes use. Emits 'exit' (code, signal) and 'close' (code, signal) once its output has ended too. */
export interface ProgramChild extends EventEmitter {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | string | null;
  kill(signal?: 'SIGTERM' | 'SIGKILL'): void;
}

/** Starts a helper with these arguments; the child's 'error' event says when it could not be started. */
export type SpawnProgram = (program: HelperProgram, args: string[]) => Promise<ProgramChild>;

/** A built native program: native/build/NAME in the package (from dist/src/agent/privilege/). */
export function nativeProgramPath(name: string): string {
  return fileURLToPath(new URL(`../../../../native/build/${name}`, import.meta.url));
}

const PATHS: Record<HelperProgram, () => string> = {
  capture: () => nativeProgramPath('endsight-capture'),
  events: () => nativeProgramPath('endsight-socket-events'),
  conntrack: () => 'conntrack',
};

/**
 * The helper as this process's child. `argv0`: another program to run instead (a test's stand-in,
 * or setpriv in front of conntrack). Its own process group: a Ctrl-C to the agent's group must not
 * stop it before the agent has drained it.
 */
export function spawnLocal(program: HelperProgram, args: string[], argv0: string = PATHS[program]()): ProgramChild {
  const child = spawn(argv0, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdin.on('error', () => undefined); // the program gone: its exit is reported, not this
  return child as unknown as ProgramChild;
}

export const localSpawn: SpawnProgram = async (program, args) => spawnLocal(program, args);

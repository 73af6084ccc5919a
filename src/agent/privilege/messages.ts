/**
 * Messages between the unprivileged meter (this Node.js process, worker.ts) and the privileged
 * helper native/endsight-privileged.c, over the Node.js IPC channel the helper was started with
 * (JSON serialization: one object a line, which the C side reads and writes). Strings the helper
 * must read arrive hex-encoded, so that no JSON escape ever reaches it; sockets travel as the handle
 * of a `stream` message.
 */

/** Meter → helper. */
export type HelperRequest =
  /** args: the arguments, each followed by a NUL, hex-encoded. */
  | { op: 'spawn'; id: number; program: 'capture' | 'events' | 'conntrack'; args: string }
  | { op: 'kill'; id: number; signal: 15 | 9 }
  | { op: 'tun'; id: number; pid: number }
  | { op: 'reload'; id: number };

/** Helper → meter. */
export type HelperReply =
  /** Sent with the socket: `stdio` is the program's standard input and output, `stderr` its standard error. */
  | { op: 'stream'; id: number; name: 'stdio' | 'stderr' }
  | { op: 'spawned'; id: number; pid: number }
  | { op: 'exited'; id: number; code: number | null; signal: string | null }
  | { op: 'tun'; id: number; iface: string | null }
  /** config: what the configuration check printed (config-check.ts), hex-encoded; null when it failed to run. */
  | { op: 'reload'; id: number; config: string | null };

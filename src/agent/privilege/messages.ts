/**
 * Messages between the privileged supervisor and the unprivileged worker (Node IPC channel, advanced
 * serialization so BigInt event times cross as they are). The capture's pipe travels as the handle
 * of the `capture` message.
 */
import type { ProcessInfo } from '../attribution/process-directory.js';
import type { SocketEvent } from '../attribution/socket-events.js';
import type { NatMapping } from '../attribution/nat-events.js';
import type { AgentConfig } from '../agent-config.js';
import type { LiveCaptureOptions } from '../capture/capture-program.js';

/** Worker → supervisor. */
export type WorkerMessage =
  | { op: 'capture-start'; id: number; options: LiveCaptureOptions }
  /** Meter one packet in `sampling` (the worker's CPU budget). */
  | { op: 'capture-sampling'; id: number; sampling: number }
  | { op: 'capture-stop'; id: number }
  | { op: 'attribution-start' };

/** Supervisor → worker. */
export type SupervisorMessage =
  /** Sent with the capture program's stdout as the handle. */
  | { op: 'capture'; id: number }
  | { op: 'capture-failed'; id: number; reason: string }
  | { op: 'capture-exited'; id: number; failure: string | null }
  | { op: 'attribution-started'; natUnavailable: string | null }
  | { op: 'nat'; mapping: NatMapping }
  | { op: 'attribution-unavailable'; reason: string }
  | { op: 'attribution-exited' }
  | { op: 'owner'; event: SocketEvent; owner: ProcessInfo }
  | { op: 'stop' }
  /** A new configuration, read and validated by the supervisor. */
  | { op: 'reload'; config: AgentConfig };

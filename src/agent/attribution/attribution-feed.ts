/**
 * Where the agent's socket owners come from: the kernel's socket events, each with what /proc says
 * about its process. Run in the agent itself when it runs alone, or in the privileged supervisor
 * when the meter runs unprivileged (privilege/), since reading other users' open files (a VPN's
 * /dev/net/tun) and running eBPF need privileges.
 */
import { NatEvents, type NatMapping } from './nat-events.js';
import { ProcessDirectory, type ProcessInfo } from './process-directory.js';
import { SocketEvents, type SocketEvent } from './socket-events.js';
import type { SpawnProgram } from '../privilege/spawner.js';

export interface AttributionFeed {
  /** Resolves when the feed ends (the socket events program exited). */
  readonly exited: Promise<void>;
  /** Why address translations are not followed (no conntrack), or null when they are. */
  readonly natUnavailable: string | null;
  stop(): Promise<void>;
}

export interface AttributionListener {
  onOwner(event: SocketEvent, owner: ProcessInfo): void;
  onNat(mapping: NatMapping): void;
}

/** Starts a feed; rejects with AttributionUnavailable naming what is missing. */
export type StartAttribution = (listener: AttributionListener) => Promise<AttributionFeed>;

/**
 * The socket events program and conntrack, processes described from /proc here. Run as this
 * process's children, or through `via` when the agent meters unprivileged: the privileged helper
 * starts them, and names the tun device of a process (reading another user's fds needs root).
 */
export async function startLocalAttribution(
  listener: AttributionListener,
  via: { spawnProgram: SpawnProgram; tunnelOf: (pid: number) => Promise<string | null> } | null = null,
): Promise<AttributionFeed> {
  const processes = new ProcessDirectory(undefined, undefined, undefined, via?.tunnelOf);
  const events = await SocketEvents.start((event) => listener.onOwner(event, processes.describe(event)), null, via?.spawnProgram ?? null);
  let nat: NatEvents | null = null;
  let natUnavailable: string | null = null;
  try {
    nat = await NatEvents.start((mapping) => listener.onNat(mapping), 'conntrack', via?.spawnProgram ?? null);
  } catch (error) {
    natUnavailable = (error as Error).message;
  }
  return {
    exited: events.exited,
    natUnavailable,
    stop: async () => {
      await nat?.stop();
      await events.stop();
    },
  };
}

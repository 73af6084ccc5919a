/**
 * Where the agent's socket owners come from: the kernel's socket events, each with what /proc says
 * about its process. Run in the agent itself when it runs alone, or in the privileged supervisor
 * when the meter runs unprivileged (privilege/), since reading other users' open files (a VPN's
 * /dev/net/tun) and running eBPF need privileges.
 */
import { ProcessDirectory, type ProcessInfo } from './process-directory.js';
import { SocketEvents, type SocketEvent } from './socket-events.js';

export interface AttributionFeed {
  /** Resolves when the feed ends (bpftrace exited). */
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/** Starts a feed; rejects with AttributionUnavailable naming what is missing. */
export type StartAttribution = (onOwner: (event: SocketEvent, owner: ProcessInfo) => void) => Promise<AttributionFeed>;

/** bpftrace as this process's child, processes described from /proc here. */
export const startLocalAttribution: StartAttribution = async (onOwner) => {
  const processes = new ProcessDirectory();
  const events = await SocketEvents.start((event) => onOwner(event, processes.describe(event)));
  const expiry = setInterval(() => processes.expire(), 10_000).unref();
  return {
    exited: events.exited,
    stop: async () => {
      clearInterval(expiry);
      await events.stop();
    },
  };
};

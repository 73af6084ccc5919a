/**
 * `--from if:NAME --adjacency`: joins the LAN on NAME as a stub router (ospf-adjacency.ts) through
 * the OSPF socket helper, and returns the database once it is the area's (Full with the DR), or
 * after following the floods for `holdMs` more; then leaves (its LSA flushed) and closes.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { OspfAdjacency } from './ospf-adjacency.js';
import type { OspfCapture } from './ospf-capture.js';
import { OspfSocket } from './ospf-socket.js';

export interface AdjacencyListenOptions {
  /** Our router ID; default: the interface's address on the routers' network. */
  routerId?: string;
  /** The most time to wait for a complete database, ms. */
  waitMs: number;
  /** How long to stay adjacent once complete, following the floods, ms (0: leave at once). */
  holdMs: number;
  /** Stops early (Ctrl-C): what is held is kept, complete or not. */
  signal?: AbortSignal;
  /** Progress: the neighbours' states as they change. */
  log?: (line: string) => void;
}

export interface AdjacencyCapture extends OspfCapture {
  /** Whether the database was complete (Full with the DR) when it was returned. */
  complete: boolean;
  /** ms from the socket opening to a complete database; null if it never was. */
  completeAfterMs: number | null;
  routerId: string | null;
  neighbors: ReturnType<OspfAdjacency['neighborStates']>;
}

const TICK_MS = 100;
/** How long to wait, leaving, for the flush of our LSA to be acknowledged. */
const LEAVE_MS = 1000;
const INTERFACE = /^[A-Za-z0-9_.:@-]{1,15}$/;

export async function formAdjacency(interfaceName: string, options: AdjacencyListenOptions): Promise<AdjacencyCapture> {
  if (!INTERFACE.test(interfaceName)) throw new RangeError(`Cannot form an adjacency on ${JSON.stringify(interfaceName)}: not an interface name`);
  const addresses = (networkInterfaces()[interfaceName] ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => ({ address: a.address, netmask: a.netmask }));
  if (addresses.length === 0) throw new RangeError(`Cannot form an adjacency on ${interfaceName}: it has no IPv4 address (an adjacency needs one on the routers' network; without --adjacency, snooping needs none)`);
  const mtu = Number(readFileSync(`/sys/class/net/${interfaceName}/mtu`, 'utf8').trim()) || 1500;
  let firstMs: number | null = null;
  let lastMs: number | null = null;
  let socket: OspfSocket | null = null;
  const adjacency = new OspfAdjacency({ routerId: options.routerId ?? null, addresses, mtu, send: (to, packet) => socket?.send(to, packet), log: options.log });
  socket = await OspfSocket.open(interfaceName, (packet) => {
    const now = Date.now();
    firstMs ??= now;
    lastMs = now;
    try {
      adjacency.receive(packet.source, packet.payload, now);
    } catch (error) {
      // Bytes from the wire never end the adjacency: counted (the fuzz test finds none).
      adjacency.issues.add('ospf_internal_error');
      options.log?.(`a packet from ${packet.source} could not be handled: ${(error as Error).message}`);
    }
  });
  const openedMs = Date.now();
  let completeAtMs: number | null = null;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const now = Date.now();
        try {
          adjacency.tick(now);
        } catch (error) {
          return finish(error as Error);
        }
        if (adjacency.problem !== null) return finish(new RangeError(`Cannot form an adjacency on ${interfaceName}: ${adjacency.problem}`));
        if (completeAtMs === null && adjacency.complete()) {
          completeAtMs = now;
          const held = adjacency.lsdb.entries(now).length;
          options.log?.(`database complete in ${((now - openedMs) / 1000).toFixed(1)} s: ${held} LSAs${options.holdMs > 0 ? `; following the floods for ${options.holdMs / 1000} s more` : ''}`);
        }
        if (completeAtMs !== null && now - completeAtMs >= options.holdMs) return finish(null);
        if (completeAtMs === null && now - openedMs >= options.waitMs) return finish(new RangeError(`Cannot form an adjacency on ${interfaceName} within ${options.waitMs / 1000} s: ${whyNot(adjacency)}`));
      }, TICK_MS);
      const stop = (): void => finish(null);
      options.signal?.addEventListener('abort', stop, { once: true });
      void socket!.closed.then(() => finish(new RangeError(`Cannot form an adjacency on ${interfaceName}: the socket helper ended: ${socket!.complaint()}`)));
      function finish(error: Error | null): void {
        clearInterval(timer);
        options.signal?.removeEventListener('abort', stop);
        if (error) reject(error);
        else resolve();
      }
    });
    const held = adjacency.lsdb.clone();
    return {
      lsdb: held, packets: adjacency.packets, lsas: adjacency.lsas, issues: adjacency.issues, firstMs, lastMs,
      complete: completeAtMs !== null, completeAfterMs: completeAtMs === null ? null : completeAtMs - openedMs, routerId: adjacency.routerId, neighbors: adjacency.neighborStates(),
    };
  } finally {
    adjacency.leave(Date.now());
    await new Promise((resolve) => setTimeout(resolve, LEAVE_MS));
    await socket.close();
  }
}

function whyNot(adjacency: OspfAdjacency): string {
  const neighbors = adjacency.neighborStates();
  if (adjacency.routerId === null) return adjacency.hint ?? 'no OSPF Hello heard there';
  if (neighbors.length === 0) return 'no router answered';
  if (!neighbors.some((n) => n.role === 'DR')) return `no designated router among the neighbours (${neighbors.map((n) => `${n.routerId} ${n.state}`).join(', ')}): an adjacency joins a LAN's DR; on a point-to-point link, snoop instead`;
  return `neighbours ${neighbors.map((n) => `${n.routerId}${n.role ? ` (${n.role})` : ''} ${n.state}`).join(', ')}${adjacency.hint ? `; ${adjacency.hint}` : ''}`;
}

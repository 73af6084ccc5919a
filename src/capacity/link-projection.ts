/**
 * The demand projected onto the network's links (issue 9, "its projection onto links through the
 * network view's what-if"): "move application X to site Y" is the what-if `move` of X's servers
 * (the addresses that serve its port) to router Y. Routes do not change; the paths of the traffic to
 * and from those addresses do. The loads come from the network view's own code: the what-if
 * (topo/whatif.ts applySteps) edits the database and the link-load code (topo/link-loads.ts) routes
 * each matrix over the network before and after.
 *
 * Three matrices are routed, each as bits/s over one step:
 *   - peak: the moved applications' pairs in their busiest step (as measured in that step);
 *   - p95: the moved applications' pairs over the whole window, scaled so that their total is the
 *     p95 step's bytes (the window's mix of pairs at a busy but ordinary step);
 *   - total: every flow of the network in that busiest step, the moved applications' included, for
 *     the utilisation of each link against its capacity. Moving an address moves all its traffic,
 *     so other applications of the same servers move with it (as a what-if move does).
 */
import type { LinkStateDatabase } from '../topo/ospf/lsdb.js';
import { NetworkModel } from '../topo/network-model.js';
import { linkKey, routeDemands, type Demand, type LinkLoad, type LoadResult } from '../topo/link-loads.js';
import { applySteps, WhatIfError, type WhatIfStep } from '../topo/whatif.js';

export interface ApplicationMove {
  app: string;
  router: string;
  /** The application's servers (IPv4 addresses) seen in the window. */
  servers: string[];
}

export interface ProjectionInput {
  lsdb: LinkStateDatabase;
  nowMs: number;
  area: string;
  moves: readonly ApplicationMove[];
  stepS: number;
  peak: readonly Demand[];
  p95: readonly Demand[];
  total: readonly Demand[];
  /** Capacities by sending interface address (bits/s), or null. */
  capacities: Map<string, number> | null;
}

export interface ProjectedLink {
  link: Pick<LinkLoad, 'from' | 'to' | 'via' | 'fromAddress'>;
  /** Bits/s, before and after the move. */
  peak: [number, number];
  p95: [number, number];
  total: [number, number];
  capacityBps: number | null;
}

export interface Projection {
  links: ProjectedLink[];
  /** Routed and unrouted bytes per step of each matrix, before and after. */
  results: Record<'peak' | 'p95' | 'total', [LoadResult, LoadResult]>;
  steps: WhatIfStep[];
}

/** The what-if steps of the moves: each application's servers, as /32s, to its router. */
export function moveSteps(moves: readonly ApplicationMove[]): WhatIfStep[] {
  return moves.map((m) => {
    if (m.servers.length === 0) throw new RangeError(`Cannot move ${m.app}: no server of it (an IPv4 address serving its port) in the window`);
    return { kind: 'move', prefixes: m.servers, router: m.router };
  });
}

/** Throws, naming the application, when a move's router is not in the network (before any flow is read). */
export function checkMoveRouters(lsdb: LinkStateDatabase, moves: readonly Pick<ApplicationMove, 'app' | 'router'>[], nowMs: number): void {
  movesApplied(lsdb, moves.map((m) => ({ ...m, servers: [] })), moves.map((m) => ({ kind: 'move', prefixes: [], router: m.router })), nowMs);
}

/** Every link's loads before and after the moves, the most changed at the peak first. */
export function projectMoves(input: ProjectionInput): Projection {
  const steps = moveSteps(input.moves);
  const changed = movesApplied(input.lsdb, input.moves, steps, input.nowMs);
  const before = NetworkModel.fromLsdb(input.lsdb, input.area, input.nowMs);
  const after = NetworkModel.fromLsdb(changed.lsdb, input.area, input.nowMs, changed.moved);
  const links = new Map<string, ProjectedLink>();
  const results = {} as Projection['results'];
  const toBps = (bytes: number): number => (bytes * 8) / input.stepS;
  for (const name of ['peak', 'p95', 'total'] as const) {
    const pair: [LoadResult, LoadResult] = [routeDemands(before, input[name]), routeDemands(after, input[name])];
    results[name] = pair;
    pair.forEach((result, side) => {
      for (const load of result.links) {
        const key = linkKey(load);
        let row = links.get(key);
        if (!row) {
          links.set(key, (row = { link: { from: load.from, to: load.to, via: load.via, fromAddress: load.fromAddress }, peak: [0, 0], p95: [0, 0], total: [0, 0], capacityBps: input.capacities?.get(load.fromAddress) ?? null }));
        }
        row[name][side] = toBps(load.bytes);
      }
    });
  }
  const change = (pair: [number, number]): number => Math.abs(pair[1] - pair[0]);
  const sorted = [...links.values()].sort((a, b) => change(b.peak) - change(a.peak) || change(b.p95) - change(a.p95) || b.total[1] - a.total[1] || linkKey(a.link).localeCompare(linkKey(b.link)));
  return { links: sorted, results, steps };
}

/** The what-if's edited database and moved prefixes; its errors name the application rather than every server. */
function movesApplied(lsdb: LinkStateDatabase, moves: readonly ApplicationMove[], steps: WhatIfStep[], nowMs: number): ReturnType<typeof applySteps> {
  try {
    return applySteps(lsdb, steps, nowMs);
  } catch (error) {
    if (!(error instanceof WhatIfError)) throw error;
    const match = /^step (\d+) \(.*?\): (.*)$/s.exec(error.message);
    const move = match ? moves[Number(match[1]) - 1] : undefined;
    throw new RangeError(move ? `Cannot move ${move.app} to ${move.router}: ${match![2]}` : error.message);
  }
}

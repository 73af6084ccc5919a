/**
 * Traffic engineering (issue 5): OSPF interface costs that lower the highest link utilisation for a
 * measured traffic matrix (or bring every link under its own target), changing at most k costs.
 *
 * A local search in the manner of Fortz and Thorup ("Internet traffic engineering by optimizing OSPF
 * weights", 2000), kept to moves that matter: at each step the worst link (highest utilisation over
 * its target) is relieved, for each destination whose traffic crosses it and at each router whose
 * traffic reaches it, by
 *   - raising the cost of the link that leads there until the router's best other way out ties (the
 *     traffic splits evenly, RFC 2328 §16.1.1) or wins by one (it moves over), or
 *   - lowering the cost of another way out of that router until it ties or wins.
 * Every candidate is evaluated by routing the whole matrix again; the best one that lowers the score
 * (highest utilisation over target, then the sum of squared utilisations) is kept, until no move
 * helps, k interfaces have changed and none of them can improve further, or `maxSteps` is reached.
 */
import { routeDemands, towardTarget, type Demand } from './link-loads.js';
import { interfaceKey, type ModelEdge, type NetworkModel } from './network-model.js';
import { CandidateHeap } from './ospf/spf.js';

export interface TuneOptions {
  /** Capacity in bits/s by the sending interface's address; links without one are not scored. */
  capacities: ReadonlyMap<string, number>;
  /** Seconds the matrix covers. */
  windowS: number;
  /** At most this many interfaces change cost. */
  maxChanges: number;
  /** Per-link utilisation targets by sending address (default 1 for every link). */
  targets?: ReadonlyMap<string, number>;
  /** Search steps at most (default 50). */
  maxSteps?: number;
}

export interface CostChange {
  router: string;
  /** The router's interface address: the cost is that interface's. */
  address: string;
  /** `p2p` neighbour router ID, or the LAN prefix. */
  toward: string;
  before: number;
  after: number;
}

export interface TuneResult {
  changes: CostChange[];
  before: Score;
  after: Score;
  /** The busiest link before and after (by utilisation over target). */
  worstBefore: string | null;
  worstAfter: string | null;
  steps: number;
}

export interface Score {
  /** Highest utilisation over target (1 = at target). */
  worst: number;
  /** Highest utilisation. */
  maxUtilisation: number;
  sumSquares: number;
  linksOverTarget: number;
}

const MAX_COST = 0xffff;

export function tuneCosts(model: NetworkModel, demands: readonly Demand[], options: TuneOptions): TuneResult {
  const maxSteps = options.maxSteps ?? 50;
  const evaluate = (m: NetworkModel): { score: Score; worstEdge: ModelEdge | null } => {
    const bytes = new Map(routeDemands(m, demands).links.map((l) => [`${l.from}|${l.via}|${l.fromAddress}|${l.to}`, l.bytes]));
    const score: Score = { worst: 0, maxUtilisation: 0, sumSquares: 0, linksOverTarget: 0 };
    let worstEdge: ModelEdge | null = null;
    for (const edge of m.edgeList) {
      const capacity = options.capacities.get(edge.fromAddress);
      if (capacity === undefined) continue;
      const load = bytes.get(`${m.ids[edge.from]}|${edge.via}|${edge.fromAddress}|${m.ids[edge.to]}`) ?? 0;
      const utilisation = (load * 8) / options.windowS / capacity;
      const over = utilisation / (options.targets?.get(edge.fromAddress) ?? 1);
      score.sumSquares += utilisation * utilisation;
      score.maxUtilisation = Math.max(score.maxUtilisation, utilisation);
      if (over > 1) score.linksOverTarget++;
      if (over > score.worst) {
        score.worst = over;
        worstEdge = edge;
      }
    }
    return { score, worstEdge };
  };
  const better = (a: Score, b: Score): boolean => a.worst < b.worst - 1e-9 || (Math.abs(a.worst - b.worst) <= 1e-9 && a.sumSquares < b.sumSquares - 1e-9);
  const name = (m: NetworkModel, e: ModelEdge | null): string | null => (e ? `${m.ids[e.from]}>${m.ids[e.to]} ${e.via} ${e.fromAddress}` : null);

  const costs = new Map<string, number>();
  let current = model;
  let { score, worstEdge } = evaluate(current);
  const initial = { score, worstEdge };
  let steps = 0;
  const heap = new CandidateHeap(model.ids.length);
  while (steps < maxSteps && worstEdge !== null && score.worst > 0) {
    steps++;
    const candidates = new Map<string, Set<number>>();
    const propose = (edge: ModelEdge, cost: number): void => {
      const key = interfaceKey(current.ids[edge.from], edge.fromAddress);
      const value = Math.round(cost);
      if (value < 1 || value > MAX_COST || value === edge.cost) return;
      if (!costs.has(key) && costs.size >= options.maxChanges) return;
      let set = candidates.get(key);
      if (!set) candidates.set(key, (set = new Set()));
      set.add(value);
    };
    const worst: ModelEdge = worstEdge;
    const u = worst.from;
    const targets = new Set<number>();
    for (const d of demands) {
      const t = current.attachmentOf(d.dst);
      if (t !== undefined) targets.add(t);
    }
    for (const t of targets) {
      const { dist, next, order } = towardTarget(current, t, heap);
      if (!next[u].includes(worst)) continue;
      // The routers whose traffic to t crosses the worst link: reach > 0 (nearest first, as in demandsOnLink).
      const reach = new Float64Array(current.ids.length);
      reach[u] = 1;
      for (let i = order.length - 1; i >= 0; i--) {
        const v = order[i];
        if (dist[v] <= dist[u]) continue;
        for (const e of next[v]) reach[v] += reach[e.to] / next[v].length;
      }
      for (let v = 0; v < reach.length; v++) {
        if (reach[v] === 0) continue;
        const feeding = v === u ? [worst] : next[v].filter((e) => reach[e.to] > 0);
        const others = current.edges[v].filter((e) => dist[e.to] < Infinity && !feeding.includes(e) && reach[e.to] === 0 && e.to !== worst.to);
        // Raise a link that feeds the worst one until the best other way out of v ties, or wins by one.
        const alternative = Math.min(...others.map((e) => e.cost + dist[e.to]));
        if (alternative < Infinity) {
          for (const e of feeding) {
            propose(e, alternative - dist[e.to]);
            propose(e, alternative - dist[e.to] + 1);
          }
        }
        // Lower another way out of v until it ties with the way through the worst link, or wins by one.
        for (const e of others) {
          propose(e, dist[v] - dist[e.to]);
          propose(e, dist[v] - dist[e.to] - 1);
        }
      }
    }
    let best: { key: string; value: number; model: NetworkModel; score: Score; worstEdge: ModelEdge | null } | null = null;
    for (const [key, values] of candidates) {
      for (const value of values) {
        const trial = new Map(costs).set(key, value);
        const m = model.withCosts(trial);
        const result = evaluate(m);
        if (better(result.score, best?.score ?? score)) best = { key, value, model: m, ...result };
      }
    }
    if (!best) break;
    costs.set(best.key, best.value);
    current = best.model;
    score = best.score;
    worstEdge = best.worstEdge;
  }

  const changes: CostChange[] = [];
  for (const [key, after] of costs) {
    const edge = model.edgeList.find((e) => interfaceKey(model.ids[e.from], e.fromAddress) === key)!;
    if (edge.cost === after) continue;
    changes.push({ router: model.ids[edge.from], address: edge.fromAddress, toward: edge.via === 'p2p' ? model.ids[edge.to] : edge.via, before: edge.cost, after });
  }
  changes.sort((a, b) => (a.router < b.router ? -1 : a.router > b.router ? 1 : a.address < b.address ? -1 : 1));
  return { changes, before: initial.score, after: score, worstBefore: name(model, initial.worstEdge), worstAfter: name(current, worstEdge), steps };
}

/**
 * FRR commands that set the changes, one block per router: `vtysh` needs the interface's name, which
 * the link-state database does not carry, so the block finds it from the address on the router.
 */
export function frrCommands(changes: readonly CostChange[]): string {
  const lines: string[] = [];
  for (const change of changes) {
    lines.push(
      `# router ${change.router}: the interface with ${change.address} (toward ${change.toward}), cost ${change.before} -> ${change.after}`,
      `ifname=$(ip -o -4 addr show | awk '$4 ~ /^${change.address.replace(/\./g, '\\.')}\\// {print $2; exit}')`,
      `vtysh -c 'configure terminal' -c "interface $ifname" -c 'ip ospf cost ${change.after}'`,
    );
  }
  return lines.join('\n') + (lines.length > 0 ? '\n' : '');
}

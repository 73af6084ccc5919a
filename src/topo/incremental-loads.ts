/**
 * Link loads kept up to date through what-if steps that change link costs or take links down:
 * each destination's distances are repaired where the change reaches, and its traffic is split
 * again only when a router that carries some of it has new next hops.
 *
 * Per destination t, every router's distance to t is kept, with the traffic toward t that passes
 * through each router. A link u→v whose cost changes is handled as in dynamic shortest paths
 * (Ramalingam and Reps, "An incremental algorithm for a generalization of the shortest-path
 * problem", 1996), on the links reversed:
 *   - dearer: if it was on a shortest path from u, the routers whose every shortest path needs it
 *     (found nearest first) get their distances again from their other links, in one search over
 *     just them;
 *   - cheaper: if it now makes a path from u as short or shorter, the new distances spread from u.
 * A router's next hops (RFC 2328 §16.1.1: every link on a shortest path, the traffic split evenly)
 * can change only if its distance or a neighbour's did; those routers' links on a shortest path are
 * compared before and after. When none whose next hops changed carries traffic toward t, nothing
 * toward t moves; otherwise t's old contribution is taken off the loads and the new one added.
 */
import { loadResult, propagate, towardTarget, type LoadResult, type RouterMatrix } from './link-loads.js';
import type { NetworkModel } from './network-model.js';
import { CandidateHeap } from './ospf/spf.js';

interface TargetState {
  dist: Float64Array;
  /** The traffic toward the target that passes through each router (its own sources included). */
  carried: Float64Array;
  /** The distances before a step, for taking its old contribution off (kept between steps: no garbage). */
  before: Float64Array | null;
}

export class IncrementalLoads {
  private readonly bytes: Float64Array;
  private readonly targets = new Map<number, TargetState>();
  private routed = 0;
  private unreachable = 0;
  private readonly heap: CandidateHeap;
  /** The current costs, in the model's flat layout (outCost by out slot, inCost by in slot). */
  private readonly outCost: Float64Array;
  private readonly inCost: Float64Array;
  private readonly outSlot: Int32Array;
  private readonly inSlot: Int32Array;
  /** Scratch marks, counts, sums and a queue, one per router. */
  private readonly mark: Uint8Array;
  private readonly indegree: Int32Array;
  private readonly incoming: Float64Array;
  private readonly queue: Int32Array;
  private model: NetworkModel;

  /** The loads of `matrix` on `model`, with every destination's distances kept. */
  constructor(
    model: NetworkModel,
    private readonly matrix: RouterMatrix,
  ) {
    this.model = model;
    const n = model.ids.length;
    this.bytes = new Float64Array(model.edgeList.length);
    this.heap = new CandidateHeap(n);
    this.mark = new Uint8Array(n);
    this.indegree = new Int32Array(n);
    this.incoming = new Float64Array(n);
    this.queue = new Int32Array(n);
    this.outCost = model.outCost.slice();
    this.inCost = model.inCost.slice();
    this.outSlot = new Int32Array(model.edgeList.length);
    this.inSlot = new Int32Array(model.edgeList.length);
    for (let k = 0; k < model.outId.length; k++) this.outSlot[model.outId[k]] = k;
    // In slots follow each router's `reverse` list, in the order the model filled them.
    for (let v = 0; v < n; v++) model.reverse[v].forEach((e, i) => (this.inSlot[e.id] = model.inStart[v] + i));
    for (const [target, sources] of matrix.targets) {
      const search = towardTarget(model, target, this.heap, false);
      const state: TargetState = { dist: search.dist, carried: new Float64Array(n), before: null };
      this.targets.set(target, state);
      const r = propagate(this.arrays(), target, sources, search, this.bytes, 1, state.carried);
      this.routed += r.routed;
      this.unreachable += r.unreachable;
    }
  }

  /** Changes link costs (by link id; Infinity takes a link down); returns how many destinations had their traffic split again. */
  setCosts(costs: ReadonlyMap<number, number>): number {
    const changes = [...costs].map(([id, cost]) => ({ id, cost, old: this.outCost[this.outSlot[id]] })).filter((c) => c.cost !== c.old);
    if (changes.length === 0) return 0;
    const before = { ...this.arrays(), outCost: this.outCost.slice() };
    const snapshots = new Map<number, Float64Array>();
    // Per destination, the routers whose next hops may have changed (repeats allowed: a list is far
    // cheaper to fill than a set, and a core link moves thousands of routers for thousands of destinations).
    const regions = new Map<number, number[]>();
    // One link at a time, every destination repaired for it before the next.
    for (const change of changes) {
      const edge = this.model.edgeList[change.id];
      this.outCost[this.outSlot[change.id]] = change.cost;
      this.inCost[this.inSlot[change.id]] = change.cost;
      for (const [target, state] of this.targets) {
        const { dist } = state;
        const u = edge.from;
        const v = edge.to;
        if (dist[v] === Infinity) continue;
        const wasTight = change.old + dist[v] === dist[u];
        const nowReaches = change.cost + dist[v] <= dist[u];
        if (!(change.cost > change.old ? wasTight : nowReaches)) continue;
        if (!snapshots.has(target)) {
          state.before ??= new Float64Array(dist.length);
          state.before.set(dist);
          snapshots.set(target, state.before);
        }
        let region = regions.get(target);
        if (!region) regions.set(target, (region = []));
        region.push(u);
        const moved = change.cost > change.old ? this.dearer(dist, u) : this.cheaper(dist, u, change.cost + dist[v]);
        for (const x of moved) {
          region.push(x);
          for (let k = this.model.inStart[x], end = this.model.inStart[x + 1]; k < end; k++) region.push(this.model.inFrom[k]);
        }
      }
    }
    this.model = this.model.withEdgeCosts(new Map(changes.map((c) => [c.id, c.cost])));
    let split = 0;
    for (const [target, region] of regions) {
      const state = this.targets.get(target)!;
      const oldDist = snapshots.get(target)!;
      const sources = this.matrix.targets.get(target)!;
      const changed: number[] = [];
      for (const w of region) {
        if (this.mark[w] === 0 && this.nextHopsDiffer(w, oldDist, before.outCost, state.dist)) changed.push(w);
        this.mark[w] = 1;
      }
      for (const w of region) this.mark[w] = 0;
      // Nothing toward t moves unless a router that carries some of it, or sends some, has new next hops.
      if (!changed.some((w) => state.carried[w] > 0 || sources[w] > 0)) continue;
      split++;
      this.shift(target, sources, state, oldDist, before.outCost, changed);
    }
    return split;
  }

  get current(): NetworkModel {
    return this.model;
  }

  result(): LoadResult {
    return loadResult(this.model, this.bytes, this.matrix, this.routed, this.unreachable);
  }

  /** The link u→(its far end) got dearer: repairs the distances that needed it; returns the routers whose distance changed. */
  private dearer(dist: Float64Array, u: number): number[] {
    const { outStart, outTo, inStart, inFrom } = this.model;
    const { outCost, inCost, mark, heap } = this;
    // The routers all of whose shortest paths pass through the link, nearest first.
    const affected: number[] = [];
    heap.push(u, dist[u]);
    for (let x = heap.pop(); x >= 0; x = heap.pop()) {
      let supported = false;
      for (let k = outStart[x], end = outStart[x + 1]; k < end && !supported; k++) {
        const y = outTo[k];
        if (mark[y] === 0 && outCost[k] + dist[y] === dist[x]) supported = true;
      }
      if (supported) continue;
      mark[x] = 1;
      affected.push(x);
      for (let k = inStart[x], end = inStart[x + 1]; k < end; k++) {
        const w = inFrom[k];
        if (mark[w] === 0 && inCost[k] + dist[x] === dist[w]) heap.push(w, dist[w]);
      }
    }
    if (affected.length === 0) return affected;
    // Their distances again: from their links to routers that kept theirs, then among themselves.
    for (const x of affected) {
      let best = Infinity;
      for (let k = outStart[x], end = outStart[x + 1]; k < end; k++) if (mark[outTo[k]] === 0) best = Math.min(best, outCost[k] + dist[outTo[k]]);
      dist[x] = best;
      if (best < Infinity) heap.push(x, best);
    }
    for (let x = heap.pop(); x >= 0; x = heap.pop()) {
      for (let k = inStart[x], end = inStart[x + 1]; k < end; k++) {
        const w = inFrom[k];
        const d = dist[x] + inCost[k];
        if (mark[w] === 1 && d < dist[w]) {
          dist[w] = d;
          heap.push(w, d);
        }
      }
    }
    for (const x of affected) mark[x] = 0;
    return affected;
  }

  /** A link out of u got cheaper, giving u the distance `through` (≤ its own): spreads the shorter distances; returns the routers whose distance changed. */
  private cheaper(dist: Float64Array, u: number, through: number): number[] {
    if (through === dist[u]) return []; // a tie: u's next hops change, no distance does
    const { inStart, inFrom } = this.model;
    const { inCost, heap } = this;
    const changed: number[] = [];
    dist[u] = through;
    heap.push(u, through);
    for (let x = heap.pop(); x >= 0; x = heap.pop()) {
      changed.push(x);
      for (let k = inStart[x], end = inStart[x + 1]; k < end; k++) {
        const w = inFrom[k];
        const d = dist[x] + inCost[k];
        if (d < dist[w]) {
          dist[w] = d;
          heap.push(w, d);
        }
      }
    }
    return changed;
  }

  /** Whether router w's links on a shortest path differ between the old distances and costs and the current ones. */
  private nextHopsDiffer(w: number, oldDist: Float64Array, oldCost: Float64Array, dist: Float64Array): boolean {
    const { outStart, outTo } = this.model;
    // A router that cannot reach the target has no next hops (Infinity = Infinity + cost is no path).
    if ((oldDist[w] === Infinity) !== (dist[w] === Infinity)) return true;
    if (dist[w] === Infinity) return false;
    for (let k = outStart[w], end = outStart[w + 1]; k < end; k++) {
      const y = outTo[k];
      if ((oldCost[k] + oldDist[y] === oldDist[w]) !== (this.outCost[k] + dist[y] === dist[w])) return true;
    }
    return false;
  }

  /**
   * Moves the traffic toward `target` from its old shortest paths to the new ones, only where it
   * changes: at the routers whose next hops differ (`changed`) and every router downstream of them,
   * on the old paths or the new (the area A). A router outside A carries what it did and sends it
   * where it did (its parents are outside A too), so its links keep their load. In A the old shares
   * come off; then what each router carries is summed again in the new paths' order (Kahn's, over A)
   * from its own sources, its parents outside A (as before) and its parents in A (as just summed),
   * and passed on. A core link down moves the traffic of nearly every destination, but for each only
   * between the core and the destination: a few routers, not the network.
   */
  private shift(target: number, sources: Float64Array, state: TargetState, oldDist: Float64Array, oldCost: Float64Array, changed: readonly number[]): void {
    const { outStart, outTo, outId, inStart, inFrom } = this.model;
    const { outCost, inCost, mark, indegree, incoming, queue, bytes } = this;
    const { dist, carried } = state;
    const tightBefore = (v: number, k: number): boolean => oldDist[v] < Infinity && oldCost[k] + oldDist[outTo[k]] === oldDist[v];
    const tightNow = (v: number, k: number): boolean => dist[v] < Infinity && outCost[k] + dist[outTo[k]] === dist[v];
    const waysNow = (v: number): number => {
      let ways = 0;
      for (let k = outStart[v], end = outStart[v + 1]; k < end; k++) if (tightNow(v, k)) ways++;
      return ways;
    };
    const area: number[] = [];
    for (const w of changed) {
      if (mark[w] === 0) {
        mark[w] = 1;
        area.push(w);
      }
    }
    for (let i = 0; i < area.length; i++) {
      const v = area[i];
      if (v === target) continue;
      for (let k = outStart[v], end = outStart[v + 1]; k < end; k++) {
        const y = outTo[k];
        if (mark[y] === 0 && (tightBefore(v, k) || tightNow(v, k))) {
          mark[y] = 1;
          area.push(y);
        }
      }
    }
    for (const v of area) {
      // The old shares off.
      if (v !== target && carried[v] > 0 && oldDist[v] < Infinity) {
        let ways = 0;
        for (let k = outStart[v], end = outStart[v + 1]; k < end; k++) if (tightBefore(v, k)) ways++;
        const share = carried[v] / ways;
        for (let k = outStart[v], end = outStart[v + 1]; k < end; k++) if (tightBefore(v, k)) bytes[outId[k]] -= share;
      }
      // A source that lost (or found) its way to the target.
      const own = sources[v];
      if (own > 0 && oldDist[v] < Infinity !== dist[v] < Infinity) {
        const sign = dist[v] < Infinity ? 1 : -1;
        this.routed += sign * own;
        this.unreachable -= sign * own;
      }
    }
    for (const v of area) {
      indegree[v] = 0;
      incoming[v] = dist[v] < Infinity ? sources[v] : 0;
    }
    for (const v of area) {
      if (dist[v] === Infinity) continue;
      for (let k = inStart[v], end = inStart[v + 1]; k < end; k++) {
        const u = inFrom[k];
        if (dist[u] === Infinity || inCost[k] + dist[v] !== dist[u]) continue;
        if (mark[u] === 1) indegree[v]++;
        else if (carried[u] > 0) incoming[v] += carried[u] / waysNow(u);
      }
    }
    let head = 0;
    let tail = 0;
    for (const v of area) if (dist[v] < Infinity && indegree[v] === 0) queue[tail++] = v;
    while (head < tail) {
      const v = queue[head++];
      carried[v] = incoming[v];
      if (v === target) continue;
      const share = incoming[v] / waysNow(v);
      for (let k = outStart[v], end = outStart[v + 1]; k < end; k++) {
        if (!tightNow(v, k)) continue;
        bytes[outId[k]] += share;
        const y = outTo[k];
        if (mark[y] === 1) {
          incoming[y] += share;
          if (--indegree[y] === 0) queue[tail++] = y;
        }
      }
    }
    for (const v of area) {
      if (dist[v] === Infinity) carried[v] = 0;
      mark[v] = 0;
    }
  }

  /** The current link arrays, with the current costs. */
  private arrays(): Pick<NetworkModel, 'outStart' | 'outTo' | 'outCost' | 'outId'> {
    return { outStart: this.model.outStart, outTo: this.model.outTo, outCost: this.outCost, outId: this.model.outId };
  }

}

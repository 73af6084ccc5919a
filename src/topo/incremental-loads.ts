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
  /** Routers that reach t, each before the routers its shortest-path links lead to; rebuilt from `dist` when stale. */
  order: Int32Array;
  orderStale: boolean;
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
  /** Scratch marks and counts, one per router. */
  private readonly mark: Uint8Array;
  private readonly indegree: Int32Array;
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
    this.outCost = model.outCost.slice();
    this.inCost = model.inCost.slice();
    this.outSlot = new Int32Array(model.edgeList.length);
    this.inSlot = new Int32Array(model.edgeList.length);
    for (let k = 0; k < model.outId.length; k++) this.outSlot[model.outId[k]] = k;
    // In slots follow each router's `reverse` list, in the order the model filled them.
    for (let v = 0; v < n; v++) model.reverse[v].forEach((e, i) => (this.inSlot[e.id] = model.inStart[v] + i));
    for (const [target, sources] of matrix.targets) {
      const search = towardTarget(model, target, this.heap, false);
      const state: TargetState = { dist: search.dist, order: search.order, orderStale: false, carried: new Float64Array(n), before: null };
      this.targets.set(target, state);
      this.add(target, sources, state, 1, this.arrays());
    }
  }

  /** Changes link costs (by link id; Infinity takes a link down); returns how many destinations had their traffic split again. */
  setCosts(costs: ReadonlyMap<number, number>): number {
    const changes = [...costs].map(([id, cost]) => ({ id, cost, old: this.outCost[this.outSlot[id]] })).filter((c) => c.cost !== c.old);
    if (changes.length === 0) return 0;
    const before = { ...this.arrays(), outCost: this.outCost.slice() };
    const snapshots = new Map<number, { dist: Float64Array; order: Int32Array }>();
    const regions = new Map<number, Set<number>>();
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
          // A stale order is of the distances before this step, so of its costs.
          if (state.orderStale) this.rebuildOrder(state, before.outCost);
          state.before ??= new Float64Array(dist.length);
          state.before.set(dist);
          snapshots.set(target, { dist: state.before, order: state.order });
        }
        let region = regions.get(target);
        if (!region) regions.set(target, (region = new Set()));
        region.add(u);
        const moved = change.cost > change.old ? this.dearer(dist, u) : this.cheaper(dist, u, change.cost + dist[v]);
        if (moved.length > 0) state.orderStale = true;
        for (const x of moved) {
          region.add(x);
          for (let k = this.model.inStart[x], end = this.model.inStart[x + 1]; k < end; k++) region.add(this.model.inFrom[k]);
        }
      }
    }
    this.model = this.model.withEdgeCosts(new Map(changes.map((c) => [c.id, c.cost])));
    let split = 0;
    for (const [target, region] of regions) {
      const state = this.targets.get(target)!;
      // Nothing toward t moves unless a router that carries some of it has new next hops.
      const old = snapshots.get(target)!;
      let moves = false;
      for (const w of region) {
        if (state.carried[w] > 0 && this.nextHopsDiffer(w, old.dist, before.outCost, state.dist)) {
          moves = true;
          break;
        }
      }
      if (!moves) continue;
      split++;
      const sources = this.matrix.targets.get(target)!;
      this.add(target, sources, { ...old, carried: state.carried }, -1, before);
      this.rebuildOrder(state, this.outCost);
      this.add(target, sources, state, 1, this.arrays());
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
    for (let k = outStart[w], end = outStart[w + 1]; k < end; k++) {
      const y = outTo[k];
      if ((oldCost[k] + oldDist[y] === oldDist[w]) !== (this.outCost[k] + dist[y] === dist[w])) return true;
    }
    return false;
  }

  /**
   * Routers that reach the target in an order propagate can use: every router before the routers
   * its shortest-path links lead to (Kahn's topological order of those links; no sort needed).
   */
  private rebuildOrder(state: TargetState, cost: Float64Array): void {
    const { dist } = state;
    const { outStart, outTo } = this.model;
    const n = dist.length;
    const waiting = this.indegree;
    waiting.fill(0);
    let count = 0;
    for (let v = 0; v < n; v++) {
      if (dist[v] === Infinity) continue;
      count++;
      for (let k = outStart[v], end = outStart[v + 1]; k < end; k++) if (cost[k] + dist[outTo[k]] === dist[v]) waiting[outTo[k]]++;
    }
    const order = new Int32Array(count);
    let head = 0;
    let tail = 0;
    for (let v = 0; v < n; v++) if (dist[v] !== Infinity && waiting[v] === 0) order[tail++] = v;
    while (head < tail) {
      const v = order[head++];
      for (let k = outStart[v], end = outStart[v + 1]; k < end; k++) {
        const y = outTo[k];
        if (cost[k] + dist[y] === dist[v] && --waiting[y] === 0) order[tail++] = y;
      }
    }
    state.order = order;
    state.orderStale = false;
  }

  /** The current link arrays, with the current costs. */
  private arrays(): Pick<NetworkModel, 'outStart' | 'outTo' | 'outCost' | 'outId'> {
    return { outStart: this.model.outStart, outTo: this.model.outTo, outCost: this.outCost, outId: this.model.outId };
  }

  private add(target: number, sources: Float64Array, state: { dist: Float64Array; order: Int32Array; carried: Float64Array }, sign: 1 | -1, arrays: Pick<NetworkModel, 'outStart' | 'outTo' | 'outCost' | 'outId'>): void {
    const r = propagate(arrays, target, sources, state, this.bytes, sign, sign === 1 ? state.carried : undefined);
    this.routed += sign * r.routed;
    this.unreachable += sign * r.unreachable;
  }
}

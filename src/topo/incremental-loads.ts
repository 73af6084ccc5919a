/**
 * Link loads kept up to date through what-if steps that change link costs or take links down,
 * recomputing only the destinations whose shortest paths the change can touch.
 *
 * Each destination's distances are kept. A link u→v whose cost goes from c to c' changes the
 * shortest paths toward destination t only if it was on one (dist(u) = c + dist(v)) or may now be
 * (c' + dist(v) ≤ dist(u)); otherwise every distance toward t stays, and so do the paths and the
 * even splits over them (RFC 2328 §16.1.1). For each destination touched, its old contribution is
 * taken off the loads, its search is run again on the changed network, and the new one is added.
 */
import { loadResult, propagate, towardTarget, type LoadResult, type RouterMatrix } from './link-loads.js';
import type { NetworkModel } from './network-model.js';
import { CandidateHeap } from './ospf/spf.js';

export class IncrementalLoads {
  private readonly bytes: Float64Array;
  private readonly searches = new Map<number, { dist: Float64Array; order: Int32Array }>();
  private routed = 0;
  private unreachable = 0;
  private readonly heap: CandidateHeap;

  /** The loads of `matrix` on `model`, with every destination's search kept. */
  constructor(
    private model: NetworkModel,
    private readonly matrix: RouterMatrix,
  ) {
    this.bytes = new Float64Array(model.edgeList.length);
    this.heap = new CandidateHeap(model.ids.length);
    for (const [target, sources] of matrix.targets) {
      const search = towardTarget(model, target, this.heap, false);
      this.searches.set(target, { dist: search.dist, order: search.order.slice() });
      this.add(target, sources, search, 1);
    }
  }

  /** Changes link costs (by link id; Infinity takes a link down); returns how many destinations were searched again. */
  setCosts(costs: ReadonlyMap<number, number>): number {
    const changes = [...costs].map(([id, cost]) => ({ edge: this.model.edgeList[id], cost })).filter((c) => c.edge.cost !== c.cost);
    if (changes.length === 0) return 0;
    const next = this.model.withEdgeCosts(costs);
    let searched = 0;
    for (const [target, sources] of this.matrix.targets) {
      const old = this.searches.get(target)!;
      const touched = changes.some(({ edge, cost }) => {
        const to = old.dist[edge.to];
        const from = old.dist[edge.from];
        return to !== Infinity && (edge.cost + to === from || cost + to <= from);
      });
      if (!touched) continue;
      searched++;
      this.add(target, sources, old, -1, this.model);
      const search = towardTarget(next, target, this.heap, false);
      const kept = { dist: search.dist, order: search.order.slice() };
      this.searches.set(target, kept);
      this.add(target, sources, kept, 1, next);
    }
    this.model = next;
    return searched;
  }

  get current(): NetworkModel {
    return this.model;
  }

  result(): LoadResult {
    return loadResult(this.model, this.bytes, this.matrix, this.routed, this.unreachable);
  }

  private add(target: number, sources: Float64Array, search: { dist: Float64Array; order: Int32Array }, sign: 1 | -1, model = this.model): void {
    const r = propagate(model, target, sources, search, this.bytes, sign);
    this.routed += sign * r.routed;
    this.unreachable += sign * r.unreachable;
  }
}

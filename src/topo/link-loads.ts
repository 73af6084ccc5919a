/**
 * Link loads from a traffic matrix (issue 5, "the path of every source/destination pair (ECMP split
 * evenly) → load on every link"): each endpoint is mapped to the router it attaches to (see
 * NetworkModel), each source/destination pair follows the routers' shortest paths in one area, split
 * evenly over equal-cost next hops at every router as OSPF forwards (RFC 2328 §16.1.1), and the
 * bytes add up per link.
 *
 * Paths: for each destination router, one search over the reversed links gives every router's
 * distance to it; traffic then flows from the farthest routers in, each router passing what it
 * carries evenly to the neighbours on a shortest path (across a LAN, each router on it is one).
 */
import type { LinkStateDatabase } from './ospf/lsdb.js';
import { CandidateHeap } from './ospf/spf.js';
import { NetworkModel, type ModelEdge, type MovedPrefix } from './network-model.js';

export interface Demand {
  src: string;
  dst: string;
  bytes: number;
  /** For breakdowns: the application (e.g. `tcp/443` or a process name) and user, when known. */
  app?: string | null;
  user?: string | null;
  /** From flow records: how many instrumented ends saw the pair (1 or 2), and by how many bytes their two views differ. */
  seenBy?: 1 | 2;
  disagreement?: number;
}

/** A directed link's load: from one router to the next, over a point-to-point link or across a LAN. */
export interface LinkLoad {
  from: string;
  to: string;
  /** `p2p`, or the LAN's prefix. */
  via: string;
  /** The sending router's address on the link. */
  fromAddress: string;
  bytes: number;
}

export interface LoadResult {
  links: LinkLoad[];
  /** Bytes that crossed at least one link, bytes between endpoints of one router, and what could not be routed, by reason. */
  routedBytes: number;
  localBytes: number;
  unrouted: Record<string, number>;
}

/** The loads of `demands` on `area` of `lsdb` (with `moved` prefixes attached where they were moved). */
export function linkLoads(lsdb: LinkStateDatabase, demands: readonly Demand[], area = '0.0.0.0', now = Date.now(), moved: readonly MovedPrefix[] = []): LoadResult {
  return routeDemands(NetworkModel.fromLsdb(lsdb, area, now, moved), demands);
}

/** A link's key: the same link in two models (before and after a what-if) has the same key. */
export function linkKey(link: Pick<LinkLoad, 'from' | 'to' | 'via' | 'fromAddress'>): string {
  return `${link.from}>${link.to}|${link.via}|${link.fromAddress}`;
}

/** Every router's distance to `target` and its next links on a shortest path there. */
export interface TowardTarget {
  dist: Float64Array;
  /** Per router, its links on a shortest path (empty with `withNext` false). */
  next: ModelEdge[][];
  /** Routers that reach the target, farthest first (the target last): the search's order, reversed. */
  order: Int32Array;
}

/** One search over the reversed links from `target`; `withNext` false leaves `next` empty (routeDemands needs none). */
export function towardTarget(model: NetworkModel, target: number, heap = new CandidateHeap(model.ids.length), withNext = true): TowardTarget {
  const n = model.ids.length;
  const dist = new Float64Array(n).fill(Infinity);
  const popped = new Int32Array(n);
  let count = 0;
  dist[target] = 0;
  heap.push(target, 0);
  const { inStart, inFrom, inCost } = model;
  for (let v = heap.pop(); v >= 0; v = heap.pop()) {
    popped[count++] = v;
    const base = dist[v];
    for (let k = inStart[v], end = inStart[v + 1]; k < end; k++) {
      const from = inFrom[k];
      const d = base + inCost[k];
      if (d < dist[from]) {
        dist[from] = d;
        heap.push(from, d);
      }
    }
  }
  const order = popped.subarray(0, count).reverse();
  const next: ModelEdge[][] = [];
  if (withNext) for (let v = 0; v < n; v++) next.push(dist[v] === Infinity || v === target ? [] : model.edges[v].filter((e) => e.cost + dist[e.to] === dist[v]));
  return { dist, next, order };
}

/**
 * A matrix between routers: per destination router, bytes per source router. Costs do not change
 * it, so a what-if of costs or links reuses it; where the endpoints attach does.
 */
export interface RouterMatrix {
  targets: Map<number, Float64Array>;
  /** Bytes between endpoints of one router, and what could not be placed, by reason. */
  localBytes: number;
  unrouted: Record<string, number>;
}

/** The demands placed on their routers. */
export function routerMatrix(model: NetworkModel, demands: readonly Demand[]): RouterMatrix {
  const matrix: RouterMatrix = { targets: new Map(), localBytes: 0, unrouted: {} };
  for (const d of demands) {
    if (!(d.bytes > 0)) continue;
    const s = model.attachmentOf(d.src);
    const t = model.attachmentOf(d.dst);
    if (s === undefined || t === undefined) {
      matrix.unrouted.no_attachment = (matrix.unrouted.no_attachment ?? 0) + d.bytes;
    } else if (s === t) {
      matrix.localBytes += d.bytes;
    } else {
      let sources = matrix.targets.get(t);
      if (!sources) matrix.targets.set(t, (sources = new Float64Array(model.ids.length)));
      sources[s] += d.bytes;
    }
  }
  return matrix;
}

let scratch = new Float64Array(0);

/**
 * Adds `sign` × the traffic from `sources` to `target` to `bytes` (per link id), following the
 * shortest paths of `search`; returns the bytes routed and the bytes of sources that cannot reach it.
 * `carried`, when given, receives the traffic toward the target that passes through each router.
 */
export function propagate(
  model: Pick<NetworkModel, 'outStart' | 'outTo' | 'outCost' | 'outId'>,
  target: number,
  sources: Float64Array,
  search: Pick<TowardTarget, 'dist' | 'order'>,
  bytes: Float64Array,
  sign: 1 | -1,
  carried?: Float64Array,
): { routed: number; unreachable: number } {
  const { dist, order } = search;
  // One scratch array for every call (a new one per destination was most of the garbage of a what-if step).
  if (scratch.length < sources.length) scratch = new Float64Array(sources.length);
  const flow = scratch.subarray(0, sources.length);
  flow.set(sources);
  let routed = 0;
  let unreachable = 0;
  for (let v = 0; v < flow.length; v++) {
    if (flow[v] > 0 && dist[v] === Infinity) {
      unreachable += flow[v];
      flow[v] = 0;
    } else {
      routed += flow[v];
    }
  }
  // Farthest first: a router passes on what it carries before its neighbours nearer the destination do.
  const { outStart, outTo, outCost, outId } = model;
  if (carried) carried.fill(0);
  for (const v of order) {
    if (carried) carried[v] = flow[v];
    if (flow[v] === 0 || v === target) continue;
    const here = dist[v];
    const first = outStart[v];
    const end = outStart[v + 1];
    let ways = 0;
    for (let k = first; k < end; k++) if (outCost[k] + dist[outTo[k]] === here) ways++;
    const share = flow[v] / ways;
    for (let k = first; k < end; k++) {
      if (outCost[k] + dist[outTo[k]] !== here) continue;
      bytes[outId[k]] += sign * share;
      flow[outTo[k]] += share;
    }
    flow[v] = 0;
  }
  return { routed, unreachable };
}

/** The loads of `demands` on `model`'s links, most loaded first. */
export function routeDemands(model: NetworkModel, demands: readonly Demand[]): LoadResult {
  return routeMatrix(model, routerMatrix(model, demands));
}

/** The loads of a router matrix on `model`'s links. */
export function routeMatrix(model: NetworkModel, matrix: RouterMatrix): LoadResult {
  const bytes = new Float64Array(model.edgeList.length);
  const heap = new CandidateHeap(model.ids.length);
  let routed = 0;
  let unreachable = 0;
  for (const [target, sources] of matrix.targets) {
    const r = propagate(model, target, sources, towardTarget(model, target, heap, false), bytes, 1);
    routed += r.routed;
    unreachable += r.unreachable;
  }
  return loadResult(model, bytes, matrix, routed, unreachable);
}

/** Per-link bytes as a LoadResult, most loaded first. */
export function loadResult(model: NetworkModel, bytes: Float64Array, matrix: RouterMatrix, routedBytes: number, unreachable: number): LoadResult {
  const result: LoadResult = { links: [], routedBytes, localBytes: matrix.localBytes, unrouted: { ...matrix.unrouted } };
  if (unreachable > 0) result.unrouted.unreachable = unreachable;
  for (const edge of model.edgeList) {
    // Bytes taken off and put back by an incremental update leave rounding dust; below a millionth of a byte is none.
    if (bytes[edge.id] > 1e-6) result.links.push({ from: model.ids[edge.from], to: model.ids[edge.to], via: edge.via, fromAddress: edge.fromAddress, bytes: bytes[edge.id] });
  }
  result.links.sort((a, b) => b.bytes - a.bytes || (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
  return result;
}

/** What one demand puts on one link. */
export interface LinkShare {
  demand: Demand;
  /** Bytes of the demand that cross the link. */
  bytes: number;
  /** The router where the demand enters the network (its source's attachment): the traceback. */
  entry: string;
  exit: string;
}

/**
 * Click-through on a link: every demand that crosses `edge`, with the bytes it puts there. For each
 * destination router, the fraction of a source router's traffic that reaches the link's sending
 * router follows from the even splits, nearest routers first: reach(u) = 1 at the sender u, and
 * reach(s) = the mean of reach over s's next hops.
 */
export function demandsOnLink(model: NetworkModel, demands: readonly Demand[], edge: ModelEdge): LinkShare[] {
  const byTarget = new Map<number, { demand: Demand; source: number }[]>();
  for (const demand of demands) {
    if (!(demand.bytes > 0)) continue;
    const s = model.attachmentOf(demand.src);
    const t = model.attachmentOf(demand.dst);
    if (s === undefined || t === undefined || s === t) continue;
    let list = byTarget.get(t);
    if (!list) byTarget.set(t, (list = []));
    list.push({ demand, source: s });
  }
  const out: LinkShare[] = [];
  const heap = new CandidateHeap(model.ids.length);
  for (const [target, list] of byTarget) {
    const { dist, next, order } = towardTarget(model, target, heap);
    const u = edge.from;
    if (dist[u] === Infinity || !next[u].includes(edge)) continue;
    const reach = new Float64Array(model.ids.length);
    reach[u] = 1;
    for (let i = order.length - 1; i >= 0; i--) {
      const s = order[i];
      if (dist[s] <= dist[u]) continue;
      let sum = 0;
      for (const e of next[s]) sum += reach[e.to];
      reach[s] = sum / next[s].length;
    }
    const onLink = 1 / next[u].length;
    for (const { demand, source } of list) {
      const share = reach[source] * onLink;
      if (share > 0) out.push({ demand, bytes: demand.bytes * share, entry: model.ids[source], exit: model.ids[target] });
    }
  }
  return out;
}

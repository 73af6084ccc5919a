/**
 * The routing table one router computes from a link-state database (RFC 2328 §16): per area, the
 * shortest-path tree over routers and transit networks (§16.1, with the two-way check of step 2b
 * and the next hops of §16.1.1), stub networks added to it, then inter-area routes from summary
 * LSAs (§16.2), then AS-external routes (§16.4). Equal-cost paths are all kept. Virtual links and
 * NSSA translation are not followed.
 */
import { LsaType, RouterLinkType, type Lsa, type LsaBody } from './lsa.js';
import { AS_SCOPE, type LinkStateDatabase } from './lsdb.js';

/** RFC 2328 appendix B: a summary or external metric of this value means unreachable. */
const LS_INFINITY = 0xffffff;

export type PathType = 'intra-area' | 'inter-area' | 'external-1' | 'external-2';

export interface NextHop {
  /** The neighbour's address to forward to; null for a network the root is attached to. */
  gateway: string | null;
  /** The root's own interface address on the first link (or the ifIndex of an unnumbered one). */
  interfaceAddress: string;
}

export interface Route {
  /** `a.b.c.d/len`. */
  prefix: string;
  pathType: PathType;
  /** The cost to the destination; for external type 2, the cost to the ASBR (or forwarding address). */
  cost: number;
  /** External type 2 only: the external metric, compared first (§16.4 step 6). */
  type2Cost: number | null;
  area: string | null;
  nextHops: NextHop[];
}

/** A route to an area border or AS boundary router. */
export interface RouterRoute {
  routerId: string;
  area: string;
  cost: number;
  border: boolean;
  external: boolean;
  pathType: 'intra-area' | 'inter-area';
  nextHops: NextHop[];
}

export interface RoutingTable {
  routerId: string;
  networks: Route[];
  routers: RouterRoute[];
}

type RouterBody = Extract<LsaBody, { kind: 'router' }>;
type NetworkBody = Extract<LsaBody, { kind: 'network' }>;

interface Vertex {
  id: string;
  /** Its number in the area's graph. */
  index: number;
  kind: 'router' | 'network';
  lsa: Lsa;
  cost: number;
  nextHops: NextHop[];
}

/** Mask `255.255.255.0` → 24; a mask with holes counts its leading ones. */
export function maskLength(mask: string): number {
  const value = ipv4Number(mask);
  let bits = 0;
  while (bits < 32 && (value & (0x80000000 >>> bits)) !== 0) bits++;
  return bits;
}

export function ipv4Number(address: string): number {
  const parts = address.split('.').map(Number);
  return (((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0);
}

function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** The prefix of `address` under `mask`, `a.b.c.d/len`. */
export function prefixOf(address: string, mask: string): string {
  return `${ipv4Text((ipv4Number(address) & ipv4Number(mask)) >>> 0)}/${maskLength(mask)}`;
}

function sameNextHops(list: NextHop[], add: readonly NextHop[]): NextHop[] {
  const out = [...list];
  for (const hop of add) if (!out.some((h) => h.gateway === hop.gateway && h.interfaceAddress === hop.interfaceAddress)) out.push(hop);
  return out;
}

/**
 * One area's graph for SPF (§16.1), built once and searched from any root: routers and transit
 * networks as numbered vertices, and only the links seen from both ends (step 2b: a router links to
 * its neighbour and the neighbour back, or a router names a network and the network lists it).
 */
class AreaGraph {
  readonly index = new Map<string, number>();
  readonly lsas: Lsa[] = [];
  readonly isNetwork: boolean[] = [];
  /** Per vertex: [neighbour, cost] pairs, while building; then `offsets`, `targets` and `costs`. */
  private readonly edges: number[][] = [];
  /** The edges of vertex v are targets[offsets[v] .. offsets[v + 1]), with their costs (compressed rows: fast to walk). */
  readonly offsets: Int32Array;
  readonly targets: Int32Array;
  readonly costs: Int32Array;
  /** The search's heap, made once for the graph's size. */
  heap: CandidateHeap | null = null;
  /** Per router vertex: its stub networks (prefix, metric, its own address there); per network vertex: its prefix. */
  readonly stubs: { prefix: string; metric: number; ownAddress: string }[][] = [];
  readonly networkPrefix: string[] = [];
  /** The area's summary LSAs (types 3 and 4) and NSSA externals (type 7). */
  readonly summaries: Lsa[] = [];
  readonly nssaExternals: Lsa[] = [];

  constructor(lsas: readonly Lsa[]) {
    const routers = new Map<string, Lsa>();
    const networks = new Map<string, Lsa>();
    for (const lsa of lsas) {
      if (lsa.header.type === LsaType.ROUTER && lsa.body.kind === 'router') routers.set(lsa.header.advertisingRouter, lsa);
      if (lsa.header.type === LsaType.NETWORK && lsa.body.kind === 'network') networks.set(lsa.header.linkStateId, lsa);
      if ((lsa.header.type === LsaType.SUMMARY_NETWORK || lsa.header.type === LsaType.SUMMARY_ASBR) && lsa.body.kind === 'summary') this.summaries.push(lsa);
      if (lsa.header.type === LsaType.NSSA_EXTERNAL && lsa.body.kind === 'external') this.nssaExternals.push(lsa);
    }
    const add = (key: string, lsa: Lsa, network: boolean): void => {
      this.index.set(key, this.lsas.length);
      this.lsas.push(lsa);
      this.isNetwork.push(network);
      this.edges.push([]);
      if (network) {
        this.stubs.push([]);
        this.networkPrefix.push(prefixOf(lsa.header.linkStateId, (lsa.body as NetworkBody).mask));
      } else {
        const body = lsa.body as RouterBody;
        this.networkPrefix.push('');
        this.stubs.push(
          body.links
            .filter((l) => l.type === RouterLinkType.STUB)
            .map((l) => ({ prefix: prefixOf(l.linkId, l.linkData), metric: l.metric, ownAddress: ownAddressIn(body, l.linkId, l.linkData) })),
        );
      }
    };
    for (const [id, lsa] of routers) add(`R:${id}`, lsa, false);
    for (const [id, lsa] of networks) add(`N:${id}`, lsa, true);
    // Which routers each router points to over point-to-point links, and which networks list whom.
    const p2p = new Map<string, Set<string>>();
    for (const [id, lsa] of routers) p2p.set(id, new Set((lsa.body as RouterBody).links.filter((l) => l.type === RouterLinkType.POINT_TO_POINT).map((l) => l.linkId)));
    const attached = new Map<string, Set<string>>();
    for (const [id, lsa] of networks) attached.set(id, new Set((lsa.body as NetworkBody).attachedRouters));
    for (const [id, lsa] of routers) {
      const from = this.index.get(`R:${id}`)!;
      const transits = new Set<string>();
      for (const link of (lsa.body as RouterBody).links) {
        if (link.type === RouterLinkType.POINT_TO_POINT) {
          if (p2p.get(link.linkId)?.has(id)) this.edges[from].push(this.index.get(`R:${link.linkId}`)!, link.metric);
        } else if (link.type === RouterLinkType.TRANSIT) {
          if (attached.get(link.linkId)?.has(id)) this.edges[from].push(this.index.get(`N:${link.linkId}`)!, link.metric);
          transits.add(link.linkId);
        }
      }
      // The network's side: a network reaches, at cost 0, each listed router that names it back.
      for (const network of transits) {
        const n = this.index.get(`N:${network}`);
        if (n !== undefined && attached.get(network)!.has(id)) this.edges[n].push(from, 0);
      }
    }
    const count = this.edges.length;
    this.offsets = new Int32Array(count + 1);
    for (let v = 0; v < count; v++) this.offsets[v + 1] = this.offsets[v] + this.edges[v].length / 2;
    this.targets = new Int32Array(this.offsets[count]);
    this.costs = new Int32Array(this.offsets[count]);
    for (let v = 0; v < count; v++) {
      const list = this.edges[v];
      for (let e = 0, at = this.offsets[v]; e < list.length; e += 2, at++) {
        this.targets[at] = list[e];
        this.costs[at] = list[e + 1];
      }
    }
    this.edges.length = 0;
  }
}

/**
 * An indexed binary heap of vertices by key, with decrease-key: each vertex is in it at most once,
 * so a search pops each vertex once. Typed arrays, sized for the graph, reused by every search.
 */
export class CandidateHeap {
  private readonly heap: Int32Array;
  private readonly position: Int32Array;
  private readonly key: Float64Array;
  private size = 0;

  constructor(count: number) {
    this.heap = new Int32Array(count);
    this.position = new Int32Array(count).fill(-1);
    this.key = new Float64Array(count);
  }

  /** Inserts `vertex`, or lowers its key. */
  push(vertex: number, key: number): void {
    let i = this.position[vertex];
    if (i < 0) {
      i = this.size++;
    } else if (key >= this.key[vertex]) {
      return;
    }
    this.key[vertex] = key;
    const heap = this.heap;
    const keys = this.key;
    const position = this.position;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent];
      if (keys[above] <= key) break;
      heap[i] = above;
      position[above] = i;
      i = parent;
    }
    heap[i] = vertex;
    position[vertex] = i;
  }

  /** The vertex with the least key, or -1; the heap is left empty and ready for another search when it returns -1. */
  pop(): number {
    if (this.size === 0) return -1;
    const heap = this.heap;
    const keys = this.key;
    const position = this.position;
    const top = heap[0];
    position[top] = -1;
    const last = heap[--this.size];
    if (this.size > 0) {
      const key = keys[last];
      const n = this.size;
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && keys[heap[child + 1]] < keys[heap[child]]) child++;
        if (keys[heap[child]] >= key) break;
        heap[i] = heap[child];
        position[heap[i]] = i;
        i = child;
      }
      heap[i] = last;
      position[last] = i;
    }
    return top;
  }
}

/**
 * One area searched from one root: per vertex of the graph, its cost (Infinity: unreachable) and
 * its next hops, as the number of a set in `hopSets` (vertices that inherit their parent's next hops
 * share its set: most of them).
 */
export interface AreaSearch {
  cost: Float64Array;
  hopSet: Int32Array;
  hopSets: NextHop[][];
}

/** The shortest-path tree of an area from `root` (§16.1): its vertices with their costs and next hops. */
function shortestPathTree(graph: AreaGraph, root: string): Map<string, Vertex> {
  const tree = new Map<string, Vertex>();
  const search = searchArea(graph, root);
  if (!search) return tree;
  for (let v = 0; v < graph.lsas.length; v++) {
    if (search.cost[v] === Infinity) continue;
    const lsa = graph.lsas[v];
    const network = graph.isNetwork[v];
    const id = network ? `N:${lsa.header.linkStateId}` : `R:${lsa.header.advertisingRouter}`;
    tree.set(id, { id, index: v, kind: network ? 'network' : 'router', lsa, cost: search.cost[v], nextHops: search.hopSets[search.hopSet[v]] });
  }
  return tree;
}

/** Dijkstra over the area's graph from `root` (§16.1, next hops by §16.1.1); null when the root is not in the area. */
function searchArea(graph: AreaGraph, root: string): AreaSearch | null {
  const rootIndex = graph.index.get(`R:${root}`);
  if (rootIndex === undefined) return null;
  const count = graph.lsas.length;
  const cost = new Float64Array(count).fill(Infinity);
  const done = new Uint8Array(count);
  const hopSet = new Int32Array(count).fill(-1);
  const hopSets: NextHop[][] = [[]];
  const parentIsRoot = new Uint8Array(count);
  const rootBody = graph.lsas[rootIndex].body as RouterBody;
  graph.heap ??= new CandidateHeap(count);
  const heap = graph.heap;
  cost[rootIndex] = 0;
  hopSet[rootIndex] = 0;
  heap.push(rootIndex, 0);
  /** Unions of two sets made already (equal-cost paths meet often at the same places). */
  const unions = new Map<number, number>();
  for (let v = heap.pop(); v >= 0; v = heap.pop()) {
    done[v] = 1;
    const { offsets, targets, costs } = graph;
    for (let e = offsets[v], end = offsets[v + 1]; e < end; e++) {
      const w = targets[e];
      if (done[w]) continue;
      const total = cost[v] + costs[e];
      if (total > cost[w]) continue;
      // Most vertices inherit their parent's next hops (§16.1.1); only the root's neighbours and the
      // routers on the root's networks get their own.
      let via = hopSet[v];
      if (v === rootIndex || (parentIsRoot[v] && graph.isNetwork[v])) via = hopSets.push(nextHopsTo(v, w)) - 1;
      if (total === cost[w]) {
        const held = hopSet[w];
        if (held === via) continue;
        const pair = held * 0x4000000 + via; // exact while there are fewer than 2^26 sets
        let union = unions.get(pair);
        if (union === undefined) {
          union = hopSets.push(sameNextHops(hopSets[held], hopSets[via])) - 1;
          unions.set(pair, union);
        }
        hopSet[w] = union;
      } else {
        cost[w] = total;
        hopSet[w] = via;
        // Ties: networks before routers, so that routers on a network get its next hops.
        heap.push(w, total * 2 + (graph.isNetwork[w] ? 0 : 1));
      }
    }
  }
  return { cost, hopSet, hopSets };

  /** Next hops to `w` reached from `v` (§16.1.1). */
  function nextHopsTo(v: number, w: number): NextHop[] {
    const lsa = graph.lsas[w];
    if (v === rootIndex) {
      parentIsRoot[w] = 1;
      if (graph.isNetwork[w]) {
        // A network the root is on: reached directly, out of the root's interface on it.
        const link = rootBody.links.find((l) => l.type === RouterLinkType.TRANSIT && l.linkId === lsa.header.linkStateId);
        return link ? [{ gateway: null, interfaceAddress: link.linkData }] : [];
      }
      // A router at the other end of a point-to-point link: its address on the link, from its own LSA.
      const body = lsa.body as RouterBody;
      const out: NextHop[] = [];
      const mine = rootBody.links.filter((l) => l.type === RouterLinkType.POINT_TO_POINT && l.linkId === lsa.header.advertisingRouter);
      const theirs = body.links.filter((l) => l.type === RouterLinkType.POINT_TO_POINT && l.linkId === root);
      for (let i = 0; i < mine.length; i++) out.push({ gateway: theirs[i]?.linkData ?? theirs[0]?.linkData ?? null, interfaceAddress: mine[i].linkData });
      return out;
    }
    if (graph.isNetwork[v] && parentIsRoot[v] && !graph.isNetwork[w]) {
      // A router on a network the root is attached to: its own address on that network.
      const network = graph.lsas[v].header.linkStateId;
      const link = (lsa.body as RouterBody).links.find((l) => l.type === RouterLinkType.TRANSIT && l.linkId === network);
      return hopSets[hopSet[v]].map((h) => ({ gateway: link?.linkData ?? null, interfaceAddress: h.interfaceAddress }));
    }
    return hopSets[hopSet[v]];
  }
}

/**
 * A database ready for SPF from any router: each area's graph built once, so that the routes of
 * many routers (a what-if step, link loads) cost one search each.
 */
export class OspfNetwork {
  private readonly graphs = new Map<string, AreaGraph>();
  private readonly externals: Lsa[];

  constructor(lsdb: LinkStateDatabase, now = Date.now()) {
    for (const area of lsdb.areas()) this.graphs.set(area, new AreaGraph(lsdb.lsas(area, now)));
    this.externals = lsdb.lsas(AS_SCOPE, now).filter((l) => l.body.kind === 'external');
  }

  /** Every router with a router-LSA, in any area. */
  routers(): string[] {
    const ids = new Set<string>();
    for (const graph of this.graphs.values()) for (const key of graph.index.keys()) if (key.startsWith('R:')) ids.add(key.slice(2));
    return [...ids].sort((a, b) => ipv4Number(a) - ipv4Number(b));
  }

  /**
   * The shortest paths from `root` to every router and transit network of an area (what link loads
   * need: the path between two routers), without the routing table; null when the root is not in it.
   */
  searchFrom(root: string, area = '0.0.0.0'): AreaSearch | null {
    const graph = this.graphs.get(area);
    return graph ? searchArea(graph, root) : null;
  }

  /** The routing table of `root` (§16). */
  routesFor(root: string): RoutingTable {
    return routingTable(this.graphs, this.externals, root);
  }
}

/** The routing table of `root` over `lsdb` (§16). */
export function computeRoutes(lsdb: LinkStateDatabase, root: string, now = Date.now()): RoutingTable {
  return new OspfNetwork(lsdb, now).routesFor(root);
}

function routingTable(graphs: ReadonlyMap<string, AreaGraph>, asExternals: readonly Lsa[], root: string): RoutingTable {
  const best = new Map<string, Route>();
  const routerRoutes = new Map<string, RouterRoute>();
  const offer = (route: Route): void => {
    const held = best.get(route.prefix);
    const order = held ? compareRoutes(route, held) : -1;
    if (order < 0) best.set(route.prefix, route);
    else if (order === 0 && held) held.nextHops = sameNextHops(held.nextHops, route.nextHops);
  };
  const areas = [...graphs.keys()].filter((area) => graphs.get(area)!.index.has(`R:${root}`)).sort();
  // §16.1: intra-area routes, area by area.
  for (const area of areas) {
    const graph = graphs.get(area)!;
    const tree = shortestPathTree(graph, root);
    for (const vertex of tree.values()) {
      if (vertex.kind === 'network') {
        offer({ prefix: graph.networkPrefix[vertex.index], pathType: 'intra-area', cost: vertex.cost, type2Cost: null, area, nextHops: vertex.nextHops });
        continue;
      }
      const body = vertex.lsa.body as RouterBody;
      const self = vertex.lsa.header.advertisingRouter === root;
      if (!self && (body.border || body.external)) {
        const held = routerRoutes.get(`${area}/${vertex.lsa.header.advertisingRouter}`);
        if (!held || held.cost > vertex.cost) {
          routerRoutes.set(`${area}/${vertex.lsa.header.advertisingRouter}`, {
            routerId: vertex.lsa.header.advertisingRouter, area, cost: vertex.cost, border: body.border, external: body.external, pathType: 'intra-area', nextHops: vertex.nextHops,
          });
        }
      }
      // Step 2 of §16.1's second stage: the stub networks of every router in the tree.
      for (const stub of graph.stubs[vertex.index]) {
        const nextHops = self ? [{ gateway: null, interfaceAddress: stub.ownAddress }] : vertex.nextHops;
        offer({ prefix: stub.prefix, pathType: 'intra-area', cost: vertex.cost + stub.metric, type2Cost: null, area, nextHops });
      }
    }
  }
  // §16.2: inter-area routes, from the backbone's summaries on an area border router, else from the one area's.
  const border = areas.length > 1;
  const summaryAreas = border ? areas.filter((a) => a === '0.0.0.0') : areas;
  for (const area of summaryAreas) {
    for (const lsa of graphs.get(area)!.summaries) {
      if (lsa.body.kind !== 'summary') continue;
      if (lsa.header.advertisingRouter === root || lsa.body.metric >= LS_INFINITY) continue;
      const abr = routerRoutes.get(`${area}/${lsa.header.advertisingRouter}`);
      if (!abr || !abr.border) continue;
      const cost = abr.cost + lsa.body.metric;
      if (lsa.header.type === LsaType.SUMMARY_NETWORK) {
        offer({ prefix: prefixOf(lsa.header.linkStateId, lsa.body.mask), pathType: 'inter-area', cost, type2Cost: null, area, nextHops: abr.nextHops });
      } else {
        const key = `${area}/${lsa.header.linkStateId}`;
        const held = routerRoutes.get(key);
        if (!held || (held.pathType === 'inter-area' && held.cost > cost)) {
          routerRoutes.set(key, { routerId: lsa.header.linkStateId, area, cost, border: false, external: true, pathType: 'inter-area', nextHops: abr.nextHops });
        }
      }
    }
  }
  // §16.4: AS-external routes (type 5, and type 7 within the areas they are in).
  const externals = [...asExternals, ...areas.flatMap((area) => graphs.get(area)!.nssaExternals)];
  // Found once for all externals: the cheapest route to each AS boundary router, and the internal routes a forwarding address may use.
  const asbrs = new Map<string, RouterRoute>();
  for (const r of routerRoutes.values()) {
    const held = asbrs.get(r.routerId);
    if (r.external && (!held || r.cost < held.cost)) asbrs.set(r.routerId, r);
  }
  const internal = [...best.values()].filter((r) => r.pathType === 'intra-area' || r.pathType === 'inter-area');
  for (const lsa of externals) {
    if (lsa.body.kind !== 'external' || lsa.header.advertisingRouter === root || lsa.body.metric >= LS_INFINITY) continue;
    const asbr = asbrs.get(lsa.header.advertisingRouter);
    if (!asbr) continue;
    let reach: { cost: number; nextHops: NextHop[]; area: string | null } = asbr;
    if (lsa.body.forwardingAddress !== '0.0.0.0') {
      const covering = longestMatch(internal, lsa.body.forwardingAddress);
      if (!covering) continue;
      reach = covering;
    }
    const prefix = prefixOf(lsa.header.linkStateId, lsa.body.mask);
    if (lsa.body.externalType === 1) offer({ prefix, pathType: 'external-1', cost: reach.cost + lsa.body.metric, type2Cost: null, area: null, nextHops: reach.nextHops });
    else offer({ prefix, pathType: 'external-2', cost: reach.cost, type2Cost: lsa.body.metric, area: null, nextHops: reach.nextHops });
  }
  const networks = [...best.values()].sort((a, b) => comparePrefixes(a.prefix, b.prefix));
  return { routerId: root, networks, routers: [...routerRoutes.values()].sort((a, b) => (a.routerId === b.routerId ? (a.area < b.area ? -1 : 1) : ipv4Number(a.routerId) - ipv4Number(b.routerId))) };
}

/**
 * The root's address on a stub network of its own: the interface address of its point-to-point or
 * transit link in that network (a numbered point-to-point link's subnet is a stub link beside it),
 * or, for a network only the stub link names (a passive interface), the network's address.
 */
function ownAddressIn(body: RouterBody, network: string, mask: string): string {
  const want = ipv4Number(network) & ipv4Number(mask);
  const link = body.links.find((l) => l.type !== RouterLinkType.STUB && (ipv4Number(l.linkData) & ipv4Number(mask)) === want);
  return link ? link.linkData : network;
}

const PATH_RANK: Record<PathType, number> = { 'intra-area': 0, 'inter-area': 1, 'external-1': 2, 'external-2': 3 };

/** < 0 when `a` is preferred to `b` (§11: path type first, then cost; type 2: its metric first). */
function compareRoutes(a: Route, b: Route): number {
  if (a.pathType !== b.pathType) return PATH_RANK[a.pathType] - PATH_RANK[b.pathType];
  if (a.pathType === 'external-2' && a.type2Cost !== b.type2Cost) return a.type2Cost! - b.type2Cost!;
  return a.cost - b.cost;
}

function longestMatch(routes: readonly Route[], address: string): Route | null {
  const value = ipv4Number(address);
  let found: Route | null = null;
  let length = -1;
  for (const route of routes) {
    const [network, bits] = route.prefix.split('/');
    const len = Number(bits);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (((value & mask) >>> 0) === ipv4Number(network) && len > length) {
      found = route;
      length = len;
    }
  }
  return found;
}

function comparePrefixes(a: string, b: string): number {
  return prefixKey(a) - prefixKey(b);
}

/** A prefix's order: network then length, as one number (remembered: tables are sorted often). */
const prefixKeys = new Map<string, number>();
function prefixKey(prefix: string): number {
  let key = prefixKeys.get(prefix);
  if (key === undefined) {
    const [network, length] = prefix.split('/');
    key = ipv4Number(network) * 64 + Number(length);
    if (prefixKeys.size > 1_000_000) prefixKeys.clear();
    prefixKeys.set(prefix, key);
  }
  return key;
}

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
  /** Per vertex: [neighbour, cost] pairs. */
  readonly edges: number[][] = [];

  constructor(lsas: readonly Lsa[]) {
    const routers = new Map<string, Lsa>();
    const networks = new Map<string, Lsa>();
    for (const lsa of lsas) {
      if (lsa.header.type === LsaType.ROUTER && lsa.body.kind === 'router') routers.set(lsa.header.advertisingRouter, lsa);
      if (lsa.header.type === LsaType.NETWORK && lsa.body.kind === 'network') networks.set(lsa.header.linkStateId, lsa);
    }
    const add = (key: string, lsa: Lsa, network: boolean): void => {
      this.index.set(key, this.lsas.length);
      this.lsas.push(lsa);
      this.isNetwork.push(network);
      this.edges.push([]);
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
  }
}

/** A binary heap of vertices by cost, networks first at equal cost (§16.1 step 3). */
class CandidateHeap {
  private readonly keys: number[] = [];
  private readonly vertices: number[] = [];

  push(vertex: number, key: number): void {
    const keys = this.keys;
    const vertices = this.vertices;
    let i = keys.length;
    keys.push(key);
    vertices.push(vertex);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      vertices[i] = vertices[parent];
      i = parent;
    }
    keys[i] = key;
    vertices[i] = vertex;
  }

  /** The vertex with the least key, or -1. */
  pop(): number {
    const keys = this.keys;
    const vertices = this.vertices;
    if (keys.length === 0) return -1;
    const top = vertices[0];
    const lastKey = keys.pop()!;
    const lastVertex = vertices.pop()!;
    const n = keys.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && keys[child + 1] < keys[child]) child++;
        if (keys[child] >= lastKey) break;
        keys[i] = keys[child];
        vertices[i] = vertices[child];
        i = child;
      }
      keys[i] = lastKey;
      vertices[i] = lastVertex;
    }
    return top;
  }
}

/** The shortest-path tree of an area from `root` (§16.1): its vertices with their costs and next hops. */
function shortestPathTree(graph: AreaGraph, root: string): Map<string, Vertex> {
  const tree = new Map<string, Vertex>();
  const rootIndex = graph.index.get(`R:${root}`);
  if (rootIndex === undefined) return tree;
  const count = graph.lsas.length;
  const cost = new Float64Array(count).fill(Infinity);
  const done = new Uint8Array(count);
  const hops: (NextHop[] | undefined)[] = new Array(count);
  const parentIsRoot = new Uint8Array(count);
  const rootBody = graph.lsas[rootIndex].body as RouterBody;
  const heap = new CandidateHeap();
  cost[rootIndex] = 0;
  hops[rootIndex] = [];
  heap.push(rootIndex, 0);
  for (let v = heap.pop(); v >= 0; v = heap.pop()) {
    if (done[v]) continue;
    done[v] = 1;
    const edges = graph.edges[v];
    for (let e = 0; e < edges.length; e += 2) {
      const w = edges[e];
      if (done[w]) continue;
      const total = cost[v] + edges[e + 1];
      if (total > cost[w]) continue;
      const via = nextHopsTo(v, w);
      if (total === cost[w]) {
        hops[w] = sameNextHops(hops[w]!, via);
      } else {
        cost[w] = total;
        hops[w] = via;
        // Ties: networks before routers, so that routers on a network get its next hops.
        heap.push(w, total * 2 + (graph.isNetwork[w] ? 0 : 1));
      }
    }
  }
  for (let v = 0; v < count; v++) {
    if (!done[v]) continue;
    const lsa = graph.lsas[v];
    const network = graph.isNetwork[v];
    const id = network ? `N:${lsa.header.linkStateId}` : `R:${lsa.header.advertisingRouter}`;
    tree.set(id, { id, kind: network ? 'network' : 'router', lsa, cost: cost[v], nextHops: hops[v]! });
  }
  return tree;

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
      return hops[v]!.map((h) => ({ gateway: link?.linkData ?? null, interfaceAddress: h.interfaceAddress }));
    }
    return hops[v]!;
  }
}

/**
 * A database ready for SPF from any router: each area's graph built once, so that the routes of
 * many routers (a what-if step, link loads) cost one search each.
 */
export class OspfNetwork {
  private readonly graphs = new Map<string, AreaGraph>();

  constructor(
    private readonly lsdb: LinkStateDatabase,
    private readonly now = Date.now(),
  ) {
    for (const area of lsdb.areas()) this.graphs.set(area, new AreaGraph(lsdb.lsas(area, now)));
  }

  /** Every router with a router-LSA, in any area. */
  routers(): string[] {
    const ids = new Set<string>();
    for (const graph of this.graphs.values()) for (const key of graph.index.keys()) if (key.startsWith('R:')) ids.add(key.slice(2));
    return [...ids].sort((a, b) => ipv4Number(a) - ipv4Number(b));
  }

  /** The routing table of `root` (§16). */
  routesFor(root: string): RoutingTable {
    return routingTable(this.lsdb, this.graphs, root, this.now);
  }
}

/** The routing table of `root` over `lsdb` (§16). */
export function computeRoutes(lsdb: LinkStateDatabase, root: string, now = Date.now()): RoutingTable {
  return new OspfNetwork(lsdb, now).routesFor(root);
}

function routingTable(lsdb: LinkStateDatabase, graphs: ReadonlyMap<string, AreaGraph>, root: string, now: number): RoutingTable {
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
    const tree = shortestPathTree(graphs.get(area)!, root);
    for (const vertex of tree.values()) {
      if (vertex.kind === 'network') {
        const body = vertex.lsa.body as NetworkBody;
        offer({ prefix: prefixOf(vertex.lsa.header.linkStateId, body.mask), pathType: 'intra-area', cost: vertex.cost, type2Cost: null, area, nextHops: vertex.nextHops });
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
      for (const link of body.links) {
        if (link.type !== RouterLinkType.STUB) continue;
        const nextHops = self ? [{ gateway: null, interfaceAddress: ownAddressIn(body, link.linkId, link.linkData) }] : vertex.nextHops;
        offer({ prefix: prefixOf(link.linkId, link.linkData), pathType: 'intra-area', cost: vertex.cost + link.metric, type2Cost: null, area, nextHops });
      }
    }
  }
  // §16.2: inter-area routes, from the backbone's summaries on an area border router, else from the one area's.
  const border = areas.length > 1;
  const summaryAreas = border ? areas.filter((a) => a === '0.0.0.0') : areas;
  for (const area of summaryAreas) {
    for (const lsa of lsdb.lsas(area, now)) {
      if ((lsa.header.type !== LsaType.SUMMARY_NETWORK && lsa.header.type !== LsaType.SUMMARY_ASBR) || lsa.body.kind !== 'summary') continue;
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
  const externals = [...lsdb.lsas(AS_SCOPE, now), ...areas.flatMap((area) => lsdb.lsas(area, now).filter((l) => l.header.type === LsaType.NSSA_EXTERNAL))];
  for (const lsa of externals) {
    if (lsa.body.kind !== 'external' || lsa.header.advertisingRouter === root || lsa.body.metric >= LS_INFINITY) continue;
    const asbr = [...routerRoutes.values()].filter((r) => r.routerId === lsa.header.advertisingRouter && r.external).sort((a, b) => a.cost - b.cost)[0];
    if (!asbr) continue;
    let reach: { cost: number; nextHops: NextHop[]; area: string | null } = asbr;
    if (lsa.body.forwardingAddress !== '0.0.0.0') {
      const covering = longestMatch([...best.values()].filter((r) => r.pathType === 'intra-area' || r.pathType === 'inter-area'), lsa.body.forwardingAddress);
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
  const [x, xl] = a.split('/');
  const [y, yl] = b.split('/');
  return ipv4Number(x) - ipv4Number(y) || Number(xl) - Number(yl);
}

/**
 * Link loads from a traffic matrix (issue 5, "the path of every source/destination pair (ECMP split
 * evenly) → load on every link"): each endpoint is mapped to the router it attaches to, each
 * source/destination pair follows the routers' shortest paths in one area, split evenly over equal
 * cost next hops at every router as OSPF forwards (RFC 2328 §16.1.1), and the bytes add up per link.
 *
 *   - An address attaches to the router of the longest prefix that holds it: a router's stub network,
 *     or a LAN (its designated router: the hosts' usual gateway; a LAN with another gateway is
 *     not told apart). A prefix several routers announce (a point-to-point subnet) goes to the
 *     lowest router ID.
 *   - Paths: for each destination router, one search over the reversed links gives every router's
 *     distance to it; traffic then flows from the farthest routers in, each router passing what it
 *     carries evenly to the neighbours on a shortest path (across a LAN, each router on it is one).
 */
import { RouterLinkType, LsaType, type Lsa, type LsaBody } from './ospf/lsa.js';
import type { LinkStateDatabase } from './ospf/lsdb.js';
import { CandidateHeap, ipv4Number, maskLength, prefixOf } from './ospf/spf.js';

export interface Demand {
  src: string;
  dst: string;
  bytes: number;
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

type RouterBody = Extract<LsaBody, { kind: 'router' }>;
type NetworkBody = Extract<LsaBody, { kind: 'network' }>;

interface Edge {
  to: number;
  cost: number;
  via: string;
  fromAddress: string;
}

export function linkLoads(lsdb: LinkStateDatabase, demands: readonly Demand[], area = '0.0.0.0', now = Date.now()): LoadResult {
  const lsas = lsdb.lsas(area, now);
  const routers = lsas.filter((l): l is Lsa & { body: RouterBody } => l.header.type === LsaType.ROUTER && l.body.kind === 'router');
  const networks = new Map<string, Lsa & { body: NetworkBody }>();
  for (const l of lsas) if (l.header.type === LsaType.NETWORK && l.body.kind === 'network') networks.set(l.header.linkStateId, l as Lsa & { body: NetworkBody });
  const ids = routers.map((r) => r.header.advertisingRouter);
  const index = new Map(ids.map((id, i) => [id, i]));
  // Router-level links, seen from both ends (RFC 2328 §16.1 step 2b); across a LAN, one per router on it.
  const edges: Edge[][] = ids.map(() => []);
  const linksOf = (id: string): RouterBody['links'] => routers[index.get(id)!].body.links;
  for (const [r, lsa] of routers.entries()) {
    const self = lsa.header.advertisingRouter;
    for (const link of lsa.body.links) {
      if (link.type === RouterLinkType.POINT_TO_POINT) {
        const far = index.get(link.linkId);
        if (far !== undefined && linksOf(link.linkId).some((l) => l.type === RouterLinkType.POINT_TO_POINT && l.linkId === self)) {
          edges[r].push({ to: far, cost: link.metric, via: 'p2p', fromAddress: link.linkData });
        }
      } else if (link.type === RouterLinkType.TRANSIT) {
        const network = networks.get(link.linkId);
        if (!network || !network.body.attachedRouters.includes(self)) continue;
        const lan = prefixOf(network.header.linkStateId, network.body.mask);
        for (const other of network.body.attachedRouters) {
          const far = index.get(other);
          if (far === undefined || other === self || !linksOf(other).some((l) => l.type === RouterLinkType.TRANSIT && l.linkId === link.linkId)) continue;
          edges[r].push({ to: far, cost: link.metric, via: lan, fromAddress: link.linkData });
        }
      }
    }
  }
  // Where each address attaches: the longest prefix of a stub network or a LAN.
  const attachments: { network: number; length: number; router: number }[] = [];
  const attach = (address: string, mask: string, router: string): void => {
    const r = index.get(router);
    if (r === undefined) return;
    const length = maskLength(mask);
    const network = (ipv4Number(address) & ipv4Number(mask)) >>> 0;
    const held = attachments.find((a) => a.network === network && a.length === length);
    if (!held) attachments.push({ network, length, router: r });
    else if (ipv4Number(router) < ipv4Number(ids[held.router])) held.router = r;
  };
  for (const lsa of routers) for (const link of lsa.body.links) if (link.type === RouterLinkType.STUB) attach(link.linkId, link.linkData, lsa.header.advertisingRouter);
  for (const network of networks.values()) attach(network.header.linkStateId, network.body.mask, network.header.advertisingRouter);
  attachments.sort((a, b) => b.length - a.length);
  const attachmentOf = (address: string): number | undefined => {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address)) return undefined;
    const value = ipv4Number(address);
    for (const a of attachments) {
      const mask = a.length === 0 ? 0 : (0xffffffff << (32 - a.length)) >>> 0;
      if (((value & mask) >>> 0) === a.network) return a.router;
    }
    return undefined;
  };

  const result: LoadResult = { links: [], routedBytes: 0, localBytes: 0, unrouted: {} };
  const unrouted = (reason: string, bytes: number): void => void (result.unrouted[reason] = (result.unrouted[reason] ?? 0) + bytes);
  // Bytes per destination router, per source router.
  const toward = new Map<number, Float64Array>();
  for (const d of demands) {
    if (!(d.bytes > 0)) continue;
    const s = attachmentOf(d.src);
    const t = attachmentOf(d.dst);
    if (s === undefined || t === undefined) {
      unrouted('no_attachment', d.bytes);
      continue;
    }
    if (s === t) {
      result.localBytes += d.bytes;
      continue;
    }
    let sources = toward.get(t);
    if (!sources) toward.set(t, (sources = new Float64Array(ids.length)));
    sources[s] += d.bytes;
  }
  const reverse: { from: number; cost: number }[][] = ids.map(() => []);
  edges.forEach((list, from) => list.forEach((e) => reverse[e.to].push({ from, cost: e.cost })));
  const loads = new Map<string, LinkLoad>();
  const heap = new CandidateHeap(ids.length);
  for (const [target, sources] of toward) {
    // Every router's distance to the destination: Dijkstra over the reversed links.
    const dist = new Float64Array(ids.length).fill(Infinity);
    dist[target] = 0;
    heap.push(target, 0);
    for (let v = heap.pop(); v >= 0; v = heap.pop()) {
      for (const { from, cost } of reverse[v]) {
        if (dist[v] + cost < dist[from]) {
          dist[from] = dist[v] + cost;
          heap.push(from, dist[from]);
        }
      }
    }
    const flow = Float64Array.from(sources);
    for (let v = 0; v < ids.length; v++) {
      if (flow[v] > 0 && dist[v] === Infinity) {
        unrouted('unreachable', flow[v]);
        flow[v] = 0;
      } else {
        result.routedBytes += flow[v];
      }
    }
    // Farthest first: a router passes on what it carries before its neighbours nearer the destination do.
    const order = ids.map((_, i) => i).filter((i) => dist[i] !== Infinity && i !== target).sort((a, b) => dist[b] - dist[a]);
    for (const v of order) {
      if (flow[v] === 0) continue;
      const next = edges[v].filter((e) => e.cost + dist[e.to] === dist[v]);
      const share = flow[v] / next.length;
      for (const e of next) {
        const key = `${v}>${e.to}|${e.via}|${e.fromAddress}`;
        let load = loads.get(key);
        if (!load) loads.set(key, (load = { from: ids[v], to: ids[e.to], via: e.via, fromAddress: e.fromAddress, bytes: 0 }));
        load.bytes += share;
        flow[e.to] += share;
      }
      flow[v] = 0;
    }
  }
  result.links = [...loads.values()].sort((a, b) => b.bytes - a.bytes || (a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : 1));
  return result;
}

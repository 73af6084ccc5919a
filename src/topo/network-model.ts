/**
 * One area as the traffic sees it: routers, the directed router-to-router links packets cross, and
 * where each address attaches. Built from a link-state database, searched by the link-load and
 * traffic-engineering code.
 *
 *   - Links are taken only when both ends list each other (RFC 2328 §16.1 step 2b); across a LAN, one
 *     link from each router on it to each other one, at the sender's interface cost.
 *   - An address attaches to the router of the longest prefix that holds it: a router's stub network,
 *     or a LAN (its designated router: the hosts' usual gateway; a LAN with another gateway is not
 *     told apart). A prefix several routers announce (a point-to-point subnet) goes to the lowest
 *     router ID. Moved prefixes (a what-if's "put these servers at router X") come before all of them.
 */
import { RouterLinkType, LsaType, type Lsa, type LsaBody } from './ospf/lsa.js';
import type { LinkStateDatabase } from './ospf/lsdb.js';
import { ipv4Number, maskLength, prefixOf } from './ospf/spf.js';

type RouterBody = Extract<LsaBody, { kind: 'router' }>;
type NetworkBody = Extract<LsaBody, { kind: 'network' }>;

/** A directed link: from a router to a neighbour, over a point-to-point link or across a LAN. */
export interface ModelEdge {
  from: number;
  to: number;
  cost: number;
  /** `p2p`, or the LAN's prefix. */
  via: string;
  /** The sending router's interface address on the link. */
  fromAddress: string;
  /** Index in `NetworkModel.edgeList`. */
  id: number;
}

/** A prefix moved to another router: addresses in it attach there, whatever the database says. */
export interface MovedPrefix {
  /** `a.b.c.d/len`, or a single address. */
  prefix: string;
  router: string;
}

export class NetworkModel {
  /** Router IDs; a router's number is its index. */
  readonly ids: string[];
  readonly index: Map<string, number>;
  /** Outgoing links per router. */
  readonly edges: ModelEdge[][];
  /** Every link, by `id`. */
  readonly edgeList: ModelEdge[];
  /** Incoming links per router. */
  readonly reverse: ModelEdge[][];
  /**
   * The same links in flat arrays for the searches that run once per destination (link-loads.ts):
   * router v's outgoing links are outTo/outCost/outId[outStart[v] .. outStart[v + 1]), its incoming
   * ones inFrom/inCost[inStart[v] .. inStart[v + 1]).
   */
  readonly outStart: Int32Array;
  readonly outTo: Int32Array;
  readonly outCost: Float64Array;
  readonly outId: Int32Array;
  readonly inStart: Int32Array;
  readonly inFrom: Int32Array;
  readonly inCost: Float64Array;
  private readonly attachments: PrefixTable;
  private readonly moved: PrefixTable;
  /** Addresses looked up so far: a matrix names the same endpoints many times. */
  private readonly cache: Map<string, number | undefined>;

  private constructor(ids: string[], edgeList: ModelEdge[], attachments: PrefixTable, moved: PrefixTable, cache = new Map<string, number | undefined>()) {
    this.cache = cache;
    this.ids = ids;
    this.index = new Map(ids.map((id, i) => [id, i]));
    this.edgeList = edgeList;
    this.edges = ids.map(() => []);
    this.reverse = ids.map(() => []);
    for (const edge of edgeList) {
      this.edges[edge.from].push(edge);
      this.reverse[edge.to].push(edge);
    }
    this.attachments = attachments;
    this.moved = moved;
    const n = ids.length;
    const m = edgeList.length;
    this.outStart = new Int32Array(n + 1);
    this.inStart = new Int32Array(n + 1);
    this.outTo = new Int32Array(m);
    this.outCost = new Float64Array(m);
    this.outId = new Int32Array(m);
    this.inFrom = new Int32Array(m);
    this.inCost = new Float64Array(m);
    let o = 0;
    let i = 0;
    for (let v = 0; v < n; v++) {
      this.outStart[v] = o;
      for (const e of this.edges[v]) {
        this.outTo[o] = e.to;
        this.outCost[o] = e.cost;
        this.outId[o++] = e.id;
      }
      this.inStart[v] = i;
      for (const e of this.reverse[v]) {
        this.inFrom[i] = e.from;
        this.inCost[i++] = e.cost;
      }
    }
    this.outStart[n] = o;
    this.inStart[n] = i;
  }

  /** The model of `area` in `lsdb` at `now`, with `moved` prefixes attached where they were moved to. */
  static fromLsdb(lsdb: LinkStateDatabase, area = '0.0.0.0', now = Date.now(), moved: readonly MovedPrefix[] = []): NetworkModel {
    const lsas = lsdb.lsas(area, now);
    const routers = lsas.filter((l): l is Lsa & { body: RouterBody } => l.header.type === LsaType.ROUTER && l.body.kind === 'router');
    const networks = new Map<string, Lsa & { body: NetworkBody }>();
    for (const l of lsas) if (l.header.type === LsaType.NETWORK && l.body.kind === 'network') networks.set(l.header.linkStateId, l as Lsa & { body: NetworkBody });
    const ids = routers.map((r) => r.header.advertisingRouter);
    const index = new Map(ids.map((id, i) => [id, i]));
    const linksOf = (id: string): RouterBody['links'] => routers[index.get(id)!].body.links;
    const edges: ModelEdge[] = [];
    const add = (from: number, to: number, cost: number, via: string, fromAddress: string): void =>
      void edges.push({ from, to, cost, via, fromAddress, id: edges.length });
    for (const [r, lsa] of routers.entries()) {
      const self = lsa.header.advertisingRouter;
      for (const link of lsa.body.links) {
        if (link.type === RouterLinkType.POINT_TO_POINT) {
          const far = index.get(link.linkId);
          if (far !== undefined && linksOf(link.linkId).some((l) => l.type === RouterLinkType.POINT_TO_POINT && l.linkId === self)) add(r, far, link.metric, 'p2p', link.linkData);
        } else if (link.type === RouterLinkType.TRANSIT) {
          const network = networks.get(link.linkId);
          if (!network || !network.body.attachedRouters.includes(self)) continue;
          const lan = prefixOf(network.header.linkStateId, network.body.mask);
          for (const other of network.body.attachedRouters) {
            const far = index.get(other);
            if (far === undefined || other === self || !linksOf(other).some((l) => l.type === RouterLinkType.TRANSIT && l.linkId === link.linkId)) continue;
            add(r, far, link.metric, lan, link.linkData);
          }
        }
      }
    }
    // Where each prefix attaches; a prefix several routers announce goes to the lowest router ID.
    const attachments = new PrefixTable();
    const attach = (address: string, mask: string, router: string): void => {
      const r = index.get(router);
      if (r === undefined) return;
      const length = maskLength(mask);
      const network = (ipv4Number(address) & ipv4Number(mask)) >>> 0;
      const held = attachments.get(network, length);
      if (held === undefined || ipv4Number(router) < ipv4Number(ids[held])) attachments.set(network, length, r);
    };
    for (const lsa of routers) for (const link of lsa.body.links) if (link.type === RouterLinkType.STUB) attach(link.linkId, link.linkData, lsa.header.advertisingRouter);
    for (const network of networks.values()) {
      // The LAN's designated router, or, when it is gone (a what-if took it down), the lowest router still on it.
      const on = network.body.attachedRouters.filter((id) => index.has(id) && linksOf(id).some((l) => l.type === RouterLinkType.TRANSIT && l.linkId === network.header.linkStateId));
      const gateway = on.includes(network.header.advertisingRouter) ? network.header.advertisingRouter : on.sort((a, b) => ipv4Number(a) - ipv4Number(b))[0];
      if (gateway !== undefined) attach(network.header.linkStateId, network.body.mask, gateway);
    }
    const movedAttachments = new PrefixTable();
    for (const move of moved) {
      const router = index.get(move.router);
      if (router === undefined) continue;
      const { network, length } = parsePrefix(move.prefix);
      movedAttachments.set(network, length, router);
    }
    return new NetworkModel(ids, edges, attachments, movedAttachments);
  }

  /**
   * The same network with other interface costs: `costs` maps an interface (interfaceKey: the sending
   * router and its address) to its new cost, which every link out of that interface takes (across a
   * LAN, one link per router on it).
   */
  withCosts(costs: ReadonlyMap<string, number>): NetworkModel {
    const edges = this.edgeList.map((e) => ({ ...e, cost: costs.get(interfaceKey(this.ids[e.from], e.fromAddress)) ?? e.cost }));
    return new NetworkModel(this.ids, edges, this.attachments, this.moved, this.cache);
  }

  /** The same network with some links' costs changed, by link id (Infinity: the link is down). */
  withEdgeCosts(costs: ReadonlyMap<number, number>): NetworkModel {
    const edges = this.edgeList.map((e) => (costs.has(e.id) ? { ...e, cost: costs.get(e.id)! } : e));
    return new NetworkModel(this.ids, edges, this.attachments, this.moved, this.cache);
  }

  /** The router an IPv4 address attaches to, or undefined (not IPv4, or outside every prefix). */
  attachmentOf(address: string): number | undefined {
    if (this.cache.has(address)) return this.cache.get(address);
    let router: number | undefined;
    if (IPV4.test(address)) {
      const value = ipv4Number(address);
      router = this.moved.longestMatch(value) ?? this.attachments.longestMatch(value);
    }
    this.cache.set(address, router);
    return router;
  }
}

/** An interface: the router and its address on the link, as OSPF costs are set per outgoing interface. */
export function interfaceKey(router: string, address: string): string {
  return `${router}@${address}`;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Prefixes to routers, one hash table per prefix length: a longest match is one lookup per length in use. */
class PrefixTable {
  private readonly byLength = new Map<number, Map<number, number>>();
  private lengths: number[] = [];

  get(network: number, length: number): number | undefined {
    return this.byLength.get(length)?.get(network);
  }

  set(network: number, length: number, router: number): void {
    let table = this.byLength.get(length);
    if (!table) {
      this.byLength.set(length, (table = new Map()));
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    table.set(network, router);
  }

  longestMatch(value: number): number | undefined {
    for (const length of this.lengths) {
      const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
      const router = this.byLength.get(length)!.get((value & mask) >>> 0);
      if (router !== undefined) return router;
    }
    return undefined;
  }
}

/** `a.b.c.d/len` or `a.b.c.d` (a /32) as a network number and length; throws RangeError naming the text. */
export function parsePrefix(text: string): { network: number; length: number } {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?$/.exec(text.trim());
  const length = match ? (match[2] === undefined ? 32 : Number(match[2])) : NaN;
  if (!match || length > 32 || match[1].split('.').some((part) => Number(part) > 255)) {
    throw new RangeError(`Cannot read the prefix ${JSON.stringify(text)}: expected an IPv4 address or a.b.c.d/len`);
  }
  const mask = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return { network: (ipv4Number(match[1]) & mask) >>> 0, length };
}

/**
 * The network view's answers as plain rows (issue 5, "views: CLI and a JSON API the console will
 * use"): the most loaded links, the most communicating hosts, applications and users, a link's
 * click-through and a what-if, computed once per question from one network and one matrix.
 */
import { demandsOnLink, linkKey, routeDemands, type Demand, type LoadResult } from './link-loads.js';
import { NetworkModel } from './network-model.js';
import type { LinkStateDatabase } from './ospf/lsdb.js';
import { applySteps, describeStep, type WhatIfStep } from './whatif.js';

export const TOP_DIMENSIONS = ['host', 'src', 'dst', 'pair', 'app', 'user'] as const;
export type TopDimension = (typeof TOP_DIMENSIONS)[number];
export const LINK_DIMENSIONS = ['pair', 'src', 'dst', 'app', 'user', 'entry'] as const;
export type LinkDimension = (typeof LINK_DIMENSIONS)[number];

export interface LinkRow {
  from: string;
  to: string;
  via: string;
  from_address: string;
  bytes: number;
  share: number;
  utilisation: number | null;
}

export class NetworkView {
  readonly model: NetworkModel;
  private loadsCache: LoadResult | null = null;

  constructor(
    readonly lsdb: LinkStateDatabase,
    readonly demands: readonly Demand[],
    readonly area: string,
    readonly nowMs: number,
    /** Capacities by sending address (bits/s) and the seconds the matrix covers, for utilisations. */
    readonly capacity: { bps: ReadonlyMap<string, number>; windowS: number } | null = null,
  ) {
    this.model = NetworkModel.fromLsdb(lsdb, area, nowMs);
  }

  get loads(): LoadResult {
    this.loadsCache ??= routeDemands(this.model, this.demands);
    return this.loadsCache;
  }

  /** The `top` most loaded links (most utilised first when capacities are known). */
  links(top: number): LinkRow[] {
    const rows = this.loads.links.map((l) => this.linkRow(l, this.loads.routedBytes));
    if (this.capacity) rows.sort((a, b) => (b.utilisation ?? -1) - (a.utilisation ?? -1) || b.bytes - a.bytes);
    return rows.slice(0, top);
  }

  /** The most communicating hosts (bytes sent plus received), sources, destinations, pairs, applications or users. */
  top(by: TopDimension, top: number): { key: Record<string, string | null>; bytes: number; share: number }[] {
    const groups = new Map<string, { key: Record<string, string | null>; bytes: number }>();
    const add = (key: Record<string, string | null>, bytes: number): void => {
      const id = JSON.stringify(key);
      const group = groups.get(id) ?? { key, bytes: 0 };
      group.bytes += bytes;
      groups.set(id, group);
    };
    let total = 0;
    for (const d of this.demands) {
      if (!(d.bytes > 0)) continue;
      total += d.bytes;
      if (by === 'host') {
        add({ host: d.src }, d.bytes);
        add({ host: d.dst }, d.bytes);
      } else if (by === 'pair') add({ src: d.src, dst: d.dst }, d.bytes);
      else if (by === 'src') add({ src: d.src }, d.bytes);
      else if (by === 'dst') add({ dst: d.dst }, d.bytes);
      else if (by === 'app') add({ app: d.app ?? null }, d.bytes);
      else add({ user: d.user ?? null }, d.bytes);
    }
    return [...groups.values()]
      .sort((a, b) => b.bytes - a.bytes || (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1))
      .slice(0, top)
      .map((g) => ({ ...g, share: total > 0 ? round(g.bytes / total, 4) : 0 }));
  }

  /** Click-through: what crosses the link from→to (at `fromAddress` when several), grouped `by`; null when there is no such link, or the candidates when it is ambiguous. */
  link(from: string, to: string, fromAddress: string | undefined, by: LinkDimension, top: number):
    | { link: LinkRow; rows: { key: Record<string, string | null>; bytes: number; share: number; pairs: number }[] }
    | { error: string } {
    const edges = this.model.edgeList.filter((e) => this.model.ids[e.from] === from && this.model.ids[e.to] === to && (fromAddress === undefined || e.fromAddress === fromAddress));
    if (edges.length === 0) return { error: `no link from ${from} to ${to}${fromAddress ? ` at ${fromAddress}` : ''} in area ${this.area}` };
    if (edges.length > 1) return { error: `${edges.length} links from ${from} to ${to}: name one by its address (${edges.map((e) => e.fromAddress).join(', ')})` };
    const edge = edges[0];
    const shares = demandsOnLink(this.model, this.demands, edge);
    const total = shares.reduce((sum, s) => sum + s.bytes, 0);
    const groups = new Map<string, { key: Record<string, string | null>; bytes: number; pairs: number }>();
    for (const s of shares) {
      const key: Record<string, string | null> =
        by === 'pair' ? { src: s.demand.src, dst: s.demand.dst, entry: s.entry, exit: s.exit }
        : by === 'src' ? { src: s.demand.src } : by === 'dst' ? { dst: s.demand.dst } : by === 'entry' ? { entry: s.entry }
        : by === 'app' ? { app: s.demand.app ?? null } : { user: s.demand.user ?? null };
      const id = JSON.stringify(key);
      const group = groups.get(id) ?? { key, bytes: 0, pairs: 0 };
      group.bytes += s.bytes;
      group.pairs++;
      groups.set(id, group);
    }
    const load = this.loads.links.find((l) => linkKey(l) === linkKey({ from, to, via: edge.via, fromAddress: edge.fromAddress }));
    return {
      link: this.linkRow(load ?? { from, to, via: edge.via, fromAddress: edge.fromAddress, bytes: 0 }, this.loads.routedBytes),
      rows: [...groups.values()].sort((a, b) => b.bytes - a.bytes || (JSON.stringify(a.key) < JSON.stringify(b.key) ? -1 : 1)).slice(0, top).map((g) => ({ ...g, bytes: round(g.bytes, 3), share: total > 0 ? round(g.bytes / total, 4) : 0 })),
    };
  }

  /** The links whose load a scenario changes, most changed first, with the totals before and after. */
  whatIf(steps: readonly WhatIfStep[], top: number): { steps: string[]; before: { routed: number; unrouted: number }; after: { routed: number; unrouted: number }; links: (LinkRow & { before_bytes: number; change_bytes: number; before_utilisation: number | null })[] } {
    const changed = applySteps(this.lsdb, steps, this.nowMs);
    const after = routeDemands(NetworkModel.fromLsdb(changed.lsdb, this.area, this.nowMs, changed.moved), this.demands);
    const was = new Map(this.loads.links.map((l) => [linkKey(l), l]));
    const now = new Map(after.links.map((l) => [linkKey(l), l]));
    const keys = new Set([...was.keys(), ...now.keys()]);
    const rows = [...keys].map((key) => {
      const a = was.get(key);
      const b = now.get(key);
      const row = this.linkRow(b ?? { ...a!, bytes: 0 }, after.routedBytes);
      const beforeBytes = a?.bytes ?? 0;
      return { ...row, before_bytes: round(beforeBytes, 3), change_bytes: round(row.bytes - beforeBytes, 3), before_utilisation: this.utilisation(beforeBytes, row.from_address) };
    });
    rows.sort((x, y) => Math.abs(y.change_bytes) - Math.abs(x.change_bytes) || y.bytes - x.bytes);
    const unrouted = (r: LoadResult): number => Object.values(r.unrouted).reduce((sum, n) => sum + n, 0);
    return {
      steps: steps.map(describeStep),
      before: { routed: round(this.loads.routedBytes, 3), unrouted: round(unrouted(this.loads), 3) },
      after: { routed: round(after.routedBytes, 3), unrouted: round(unrouted(after), 3) },
      links: rows.slice(0, top),
    };
  }

  private linkRow(l: { from: string; to: string; via: string; fromAddress: string; bytes: number }, routed: number): LinkRow {
    return { from: l.from, to: l.to, via: l.via, from_address: l.fromAddress, bytes: round(l.bytes, 3), share: routed > 0 ? round(l.bytes / routed, 4) : 0, utilisation: this.utilisation(l.bytes, l.fromAddress) };
  }

  private utilisation(bytes: number, address: string): number | null {
    const capacity = this.capacity?.bps.get(address);
    return capacity === undefined || !this.capacity ? null : round((bytes * 8) / this.capacity.windowS / capacity, 4);
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

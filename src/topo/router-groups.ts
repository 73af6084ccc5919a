/**
 * An aggregated level of the map for large networks (issue 7: "aggregated map levels" for 2,500
 * routers): routers grouped around hubs, and the links between groups added up. Groups are made
 * greedily: the router with the most neighbours not yet in a group becomes a hub and takes those
 * neighbours; so each group is one router and routers one link away from it (in an enterprise, a
 * distribution router and its access routers, or a core router and what is left around it).
 */
import type { NetworkModel } from './network-model.js';

export interface RouterGroups {
  /** Group index of each router (by model index). */
  groupOf: Int32Array;
  /** Each group: its hub and its routers (IDs). */
  groups: { hub: string; routers: string[] }[];
}

export function groupRouters(model: NetworkModel): RouterGroups {
  const n = model.ids.length;
  const neighbours: Set<number>[] = Array.from({ length: n }, () => new Set());
  for (const e of model.edgeList) {
    if (e.from === e.to) continue;
    neighbours[e.from].add(e.to);
    neighbours[e.to].add(e.from);
  }
  const groupOf = new Int32Array(n).fill(-1);
  const groups: RouterGroups['groups'] = [];
  // Most neighbours first; ties by ID, so the grouping is the same at every refresh.
  const order = [...Array(n).keys()].sort((a, b) => neighbours[b].size - neighbours[a].size || (model.ids[a] < model.ids[b] ? -1 : 1));
  for (const hub of order) {
    if (groupOf[hub] >= 0) continue;
    const g = groups.length;
    const members = [hub, ...[...neighbours[hub]].filter((m) => groupOf[m] < 0)];
    for (const m of members) groupOf[m] = g;
    groups.push({ hub: model.ids[hub], routers: members.map((m) => model.ids[m]) });
  }
  return { groupOf, groups };
}

/** The links between groups, one per direction: bytes added up, and how many router links each stands for. */
export function groupLinks(model: NetworkModel, grouping: RouterGroups, bytesOf: (edgeId: number) => number): { from: number; to: number; bytes: number; links: number }[] {
  const byPair = new Map<number, { from: number; to: number; bytes: number; links: number }>();
  const count = grouping.groups.length;
  for (const e of model.edgeList) {
    const from = grouping.groupOf[e.from];
    const to = grouping.groupOf[e.to];
    if (from === to) continue;
    const key = from * count + to;
    const link = byPair.get(key) ?? { from, to, bytes: 0, links: 0 };
    link.bytes += bytesOf(e.id);
    link.links++;
    byPair.set(key, link);
  }
  return [...byPair.values()];
}

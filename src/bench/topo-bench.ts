/**
 * The network view's benchmark (issue 5): SPF on generated enterprise networks of 100, 1,000 and
 * 2,500 routers (the paper's enterprise), one OSPF area, every LSA built as a router would and read
 * back through the decoder:
 *
 *   - a core ring with chords (one core router per 50), distribution routers (one per 10) each on
 *     two core routers, and access routers each on two distribution routers, so that equal-cost
 *     pairs are common; point-to-point links, each with its /30 as a stub link beside it as FRR
 *     advertises them, and one /24 of endpoints per access router;
 *   - costs 1–10 in the core, 10–50 to distribution, 50–100 to access.
 *
 * Timed (medians): one router's routing table; every router's routing table; the shortest paths
 * from every router to every other (what the link loads of a traffic matrix need: the path of each
 * source and destination pair); and a what-if step: one link's cost changed (both ends re-originate
 * their router-LSA, the database takes them), then the shortest paths from every router again.
 * Then the link loads of a traffic matrix between 300,000 endpoints (spread over the access routers'
 * /24s; 1,000,000 pairs with heavy-tailed sizes): a full computation (the network model, every pair
 * placed on its routers, every destination's search and split), and a what-if step kept incremental
 * (IncrementalLoads: one link's cost changed, or one link down at both ends; only the destinations
 * whose paths it can touch are searched again; their searches are the routes of every router toward
 * them, so a step gives the new routes and the new loads).
 * Target: a what-if step on 2,500 routers under 1 s.
 */
import { LinkStateDatabase } from '../topo/ospf/lsdb.js';
import { routerLsa } from '../topo/ospf/lsa-encode.js';
import { RouterLinkType, type RouterLink } from '../topo/ospf/lsa.js';
import { OspfNetwork } from '../topo/ospf/spf.js';
import { median } from './process-stats.js';
import { IncrementalLoads } from '../topo/incremental-loads.js';
import { routerMatrix, type Demand } from '../topo/link-loads.js';
import { NetworkModel } from '../topo/network-model.js';
import { Rng } from './prng.js';

export const TOPO_WHATIF_TARGET_MS = 1000;

interface Link {
  a: number;
  b: number;
  cost: number;
  index: number;
}

const routerId = (i: number): string => `1.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
/** The k-th link's /30: 10.0.0.0 + 4k (end 0, the network); end a is .1, end b .2. */
const linkAddress = (k: number, end: 0 | 1 | 2): string => {
  const v = 0x0a000000 + 4 * k + end;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
};

/** The generated network: its links and each router's LSA, in a database. */
export function syntheticNetwork(routers: number, seed = 1): { lsdb: LinkStateDatabase; links: Link[]; sequences: number[]; originate: (router: number) => void } {
  const rng = new Rng(seed);
  const core = Math.max(4, Math.round(routers / 50));
  const distribution = Math.max(4, Math.round(routers / 10));
  const links: Link[] = [];
  const add = (a: number, b: number, lo: number, hi: number): void => {
    links.push({ a, b, cost: lo + rng.int(hi - lo + 1), index: links.length });
  };
  for (let c = 0; c < core; c++) {
    add(c, (c + 1) % core, 1, 10);
    if (core > 4 && c < core / 2) add(c, c + Math.floor(core / 2), 1, 10);
  }
  for (let d = 0; d < distribution; d++) {
    const node = core + d;
    add(node, d % core, 10, 50);
    add(node, (d + 1) % core, 10, 50);
  }
  for (let a = core + distribution; a < routers; a++) {
    const k = a - core - distribution;
    add(a, core + (k % distribution), 50, 100);
    add(a, core + ((k + 1) % distribution), 50, 100);
  }
  const byRouter: Link[][] = Array.from({ length: routers }, () => []);
  for (const link of links) {
    byRouter[link.a].push(link);
    byRouter[link.b].push(link);
  }
  const lsdb = new LinkStateDatabase();
  const sequences = new Array<number>(routers).fill(0x80000001);
  const originate = (router: number): void => {
    const ls: RouterLink[] = [];
    for (const link of byRouter[router]) {
      const mine: 1 | 2 = link.a === router ? 1 : 2;
      ls.push({ type: RouterLinkType.POINT_TO_POINT, linkId: routerId(mine === 1 ? link.b : link.a), linkData: linkAddress(link.index, mine), metric: link.cost });
      ls.push({ type: RouterLinkType.STUB, linkId: linkAddress(link.index, 0), linkData: '255.255.255.252', metric: link.cost });
    }
    if (router >= core + distribution) ls.push({ type: RouterLinkType.STUB, linkId: `172.${16 + ((router >> 8) & 15)}.${router & 255}.0`, linkData: '255.255.255.0', metric: 1 });
    lsdb.install('0.0.0.0', routerLsa(routerId(router), ls, {}, sequences[router]), 0);
  };
  for (let r = 0; r < routers; r++) originate(r);
  return { lsdb, links, sequences, originate };
}

export interface TopoBenchResult {
  routers: number;
  links: number;
  oneRouterMs: number;
  allTablesMs: number;
  allPathsMs: number;
  whatIfStepMs: number;
  routesPerRouter: number;
  endpoints: number;
  pairs: number;
  /** Link loads from scratch: model, pairs on routers, every destination. */
  loadsFullMs: number;
  /** An incremental what-if step (routes and loads): a cost change, and a link down; destinations searched again (median). */
  loadsCostStepMs: number;
  loadsLinkDownMs: number;
  /** The same for a core link down (on many more paths). */
  loadsCoreDownMs: number;
  destinationsSearched: number;
  destinations: number;
}

const ENDPOINTS = 300_000;
const PAIRS = 1_000_000;

/** The endpoints on the access routers' /24s and the pairs between them. */
function trafficMatrix(routers: number, seed: number): { endpoints: string[]; demands: Demand[] } {
  const rng = new Rng(seed);
  const core = Math.max(4, Math.round(routers / 50));
  const distribution = Math.max(4, Math.round(routers / 10));
  const access = routers - core - distribution;
  const perRouter = Math.min(254, Math.ceil(ENDPOINTS / access));
  const endpoints: string[] = [];
  for (let r = core + distribution; r < routers && endpoints.length < ENDPOINTS; r++) {
    for (let e = 1; e <= perRouter && endpoints.length < ENDPOINTS; e++) endpoints.push(`172.${16 + ((r >> 8) & 15)}.${r & 255}.${e}`);
  }
  const demands: Demand[] = [];
  for (let i = 0; i < PAIRS; i++) demands.push({ src: endpoints[rng.int(endpoints.length)], dst: endpoints[rng.int(endpoints.length)], bytes: Math.round(rng.pareto(500, 1.3, 1e9)) });
  return { endpoints, demands };
}

function loadsBench(net: ReturnType<typeof syntheticNetwork>, routers: number, runs: number): Pick<TopoBenchResult, 'endpoints' | 'pairs' | 'loadsFullMs' | 'loadsCostStepMs' | 'loadsLinkDownMs' | 'loadsCoreDownMs' | 'destinationsSearched' | 'destinations'> {
  const { endpoints, demands } = trafficMatrix(routers, 17);
  const full: number[] = [];
  const costStep: number[] = [];
  const downStep: number[] = [];
  const coreStep: number[] = [];
  const searched: number[] = [];
  let destinations = 0;
  for (let r = 0; r <= runs; r++) {
    let t = performance.now();
    const model = NetworkModel.fromLsdb(net.lsdb, '0.0.0.0', 0);
    const matrix = routerMatrix(model, demands);
    const state = new IncrementalLoads(model, matrix);
    if (r > 0) full.push(performance.now() - t);
    destinations = matrix.targets.size;
    const edge = model.edgeList[(r * 7919) % model.edgeList.length];
    t = performance.now();
    searched.push(state.setCosts(new Map([[edge.id, edge.cost + 7]])));
    state.result();
    if (r > 0) costStep.push(performance.now() - t);
    const down = model.edgeList[(r * 104729 + 13) % model.edgeList.length];
    const back = model.edgeList.find((e) => e.from === down.to && e.to === down.from);
    t = performance.now();
    searched.push(state.setCosts(new Map([[down.id, Infinity], ...(back ? [[back.id, Infinity] as [number, number]] : [])])));
    state.result();
    if (r > 0) downStep.push(performance.now() - t);
    // A core ring link (the first links generated), down at both ends.
    const core = model.edgeList.filter((e) => e.fromAddress === linkAddress(r % 4, 1) || e.fromAddress === linkAddress(r % 4, 2));
    t = performance.now();
    state.setCosts(new Map(core.map((e) => [e.id, Infinity])));
    state.result();
    if (r > 0) coreStep.push(performance.now() - t);
  }
  return { endpoints: endpoints.length, pairs: demands.length, loadsFullMs: median(full), loadsCostStepMs: median(costStep), loadsLinkDownMs: median(downStep), loadsCoreDownMs: median(coreStep), destinationsSearched: median(searched), destinations };
}

export function runTopoBench(sizes: readonly number[], runs: number, log: (line: string) => void): TopoBenchResult[] {
  const results: TopoBenchResult[] = [];
  for (const size of sizes) {
    const net = syntheticNetwork(size);
    const ids = new OspfNetwork(net.lsdb, 0).routers();
    const one: number[] = [];
    const tables: number[] = [];
    const paths: number[] = [];
    const step: number[] = [];
    let routes = 0;
    for (let r = 0; r <= runs; r++) {
      let t = performance.now();
      const network = new OspfNetwork(net.lsdb, 0);
      routes = network.routesFor(ids[(r * 7919) % ids.length]).networks.length;
      if (r > 0) one.push(performance.now() - t);
      t = performance.now();
      const all = new OspfNetwork(net.lsdb, 0);
      for (const id of ids) all.routesFor(id);
      if (r > 0) tables.push(performance.now() - t);
      t = performance.now();
      const everyPath = new OspfNetwork(net.lsdb, 0);
      for (const id of ids) everyPath.searchFrom(id);
      if (r > 0) paths.push(performance.now() - t);
      // A what-if step: one link's cost changes; both ends re-originate; every router's paths again.
      const link = net.links[(r * 104729) % net.links.length];
      link.cost = link.cost === 1 ? 2 : link.cost - 1;
      t = performance.now();
      for (const end of [link.a, link.b]) {
        net.sequences[end]++;
        net.originate(end);
      }
      const changed = new OspfNetwork(net.lsdb, 0);
      for (const id of ids) changed.searchFrom(id);
      if (r > 0) step.push(performance.now() - t);
    }
    const loads = loadsBench(net, size, runs);
    const result = { routers: size, links: net.links.length, oneRouterMs: median(one), allTablesMs: median(tables), allPathsMs: median(paths), whatIfStepMs: median(step), routesPerRouter: routes, ...loads };
    log(`topo bench: ${size} routers, ${result.links} links: one table ${result.oneRouterMs.toFixed(1)} ms, every table ${result.allTablesMs.toFixed(0)} ms, every path ${result.allPathsMs.toFixed(0)} ms, a what-if step ${result.whatIfStepMs.toFixed(0)} ms; ` +
      `loads of ${loads.pairs} pairs between ${loads.endpoints} endpoints: ${loads.loadsFullMs.toFixed(0)} ms, incremental step ${loads.loadsCostStepMs.toFixed(0)} ms (cost) / ${loads.loadsLinkDownMs.toFixed(0)} ms (link down) / ${loads.loadsCoreDownMs.toFixed(0)} ms (core link down), ${loads.destinationsSearched} of ${loads.destinations} destinations split again`);
    results.push(result);
  }
  return results;
}

export function formatTopoBench(results: readonly TopoBenchResult[]): string[] {
  const lines = [`network view: SPF and link loads on generated networks (one area, medians); target: a what-if step on 2,500 routers < ${TOPO_WHATIF_TARGET_MS} ms`];
  const table = [['routers', 'links', 'routes each', 'one table ms', 'every table ms', 'every path ms', 'SPF step ms']];
  for (const r of results) table.push([String(r.routers), String(r.links), String(r.routesPerRouter), r.oneRouterMs.toFixed(1), r.allTablesMs.toFixed(0), r.allPathsMs.toFixed(0), r.whatIfStepMs.toFixed(0)]);
  const loads = [['routers', 'endpoints', 'pairs', 'loads from scratch ms', 'step: cost ms', 'step: link down ms', 'destinations split again', 'step: core link down ms', 'verdict']];
  for (const r of results) {
    // The target on steps at random links (medians); a core ring link, on most paths, is shown beside it.
    const step = Math.max(r.loadsCostStepMs, r.loadsLinkDownMs);
    const verdict = r.routers >= 2500 ? `${step < TOPO_WHATIF_TARGET_MS ? 'PASS' : 'MISS'} (core link: ${r.loadsCoreDownMs < TOPO_WHATIF_TARGET_MS ? 'PASS' : 'MISS'})` : '';
    loads.push([String(r.routers), String(r.endpoints), String(r.pairs), r.loadsFullMs.toFixed(0), r.loadsCostStepMs.toFixed(0), r.loadsLinkDownMs.toFixed(0), `${r.destinationsSearched} of ${r.destinations}`, r.loadsCoreDownMs.toFixed(0), verdict]);
  }
  for (const t of [table, loads]) {
    const widths = t[0].map((_, c) => Math.max(...t.map((row) => row[c].length)));
    for (const row of t) lines.push('  ' + row.map((cell, c) => cell.padStart(widths[c])).join('  '));
    lines.push('');
  }
  lines.push(
    "  every table: each router's routing table (RFC 2328 §16); every path: the shortest paths from every router; SPF step: one link's cost changed,",
    '  both router-LSAs re-originated, every path again from scratch. Loads: the pairs placed on their routers, each destination searched and its',
    '  traffic split over equal-cost paths; a step (routes and loads, incremental-loads.ts) repairs each destination\'s distances where the',
    '  change reaches and splits again only the destinations whose traffic moves. Steps on random links (medians) and on a core ring link.',
  );
  return lines;
}

/**
 * Where NetFlow probes and collectors go (issue 8, after Netflowize): every point-to-point link and
 * LAN of a network observed with the fewest probes, or as much as a budget of k probes allows, and
 * collectors enough for the probes' record rates.
 *
 *   - Light plans put probes on existing routers: a probe on a router sees its point-to-point
 *     links; a switched LAN forwards each frame only toward its destination, so a LAN is seen only
 *     when every router on it has a probe. Greedy set cover: each next probe the router that adds
 *     the most links and LANs not yet seen (a LAN counts when its last router is added), within
 *     ln(n) + 1 of the fewest for the links alone.
 *   - Heavy plans add tap nodes instead: one on every link and one mirror port per LAN; they see
 *     everything and change nothing on the routers.
 *   - Collectors: first-fit decreasing of the probes' record rates into collectors of
 *     `collectorCapacity` records/s (Netflowize: 40,000 flows/s), each on the node of its busiest
 *     probe (light) or a node of its own (heavy).
 */
import { NetworkModel } from '../topo/network-model.js';

export interface PlanElement {
  /** `p2p A-B` (router IDs, lower first) or `lan PREFIX`. */
  name: string;
  routers: number[];
  /** Seen by a light plan only when all `routers` carry probes (a LAN); else by any one. */
  needsAll: boolean;
}

export interface ProbePlan {
  mode: 'light' | 'heavy';
  probes: string[];
  elements: number;
  covered: number;
  uncovered: string[];
  collectors: { node: string; probes: string[]; recordsPerS: number }[];
  /** Nodes the plan adds (taps, collector nodes); 0 for a light plan. */
  addedNodes: number;
}

/** The links and LANs of a network model, each once. */
export function planElements(model: NetworkModel): PlanElement[] {
  const p2p = new Map<string, PlanElement>();
  const lans = new Map<string, PlanElement>();
  for (const e of model.edgeList) {
    if (e.via === 'p2p') {
      const [a, b] = e.from < e.to ? [e.from, e.to] : [e.to, e.from];
      const name = `p2p ${model.ids[a]}-${model.ids[b]}`;
      if (!p2p.has(name)) p2p.set(name, { name, routers: [a, b], needsAll: false });
    } else {
      const lan = lans.get(e.via) ?? { name: `lan ${e.via}`, routers: [], needsAll: true };
      for (const r of [e.from, e.to]) if (!lan.routers.includes(r)) lan.routers.push(r);
      lans.set(e.via, lan);
    }
  }
  return [...p2p.values(), ...lans.values()];
}

/** Which elements a set of probe routers sees. */
export function seenBy(elements: readonly PlanElement[], probes: ReadonlySet<number>): boolean[] {
  return elements.map((el) => (el.needsAll ? el.routers.every((r) => probes.has(r)) : el.routers.some((r) => probes.has(r))));
}

/**
 * Greedy probe placement on routers: until every element is seen (or `budget` probes are placed),
 * the router whose probe adds the most seen elements; a LAN's gain goes to a router only when it is
 * the LAN's last one without a probe, so LANs are completed after the links, cheapest first.
 */
export function greedyProbes(model: NetworkModel, elements: readonly PlanElement[], budget = Infinity): number[] {
  const n = model.ids.length;
  const byRouter: number[][] = Array.from({ length: n }, () => []);
  elements.forEach((el, i) => el.routers.forEach((r) => byRouter[r].push(i)));
  const probe = new Uint8Array(n);
  const seen = new Uint8Array(elements.length);
  const missing = elements.map((el) => el.routers.length); // LANs: routers still without a probe
  const chosen: number[] = [];
  let left = elements.length;
  const gain = (r: number): number => {
    let g = 0;
    for (const i of byRouter[r]) if (!seen[i] && (!elements[i].needsAll || missing[i] === 1)) g++;
    return g;
  };
  while (left > 0 && chosen.length < budget) {
    let best = -1;
    let bestGain = 0;
    for (let r = 0; r < n; r++) {
      if (probe[r]) continue;
      const g = gain(r);
      if (g > bestGain) {
        best = r;
        bestGain = g;
      }
    }
    if (best < 0) {
      // Only LANs with two or more routers still without probes: start the one that needs fewest.
      const lan = elements.map((el, i) => ({ el, i })).filter(({ el, i }) => !seen[i] && el.needsAll).sort((x, y) => missing[x.i] - missing[y.i])[0];
      if (!lan) break;
      best = lan.el.routers.find((r) => !probe[r])!;
    }
    probe[best] = 1;
    chosen.push(best);
    for (const i of byRouter[best]) {
      missing[i]--;
      if (!seen[i] && (!elements[i].needsAll || missing[i] === 0)) {
        seen[i] = 1;
        left--;
      }
    }
  }
  return chosen;
}

/** Collectors for probes with record rates: first-fit decreasing into bins of `capacity`. */
export function placeCollectors(rates: readonly { probe: string; recordsPerS: number }[], capacity: number): { probes: string[]; recordsPerS: number }[] {
  const bins: { probes: string[]; recordsPerS: number }[] = [];
  for (const r of [...rates].sort((a, b) => b.recordsPerS - a.recordsPerS)) {
    const bin = bins.find((b) => b.recordsPerS + r.recordsPerS <= capacity);
    if (bin) {
      bin.probes.push(r.probe);
      bin.recordsPerS += r.recordsPerS;
    } else {
      // A probe above the capacity gets a collector of its own (and the plan says it is over).
      bins.push({ probes: [r.probe], recordsPerS: r.recordsPerS });
    }
  }
  return bins;
}

export interface PlanOptions {
  mode: 'light' | 'heavy';
  budget?: number;
  /** Records/s each probe is expected to export, by probe node; others `defaultRate`. */
  rates?: ReadonlyMap<string, number>;
  defaultRate: number;
  collectorCapacity: number;
}

export function planProbes(model: NetworkModel, options: PlanOptions): ProbePlan {
  const elements = planElements(model);
  if (options.mode === 'heavy') {
    const taps = elements.slice(0, options.budget ?? elements.length).map((el) => `tap ${el.name.replace(/^(p2p|lan) /, '')}`);
    const collectors = placeCollectors(taps.map((probe) => ({ probe, recordsPerS: options.rates?.get(probe) ?? options.defaultRate })), options.collectorCapacity);
    return {
      mode: 'heavy', probes: taps, elements: elements.length, covered: taps.length,
      uncovered: elements.slice(taps.length).map((el) => el.name),
      collectors: collectors.map((c, i) => ({ node: `collector ${i + 1}`, ...c })),
      addedNodes: taps.length + collectors.length,
    };
  }
  const chosen = greedyProbes(model, elements, options.budget);
  const seen = seenBy(elements, new Set(chosen));
  const probes = chosen.map((r) => model.ids[r]);
  const collectors = placeCollectors(probes.map((probe) => ({ probe, recordsPerS: options.rates?.get(probe) ?? options.defaultRate })), options.collectorCapacity);
  return {
    mode: 'light', probes, elements: elements.length, covered: seen.filter(Boolean).length,
    uncovered: elements.filter((_, i) => !seen[i]).map((el) => el.name),
    // Each collector on the node of its busiest probe: no node is added.
    collectors: collectors.map((c) => ({ node: c.probes[0], ...c })),
    addedNodes: 0,
  };
}

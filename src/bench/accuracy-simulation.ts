/**
 * Partial instrumentation with a known ground truth: a generated network, endpoints on its access
 * routers, flows between random endpoints (heavy-tailed sizes), a random fraction of endpoints
 * instrumented, each instrumented end missing a little of what it saw (a capture that drops). The
 * link loads estimated from what the instrumented ends report (link-accuracy.ts) are set next to the
 * loads of every flow, with the error bound.
 */
import { matrixFromRows, type MatrixRow } from '../topo/flow-matrix.js';
import { linkAccuracy } from '../topo/link-accuracy.js';
import { linkKey, routeDemands, type Demand } from '../topo/link-loads.js';
import { NetworkModel } from '../topo/network-model.js';
import { Rng } from './prng.js';
import { syntheticNetwork } from './topo-bench.js';

export interface SimulationOptions {
  routers: number;
  endpointsPerAccessRouter: number;
  flows: number;
  instrumentedFraction: number;
  /** An instrumented end misses up to this fraction of a flow's bytes (uniform). */
  maxLoss: number;
  seed: number;
}

export interface SimulatedLink {
  link: string;
  truth: number;
  estimate: number;
  measured: number;
  errorBound: number;
}

export interface SimulationResult {
  links: SimulatedLink[];
  /** Links whose |truth − estimate| ≤ errorBound, over links with traffic. */
  withinBound: number;
  /** Medians over links of |truth − estimate| / truth, of the bound / truth, and of |truth − measured| / truth (no extrapolation). */
  medianError: number;
  medianBound: number;
  medianErrorMeasuredOnly: number;
  instrumentedFractionSeen: number;
}

export function simulatePartialInstrumentation(options: SimulationOptions): SimulationResult {
  const rng = new Rng(options.seed);
  const net = syntheticNetwork(options.routers, options.seed);
  const model = NetworkModel.fromLsdb(net.lsdb, '0.0.0.0', 0);
  const endpoints: string[] = [];
  const core = Math.max(4, Math.round(options.routers / 50));
  const distribution = Math.max(4, Math.round(options.routers / 10));
  for (let r = core + distribution; r < options.routers; r++) {
    for (let e = 1; e <= options.endpointsPerAccessRouter; e++) endpoints.push(`172.${16 + ((r >> 8) & 15)}.${r & 255}.${e}`);
  }
  const instrumented = new Set(endpoints.filter(() => rng.next() < options.instrumentedFraction));
  const truth: Demand[] = [];
  const rows: MatrixRow[] = [];
  for (let f = 0; f < options.flows; f++) {
    const src = endpoints[rng.int(endpoints.length)];
    const dst = endpoints[rng.int(endpoints.length)];
    if (src === dst) continue;
    const bytes = Math.round(rng.pareto(1000, 1.2, 1e8));
    truth.push({ src, dst, bytes });
    const sent = instrumented.has(src) ? bytes * (1 - rng.next() * options.maxLoss) : 0;
    const received = instrumented.has(dst) ? bytes * (1 - rng.next() * options.maxLoss) : 0;
    if (sent > 0 || received > 0) rows.push({ src, dst, app: null, user: null, sent, received });
  }
  const { periods, coverage } = matrixFromRows(rows);
  const estimated = linkAccuracy(model, periods.get('') ?? [], coverage.instrumentedFraction);
  const actual = new Map(routeDemands(model, truth).links.map((l) => [linkKey(l), l.bytes]));
  const links = estimated.map((l) => ({ link: linkKey(l), truth: actual.get(linkKey(l)) ?? 0, estimate: l.estimate, measured: l.measured, errorBound: l.errorBound }));
  // Links that carried traffic no instrumented end saw have no estimate at all: they count as missed.
  for (const [key, bytes] of actual) if (!links.some((l) => l.link === key)) links.push({ link: key, truth: bytes, estimate: 0, measured: 0, errorBound: 0 });
  const loaded = links.filter((l) => l.truth > 0);
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)];
  };
  return {
    links,
    withinBound: loaded.filter((l) => Math.abs(l.truth - l.estimate) <= l.errorBound + 1e-6).length / Math.max(1, loaded.length),
    medianError: median(loaded.map((l) => Math.abs(l.truth - l.estimate) / l.truth)),
    medianBound: median(loaded.map((l) => l.errorBound / l.truth)),
    medianErrorMeasuredOnly: median(loaded.map((l) => Math.abs(l.truth - l.measured) / l.truth)),
    instrumentedFractionSeen: coverage.instrumentedFraction,
  };
}

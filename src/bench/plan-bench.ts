/**
 * Coverage and planning benchmarks (issue 8): `coverage` on 300,000 hosts whose traffic adds up to
 * 100 million flows (an enterprise shape: 1% of the hosts are servers that take most of the bytes;
 * each client talks to a handful of them and a few peers), as the pairs the store's GROUP BY gives;
 * and probe placement on the generated 2,500-router network of the topo bench.
 * Targets: coverage under 60 s, placement under 5 s.
 */
import { coverage, type HostPair } from '../coverage/coverage.js';
import { planProbes } from '../plan/probe-plan.js';
import { NetworkModel } from '../topo/network-model.js';
import { Rng } from './prng.js';
import { syntheticNetwork } from './topo-bench.js';

export const COVERAGE_TARGET_S = 60;
export const PLAN_TARGET_S = 5;

export interface PlanBenchResult {
  hosts: number;
  pairs: number;
  flows: number;
  coverageS: number;
  routers: number;
  probes: number;
  planS: number;
}

function enterprisePairs(hosts: number, flows: number, seed: number): HostPair[] {
  const rng = new Rng(seed);
  const servers = Math.max(1, Math.floor(hosts / 100));
  const pairs: HostPair[] = [];
  let left = flows;
  for (let c = servers; c < hosts && left > 0; c++) {
    for (let k = 0; k < 8; k++) {
      const server = rng.next() < 0.8;
      const peer = server ? Math.min(servers - 1, Math.floor(rng.pareto(1, 1.1, servers)) - 1) : servers + rng.int(hosts - servers);
      const n = Math.min(left, 1 + Math.floor(rng.pareto(10, 1.5, 1e5)));
      left -= n;
      pairs.push({ a: `h${c}`, b: `h${Math.max(0, peer)}`, flows: n, bytes: n * (server ? 20_000 : 800) * (0.5 + rng.next()) });
    }
  }
  // Whatever is left goes to the first server: the flows add up to the figure asked for.
  if (left > 0) pairs.push({ a: 'h0', b: `h${servers}`, flows: left, bytes: left * 1000 });
  return pairs;
}

export function runPlanBench(log: (line: string) => void): PlanBenchResult {
  const pairs = enterprisePairs(300_000, 100_000_000, 9);
  const flows = pairs.reduce((n, p) => n + p.flows, 0);
  let t = performance.now();
  const result = coverage(pairs, { points: [0, 1, 10, 100, 1000, 3000, 10_000, 100_000, 300_000], trials: 100 });
  const coverageS = (performance.now() - t) / 1000;
  log(`plan bench: coverage of ${result.hosts} hosts, ${pairs.length} pairs, ${flows} flows: ${coverageS.toFixed(1)} s (1% of the hosts see ${(result.points[5].bytes * 100).toFixed(2)}% of the bytes)`);
  const model = NetworkModel.fromLsdb(syntheticNetwork(2500, 1).lsdb, '0.0.0.0', 0);
  t = performance.now();
  const plan = planProbes(model, { mode: 'light', defaultRate: 1000, collectorCapacity: 40_000 });
  const planS = (performance.now() - t) / 1000;
  log(`plan bench: probes for ${model.ids.length} routers: ${plan.probes.length} probes observe ${plan.covered} of ${plan.elements} links, ${planS.toFixed(2)} s`);
  return { hosts: result.hosts, pairs: pairs.length, flows, coverageS, routers: model.ids.length, probes: plan.probes.length, planS };
}

export function formatPlanBench(r: PlanBenchResult): string[] {
  return [
    'coverage and placement (issue 8)',
    `  coverage: ${r.hosts.toLocaleString('en-US')} hosts, ${r.pairs.toLocaleString('en-US')} pairs, ${r.flows.toLocaleString('en-US')} flows, best-first and 100 random trials: ${r.coverageS.toFixed(1)} s (target < ${COVERAGE_TARGET_S} s: ${r.coverageS < COVERAGE_TARGET_S ? 'PASS' : 'MISS'})`,
    `  placement: ${r.routers.toLocaleString('en-US')} routers, ${r.probes} probes for every link and LAN: ${r.planS.toFixed(2)} s (target < ${PLAN_TARGET_S} s: ${r.planS < PLAN_TARGET_S ? 'PASS' : 'MISS'})`,
    '  coverage here starts from the pairs the store\'s GROUP BY gives; the GROUP BY over 100 million stored records is not included.',
  ];
}

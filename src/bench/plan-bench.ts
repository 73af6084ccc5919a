/**
 * Coverage and planning benchmarks (issue 8): `coverage` on 300,000 hosts whose traffic adds up to
 * 100 million flows (an enterprise shape: 1% of the hosts are servers that take most of the bytes;
 * each client talks to a handful of them and a few peers), as the pairs the store's GROUP BY gives;
 * and probe placement on the generated 2,500-router network of the topo bench.
 * Targets: coverage under 60 s, placement under 5 s.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { coverage, type HostPair } from '../coverage/coverage.js';
import { ensureGroupByStore } from './groupby.js';
import { timedRun } from './process-stats.js';
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
  /** `endsight coverage --data-dir` on a store of 100 million records, reading and grouping included; null when not run. */
  endToEnd: { records: number; hosts: number; wallS: number; maxRssMb: number; storeMb: number } | null;
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

/**
 * `endsight coverage` end to end, as a user runs it: on a store of `records` flow records between
 * 297,000 internal hosts and 3,000 external ones (the records of groupby.ts, in hourly segments),
 * the GROUP BY to pairs, the coverage and its output, timed as one process.
 */
export async function runCoverageEndToEnd(cacheDir: string, records: number, log: (line: string) => void): Promise<NonNullable<PlanBenchResult['endToEnd']>> {
  const store = await ensureGroupByStore(cacheDir, records, log, { population: { internal: 297_000, external: 3_000 }, compact: false });
  const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'endsight.js');
  const run = await timedRun(process.execPath, [bin, 'coverage', '--data-dir', store.dataDir, '--format', 'json'], { workDir: cacheDir, timeoutMs: 30 * 60_000 });
  if (run.exitCode !== 0) throw new Error(`endsight coverage failed: ${run.stderr.slice(-500)}`);
  const hosts = (JSON.parse(run.stdout) as { hosts: number }).hosts;
  const result = { records, hosts, wallS: run.wallMs / 1000, maxRssMb: run.maxRssBytes / 2 ** 20, storeMb: store.bytes / 2 ** 20 };
  log(`plan bench: endsight coverage on ${records.toLocaleString('en-US')} stored records, ${hosts} hosts: ${result.wallS.toFixed(1)} s, ${result.maxRssMb.toFixed(0)} MB`);
  return result;
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
  return { hosts: result.hosts, pairs: pairs.length, flows, coverageS, endToEnd: null, routers: model.ids.length, probes: plan.probes.length, planS };
}

export function formatPlanBench(r: PlanBenchResult): string[] {
  return [
    'coverage and placement (issue 8)',
    `  coverage: ${r.hosts.toLocaleString('en-US')} hosts, ${r.pairs.toLocaleString('en-US')} pairs, ${r.flows.toLocaleString('en-US')} flows, best-first and 100 random trials: ${r.coverageS.toFixed(1)} s (target < ${COVERAGE_TARGET_S} s: ${r.coverageS < COVERAGE_TARGET_S ? 'PASS' : 'MISS'})`,
    `  placement: ${r.routers.toLocaleString('en-US')} routers, ${r.probes} probes for every link and LAN: ${r.planS.toFixed(2)} s (target < ${PLAN_TARGET_S} s: ${r.planS < PLAN_TARGET_S ? 'PASS' : 'MISS'})`,
    r.endToEnd === null
      ? '  coverage starts from the pairs the store\'s GROUP BY gives (run with --coverage-records N for endsight coverage on a store, end to end)'
      : `  end to end: endsight coverage --data-dir on ${r.endToEnd.records.toLocaleString('en-US')} stored records (${r.endToEnd.storeMb.toFixed(0)} MB), ${r.endToEnd.hosts.toLocaleString('en-US')} hosts: ` +
        `${r.endToEnd.wallS.toFixed(1)} s, peak RSS ${r.endToEnd.maxRssMb.toFixed(0)} MB (target < ${COVERAGE_TARGET_S} s: ${r.endToEnd.wallS < COVERAGE_TARGET_S ? 'PASS' : 'MISS'})`,
  ];
}

/**
 * Probe and collector placement: by hand on the small network of the topo tests, on generated
 * networks (every link and LAN observed; with a budget, never worse than the best of 1,000 random
 * placements of the same size), collectors packed by hand, and `endsight plan` on the command line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../bench/prng.js';
import { syntheticNetwork } from '../bench/topo-bench.js';
import { NetworkModel } from '../topo/network-model.js';
import { topologyDatabase } from '../topo/ospf/topology-file.js';
import { handTopology } from '../topo/test-networks.js';
import { greedyProbes, placeCollectors, planElements, planProbes, seenBy } from './probe-plan.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const options = { mode: 'light' as const, defaultRate: 1000, collectorCapacity: 40_000 };

test('plan by hand: r3 sees its three links, the LAN needs r1 and r2; a budget of one; taps', () => {
  const model = NetworkModel.fromLsdb(topologyDatabase(handTopology()), '0.0.0.0', 0);
  const full = planProbes(model, options);
  assert.deepEqual([full.probes[0], [...full.probes.slice(1)].sort(), full.covered, full.elements], ['0.0.0.3', ['0.0.0.1', '0.0.0.2'], 4, 4]);
  const one = planProbes(model, { ...options, budget: 1 });
  assert.deepEqual([one.probes, one.covered, one.uncovered], [['0.0.0.3'], 3, ['lan 10.0.0.0/24']]);
  const heavy = planProbes(model, { ...options, mode: 'heavy' });
  assert.deepEqual([heavy.probes.length, heavy.covered, heavy.collectors.length, heavy.addedNodes], [4, 4, 1, 5]);
});

test('collectors: first-fit decreasing into collectors of their capacity', () => {
  const bins = placeCollectors([{ probe: 'a', recordsPerS: 5000 }, { probe: 'b', recordsPerS: 30_000 }, { probe: 'c', recordsPerS: 15_000 }, { probe: 'd', recordsPerS: 20_000 }], 40_000);
  assert.deepEqual(bins, [{ probes: ['b', 'a'], recordsPerS: 35_000 }, { probes: ['d', 'c'], recordsPerS: 35_000 }]);
});

test('generated networks: every link observed; with a budget, never worse than 1,000 random placements', () => {
  for (const size of [100, 300]) {
    const model = NetworkModel.fromLsdb(syntheticNetwork(size, 7).lsdb, '0.0.0.0', 0);
    const elements = planElements(model);
    const all = greedyProbes(model, elements);
    assert.ok(seenBy(elements, new Set(all)).every(Boolean), `${size} routers: every element seen by ${all.length} probes`);
    const rng = new Rng(size);
    for (const k of [1, 5, Math.floor(all.length / 2)]) {
      const greedy = seenBy(elements, new Set(greedyProbes(model, elements, k))).filter(Boolean).length;
      let best = 0;
      for (let t = 0; t < 1000; t++) {
        const pick = new Set<number>();
        while (pick.size < k) pick.add(rng.int(model.ids.length));
        best = Math.max(best, seenBy(elements, pick).filter(Boolean).length);
      }
      assert.ok(greedy >= best, `${size} routers, ${k} probes: greedy ${greedy} vs best random ${best}`);
    }
  }
});

test('endsight plan: table, JSON, errors in one line', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-plan-'));
  try {
    writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(handTopology()));
    writeFileSync(path.join(dir, 'rates.csv'), 'node,records_per_s\n0.0.0.3,39000\n0.0.0.1,2000\n');
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'plan', '--topology', path.join(dir, 'net.yaml'), ...args], { encoding: 'utf8', timeout: 60_000 });
    const json = run(['--format', 'json', '--rates', path.join(dir, 'rates.csv')]);
    assert.equal(json.status, 0, json.stderr);
    const plan = JSON.parse(json.stdout) as { probes: string[]; collectors: { probes: string[]; recordsPerS: number }[] };
    assert.equal(plan.probes.length, 3);
    // 39,000 + 1,000 (r2, the default) fill one collector; r1's 2,000 need a second.
    assert.deepEqual(plan.collectors.map((c) => c.recordsPerS), [40_000, 2000]);
    assert.match(json.stderr, /light plan: 3 probes observe 4 of 4 links and LANs; 2 collectors; no node to add/);
    const table = run(['--budget', '1']);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^probe\s+collector\s+records_per_s\n/);
    assert.match(table.stderr, /not observed: lan 10\.0\.0\.0\/24/);
    for (const args of [['--mode', 'medium'], ['--budget', '0'], ['--collector-capacity', 'x']]) {
      const bad = run(args);
      assert.equal(bad.status, 1, args.join(' '));
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

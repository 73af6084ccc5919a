/**
 * Traffic engineering on networks whose best costs are known by hand, and on random networks where
 * whatever the search returns must hold when replayed as a what-if: the utilisation it reports is the
 * one routing the matrix with its costs gives, never worse than before, within k changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { topologyDatabase } from './ospf/topology-file.js';
import { routeDemands, type Demand } from './link-loads.js';
import { NetworkModel } from './network-model.js';
import { frrCommands, tuneCosts } from './traffic-engineering.js';
import { applySteps } from './whatif.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');

// r1–r3–r4 costs 15, r1–r5–r4 costs 60; every link 8,000 bits/s; 1,000 bytes in 1 s from r1 to r4.
const SQUARE = {
  routers: [
    { id: '0.0.0.1', stubs: [{ prefix: '10.1.0.0/24', cost: 1 }], asbr: false },
    { id: '0.0.0.3', stubs: [], asbr: false },
    { id: '0.0.0.4', stubs: [{ prefix: '10.4.0.0/24', cost: 1 }], asbr: false },
    { id: '0.0.0.5', stubs: [], asbr: false },
  ],
  links: [
    { a: '0.0.0.1', b: '0.0.0.3', cost: 10, subnet: '10.0.13.0/30' },
    { a: '0.0.0.3', b: '0.0.0.4', cost: 5, subnet: '10.0.34.0/30' },
    { a: '0.0.0.1', b: '0.0.0.5', cost: 30, subnet: '10.0.15.0/30' },
    { a: '0.0.0.5', b: '0.0.0.4', cost: 30, subnet: '10.0.54.0/30' },
  ],
  lans: [],
  externals: [],
};
const ADDRESSES = ['10.0.13.1', '10.0.13.2', '10.0.34.1', '10.0.34.2', '10.0.15.1', '10.0.15.2', '10.0.54.1', '10.0.54.2'];
const capacities = new Map(ADDRESSES.map((a) => [a, 8000]));

test('tune: one cost change makes the two paths tie, halving the highest utilisation', () => {
  const model = NetworkModel.fromLsdb(topologyDatabase(SQUARE), '0.0.0.0', 0);
  const result = tuneCosts(model, [{ src: '10.1.0.5', dst: '10.4.0.5', bytes: 1000 }], { capacities, windowS: 1, maxChanges: 1 });
  assert.equal(result.before.maxUtilisation, 1);
  assert.equal(result.after.maxUtilisation, 0.5);
  // Either way of making 15 and 60 tie with one change: r1→r3 at 55 or r3→r4 at 50 (both raise the short path to 60).
  assert.equal(result.changes.length, 1);
  const [change] = result.changes;
  assert.ok(
    (change.router === '0.0.0.1' && change.toward === '0.0.0.3' && change.after === 55) || (change.router === '0.0.0.3' && change.toward === '0.0.0.4' && change.after === 50),
    JSON.stringify(change),
  );
  assert.match(frrCommands(result.changes), new RegExp(`-c 'ip ospf cost ${change.after}'`));
});

test('tune: a per-link target moves everything off a link when a split is not enough', () => {
  const model = NetworkModel.fromLsdb(topologyDatabase(SQUARE), '0.0.0.0', 0);
  // r1→r3 may carry at most 40%: a tie (50%) does not meet it, the other path winning by one does.
  const result = tuneCosts(model, [{ src: '10.1.0.5', dst: '10.4.0.5', bytes: 1000 }], { capacities, windowS: 1, maxChanges: 1, targets: new Map([['10.0.13.1', 0.4]]) });
  assert.equal(result.after.linksOverTarget, 0);
  const loads = routeDemands(model.withCosts(new Map(result.changes.map((c) => [`${c.router}@${c.address}`, c.after]))), [{ src: '10.1.0.5', dst: '10.4.0.5', bytes: 1000 }]);
  assert.ok(!loads.links.some((l) => l.fromAddress === '10.0.13.1'), 'nothing left on r1→r3');
});

test('tune: on random networks the reported result is what the changes give, no worse than before, within k', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let trial = 0; trial < 20; trial++) {
    const n = 6 + random(6);
    const routers = Array.from({ length: n }, (_, i) => ({ id: `0.0.0.${i + 1}`, stubs: [{ prefix: `10.${i + 1}.0.0/24`, cost: 1 }], asbr: false }));
    const links: { a: string; b: string; cost: number; subnet: string }[] = [];
    const addLink = (a: number, b: number): void => void links.push({ a: routers[a].id, b: routers[b].id, cost: 1 + random(20), subnet: `172.16.${links.length}.0/30` });
    for (let i = 1; i < n; i++) addLink(i, random(i)); // a tree keeps it connected
    for (let extra = 0; extra < n; extra++) {
      const a = random(n);
      const b = random(n);
      if (a !== b) addLink(a, b);
    }
    const lsdb = topologyDatabase({ routers, links, lans: [], externals: [] });
    const caps = new Map<string, number>();
    links.forEach((_, k) => ['1', '2'].forEach((end) => caps.set(`172.16.${k}.${end}`, 1e4 * (1 + random(4)))));
    const demands: Demand[] = Array.from({ length: 30 }, () => ({ src: `10.${1 + random(n)}.0.9`, dst: `10.${1 + random(n)}.0.9`, bytes: 100 + random(2000) }));
    const k = 1 + random(3);
    const model = NetworkModel.fromLsdb(lsdb, '0.0.0.0', 0);
    const result = tuneCosts(model, demands, { capacities: caps, windowS: 1, maxChanges: k });
    assert.ok(result.changes.length <= k, `trial ${trial}: ${result.changes.length} changes, k ${k}`);
    assert.ok(result.after.worst <= result.before.worst + 1e-9, `trial ${trial}: worse after`);
    // Replayed as a what-if on the database: the same highest utilisation.
    const changed = applySteps(lsdb, result.changes.map((c) => ({ kind: 'cost', from: c.router, to: c.toward, cost: c.after })), 0).lsdb;
    const replay = routeDemands(NetworkModel.fromLsdb(changed, '0.0.0.0', 0), demands);
    const highest = Math.max(0, ...replay.links.map((l) => (l.bytes * 8) / (caps.get(l.fromAddress) ?? Infinity)));
    // Parallel links between one pair take the same cost in a what-if step: replay only when there are none.
    const pairs = links.map((l) => [l.a, l.b].sort().join());
    if (new Set(pairs).size === pairs.length) assert.ok(Math.abs(highest - result.after.maxUtilisation) < 1e-9, `trial ${trial}: replay ${highest} vs ${result.after.maxUtilisation}`);
  }
});

test('endsight topo tune: the table, a saved scenario that whatif replays, FRR commands; bad options are one line', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-tune-'));
  try {
    writeFileSync(path.join(dir, 'net.yaml'), [
      'routers:', ...SQUARE.routers.map((r) => `  - {id: ${r.id}${r.stubs.length ? `, stubs: [{prefix: ${r.stubs[0].prefix}, cost: 1}]` : ''}}`),
      'links:', ...SQUARE.links.map((l) => `  - {a: ${l.a}, b: ${l.b}, cost: ${l.cost}, subnet: ${l.subnet}}`), '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'm.csv'), 'src,dst,bytes\n10.1.0.5,10.4.0.5,1000\n');
    writeFileSync(path.join(dir, 'caps.csv'), 'address,bps\n' + ADDRESSES.map((a) => `${a},8k`).join('\n') + '\n');
    const base = ['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--capacity', path.join(dir, 'caps.csv')];
    const run = (command: string[], args: string[]) => spawnSync(process.execPath, [BIN, ...command, ...base, ...args], { encoding: 'utf8', timeout: 60_000 });
    const tuned = run(['topo', 'tune'], ['--window', '1s', '--max-changes', '1', '--save', path.join(dir, 'tuned.yaml'), '--format', 'json']);
    assert.equal(tuned.status, 0, tuned.stderr);
    assert.equal(tuned.stdout.trim().split('\n').length, 1);
    assert.match(tuned.stderr, /before: highest utilisation 1\.000 .*\nafter 1 changes \(\d+ search steps\): highest utilisation 0\.500/);
    assert.match(readFileSync(path.join(dir, 'tuned.yaml'), 'utf8'), /- cost: 0\.0\.0\.\d,0\.0\.0\.\d=5[05]/);
    const replay = run(['whatif'], ['--scenario', path.join(dir, 'tuned.yaml'), '--window', '1s', '--format', 'json']);
    assert.equal(replay.status, 0, replay.stderr);
    assert.equal(Math.max(...replay.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { after_utilisation: number }).after_utilisation)), 0.5);
    const frr = run(['topo', 'tune'], ['--window', '1s', '--max-changes', '1', '--frr']);
    assert.match(frr.stdout, /^# router 0\.0\.0\.\d: the interface with 10\.0\.\d+\.\d \(toward 0\.0\.0\.\d\), cost \d+ -> 5[05]\nifname=.*\nvtysh -c 'configure terminal' -c "interface \$ifname" -c 'ip ospf cost 5[05]'\n$/);
    for (const args of [['--max-changes', '0', '--window', '1s'], []]) {
      const bad = run(['topo', 'tune'], args);
      assert.equal(bad.status, 1);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Incremental link loads: after every step of random cost changes and links going down and coming
 * back, the loads kept up to date equal the loads computed from scratch on the changed network, and
 * a change away from every path moves no traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { syntheticNetwork } from '../bench/topo-bench.js';
import { Rng } from '../bench/prng.js';
import { IncrementalLoads } from './incremental-loads.js';
import { routeMatrix, routerMatrix, type Demand, type LoadResult } from './link-loads.js';
import { NetworkModel } from './network-model.js';

function same(a: LoadResult, b: LoadResult, label: string): void {
  const key = (r: LoadResult) => new Map(r.links.map((l) => [`${l.from}>${l.to} ${l.fromAddress}`, l.bytes]));
  const x = key(a);
  const y = key(b);
  assert.deepEqual([...x.keys()].sort(), [...y.keys()].sort(), `${label}: the same loaded links`);
  for (const [k, bytes] of x) assert.ok(Math.abs(bytes - y.get(k)!) < 1e-6 * Math.max(1, bytes), `${label}: ${k} ${bytes} vs ${y.get(k)}`);
  assert.ok(Math.abs(a.routedBytes - b.routedBytes) < 1e-3, `${label}: routed ${a.routedBytes} vs ${b.routedBytes}`);
  assert.ok(Math.abs((a.unrouted.unreachable ?? 0) - (b.unrouted.unreachable ?? 0)) < 1e-3, `${label}: unreachable`);
}

/** A generated network of 200 routers and 3,000 random pairs between its access routers' endpoints, with its incremental loads. */
function network(rng: Rng): { model: NetworkModel; matrix: ReturnType<typeof routerMatrix>; state: IncrementalLoads } {
  const net = syntheticNetwork(200, 3);
  const model = NetworkModel.fromLsdb(net.lsdb, '0.0.0.0', 0);
  const endpoints: string[] = [];
  for (let r = 24; r < 200; r++) for (let e = 1; e <= 5; e++) endpoints.push(`172.${16 + ((r >> 8) & 15)}.${r & 255}.${e}`);
  const demands: Demand[] = Array.from({ length: 3000 }, () => ({ src: endpoints[rng.int(endpoints.length)], dst: endpoints[rng.int(endpoints.length)], bytes: 1 + rng.int(5000) }));
  const matrix = routerMatrix(model, demands);
  return { model, matrix, state: new IncrementalLoads(model, matrix) };
}

test('incremental loads equal loads from scratch after every step', () => {
  const rng = new Rng(11);
  const { model, matrix, state } = network(rng);
  same(state.result(), routeMatrix(model, matrix), 'start');
  const costs = new Map<number, number>();
  let untouched = 0;
  for (let step = 0; step < 150; step++) {
    // One to three links per step: a link down (with its reverse), back to its first cost, or a new cost (ties included).
    const step_ = new Map<number, number>();
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const edge = model.edgeList[rng.int(model.edgeList.length)];
      const change = rng.int(4);
      const cost = change === 0 ? Infinity : change === 1 ? edge.cost : change === 2 ? Math.max(1, edge.cost + rng.int(5) - 2) : 1 + rng.int(120);
      step_.set(edge.id, cost);
      const back = model.edgeList.find((e) => e.from === edge.to && e.to === edge.from);
      if (back && cost === Infinity) step_.set(back.id, Infinity);
    }
    for (const [id, c] of step_) costs.set(id, c);
    if (state.setCosts(step_) === 0) untouched++;
    same(state.result(), routeMatrix(model.withEdgeCosts(costs), matrix), `step ${step}`);
  }
  assert.ok(untouched > 0, 'some changes moved no traffic');
});

test('a router cut off and joined again: its traffic is unreachable, then routed again, as from scratch', () => {
  const { model, matrix, state } = network(new Rng(5));
  // The last router is an access router on two distribution routers: both links down, both ways.
  const island = model.ids.length - 1;
  const cut = model.edgeList.filter((e) => e.from === island || e.to === island);
  assert.equal(cut.length, 4);
  state.setCosts(new Map(cut.map((e) => [e.id, Infinity])));
  const apart = state.result();
  same(apart, routeMatrix(model.withEdgeCosts(new Map(cut.map((e) => [e.id, Infinity]))), matrix), 'cut off');
  assert.ok((apart.unrouted.unreachable ?? 0) > 0, 'its traffic is unreachable');
  state.setCosts(new Map(cut.map((e) => [e.id, e.cost])));
  same(state.result(), routeMatrix(model, matrix), 'joined again');
});

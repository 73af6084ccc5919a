/**
 * Link loads under partial instrumentation: the split of a link's load by how many ends saw it, the
 * estimate of what neither end saw and the error bound, by hand; then in a simulation with a known
 * ground truth (accuracy-simulation.ts), the actual error next to the bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { topologyDatabase } from './ospf/topology-file.js';
import { NetworkModel } from './network-model.js';
import { linkAccuracy } from './link-accuracy.js';
import { simulatePartialInstrumentation } from '../bench/accuracy-simulation.js';

test('linkAccuracy: seen by both ends, by one, the unseen estimate and the bound, by hand', () => {
  const model = NetworkModel.fromLsdb(topologyDatabase({
    routers: [{ id: '0.0.0.1', stubs: [{ prefix: '10.1.0.0/24', cost: 1 }], asbr: false }, { id: '0.0.0.2', stubs: [{ prefix: '10.2.0.0/24', cost: 1 }], asbr: false }],
    links: [{ a: '0.0.0.1', b: '0.0.0.2', cost: 10, subnet: '10.0.12.0/30' }], lans: [], externals: [],
  }), '0.0.0.0', 0);
  const [link] = linkAccuracy(model, [
    { src: '10.1.0.1', dst: '10.2.0.1', bytes: 1000, seenBy: 2, disagreement: 10 },
    { src: '10.1.0.2', dst: '10.2.0.2', bytes: 300, seenBy: 1 },
    { src: '10.1.0.3', dst: '10.2.0.3', bytes: 400, seenBy: 1 },
  ], 0.5);
  // p = 0.5: the unseen bytes are the one-end bytes × (1 − p) / 2p = 700 × 0.5.
  assert.deepEqual({ ...link, errorBound: Math.round(link.errorBound * 1000) / 1000 }, {
    from: '0.0.0.1', to: '0.0.0.2', via: 'p2p', fromAddress: '10.0.12.1',
    measured: 1700, seenByBoth: 1000, seenByOne: 700, unseenEstimate: 350, estimate: 2050,
    // 2 × 10 (the two views' difference) + 2 × 1% of 700 (their disagreement rate) + 350 + 2·√(0.5·(300² + 400²)).
    errorBound: Math.round((20 + 14 + 350 + 2 * Math.sqrt(0.5 * (300 * 300 + 400 * 400))) * 1000) / 1000,
  });
});

test('simulation: the estimate beats the raw measurement and stays within its bound on most links', () => {
  const half = simulatePartialInstrumentation({ routers: 100, endpointsPerAccessRouter: 20, flows: 20_000, instrumentedFraction: 0.5, maxLoss: 0.02, seed: 3 });
  assert.ok(Math.abs(half.instrumentedFractionSeen - 0.5) < 0.05, `instrumented fraction seen ${half.instrumentedFractionSeen}`);
  assert.ok(half.medianError < half.medianErrorMeasuredOnly / 1.5, `median error ${half.medianError} against ${half.medianErrorMeasuredOnly} without the estimate`);
  assert.ok(half.withinBound >= 0.85, `within the bound on ${half.withinBound} of the links`);
  // Everything instrumented: only the ends' drops remain (up to 2% each). The bound is statistical
  // (the two views' difference stands for what both missed), so a few links with few flows fall out.
  const all = simulatePartialInstrumentation({ routers: 100, endpointsPerAccessRouter: 20, flows: 5_000, instrumentedFraction: 1, maxLoss: 0.02, seed: 4 });
  assert.ok(all.withinBound >= 0.85, `within the bound on ${all.withinBound} of the links`);
  assert.ok(all.medianError < 0.02, `median error ${all.medianError}`);
});

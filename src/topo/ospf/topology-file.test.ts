/**
 * Topology files: a small network described by hand gives the routes worked out by hand (costs,
 * equal-cost pairs, a LAN, an external route, a one-way cost), and a file that is wrong gives one
 * line naming the key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { computeRoutes } from './spf.js';
import { createRandom } from '../../decode/build-packet.js';
import { readTopologyFile, TopologyFileError } from './topology-file.js';

// r1 and r2 on a LAN (r1 is the DR); r1–r3 and r2–r3 point-to-point at 10 each (so r1 reaches r3's
// stub over one path, and a LAN member's equal-cost pair shows at r4); r3–r4 with 5 one way and 50
// back; r4 announces an external /24.
const YAML = `
routers:
  - id: 0.0.0.1
  - id: 0.0.0.2
  - id: 0.0.0.3
    stubs: [{prefix: 10.3.0.0/24, cost: 1}]
  - id: 0.0.0.4
links:
  - {a: 0.0.0.1, b: 0.0.0.3, cost: 10, subnet: 10.0.13.0/30}
  - {a: 0.0.0.2, b: 0.0.0.3, cost: 10, subnet: 10.0.23.0/30}
  - {a: 0.0.0.3, b: 0.0.0.4, cost: 5, cost_back: 50, subnet: 10.0.34.0/30}
lans:
  - {prefix: 10.0.0.0/24, dr: 0.0.0.1, members: {0.0.0.1: 1, 0.0.0.2: 1}}
externals:
  - {router: 0.0.0.4, prefix: 198.51.100.0/24, metric: 7, type: 1}
`;

function withFile(text: string, run: (file: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-topofile-'));
  try {
    const file = path.join(dir, 'net.yaml');
    writeFileSync(file, text);
    run(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a topology file gives the routes worked out by hand', () => {
  withFile(YAML, (file) => {
    const db = readTopologyFile(file);
    const at = (router: string): Record<string, string> =>
      Object.fromEntries(computeRoutes(db, router, 0).networks.map((r) => [r.prefix, `${r.pathType} ${r.cost} ${r.nextHops.map((h) => `${h.gateway ?? 'direct'}@${h.interfaceAddress}`).sort().join(' ')}`]));
    const r1 = at('0.0.0.1');
    assert.equal(r1['10.0.0.0/24'], 'intra-area 1 direct@10.0.0.1');
    assert.equal(r1['10.3.0.0/24'], 'intra-area 11 10.0.13.2@10.0.13.1');
    assert.equal(r1['10.0.34.0/30'], 'intra-area 15 10.0.13.2@10.0.13.1');
    // External type 1: the cost to the ASBR (10 + 5) plus the metric.
    assert.equal(r1['198.51.100.0/24'], 'external-1 22 10.0.13.2@10.0.13.1');
    // From r4 the way back costs 50; then r1 and r2's networks are reached over both of r3's paths.
    const r4 = at('0.0.0.4');
    assert.equal(r4['10.3.0.0/24'], 'intra-area 51 10.0.34.1@10.0.34.2');
    assert.equal(r4['10.0.0.0/24'], 'intra-area 61 10.0.34.1@10.0.34.2');
    // r3 reaches the LAN through r1 and through r2 at the same cost: both next hops.
    const r3 = at('0.0.0.3');
    assert.equal(r3['10.0.0.0/24'], 'intra-area 11 10.0.13.1@10.0.13.2 10.0.23.1@10.0.23.2');
  });
});

test('a wrong topology file is one line naming the key', () => {
  const cases: [string, RegExp][] = [
    ['routers: []', /routers: /],
    ['routers: [{id: 1.2.3}]', /routers\.0\.id: expected a dotted quad/],
    ['routers: [{id: 0.0.0.1}]\nlinks: [{a: 0.0.0.1, b: 0.0.0.9, cost: 1}]', /links\.0\.b: 0\.0\.0\.9 is not among the routers/],
    ['routers: [{id: 0.0.0.1}]\nlinks: [{a: 0.0.0.1, b: 0.0.0.1, cost: 0}]', /links\.0\.cost/],
    ['routers: [{id: 0.0.0.1, colour: red}]', /routers\.0: unknown key colour \(docs\/topo\.md lists them\)$/],
    // A key with a line break is quoted, so the problem stays one line.
    ['routers: [{id: 0.0.0.1, "a\\nb": 1}]', /^[^\n]*routers\.0: unknown key "a\\nb" \(docs\/topo\.md lists them\)$/],
    ['routers: [{id: 0.0.0.1}]\nlans: [{prefix: 10.0.0.0/24, dr: 0.0.0.2, members: {0.0.0.1: 1}}]', /lans\.0\.dr: 0\.0\.0\.2 is not among the members/],
    ['routers: [ {id: ', /line \d+/],
    // An alias before its anchor, and an alias bomb: refused, not expanded.
    ['routers: *r', /Unresolved alias/],
    ['a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nrouters: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]', /alias/i],
  ];
  for (const [text, expected] of cases) withFile(text, (file) => assert.throws(() => readTopologyFile(file), expected, text));
});

test('2,000 damaged topology files: read, or refused with a TopologyFileError, never another throw', () => {
  const random = createRandom(7);
  withFile('', (file) => {
    for (let i = 0; i < 2000; i++) {
      const chars = [...YAML];
      for (let n = 1 + Math.floor(random() * 6); n > 0; n--) chars[Math.floor(random() * chars.length)] = '{}[]:,- \n0.1/abcz'[Math.floor(random() * 18)];
      writeFileSync(file, random() < 0.2 ? chars.join('').slice(0, Math.floor(random() * chars.length)) : chars.join(''));
      try {
        const db = readTopologyFile(file);
        computeRoutes(db, '0.0.0.1', 0);
      } catch (error) {
        assert.ok(error instanceof TopologyFileError, String(error));
        assert.ok(!(error as Error).message.includes('\n'), `one line: ${JSON.stringify((error as Error).message)}`);
      }
    }
  });
});

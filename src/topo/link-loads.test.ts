/**
 * Link loads from a traffic matrix, on a network whose loads are worked out by hand: equal-cost
 * pairs split evenly at the router where they part, across a LAN and over point-to-point links;
 * endpoints of one router load no link; addresses outside the network are counted, not routed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { topologyDatabase } from './ospf/topology-file.js';
import { linkLoads } from './link-loads.js';
import { handTopology } from './test-networks.js';

// The network of test-networks.ts (r1 and r2 on a LAN; r1–r3 10, r2–r3 9, r3–r4 5).
const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');

const NETWORK = topologyDatabase(handTopology());

test('a traffic matrix loads the links as worked out by hand, equal-cost paths split evenly', () => {
  const result = linkLoads(NETWORK, [
    { src: '10.1.0.5', dst: '10.4.0.5', bytes: 1200 },
    { src: '10.4.0.9', dst: '10.1.0.1', bytes: 300 },
    { src: '192.0.2.1', dst: '10.1.0.1', bytes: 50 },
    { src: '10.1.0.2', dst: '10.1.0.3', bytes: 70 },
    // On the LAN: attached to its designated router, r1.
    { src: '10.0.0.7', dst: '10.4.0.1', bytes: 40 },
  ], '0.0.0.0', 0);
  const loads = Object.fromEntries(result.links.map((l) => [`${l.from}>${l.to} ${l.via} ${l.fromAddress}`, l.bytes]));
  assert.deepEqual(loads, {
    '0.0.0.3>0.0.0.4 p2p 10.0.34.1': 1240,
    '0.0.0.1>0.0.0.3 p2p 10.0.13.1': 620,
    '0.0.0.1>0.0.0.2 10.0.0.0/24 10.0.0.1': 620,
    '0.0.0.2>0.0.0.3 p2p 10.0.23.1': 620,
    '0.0.0.4>0.0.0.3 p2p 10.0.34.2': 300,
    '0.0.0.3>0.0.0.1 p2p 10.0.13.2': 150,
    '0.0.0.3>0.0.0.2 p2p 10.0.23.2': 150,
    '0.0.0.2>0.0.0.1 10.0.0.0/24 10.0.0.2': 150,
  });
  assert.equal(result.routedBytes, 1540);
  assert.equal(result.localBytes, 70);
  assert.deepEqual(result.unrouted, { no_attachment: 50 });
});

test('a link that fails moves its load to the other path (a what-if by hand)', () => {
  // r1–r3–r4 costs 15, r1–r5–r4 costs 60.
  const links = [
    { a: '0.0.0.1', b: '0.0.0.3', cost: 10, subnet: '10.0.13.0/30' },
    { a: '0.0.0.3', b: '0.0.0.4', cost: 5, subnet: '10.0.34.0/30' },
    { a: '0.0.0.1', b: '0.0.0.5', cost: 30, subnet: '10.0.15.0/30' },
    { a: '0.0.0.5', b: '0.0.0.4', cost: 30, subnet: '10.0.54.0/30' },
  ];
  const network = (kept: typeof links) => topologyDatabase({
    routers: [
      { id: '0.0.0.1', stubs: [{ prefix: '10.1.0.0/24', cost: 1 }], asbr: false },
      { id: '0.0.0.3', stubs: [], asbr: false },
      { id: '0.0.0.4', stubs: [{ prefix: '10.4.0.0/24', cost: 1 }], asbr: false },
      { id: '0.0.0.5', stubs: [], asbr: false },
    ],
    links: kept, lans: [], externals: [],
  });
  const loads = (kept: typeof links): string[] => linkLoads(network(kept), [{ src: '10.1.0.5', dst: '10.4.0.5', bytes: 100 }], '0.0.0.0', 0).links.map((l) => `${l.from}>${l.to} ${l.bytes}`);
  assert.deepEqual(loads(links), ['0.0.0.1>0.0.0.3 100', '0.0.0.3>0.0.0.4 100']);
  // Without r1–r3, the same bytes go the long way.
  assert.deepEqual(loads(links.slice(1)), ['0.0.0.1>0.0.0.5 100', '0.0.0.5>0.0.0.4 100']);
});

test('endsight topo links: a topology file and a matrix on the command line; a wrong matrix is one line', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-links-'));
  try {
    writeFileSync(path.join(dir, 'net.yaml'), [
      'routers:', '  - {id: 0.0.0.1, stubs: [{prefix: 10.1.0.0/24, cost: 1}]}', '  - {id: 0.0.0.2}', '  - {id: 0.0.0.3}', '  - {id: 0.0.0.4, stubs: [{prefix: 10.4.0.0/24, cost: 1}]}',
      'links:', '  - {a: 0.0.0.1, b: 0.0.0.3, cost: 10, subnet: 10.0.13.0/30}', '  - {a: 0.0.0.2, b: 0.0.0.3, cost: 9, subnet: 10.0.23.0/30}', '  - {a: 0.0.0.3, b: 0.0.0.4, cost: 5, subnet: 10.0.34.0/30}',
      'lans:', '  - {prefix: 10.0.0.0/24, dr: 0.0.0.1, members: {0.0.0.1: 1, 0.0.0.2: 1}}', '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'matrix.csv'), 'src,dst,bytes\n10.1.0.5,10.4.0.5,1200\n');
    const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath, [BIN, 'topo', 'links', ...args], { encoding: 'utf8', timeout: 60_000 });
    const ok = run(['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'matrix.csv'), '--format', 'json']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(ok.stdout.trim().split('\n').map((line) => JSON.parse(line) as { from: string; to: string; bytes: number }).map((r) => `${r.from}>${r.to} ${r.bytes}`), [
      '0.0.0.3>0.0.0.4 1200', '0.0.0.1>0.0.0.2 600', '0.0.0.1>0.0.0.3 600', '0.0.0.2>0.0.0.3 600',
    ]);
    // Utilisation: 1,200 bytes over 2 s is 4,800 bits/s on a 9,600 bits/s link, 0.5; 600 bytes on 4,800 bits/s, 0.5 too.
    writeFileSync(path.join(dir, 'capacity.csv'), 'address,bps\n10.0.34.1,9.6k\n10.0.13.1,4800\n');
    const used = run(['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'matrix.csv'), '--capacity', path.join(dir, 'capacity.csv'), '--window', '2s', '--format', 'json']);
    assert.equal(used.status, 0, used.stderr);
    const rows = used.stdout.trim().split('\n').map((line) => JSON.parse(line) as { from_address: string; bps: number; capacity_bps: number | null; utilisation: number | null });
    // Both at 0.5: the one with more bytes first.
    assert.deepEqual(rows.slice(0, 2).map((r) => [r.from_address, r.bps, r.capacity_bps, r.utilisation]), [['10.0.34.1', 4800, 9600, 0.5], ['10.0.13.1', 2400, 4800, 0.5]]);
    assert.match(used.stderr, /2 loaded links have no capacity/);
    for (const [text, expected] of [['src,dst\n', /line 1 must be the header/], ['src,dst,bytes\n1.2.3.4,5.6.7.8,-3\n', /line 2: expected src,dst,bytes/]] as const) {
      writeFileSync(path.join(dir, 'bad.csv'), text);
      const bad = run(['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'bad.csv')]);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, expected);
      assert.equal(bad.stderr.trim().split('\n').length, 1, 'one line');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

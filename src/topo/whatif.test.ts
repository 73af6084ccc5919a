/**
 * What-if steps on a network small enough to work out by hand (the one of link-loads.test.ts): loads
 * after a link, a router or a LAN interface goes, after a cost change and after a move; routes after
 * a link goes equal the routes of the same network described without it; a link breakdown gives each
 * pair's share (the network of test-networks.ts); wrong steps and scenario files are one clear error; scenarios save and read back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { topologyDatabase } from './ospf/topology-file.js';
import { computeRoutes } from './ospf/spf.js';
import { demandsOnLink, linkLoads, type Demand } from './link-loads.js';
import { NetworkModel } from './network-model.js';
import { applySteps, parseStep, WhatIfError, type WhatIfStep } from './whatif.js';
import { readScenarioFile, scenarioYaml } from './scenario-file.js';
import { HAND_DEMANDS, HAND_LINKS, handTopology } from './test-networks.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');

const LINKS = HAND_LINKS;
const network = (links = LINKS) => topologyDatabase(handTopology(links));
const DEMANDS: Demand[] = HAND_DEMANDS;

function loadsAfter(steps: WhatIfStep[]): Record<string, number> {
  const { lsdb, moved } = applySteps(network(), steps, 0);
  return Object.fromEntries(linkLoads(lsdb, DEMANDS, '0.0.0.0', 0, moved).links.map((l) => [`${l.from}>${l.to} ${l.via}`, l.bytes]));
}

test('what-if: a point-to-point link down sends its traffic the other way', () => {
  // Without r1–r3: r1→r4 only over the LAN and r2 (1+9+5); r3→r1 only over r2 and the LAN (9+1).
  assert.deepEqual(loadsAfter([{ kind: 'link-down', a: '0.0.0.1', b: '0.0.0.3' }]), {
    '0.0.0.1>0.0.0.2 10.0.0.0/24': 1240, '0.0.0.2>0.0.0.3 p2p': 1240, '0.0.0.3>0.0.0.4 p2p': 1240,
    '0.0.0.4>0.0.0.3 p2p': 300, '0.0.0.3>0.0.0.2 p2p': 300, '0.0.0.2>0.0.0.1 10.0.0.0/24': 300,
  });
});

test('what-if: routes after a link goes equal the routes of the network described without it, for every router', () => {
  const { lsdb } = applySteps(network(), [parseStep('link-down', '0.0.0.3,0.0.0.2')], 0);
  const without = network(LINKS.filter((l) => l.b !== '0.0.0.3' || l.a !== '0.0.0.2'));
  for (const id of ['0.0.0.1', '0.0.0.2', '0.0.0.3', '0.0.0.4']) {
    const routes = (db: typeof lsdb) => computeRoutes(db, id, 0).networks.map((r) => `${r.prefix} ${r.cost} ${r.nextHops.map((h) => `${h.gateway}@${h.interfaceAddress}`).sort().join(' ')}`);
    assert.deepEqual(routes(lsdb), routes(without), id);
  }
});

test('what-if: a router down, and a router off its LAN, leave the LAN to the other router as a stub', () => {
  // r2 down: the LAN has only r1 left, r1 announces it as a stub; everything goes r1–r3–r4.
  const expected = { '0.0.0.1>0.0.0.3 p2p': 1240, '0.0.0.3>0.0.0.4 p2p': 1240, '0.0.0.4>0.0.0.3 p2p': 300, '0.0.0.3>0.0.0.1 p2p': 300 };
  assert.deepEqual(loadsAfter([{ kind: 'router-down', router: '0.0.0.2' }]), expected);
  assert.deepEqual(loadsAfter([parseStep('link-down', '0.0.0.2,10.0.0.0/24')]), expected);
  const { lsdb } = applySteps(network(), [{ kind: 'router-down', router: '0.0.0.2' }], 0);
  assert.ok(!computeRoutes(lsdb, '0.0.0.4', 0).networks.some((r) => r.prefix === '10.0.23.0/30'), "r2's subnets are gone with it");
  assert.ok(computeRoutes(lsdb, '0.0.0.4', 0).networks.some((r) => r.prefix === '10.0.0.0/24'), 'the LAN is still reachable through r1');
  // r1, the designated router, down: the LAN's hosts attach to r2, which still carries them.
  const dr = loadsAfter([{ kind: 'router-down', router: '0.0.0.1' }]);
  assert.deepEqual(dr, { '0.0.0.2>0.0.0.3 p2p': 40, '0.0.0.3>0.0.0.4 p2p': 40 });
});

test('what-if: a cost raised in one direction moves only that direction; a move re-homes the traffic', () => {
  // r2→r3 at 20: r1→r4 now only r1–r3–r4 (15 against 1+20+5); r3→r1 still splits (r3→r2 is still 9).
  assert.deepEqual(loadsAfter([parseStep('cost', '0.0.0.2,0.0.0.3=20')]), {
    '0.0.0.1>0.0.0.3 p2p': 1240, '0.0.0.3>0.0.0.4 p2p': 1240, '0.0.0.4>0.0.0.3 p2p': 300,
    '0.0.0.3>0.0.0.1 p2p': 150, '0.0.0.3>0.0.0.2 p2p': 150, '0.0.0.2>0.0.0.1 10.0.0.0/24': 150,
  });
  // 10.4.0.0/29 (10.4.0.5 and .1, not .9) at r2: the 1,200 and 40 bytes now end at r2 (over the LAN: 1 against 10+9).
  assert.deepEqual(loadsAfter([parseStep('move', '10.4.0.0/29=0.0.0.2')]), {
    '0.0.0.1>0.0.0.2 10.0.0.0/24': 1240, '0.0.0.4>0.0.0.3 p2p': 300, '0.0.0.3>0.0.0.1 p2p': 150, '0.0.0.3>0.0.0.2 p2p': 150, '0.0.0.2>0.0.0.1 10.0.0.0/24': 150,
  });
});

test('click-through: the pairs on a link, with their share and where they enter the network', () => {
  const model = NetworkModel.fromLsdb(network(), '0.0.0.0', 0);
  const edge = model.edgeList.find((e) => model.ids[e.from] === '0.0.0.2' && model.ids[e.to] === '0.0.0.3')!;
  const shares = demandsOnLink(model, DEMANDS, edge).map((s) => [s.demand.user, s.bytes, s.entry, s.exit]);
  // Half of r1's traffic to r4 crosses r2–r3 (the other half goes r1–r3); the reverse traffic does not.
  assert.deepEqual(shares, [['alice', 600, '0.0.0.1', '0.0.0.4'], ['carol', 20, '0.0.0.1', '0.0.0.4']]);
  const total = linkLoads(network(), DEMANDS, '0.0.0.0', 0).links.find((l) => l.from === '0.0.0.2' && l.to === '0.0.0.3')!.bytes;
  assert.equal(total, 620, 'the breakdown adds up to the link load');
});

test('what-if: steps that do not fit the network are one clear error', () => {
  const fails = (step: WhatIfStep, message: RegExp): void => assert.throws(() => applySteps(network(), [step], 0), (e: Error) => e instanceof WhatIfError && message.test(e.message));
  fails({ kind: 'link-down', a: '0.0.0.1', b: '0.0.0.2' }, /step 1 \(link-down 0.0.0.1,0.0.0.2\): 0.0.0.1 and 0.0.0.2 share no point-to-point link/);
  fails({ kind: 'router-down', router: '9.9.9.9' }, /no router 9.9.9.9/);
  fails({ kind: 'cost', from: '0.0.0.1', to: '0.0.0.4', cost: 5 }, /0.0.0.1 has no link to 0.0.0.4/);
  fails({ kind: 'cost', from: '0.0.0.1', to: '0.0.0.3', cost: 0 }, /whole number from 1 to 65535/);
  fails({ kind: 'link-down', a: '0.0.0.4', b: '10.0.0.0/24' }, /0.0.0.4 is not on a LAN 10.0.0.0\/24/);
  for (const [kind, text] of [['cost', '0.0.0.1,0.0.0.3'], ['move', '10.1.0.0/33=0.0.0.1'], ['link-down', '0.0.0.1'], ['router-down', 'r1']] as const) {
    assert.throws(() => parseStep(kind, text), new RegExp(`Cannot read --${kind}`));
  }
});

test('scenario files: saved steps read back the same; a wrong step names the file and the step', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-whatif-'));
  try {
    const steps = [parseStep('link-down', '0.0.0.1,0.0.0.3'), parseStep('cost', '0.0.0.2,10.0.0.0/24=7'), parseStep('router-down', '0.0.0.4'), parseStep('move', '10.1.0.25+10.1.0.26=0.0.0.3')];
    writeFileSync(path.join(dir, 's.yaml'), scenarioYaml({ name: 'four steps', steps }));
    assert.deepEqual(readScenarioFile(path.join(dir, 's.yaml')), { name: 'four steps', steps });
    for (const [text, message] of [
      ['steps:\n  - reboot: 0.0.0.1\n', /s\.yaml: steps\.0: one of "link-down: …"/],
      ['steps:\n  - cost: 0.0.0.1=4\n', /s\.yaml: steps\.0: Cannot read --cost/],
      ['name: x\n', /a list "steps"/],
      ['steps: [\n', /s\.yaml: /],
      ['steps: *undefined\n', /s\.yaml: Unresolved alias/],
    ] as const) {
      writeFileSync(path.join(dir, 's.yaml'), text);
      assert.throws(() => readScenarioFile(path.join(dir, 's.yaml')), message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('endsight whatif: steps on the command line, saved, compared with a scenario file; topo link clicks through a link; a wrong step is one line', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-whatif-'));
  try {
    writeFileSync(path.join(dir, 'net.yaml'), [
      'routers:', '  - {id: 0.0.0.1, stubs: [{prefix: 10.1.0.0/24, cost: 1}]}', '  - {id: 0.0.0.2}', '  - {id: 0.0.0.3}', '  - {id: 0.0.0.4, stubs: [{prefix: 10.4.0.0/24, cost: 1}]}',
      'links:', ...LINKS.map((l) => `  - {a: ${l.a}, b: ${l.b}, cost: ${l.cost}, subnet: ${l.subnet}}`),
      'lans:', '  - {prefix: 10.0.0.0/24, dr: 0.0.0.1, members: {0.0.0.1: 1, 0.0.0.2: 1}}', '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'm.csv'), 'src,dst,bytes,app,user\n' + DEMANDS.map((d) => `${d.src},${d.dst},${d.bytes},${d.app},${d.user}`).join('\n') + '\n');
    writeFileSync(path.join(dir, 'caps.csv'), 'address,bps\n10.0.13.1,10k\n10.0.0.1,10k\n10.0.23.1,10k\n10.0.34.1,10k\n');
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'whatif', '--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), ...args], { encoding: 'utf8', timeout: 60_000 });
    const down = run(['--link-down', '0.0.0.1,0.0.0.3', '--save', path.join(dir, 'down.yaml'), '--capacity', path.join(dir, 'caps.csv'), '--window', '1s', '--format', 'json']);
    assert.equal(down.status, 0, down.stderr);
    const rows = down.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    // 1,240 bytes in 1 s on 10 kbit/s: 0.992, over the 0.8 threshold.
    assert.deepEqual(rows[0], { from: '0.0.0.1', to: '0.0.0.2', via: '10.0.0.0/24', from_address: '10.0.0.1', before_bytes: 620, after_bytes: 1240, change_bytes: 620, before_utilisation: 0.496, after_utilisation: 0.992, over: true });
    assert.match(down.stderr, /3 links over 0.8 utilisation after the change/);
    assert.deepEqual(readScenarioFile(path.join(dir, 'down.yaml')).steps, [{ kind: 'link-down', a: '0.0.0.1', b: '0.0.0.3' }]);
    const compared = run(['--scenario', path.join(dir, 'down.yaml'), '--router-down', '0.0.0.2', '--name', 'r2 down', '--format', 'csv']);
    assert.equal(compared.status, 0, compared.stderr);
    assert.deepEqual(compared.stdout.trim().split(/\r?\n/), [
      'scenario,steps,routed_bytes,unrouted_bytes,changed_links,busiest_link,busiest_bytes',
      '(now),,1540,0,0,0.0.0.3>0.0.0.4 p2p 10.0.34.1,1240',
      'down,"link-down 0.0.0.1,0.0.0.3",1540,0,6,0.0.0.1>0.0.0.2 10.0.0.0/24 10.0.0.1,1240',
      'r2 down,router-down 0.0.0.2,1540,0,6,0.0.0.1>0.0.0.3 p2p 10.0.13.1,1240',
    ]);
    const routes = run(['--link-down', '0.0.0.1,0.0.0.3', '--routes-of', '0.0.0.1', '--format', 'json']);
    assert.equal(routes.status, 0, routes.stderr);
    assert.deepEqual(JSON.parse(routes.stdout.trim().split('\n')[2]), { scenario: 'command line', prefix: '10.4.0.0/24', before_cost: 16, after_cost: 16, before_next_hops: '10.0.13.2@10.0.13.1 10.0.0.2@10.0.0.1', after_next_hops: '10.0.0.2@10.0.0.1' });
    // Click-through on r2→r3 (topo link): half of alice's 1,200 bytes and half of carol's 40, by application.
    const link = spawnSync(process.execPath, [BIN, 'topo', 'link', '--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--link', '0.0.0.2,0.0.0.3', '--by', 'app', '--format', 'json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(link.status, 0, link.stderr);
    assert.deepEqual(link.stdout.trim().split('\n').map((line) => JSON.parse(line)), [{ app: 'tcp/443', bytes: 600, share: 0.9677, pairs: 1 }, { app: 'tcp/25', bytes: 20, share: 0.0323, pairs: 1 }]);
    for (const args of [['--link-down', '0.0.0.1,0.0.0.2'], ['--cost', 'x'], []]) {
      const bad = run(args);
      assert.equal(bad.status, 1, args.join(' '));
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

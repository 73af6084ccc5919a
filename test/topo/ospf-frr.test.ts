/**
 * The OSPF collector and SPF against real FRR routers (zebra + ospfd in network namespaces made here):
 *
 *            r6 (ASBR: 198.51.100.0/24 redistributed, external type 2)
 *             | cost 30
 *   LAN 10.0.0.0/24 (a bridge; the collector listens on it, no router there)
 *   r1 ---- r2 ---- r3        (r3 and r6 joined by the cost-30 link above)
 *    \cost 10  /cost 10
 *       r4 (ABR) ---- area 0.0.0.1 ---- r5 (stub network 10.5.0.0/24)
 *
 * The capture (tcpdump on the bridge from before the routers start: pure snooping) decodes without
 * an issue; the database built from it equals FRR's (every LSA of area 0 and the AS, by type, ID,
 * advertising router, sequence number and checksum); the routes computed from it for every router
 * whose whole database the LAN sees (r1, r2, r3, r6) equal FRR's own OSPF routing table: prefixes,
 * path types, costs, next hops (r3 reaches r4 over two equal-cost paths). After the r1–r4 link goes
 * down and FRR has converged, both match again. FRR's own listings (frr:DIR) from an area-0 and an
 * area-1 router give the same database, and routes equal FRR's for all six routers, the area border
 * router included. Last, the collector joins the LAN as a stub router (adjacency mode, RFC 6987) from
 * the same namespace: its database equals FRR's within seconds, each router's routes computed from it
 * equal FRR's, and after another link goes down it equals FRR's again within 10 s of FRR converging.
 * Needs root and the Debian package frr.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, unlink, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Lab, requirePrograms, runCommand, sleep, type BackgroundProcess, type Netns } from '../../src/lab/netns.js';
import { FRR_GR_STATE_FILE, startFrrRouter, type FrrRouter } from '../../src/lab/frr-lab.js';
import { readOspfCapture } from '../../src/topo/ospf/ospf-capture.js';
import { AS_SCOPE } from '../../src/topo/ospf/lsdb.js';
import { computeRoutes, type RoutingTable } from '../../src/topo/ospf/spf.js';
import { applySteps } from '../../src/topo/whatif.js';
import { linkLoads } from '../../src/topo/link-loads.js';

interface RouterSpec {
  name: string;
  id: string;
  /** interface → [address/len, area, cost, p2p] */
  interfaces: Record<string, [string, string, number, boolean]>;
  extra?: string;
}

const ROUTERS: RouterSpec[] = [
  { name: 'r1', id: '0.0.0.1', interfaces: { e0: ['10.0.0.1/24', '0', 10, false], p4: ['10.0.14.1/30', '0', 10, true] } },
  { name: 'r2', id: '0.0.0.2', interfaces: { e0: ['10.0.0.2/24', '0', 10, false], p4: ['10.0.24.1/30', '0', 10, true] } },
  { name: 'r3', id: '0.0.0.3', interfaces: { e0: ['10.0.0.3/24', '0', 10, false], p6: ['10.0.36.1/30', '0', 30, true] } },
  { name: 'r4', id: '0.0.0.4', interfaces: { p1: ['10.0.14.2/30', '0', 10, true], p2: ['10.0.24.2/30', '0', 10, true], p5: ['10.0.45.1/30', '1', 10, true] } },
  { name: 'r5', id: '0.0.0.5', interfaces: { p4: ['10.0.45.2/30', '1', 10, true], s0: ['10.5.0.1/24', '1', 10, false] } },
  {
    name: 'r6', id: '0.0.0.6', interfaces: { p3: ['10.0.36.2/30', '0', 30, true] },
    // Only 198.51.100.0/24 (on x0, outside OSPF) goes out as an external route.
    extra: 'ip prefix-list EXT seq 5 permit 198.51.100.0/24\nroute-map EXT permit 10\n match ip address prefix-list EXT\n',
  },
];
const LINKS: [string, string, string, string][] = [
  ['r1', 'p4', 'r4', 'p1'],
  ['r2', 'p4', 'r4', 'p2'],
  ['r4', 'p5', 'r5', 'p4'],
  ['r3', 'p6', 'r6', 'p3'],
];
/** The adjacency's router ID and its address on the LAN. */
const ADJACENCY_ID = '10.0.0.100';
const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
/** What FRR's JSON calls each path type. */
const ROUTE_TYPE = { 'intra-area': 'N', 'inter-area': 'N IA', 'external-1': 'N E1', 'external-2': 'N E2' } as const;

type FrrRoutes = Record<string, { routeType: string; cost: number; type2cost?: number; area?: string; nexthops: { ip: string; via?: string; directlyAttachedTo?: string }[] }>;

describe('OSPF against real FRR routers', { timeout: 240_000 }, () => {
  const lab = new Lab(`es-ospf-${process.pid}`);
  let dir = '';
  let capture = '';
  let tcpdump: BackgroundProcess;
  const routers = new Map<string, FrrRouter>();
  const namespaces = new Map<string, Netns>();
  /** The LAN's bridge lives here: a namespace that is no router, where tcpdump and the live listener run. */
  let lanNs: Netns;
  /** Per router: interface name → its IPv4 address. */
  const addresses = new Map<string, Map<string, string>>();

  function ospfdConfig(spec: RouterSpec): string {
    const lines = ['router ospf', ` ospf router-id ${spec.id}`];
    for (const [, [cidr, area]] of Object.entries(spec.interfaces)) lines.push(` network ${networkOf(cidr)} area ${area}`);
    if (spec.name === 'r5') lines.push(' passive-interface s0');
    if (spec.name === 'r6') lines.push(' redistribute connected route-map EXT');
    const out = [...(spec.extra ? [spec.extra] : []), ...lines];
    for (const [name, [, , cost, p2p]] of Object.entries(spec.interfaces)) {
      out.push(`interface ${name}`, ' ip ospf hello-interval 1', ' ip ospf dead-interval 4', ` ip ospf cost ${cost}`, ...(p2p ? [' ip ospf network point-to-point'] : []));
    }
    return out.join('\n') + '\n';
  }

  /** Until r3 has every route, r4 over both paths, and its table holds still for 3 s. */
  async function converged(check: (routes: FrrRoutes) => boolean): Promise<void> {
    const deadline = Date.now() + 90_000;
    let last = '';
    let stableSince = 0;
    for (;;) {
      const routes = await routers.get('r3')!.json<FrrRoutes>('show ip ospf route json');
      const text = JSON.stringify(routes);
      if (check(routes) && text === last) {
        if (Date.now() - stableSince >= 3000) return;
      } else {
        stableSince = Date.now();
      }
      last = text;
      if (Date.now() > deadline) throw new Error(`FRR did not converge: r3 has ${text}`);
      await sleep(500);
    }
  }

  /**
   * Compares until both agree, for at most 10 s: a router may originate its new LSA up to
   * MinLSInterval (5 s) after the change, and each side hears it at its own moment.
   */
  async function compareWithFrr(label: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await compareOnce(label);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(1000);
      }
    }
  }

  async function compareOnce(label: string): Promise<void> {
    // -U: tcpdump writes each packet as it comes; give the last ones a moment.
    await sleep(500);
    const read = await readOspfCapture(capture);
    assert.deepEqual(read.issues.toJSON(), {}, `${label}: every packet of the capture decodes`);
    assert.ok((read.packets.hello ?? 0) > 0 && (read.packets['link-state-update'] ?? 0) > 0, `${label}: ${JSON.stringify(read.packets)}`);
    const now = Date.now();
    // The database: every LSA of area 0 and of the AS, as FRR holds it.
    const ours = [...read.lsdb.lsas('0.0.0.0', now), ...read.lsdb.lsas(AS_SCOPE, now)]
      .map((l) => `${l.header.type} ${l.header.linkStateId} ${l.header.advertisingRouter} ${(l.header.sequence >>> 0).toString(16)} ${l.header.checksum.toString(16).padStart(4, '0')}`)
      .sort();
    const theirs = frrDatabase(await routers.get('r3')!.json('show ip ospf database json'));
    assert.deepEqual(ours, theirs, `${label}: the database from the capture equals r3's`);
    for (const name of ['r1', 'r2', 'r3', 'r6']) {
      const spec = ROUTERS.find((r) => r.name === name)!;
      const table = computeRoutes(read.lsdb, spec.id, now);
      const frr = await routers.get(name)!.json<FrrRoutes>('show ip ospf route json');
      assert.deepEqual(asFrr(table, name), normalizeFrr(frr, name), `${label}: ${name}'s routes`);
    }
  }

  /** FRR's routes, with next-hop interfaces as addresses and next hops sorted. */
  function normalizeFrr(routes: FrrRoutes, router: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [prefix, route] of Object.entries(routes)) {
      if (!prefix.includes('/')) continue;
      const hops = route.nexthops.map((h) => {
        const name = h.via ?? h.directlyAttachedTo ?? '';
        return `${h.ip.trim() === '' ? 'direct' : h.ip} ${addresses.get(router)!.get(name) ?? name}`;
      });
      out[prefix] = { type: route.routeType, cost: route.cost, ...(route.type2cost !== undefined ? { type2cost: route.type2cost } : {}), nexthops: hops.sort() };
    }
    return out;
  }

  function asFrr(table: RoutingTable, router: string): Record<string, unknown> {
    void router;
    const out: Record<string, unknown> = {};
    for (const route of table.networks) {
      out[route.prefix] = {
        type: ROUTE_TYPE[route.pathType], cost: route.cost, ...(route.type2Cost !== null ? { type2cost: route.type2Cost } : {}),
        nexthops: route.nextHops.map((h) => `${h.gateway ?? 'direct'} ${h.interfaceAddress}`).sort(),
      };
    }
    return out;
  }

  before(async () => {
    requirePrograms({ vtysh: 'frr', tcpdump: 'tcpdump', ethtool: 'ethtool' });
    if (process.getuid?.() !== 0) assert.fail('this test makes network namespaces and runs FRR, which needs root');
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-ospf-'));
    chmodSync(dir, 0o755); // the daemons run as frr and keep their files below it
    capture = path.join(dir, 'lan.pcap');
    lanNs = await lab.addNamespace('lan');
    const lan = lanNs;
    await runCommand(lan.exec(['ip', 'link', 'add', 'br0', 'type', 'bridge']));
    await runCommand(lan.exec(['ip', 'link', 'set', 'br0', 'up']));
    for (const spec of ROUTERS) {
      const ns = await lab.addNamespace(spec.name, { 'net.ipv4.ip_forward': '1' });
      namespaces.set(spec.name, ns);
      if ('e0' in spec.interfaces) {
        await lab.addVeth(ns, 'e0', lan, `l${spec.name}`);
        await runCommand(lan.exec(['ip', 'link', 'set', `l${spec.name}`, 'master', 'br0']));
      }
    }
    for (const [a, ai, b, bi] of LINKS) await lab.addVeth(namespaces.get(a)!, ai, namespaces.get(b)!, bi);
    // Stub networks: a veth pair inside the namespace, one end up with the address.
    for (const [router, name, peer, cidr] of [['r5', 's0', 's1', '10.5.0.1/24'], ['r6', 'x0', 'x1', '198.51.100.1/24']]) {
      const ns = namespaces.get(router)!;
      await runCommand(ns.exec(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', peer]));
      await runCommand(ns.exec(['ip', 'link', 'set', peer, 'up']));
      await runCommand(ns.exec(['ip', 'link', 'set', name, 'up']));
      await runCommand(ns.exec(['ip', 'addr', 'add', cidr, 'dev', name]));
    }
    for (const spec of ROUTERS) {
      const ns = namespaces.get(spec.name)!;
      const names = new Map<string, string>();
      for (const [name, [cidr]] of Object.entries(spec.interfaces)) {
        if (!(spec.name === 'r5' && name === 's0')) await runCommand(ns.exec(['ip', 'addr', 'add', cidr, 'dev', name]));
        names.set(name, cidr.split('/')[0]);
      }
      addresses.set(spec.name, names);
    }
    tcpdump = lab.start('tcpdump', lan.exec(['tcpdump', '-i', 'br0', '-U', '-w', capture, 'ip proto 89']));
    await tcpdump.waitForOutput(/listening on/, 10_000);
    for (const spec of ROUTERS) {
      routers.set(spec.name, await startFrrRouter(lab, namespaces.get(spec.name)!, spec.name, path.join(dir, spec.name), ospfdConfig(spec)));
    }
    await converged((r) =>
      ['10.0.0.0/24', '10.0.14.0/30', '10.0.24.0/30', '10.0.36.0/30', '10.0.45.0/30', '10.5.0.0/24', '198.51.100.0/24'].every((p) => p in r) &&
      r['10.0.45.0/30'].nexthops.length === 2,
    );
  });

  after(async () => {
    assert.deepEqual(await lab.cleanup(), []);
    await unlink(FRR_GR_STATE_FILE).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("builds FRR's database from what it snoops on the LAN, and computes each router's OSPF routes as FRR does", async () => {
    await compareWithFrr('converged');
  });

  it('shows the same database and routes on the command line (endsight topo lsdb, topo routes)', async () => {
    const run = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, [BIN, 'topo', ...args], { encoding: 'utf8', timeout: 60_000 });
    const lsdb = run(['lsdb', '--from', capture, '--area', '0.0.0.0', '--format', 'json']);
    assert.equal(lsdb.status, 0, lsdb.stderr);
    assert.match(lsdb.stderr, /OSPF packets \(.*hello/);
    const lines = lsdb.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; lsid: string; adv_router: string; seq: string; checksum: string });
    const names: Record<string, number> = { router: 1, network: 2, summary: 3, 'asbr-summary': 4, external: 5 };
    assert.deepEqual(lines.map((l) => `${names[l.type]} ${l.lsid} ${l.adv_router} ${l.seq} ${l.checksum}`).sort(), frrDatabase(await routers.get('r3')!.json('show ip ospf database json')));
    const routes = run(['routes', '--from', capture, '--router', '0.0.0.3', '--format', 'json']);
    assert.equal(routes.status, 0, routes.stderr);
    const frr = await routers.get('r3')!.json<FrrRoutes>('show ip ospf route json');
    const ours = Object.fromEntries(routes.stdout.trim().split('\n').map((line) => JSON.parse(line) as { prefix: string; cost: number }).map((r) => [r.prefix, r.cost]));
    assert.deepEqual(ours, Object.fromEntries(Object.entries(frr).filter(([p]) => p.includes('/')).map(([p, r]) => [p, r.cost])));
    const unknown = run(['routes', '--from', capture, '--router', '9.9.9.9']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no router-LSA of it/);
  });

  it("reads FRR's own database listings (frr:DIR, one subfolder per router) to the same database and routes", async () => {
    const frrDir = path.join(dir, 'frr');
    // Two vantage points: r3 (area 0) and r5 (area 1 only); their union holds both areas.
    for (const name of ['r3', 'r5']) {
      await mkdir(path.join(frrDir, name), { recursive: true });
      for (const what of ['router', 'network', 'summary', 'asbr-summary', 'external']) {
        await writeFile(path.join(frrDir, name, `${what}.json`), await routers.get(name)!.vtysh(`show ip ospf database ${what} json`));
      }
    }
    const run = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
      spawnSync(process.execPath, [BIN, 'topo', ...args], { encoding: 'utf8', timeout: 60_000 });
    const lsdb = run(['lsdb', '--from', `frr:${frrDir}`, '--area', '0.0.0.0', '--format', 'json']);
    assert.equal(lsdb.status, 0, lsdb.stderr);
    assert.match(lsdb.stderr, /10 FRR listings/);
    const names: Record<string, number> = { router: 1, network: 2, summary: 3, 'asbr-summary': 4, external: 5 };
    const lines = lsdb.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; lsid: string; adv_router: string; seq: string; checksum: string });
    assert.deepEqual(lines.map((l) => `${names[l.type]} ${l.lsid} ${l.adv_router} ${l.seq} ${l.checksum}`).sort(), frrDatabase(await routers.get('r3')!.json('show ip ospf database json')));
    // Every router's routes, the area border router's and area 1's included, equal FRR's.
    for (const spec of ROUTERS) {
      const routes = run(['routes', '--from', `frr:${frrDir}`, '--router', spec.id, '--format', 'json']);
      assert.equal(routes.status, 0, routes.stderr);
      const ours = Object.fromEntries(routes.stdout.trim().split('\n').map((line) => JSON.parse(line) as { prefix: string; type: string; cost: number }).map((r) => [r.prefix, `${r.type} ${r.cost}`]));
      const frr = await routers.get(spec.name)!.json<FrrRoutes>('show ip ospf route json');
      const types: Record<string, string> = { N: 'intra-area', 'N IA': 'inter-area', 'N E1': 'external-1', 'N E2': 'external-2' };
      assert.deepEqual(ours, Object.fromEntries(Object.entries(frr).filter(([p]) => p.includes('/')).map(([p, r]) => [p, `${types[r.routeType]} ${r.cost}`])), spec.name);
    }
  });

  it('matches FRR again once it has converged after a link goes down, as the what-if of that link predicted', async () => {
    const before = await readOspfCapture(capture);
    const beforeMs = Date.now();
    const predicted = applySteps(before.lsdb, [{ kind: 'link-down', a: '0.0.0.1', b: '0.0.0.4' }], beforeMs).lsdb;
    // Live snooping (topo lsdb --from if:br0) from the LAN's namespace, which is no router, while the change floods.
    const listener = lab.start('endsight topo lsdb --from if:br0', lanNs.exec([process.execPath, BIN, 'topo', 'lsdb', '--from', 'if:br0', '--listen', '25s', '--format', 'json']));
    await listener.waitForOutput(/listening on br0/, 15_000);
    const listenFromMs = Date.now();
    await runCommand(namespaces.get('r1')!.exec(['ip', 'link', 'set', 'p4', 'down']));
    await converged((r) => r['10.0.45.0/30']?.nexthops.length === 1 && !('10.0.14.0/30' in r && r['10.0.14.0/30'].nexthops.some((h) => h.ip.trim() === '10.0.0.1')));
    await compareWithFrr('after r1–r4 went down');
    // The what-if, computed before the link went down, gave the routes FRR converged to.
    for (const name of ['r1', 'r2', 'r3', 'r6']) {
      const spec = ROUTERS.find((r) => r.name === name)!;
      const frr = await routers.get(name)!.json<FrrRoutes>('show ip ospf route json');
      assert.deepEqual(asFrr(computeRoutes(predicted, spec.id, beforeMs), name), normalizeFrr(frr, name), `what-if: ${name}'s routes`);
    }
    // And the same link loads as the network after the change. Area 1's 10.5.0.0/24 enters area 0 at
    // its border router r4 (the model attaches area-0 prefixes only, so it is placed there by hand).
    const after = await readOspfCapture(capture);
    const demands = [
      { src: '10.0.0.9', dst: '10.5.0.7', bytes: 1000 }, { src: '10.0.36.2', dst: '10.5.0.7', bytes: 500 },
      { src: '10.5.0.7', dst: '10.0.0.9', bytes: 250 }, { src: '10.0.0.9', dst: '10.0.36.2', bytes: 125 },
    ];
    const atBorder = [{ prefix: '10.5.0.0/24', router: '0.0.0.4' }];
    const loads = (lsdb: typeof predicted, at: number): string[] => linkLoads(lsdb, demands, '0.0.0.0', at, atBorder).links.map((l) => `${l.from}>${l.to} ${l.via} ${l.fromAddress} ${l.bytes}`);
    assert.deepEqual(loads(predicted, beforeMs), loads(after.lsdb, Date.now()), 'what-if loads equal the loads after FRR reconverged');
    assert.ok(loads(before.lsdb, beforeMs).some((l) => l.startsWith('0.0.0.1>0.0.0.4 p2p')), `before, r1–r4 carries traffic: ${loads(before.lsdb, beforeMs).join('; ')}`);
    // What the listener heard equals what the capture shows flooded while it listened: the newest
    // instance of each LSA updated in that time (the listener stopped 25 s after it started).
    await listener.waitForExit(40_000);
    assert.equal(listener.exitCode, 0, listener.stderr);
    assert.match(listener.stderr, /if:br0: \d+ OSPF packets \(.*link-state-update/);
    const heard = listener.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; lsid: string; adv_router: string; seq: string }).map((l) => `${l.type} ${l.lsid} ${l.adv_router} ${l.seq}`).sort();
    const flooded = new Map<string, string>();
    const names: Record<number, string> = { 1: 'router', 2: 'network', 3: 'summary', 4: 'asbr-summary', 5: 'external' };
    await readOspfCapture(capture, (packet, timeMs) => {
      if (packet.body.kind !== 'link-state-update' || timeMs < listenFromMs - 500 || timeMs > listenFromMs + 25_000) return;
      for (const lsa of packet.body.lsas) {
        const key = `${names[lsa.header.type]} ${lsa.header.linkStateId} ${lsa.header.advertisingRouter}`;
        const seq = (lsa.header.sequence >>> 0).toString(16);
        // A flush (MaxAge) removes the LSA, from the listener's database as from this list.
        if (lsa.header.age >= 3600) flooded.set(key, 'flushed');
        else if (flooded.get(key) !== 'flushed' && (flooded.get(key) ?? '') < seq) flooded.set(key, seq);
      }
    });
    assert.ok(heard.length > 0, 'the change was heard');
    assert.deepEqual(heard, [...flooded].filter(([, seq]) => seq !== 'flushed').map(([key, seq]) => `${key} ${seq}`).sort(), 'the listener holds what was flooded while it listened');
    assert.ok(loads(predicted, beforeMs).some((l) => l.startsWith('0.0.0.2>0.0.0.4 p2p')), 'the traffic goes over r2–r4');
  });

  /**
   * One run of `endsight topo ARGS --from if:br0 --adjacency` from the LAN's namespace: it joins, says
   * its database is complete, stays (--hold) until `whileJoined` is done and the LAN's routers agree
   * on one database with our router-LSA in it (the DR re-originates its network-LSA with us in it, at
   * its own pace), then is stopped (SIGINT) and prints what it holds.
   */
  async function adjacencyRun(args: string[], whileJoined: () => Promise<void> = async () => undefined): Promise<{ stdout: string; stderr: string; frrDatabase: string[]; frrRoutes: Map<string, FrrRoutes>; completeS: number }> {
    const run = lab.start(`endsight topo ${args[0]} --adjacency`, lanNs.exec([process.execPath, BIN, 'topo', ...args, '--from', 'if:br0', '--adjacency', '--router-id', ADJACENCY_ID, '--listen', '30s', '--hold', '120s', '--format', 'json']));
    await run.waitForOutput(/database complete in [\d.]+ s|Cannot/, 35_000);
    assert.doesNotMatch(run.stderr, /Cannot/, run.stderr);
    const completeS = Number(/database complete in ([\d.]+) s/.exec(run.stderr)![1]);
    await whileJoined();
    // FRR has converged when the LAN's routers hold the same database (r2 may flood an instance r3
    // takes only when it is sent again, RxmtInterval later, §13 step 5a), for 2 s.
    let last = '';
    let stableSince = Date.now();
    for (const deadline = Date.now() + 30_000; ; await sleep(500)) {
      const held = await Promise.all(['r1', 'r2', 'r3'].map(async (name) => JSON.stringify(frrDatabase(await routers.get(name)!.json('show ip ospf database json')))));
      const text = held.every((h) => h === held[2]) ? held[2] : '';
      if (text === '' || text !== last) stableSince = Date.now();
      else if (Date.now() - stableSince >= 2000 && text.includes(`1 ${ADJACENCY_ID} ${ADJACENCY_ID} `)) break;
      last = text;
      assert.ok(Date.now() < deadline, `r1, r2 and r3 settle on one database with our router-LSA in it: ${held.join(' | ')}`);
    }
    const frrRoutes = new Map<string, FrrRoutes>();
    for (const name of ['r1', 'r2', 'r3', 'r6']) frrRoutes.set(name, await routers.get(name)!.json<FrrRoutes>('show ip ospf route json'));
    await run.stop('SIGINT', 10_000);
    assert.equal(run.exitCode, 0, run.stderr);
    return { stdout: run.stdout, stderr: run.stderr, frrDatabase: JSON.parse(last) as string[], frrRoutes, completeS };
  }

  it('joins the LAN as a stub router (RFC 6987) and holds FRR\'s whole database within seconds, routes included, and again after a link goes down', async () => {
    // The LAN's namespace gets an address there: an adjacency speaks from one (snooping needed none).
    await runCommand(lanNs.exec(['ip', 'addr', 'add', `${ADJACENCY_ID}/24`, 'dev', 'br0']));
    // r1–r4 back up (the test before took it down): both paths to area 1 again.
    await runCommand(namespaces.get('r1')!.exec(['ip', 'link', 'set', 'p4', 'up']));
    await converged((r) => r['10.0.45.0/30']?.nexthops.length === 2);
    const names: Record<string, number> = { router: 1, network: 2, summary: 3, 'asbr-summary': 4, external: 5 };
    const lsdbLines = (stdout: string): string[] =>
      stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; lsid: string; adv_router: string; seq: string; checksum: string })
        .map((l) => `${names[l.type]} ${l.lsid} ${l.adv_router} ${l.seq} ${l.checksum}`).sort();

    const joined = await adjacencyRun(['lsdb', '--area', '0.0.0.0']);
    console.log(`adjacency: database complete ${joined.completeS} s after joining`);
    assert.ok(joined.completeS < 10, `the whole database within seconds: ${joined.completeS} s`);
    assert.match(joined.stderr, /neighbour 0\.0\.0\.3: full/);
    assert.match(joined.stderr, /router-LSA of 10\.0\.0\.100 flooded: .* metric 65535 \(RFC 6987\)/);
    assert.deepEqual(lsdbLines(joined.stdout), joined.frrDatabase, "the adjacency's database equals r3's, our router-LSA included");

    // Each router's routes from an adjacency's database equal FRR's (ours, at the maximum metric and with no stub, change none).
    for (const name of ['r1', 'r2', 'r3', 'r6']) {
      const spec = ROUTERS.find((r) => r.name === name)!;
      const routes = await adjacencyRun(['routes', '--router', spec.id]);
      const ours = Object.fromEntries(routes.stdout.trim().split('\n').map((line) => JSON.parse(line) as { prefix: string; type: string; cost: number }).map((r) => [r.prefix, `${r.type} ${r.cost}`]));
      const types: Record<string, string> = { N: 'intra-area', 'N IA': 'inter-area', 'N E1': 'external-1', 'N E2': 'external-2' };
      const frr = routes.frrRoutes.get(name)!;
      assert.deepEqual(ours, Object.fromEntries(Object.entries(frr).filter(([p]) => p.includes('/')).map(([p, r]) => [p, `${types[r.routeType]} ${r.cost}`])), `${name}'s routes from the adjacency`);
    }

    // Joined while r2–r4 goes down: once FRR has converged, the database it holds (it follows the floods) equals r3's again.
    const during = await adjacencyRun(['lsdb', '--area', '0.0.0.0'], async () => {
      await runCommand(namespaces.get('r2')!.exec(['ip', 'link', 'set', 'p4', 'down']));
      await converged((r) => r['10.0.45.0/30']?.nexthops.length === 1 && r['10.0.45.0/30'].nexthops[0].ip.trim() === '10.0.0.1');
    });
    assert.deepEqual(lsdbLines(during.stdout), during.frrDatabase, "after r2–r4 went down, the adjacency's database equals r3's");
    assert.notDeepEqual(during.frrDatabase, joined.frrDatabase, 'the change is in it');
    // Leaving flushes our router-LSA (§14.1): r3 holds it at MaxAge (FRR lists such LSAs until its
    // maxage-delay has passed) or no more.
    const ours = JSON.stringify(await routers.get('r3')!.json(`show ip ospf database router ${ADJACENCY_ID} json`));
    const age = /"lsaAge":(\d+)/.exec(ours)?.[1];
    assert.ok(!ours.includes(`"${ADJACENCY_ID}"`) || Number(age) >= 3600, `r3 holds our router-LSA flushed or not at all: ${ours}`);
  });
});

function networkOf(cidr: string): string {
  const [address, bits] = cidr.split('/');
  const value = address.split('.').reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
  const mask = Number(bits) === 0 ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
  const network = (value & mask) >>> 0;
  return `${network >>> 24}.${(network >>> 16) & 255}.${(network >>> 8) & 255}.${network & 255}/${bits}`;
}

/** FRR's `show ip ospf database json` as `type lsid advrouter seq checksum` lines (area 0 and the AS). */
function frrDatabase(json: unknown): string[] {
  const types: Record<string, number> = { routerLinkStates: 1, networkLinkStates: 2, summaryLinkStates: 3, asbrSummaryLinkStates: 4, asExternalLinkStates: 5, nssaExternalLinkStates: 7 };
  const lines: string[] = [];
  const walk = (node: unknown, area: string | null): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key in types && Array.isArray(value)) {
        if (area !== null && area !== '0.0.0.0' && types[key] !== 5) continue;
        for (const item of value as { lsId: string; advertisedRouter: string; sequenceNumber: string; checksum: string }[]) {
          lines.push(`${types[key]} ${item.lsId} ${item.advertisedRouter} ${item.sequenceNumber.toLowerCase()} ${item.checksum.toLowerCase().padStart(4, '0')}`);
        }
      } else if (key === 'areas' && value && typeof value === 'object') {
        for (const [name, areaNode] of Object.entries(value as Record<string, unknown>)) walk(areaNode, name);
      } else {
        walk(value, area);
      }
    }
  };
  walk(json, null);
  return lines.sort();
}

/**
 * `endsight lab`: an emulated network built from a topology file (the same YAML as `topo --from`,
 * with `hosts`), in Linux network namespaces, instrumented as `endsight plan` says (issue 8:
 * Netflowize's deployment on a testbed):
 *
 *   - one namespace per router, running FRR (zebra, ospfd: the file's costs, point-to-point links,
 *     LANs with their DR first, Hello 1 s / dead 4 s so that it converges in seconds), one per host
 *     (on its router's stub network, default route there), one per LAN (a bridge: the switch);
 *   - links optionally rate-limited (`tc` tbf); delay and loss need netem, which is detected;
 *   - NetFlow probes (softflowd, NetFlow v9) on the routers of the light plan, one per interface the
 *     plan observes, exporting to `endsight collect` on the plan's collector node; `endsight agent`
 *     on the hosts marked `agent: true`;
 *   - traffic between every pair of hosts: HTTP (curl to python's http.server), DNS (dig to a small
 *     responder), iperf3 and ping, in loops;
 *   - everything under a state directory: FRR's files, the stores (the collector's and each agent's:
 *     the experiment-wide flows), the programs' logs, `lab.json`.
 *
 * Processes outlive the command (`lab up` returns once the network has converged and everything
 * runs); `lab down` finds them by namespace (`ip netns pids`), so it tears down a lab whatever state
 * it is in, even half built. Namespaces are `esl-NAME-NODE`.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTopologySpec, topologyDatabase, type TopologySpec } from '../topo/ospf/topology-file.js';
import { NetworkModel } from '../topo/network-model.js';
import { planProbes, type ProbePlan } from '../plan/probe-plan.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CommandError, requirePrograms, runCommand, sleep } from './netns.js';

const FRR_DAEMONS = '/usr/lib/frr';
/** Every ospfd writes its graceful-restart state here, whatever its namespace. */
const FRR_GR_STATE_FILE = '/var/run/frr/ospfd-gr.json';
const BIN = fileURLToPath(new URL('../../../bin/endsight.js', import.meta.url));
const COLLECTOR_PORT = 2055;
const PREFIX = 'esl';

/** One interface of a node: its name in the namespace, address and prefix length, and what it is on. */
interface LabInterface {
  name: string;
  address: string;
  bits: number;
  /** `p2p A-B`, `lan PREFIX` or `stub PREFIX` (the plan's element names, and stubs). */
  element: string;
  cost: number;
  /** On a LAN: whether this router is the one the file names its DR (it gets the highest priority). */
  dr?: boolean;
}

interface LabRouter {
  id: string;
  ns: string;
  interfaces: LabInterface[];
}

/** What `lab up` built and `lab status` reads. */
export interface LabState {
  name: string;
  topology: string;
  stateDir: string;
  createdAt: string;
  namespaces: string[];
  routers: { id: string; ns: string; addresses: string[] }[];
  hosts: { name: string; ns: string; address: string; agent: boolean }[];
  plan: ProbePlan;
  /** Probe processes: router, interface. */
  probes: { router: string; interface: string }[];
  collector: { router: string; ns: string; address: string };
  netem: boolean;
  /** Whether FRR's graceful-restart file was there before the lab (then `lab down` leaves it). */
  grStateExisted: boolean;
}

export interface LabUpOptions {
  stateDir?: string;
  /** tbf rate for every router interface, as tc writes it (100mbit); none by default. */
  rate?: string;
  /** netem delay and loss on every router interface; an error where the kernel has no netem. */
  delay?: string;
  loss?: string;
  log?: (line: string) => void;
}

/**
 * The lab's name from its topology file: `office.yaml` → `office` (its letters and digits). A longer
 * name than 16 is cut, with 6 hex digits of the whole name after it, so that two files never share a lab.
 */
export function labName(topologyFile: string): string {
  const full = path.basename(topologyFile).replace(/\.ya?ml$/i, '').toLowerCase().replace(/[^a-z0-9]/g, '');
  if (full === '') throw new RangeError(`Cannot name a lab after ${topologyFile}: its file name has no letter or digit`);
  return full.length <= 16 ? full : `${full.slice(0, 10)}${createHash('sha256').update(full).digest('hex').slice(0, 6)}`;
}

export function defaultStateDir(name: string): string {
  return path.join('/run/endsight/lab', name);
}

const num = (text: string): number => text.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const quad = (value: number): string => `${Math.floor(value / 16777216) % 256}.${Math.floor(value / 65536) % 256}.${Math.floor(value / 256) % 256}.${value % 256}`;

/** Where every router's interfaces go, with the addresses topologyDatabase gives them. */
function layout(spec: TopologySpec, name: string): { routers: LabRouter[]; lans: { prefix: string; ns: string; members: string[] }[] } {
  const ns = (node: string): string => `${PREFIX}-${name}-${node}`;
  const routers = spec.routers.map((r, i): LabRouter => ({ id: r.id, ns: ns(`r${i + 1}`), interfaces: [] }));
  const byId = new Map(routers.map((r) => [r.id, r]));
  spec.links.forEach((link, k) => {
    const [net, bits] = (link.subnet ?? `169.254.${Math.floor(k / 64) % 256}.${(k % 64) * 4}/30`).split('/');
    const element = `p2p ${[link.a, link.b].sort((x, y) => num(x) - num(y)).join('-')}`;
    byId.get(link.a)!.interfaces.push({ name: `p${k}`, address: quad(num(net) + 1), bits: Number(bits), element, cost: link.cost });
    byId.get(link.b)!.interfaces.push({ name: `p${k}`, address: quad(num(net) + 2), bits: Number(bits), element, cost: link.cost_back ?? link.cost });
  });
  const lans = spec.lans.map((lan, k) => {
    const [net, bits] = lan.prefix.split('/');
    const members = Object.keys(lan.members);
    members.forEach((id, i) => byId.get(id)!.interfaces.push({ name: `l${k}`, address: quad(num(net) + 1 + i), bits: Number(bits), element: `lan ${lan.prefix}`, cost: lan.members[id], dr: id === lan.dr }));
    return { prefix: lan.prefix, ns: ns(`lan${k}`), members };
  });
  spec.routers.forEach((r, i) => {
    r.stubs.forEach((stub, j) => {
      const [net, bits] = stub.prefix.split('/');
      routers[i].interfaces.push({ name: `s${j}`, address: quad(num(net) + 1), bits: Number(bits), element: `stub ${stub.prefix}`, cost: stub.cost });
    });
  });
  return { routers, lans };
}

function ospfdConfig(router: LabRouter): string {
  const lines = ['router ospf', ` ospf router-id ${router.id}`];
  for (const i of router.interfaces) {
    const network = quad(num(i.address) - (num(i.address) % 2 ** (32 - i.bits)));
    lines.push(` network ${network}/${i.bits} area 0`);
    if (i.element.startsWith('stub')) lines.push(` passive-interface ${i.name}`);
  }
  for (const i of router.interfaces) {
    lines.push(`interface ${i.name}`, ' ip ospf hello-interval 1', ' ip ospf dead-interval 4', ` ip ospf cost ${i.cost}`);
    if (i.element.startsWith('p2p')) lines.push(' ip ospf network point-to-point');
    // The DR the file names wins the election (§9.4: priority first, then the router ID).
    if (i.dr !== undefined) lines.push(` ip ospf priority ${i.dr ? 255 : 1}`);
  }
  return lines.join('\n') + '\n';
}

/** Starts `argv` in namespace `ns`, detached, its output appended to `logFile`; it outlives this process. */
function daemon(ns: string, argv: readonly string[], logFile: string): void {
  const fd = openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  closeSync(fd);
}

async function inNs(ns: string, argv: readonly string[]): Promise<void> {
  await runCommand(['ip', 'netns', 'exec', ns, ...argv]);
}

/** Whether this kernel has netem (tc's delay and loss): tried on a namespace's loopback. */
async function hasNetem(ns: string): Promise<boolean> {
  const tried = await runCommand(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'], { allowFailure: true });
  if (tried.code !== 0) return false;
  await runCommand(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root'], { allowFailure: true });
  return true;
}

/**
 * A state directory is the lab's to empty only if it is new, empty, or a lab's (it has lab.json, or
 * the logs/ of a lab that failed half-way): `--state-dir /srv` must never wipe /srv.
 */
async function refuseForeignDirectory(stateDir: string): Promise<void> {
  const names = await fs.readdir(stateDir).catch(() => null);
  if (names === null || names.length === 0 || names.includes('lab.json') || names.includes('logs')) return;
  throw new RangeError(`Cannot use ${stateDir} as a lab's state directory: it holds other files (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}); give a new or empty --state-dir`);
}

/** The namespaces of lab `name` that exist now. */
export async function labNamespaces(name: string): Promise<string[]> {
  const listed = await runCommand(['ip', 'netns', 'list'], { allowFailure: true });
  return listed.stdout.split('\n').map((line) => line.split(' ')[0]).filter((ns) => ns.startsWith(`${PREFIX}-${name}-`)).sort();
}

/**
 * Builds and starts the lab of `topologyFile`; returns its state (also written to STATE_DIR/lab.json).
 * A program that fails on the way is one error line naming it and its last complaint.
 */
export async function labUp(topologyFile: string, options: LabUpOptions = {}): Promise<LabState> {
  const name = labName(topologyFile);
  const spec = readTopologySpec(topologyFile);
  requirePrograms({ vtysh: 'frr', softflowd: 'softflowd', iperf3: 'iperf3', python3: 'python3', curl: 'curl', dig: 'dnsutils', tc: 'iproute2', ping: 'iputils-ping' });
  if (!existsSync(path.join(FRR_DAEMONS, 'ospfd'))) throw new RangeError(`Cannot bring lab ${name} up: ${FRR_DAEMONS}/ospfd is missing: apt-get install frr`);
  const stateDir = path.resolve(options.stateDir ?? defaultStateDir(name));
  await refuseForeignDirectory(stateDir);
  if ((await labNamespaces(name)).length > 0) throw new RangeError(`Cannot bring lab ${name} up: it is up already (endsight lab down ${topologyFile})`);
  if (spec.hosts.length < 2) throw new RangeError(`Cannot bring lab ${name} up: ${topologyFile} needs at least two hosts (hosts: - {name, stub, agent}) to carry traffic`);
  try {
    return await buildLab(name, spec, topologyFile, options);
  } catch (error) {
    // Half a lab is no lab: what was built goes; the state directory stays, for its logs.
    await labDown(topologyFile, { stateDir: options.stateDir, keepState: true });
    if (!(error instanceof CommandError)) throw error;
    const complaint = (error.result.stderr || error.result.stdout).trim().split('\n').filter(Boolean).pop() ?? `exit ${error.result.code}`;
    throw new RangeError(`Cannot bring the lab up: ${error.argv.filter((a) => !a.startsWith('-')).slice(3, 5).join(' ') || error.argv[0]} failed: ${complaint}`);
  }
}

async function buildLab(name: string, spec: TopologySpec, topologyFile: string, options: LabUpOptions): Promise<LabState> {
  const log = options.log ?? ((): void => undefined);
  const stateDir = path.resolve(options.stateDir ?? defaultStateDir(name));
  const grStateExisted = existsSync(FRR_GR_STATE_FILE);
  await fs.rm(stateDir, { recursive: true, force: true });
  await fs.mkdir(path.join(stateDir, 'logs'), { recursive: true });
  await fs.chmod(stateDir, 0o755);
  // FRR runs as the user frr and the agents' workers as nobody: every directory above must let them through.
  for (let dir = path.dirname(stateDir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (((await fs.stat(dir)).mode & 0o001) === 0) throw new RangeError(`Cannot use the state directory ${stateDir}: ${dir} does not let other users through (FRR runs as frr): chmod o+x ${dir}, or choose another --state-dir`);
  }
  const { routers, lans } = layout(spec, name);
  const model = NetworkModel.fromLsdb(topologyDatabase(spec, topologyFile), '0.0.0.0', 0);
  const plan = planProbes(model, { mode: 'light', defaultRate: 1000, collectorCapacity: 40_000 });
  const namespaces: string[] = [];
  const addNs = async (ns: string, forward: boolean): Promise<void> => {
    await runCommand(['ip', 'netns', 'add', ns]);
    namespaces.push(ns);
    await inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
    if (forward) await inNs(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  };
  const veth = async (aNs: string, aName: string, bNs: string, bName: string): Promise<void> => {
    await runCommand(['ip', 'link', 'add', aName, 'netns', aNs, 'type', 'veth', 'peer', 'name', bName, 'netns', bNs]);
    for (const [ns, ifname] of [[aNs, aName], [bNs, bName]]) await inNs(ns, ['ip', 'link', 'set', ifname, 'up']);
  };
  const address = async (ns: string, i: { name: string; address: string; bits: number }): Promise<void> => inNs(ns, ['ip', 'addr', 'add', `${i.address}/${i.bits}`, 'dev', i.name]);

  const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  log(`lab ${name}: ${count(routers.length, 'router')}, ${count(lans.length, 'LAN')}, ${count(spec.hosts.length, 'host')}; plan: probes on ${plan.probes.join(', ') || 'no router'}, collector on ${plan.collectors[0]?.node ?? '-'}`);
  for (const r of routers) await addNs(r.ns, true);
  for (const lan of lans) {
    await addNs(lan.ns, false);
    await inNs(lan.ns, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await inNs(lan.ns, ['ip', 'link', 'set', 'br0', 'up']);
  }
  // Point-to-point links: the same interface name at both ends.
  const byId = new Map(routers.map((r) => [r.id, r]));
  for (const [k, link] of spec.links.entries()) await veth(byId.get(link.a)!.ns, `p${k}`, byId.get(link.b)!.ns, `p${k}`);
  for (const [k, lan] of lans.entries()) {
    for (const [m, id] of lan.members.entries()) {
      await veth(byId.get(id)!.ns, `l${k}`, lan.ns, `m${m}`);
      await inNs(lan.ns, ['ip', 'link', 'set', `m${m}`, 'master', 'br0']);
    }
  }
  const hosts: LabState['hosts'] = [];
  const stubHosts = new Map<string, number>();
  for (const host of spec.hosts) {
    const router = routers.find((r) => r.interfaces.some((i) => i.element === `stub ${host.stub}`))!;
    const stub = router.interfaces.find((i) => i.element === `stub ${host.stub}`)!;
    const ns = `${PREFIX}-${name}-h${host.name}`; // h: no host name meets a router's (r1) or a LAN's (lan0)
    await addNs(ns, false);
    const index = stubHosts.get(host.stub) ?? 0;
    stubHosts.set(host.stub, index + 1);
    const hostAddress = quad(num(stub.address) + 1 + index);
    if (index === 0) {
      // The stub network is a bridge in the router: each host a port of it.
      await inNs(router.ns, ['ip', 'link', 'add', stub.name, 'type', 'bridge']);
      await inNs(router.ns, ['ip', 'link', 'set', stub.name, 'up']);
    }
    await veth(router.ns, `${stub.name}h${index}`, ns, 'eth0');
    await inNs(router.ns, ['ip', 'link', 'set', `${stub.name}h${index}`, 'master', stub.name]);
    await address(ns, { name: 'eth0', address: hostAddress, bits: stub.bits });
    await inNs(ns, ['ip', 'route', 'add', 'default', 'via', stub.address]);
    hosts.push({ name: host.name, ns, address: hostAddress, agent: host.agent });
  }
  for (const r of routers) {
    for (const i of r.interfaces) {
      // A stub without hosts is a dummy interface: OSPF advertises it all the same.
      if (i.element.startsWith('stub') && !spec.hosts.some((h) => `stub ${h.stub}` === i.element)) {
        await inNs(r.ns, ['ip', 'link', 'add', i.name, 'type', 'dummy']);
        await inNs(r.ns, ['ip', 'link', 'set', i.name, 'up']);
      }
      await address(r.ns, i);
    }
  }
  const netem = await hasNetem(routers[0].ns);
  if ((options.delay !== undefined || options.loss !== undefined) && !netem) {
    throw new RangeError('Cannot add delay or loss: this kernel has no netem (sch_netem); rate limits (--rate, tc tbf) work without it');
  }
  if (options.rate !== undefined || options.delay !== undefined || options.loss !== undefined) {
    for (const r of routers) {
      for (const i of r.interfaces.filter((x) => !x.element.startsWith('stub'))) {
        const qdisc = netem && (options.delay !== undefined || options.loss !== undefined)
          ? ['netem', ...(options.delay ? ['delay', options.delay] : []), ...(options.loss ? ['loss', options.loss] : []), ...(options.rate ? ['rate', options.rate] : [])]
          : ['tbf', 'rate', options.rate!, 'burst', '64kb', 'latency', '50ms'];
        await inNs(r.ns, ['tc', 'qdisc', 'add', 'dev', i.name, 'root', ...qdisc]);
      }
    }
  }

  for (const r of routers) await startFrr(r, path.join(stateDir, 'frr', r.id));
  log(`lab ${name}: FRR started on ${routers.length} routers; waiting for OSPF to converge`);
  const prefixes = new Set(routers.flatMap((r) => r.interfaces.map((i) => `${quad(num(i.address) - (num(i.address) % 2 ** (32 - i.bits)))}/${i.bits}`)));
  await waitForRoutes(routers, stateDir, prefixes);

  // The collector on the plan's collector node, listening on every address there.
  const collectorRouter = byId.get(plan.collectors[0]?.node ?? routers[0].id)!;
  const collectorAddress = collectorRouter.interfaces.find((i) => !i.element.startsWith('stub'))?.address ?? collectorRouter.interfaces[0].address;
  const logs = (file: string): string => path.join(stateDir, 'logs', file);
  daemon(collectorRouter.ns, [process.execPath, BIN, 'collect', '--listen', `udp://0.0.0.0:${COLLECTOR_PORT}`, '--data-dir', path.join(stateDir, 'collector'), '--export-interval', '2s'], logs('collector.log'));
  // Probes: on each planned router, one softflowd per interface toward another router.
  const probes: LabState['probes'] = [];
  for (const id of plan.probes) {
    const r = byId.get(id)!;
    for (const i of r.interfaces.filter((x) => !x.element.startsWith('stub'))) {
      const target = r === collectorRouter ? '127.0.0.1' : collectorAddress;
      daemon(r.ns, ['softflowd', '-d', '-i', i.name, '-v', '9', '-n', `${target}:${COLLECTOR_PORT}`, '-c', path.join(stateDir, `softflowd-${id}-${i.name}.ctl`),
        '-p', path.join(stateDir, `softflowd-${id}-${i.name}.pid`), '-t', 'maxlife=10', '-t', 'general=10', '-t', 'udp=10', '-t', 'tcp=10', '-t', 'expint=5'], logs(`softflowd-${id}-${i.name}.log`));
      probes.push({ router: id, interface: i.name });
    }
  }
  // Agents on the hosts that want one.
  const agentConfig = path.join(stateDir, 'agent.yaml');
  await fs.writeFile(agentConfig, 'flows:\n  idle_timeout: 10s\n  active_timeout: 60s\n  export_interval: 2s\n');
  for (const h of hosts.filter((x) => x.agent)) {
    const store = path.join(stateDir, 'hosts', h.name);
    await fs.mkdir(store, { recursive: true });
    // The agent's worker drops to nobody: the store is that user's, as it would be under the agent's service.
    await runCommand(['chown', 'nobody:nogroup', store]);
    daemon(h.ns, ['sh', '-c', 'mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null; exec "$@"', 'sh', process.execPath, BIN, 'agent', '--data-dir', store, '--config', agentConfig, '--id', h.name], logs(`agent-${h.name}.log`));
  }
  await startTraffic(hosts, stateDir);
  const state: LabState = {
    name, topology: path.resolve(topologyFile), stateDir, createdAt: new Date().toISOString(), namespaces,
    routers: routers.map((r) => ({ id: r.id, ns: r.ns, addresses: r.interfaces.map((i) => i.address) })),
    hosts, plan, probes, collector: { router: collectorRouter.id, ns: collectorRouter.ns, address: collectorAddress }, netem, grStateExisted,
  };
  await fs.writeFile(path.join(stateDir, 'lab.json'), JSON.stringify(state, null, 2) + '\n');
  log(`lab ${name}: up: ${namespaces.length} namespaces, ${probes.length} probes, ${hosts.filter((h) => h.agent).length} agents, traffic between ${hosts.length} hosts; state in ${stateDir}`);
  return state;
}

async function startFrr(router: LabRouter, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'zebra.conf'), `hostname ${router.id}\n`);
  await fs.writeFile(path.join(dir, 'ospfd.conf'), `hostname ${router.id}\n${ospfdConfig(router)}`);
  await runCommand(['chown', '-R', 'frr:frr', dir]);
  const common = (name: string): string[] => ['-d', '-f', path.join(dir, `${name}.conf`), '-i', path.join(dir, `${name}.pid`), '--vty_socket', dir, '-z', path.join(dir, 'zserv.api')];
  // -d: each daemon detaches once it runs; the command returns then.
  await runCommand(['ip', 'netns', 'exec', router.ns, path.join(FRR_DAEMONS, 'zebra'), ...common('zebra')]);
  await runCommand(['ip', 'netns', 'exec', router.ns, path.join(FRR_DAEMONS, 'ospfd'), ...common('ospfd')]);
}

/** Until every router has an OSPF route to every prefix of the lab. */
async function waitForRoutes(routers: readonly LabRouter[], stateDir: string, prefixes: ReadonlySet<string>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let missing = '';
    for (const r of routers) {
      const shown = await runCommand(['vtysh', '--vty_socket', path.join(stateDir, 'frr', r.id), '-c', 'show ip ospf route json'], { allowFailure: true });
      let routes: Record<string, unknown> = {};
      try {
        routes = JSON.parse(shown.stdout) as Record<string, unknown>;
      } catch {
        // not up yet
      }
      const lacking = [...prefixes].filter((p) => !(p in routes));
      if (lacking.length > 0) {
        missing = `${r.id} has no route to ${lacking.slice(0, 3).join(', ')}${lacking.length > 3 ? ', …' : ''}`;
        break;
      }
    }
    if (missing === '') return;
    if (Date.now() > deadline) throw new Error(`OSPF did not converge within ${timeoutMs / 1000} s: ${missing}`);
    await sleep(1000);
  }
}

/** A DNS responder for the lab: every A query answered with 10.255.0.1 (RFC 1035 §4.1). */
const DNS_PY = String.raw`
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 53))
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12:
        continue
    end = 12
    while end < len(q) and q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    answer = b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04' + bytes([10, 255, 0, 1])
    s.sendto(q[:2] + b'\x81\x80' + q[4:6] + b'\x00\x01\x00\x00\x00\x00' + question + answer, peer)
`;

/** Servers on every host (HTTP, DNS, iperf3) and a client loop on every host toward the others. */
async function startTraffic(hosts: LabState['hosts'], stateDir: string): Promise<void> {
  const www = path.join(stateDir, 'www');
  await fs.mkdir(www, { recursive: true });
  await fs.writeFile(path.join(www, 'index.html'), 'x'.repeat(20_000));
  await fs.writeFile(path.join(stateDir, 'dns.py'), DNS_PY);
  const logs = (file: string): string => path.join(stateDir, 'logs', file);
  for (const h of hosts) {
    daemon(h.ns, ['python3', '-m', 'http.server', '80', '--directory', www], logs(`http-${h.name}.log`));
    daemon(h.ns, ['python3', path.join(stateDir, 'dns.py')], logs(`dns-${h.name}.log`));
    daemon(h.ns, ['iperf3', '-s'], logs(`iperf3-${h.name}.log`));
  }
  await sleep(500);
  for (const h of hosts) {
    const peers = hosts.filter((x) => x !== h).map((x) => x.address).join(' ');
    const loop =
      `while true; do for p in ${peers}; do ` +
      'curl -s -o /dev/null -m 2 "http://$p/"; dig +short +tries=1 +time=1 "@$p" lab.test >/dev/null; ping -c 1 -W 1 "$p" >/dev/null; ' +
      'iperf3 -c "$p" -t 1 -b 2M >/dev/null 2>&1; sleep 1; done; done';
    daemon(h.ns, ['sh', '-c', loop], logs(`traffic-${h.name}.log`));
  }
}

/** What runs in lab `name` now, and the flows collected so far (from its state directory). */
export async function labStatus(topologyFile: string, stateDirOption?: string): Promise<{ name: string; namespaces: { ns: string; processes: number }[]; state: LabState | null }> {
  const name = labName(topologyFile);
  const stateDir = path.resolve(stateDirOption ?? defaultStateDir(name));
  const state = await fs.readFile(path.join(stateDir, 'lab.json'), 'utf8').then((t) => JSON.parse(t) as LabState, () => null);
  const namespaces = [];
  for (const ns of await labNamespaces(name)) {
    const pids = await runCommand(['ip', 'netns', 'pids', ns], { allowFailure: true });
    namespaces.push({ ns, processes: pids.stdout.split(/\s+/).filter(Boolean).length });
  }
  return { name, namespaces, state };
}

/**
 * Stops every process in the lab's namespaces (SIGTERM, then SIGKILL after `graceMs`) and deletes
 * the namespaces, whatever was built; removes the state directory unless `keepState`. Returns
 * what it removed and any problem (it never stops half-way).
 */
export async function labDown(topologyFile: string, options: { stateDir?: string; keepState?: boolean; graceMs?: number } = {}): Promise<{ namespaces: number; processes: number; problems: string[] }> {
  const name = labName(topologyFile);
  const problems: string[] = [];
  const namespaces = await labNamespaces(name);
  const pidsOf = async (ns: string): Promise<number[]> =>
    (await runCommand(['ip', 'netns', 'pids', ns], { allowFailure: true })).stdout.split(/\s+/).filter(Boolean).map(Number);
  let processes = 0;
  const signal = async (sig: NodeJS.Signals): Promise<number> => {
    let count = 0;
    for (const ns of namespaces) {
      for (const pid of await pidsOf(ns)) {
        try {
          process.kill(pid, sig);
          count++;
        } catch {
          // gone meanwhile
        }
      }
    }
    return count;
  };
  processes = await signal('SIGTERM');
  const deadline = Date.now() + (options.graceMs ?? 5000);
  while (Date.now() < deadline && (await Promise.all(namespaces.map(pidsOf))).some((p) => p.length > 0)) await sleep(200);
  await signal('SIGKILL');
  for (const ns of namespaces) {
    const deleted = await runCommand(['ip', 'netns', 'del', ns], { allowFailure: true });
    if (deleted.code !== 0) problems.push(`ip netns del ${ns}: ${deleted.stderr.trim()}`);
  }
  const stateDir = path.resolve(options.stateDir ?? defaultStateDir(name));
  const state = await fs.readFile(path.join(stateDir, 'lab.json'), 'utf8').then((t) => JSON.parse(t) as Partial<LabState>, () => null);
  // The lab's ospfds wrote their graceful-restart state there; a file that was there before is the host's FRR's.
  if (state !== null && state.grStateExisted === false) await fs.rm(FRR_GR_STATE_FILE, { force: true }).catch(() => undefined);
  if (!options.keepState) {
    const names = await fs.readdir(stateDir).catch(() => null);
    // Only a lab's own directory is removed (see refuseForeignDirectory).
    if (names !== null && (names.length === 0 || names.includes('lab.json') || names.includes('logs'))) await fs.rm(stateDir, { recursive: true, force: true });
  }
  return { namespaces: namespaces.length, processes, problems };
}

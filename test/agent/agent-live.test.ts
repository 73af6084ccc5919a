/**
 * The agent on live traffic, in two network namespaces the test creates (A runs the agent, B the
 * servers), joined by a veth pair:
 *
 * 1. Packet and byte counts from live capture equal tcpdump's on the same interface at the same time:
 *    a reference `tcpdump -i a0 -w` runs beside the agent; its file is metered with `endsight import`
 *    (checked against nfpcapd and softflowd by test/differential) and compared per 5-tuple with what
 *    the agent stored for interface a0. Directions are out (A→B) and in (B→A), local on lo.
 * 2. The health endpoint answers in Prometheus format while the agent runs.
 * 3. kill -9 under load: the store stays readable, flows that ended and were exported before the kill
 *    are all there, and after a restart capture goes on into the same store.
 *
 * Needs root and the Debian packages tcpdump, iproute2, iperf3, curl, python3, iputils-ping.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab, requirePrograms, runCommand, sleep, type BackgroundProcess, type Netns } from '../../src/lab/netns.js';
import { childProcesses, processName } from '../../src/lab/proc.js';
import { socketEventsProgramPath } from '../../src/agent/attribution/socket-events.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/agent → repository root
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const A4 = '10.77.0.1';
const B4 = '10.77.0.2';
const A6 = 'fd77::1';
const B6 = 'fd77::2';

interface Totals {
  packets: number;
  bytes: number;
}

/** Flows of a store as `proto src sport > dst dport` → totals, for rows matching `where`. */
async function totalsByTuple(dataDir: string, where: string): Promise<Map<string, Totals>> {
  const sql =
    `SELECT proto, src_addr, src_port, dst_addr, dst_port, sum(packets) AS packets, sum(bytes) AS bytes ` +
    `FROM flows WHERE ${where} GROUP BY ALL`;
  const { stdout } = await runCommand(['node', BIN, 'query', '--data-dir', dataDir, '--format', 'json', sql]);
  const out = new Map<string, Totals>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const r = JSON.parse(line) as Record<string, string | number>;
    out.set(`${r.proto} ${r.src_addr} ${r.src_port} > ${r.dst_addr} ${r.dst_port}`, { packets: Number(r.packets), bytes: Number(r.bytes) });
  }
  return out;
}

async function queryRows(dataDir: string, sql: string): Promise<Record<string, unknown>[]> {
  const { stdout } = await runCommand(['node', BIN, 'query', '--data-dir', dataDir, '--format', 'json', sql]);
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The lab's own traffic: what both captures must see alike (ND, MLD and the like may start before either listens). */
const LAB_TRAFFIC =
  `(proto IN (6, 17) OR (proto = 1 AND dst_port IN (0, 2048)) OR (proto = 58 AND dst_port IN (32768, 33024))) ` +
  `AND (src_addr IN ('${A4}', '${B4}', '${A6}', '${B6}'))`;

describe('endsight agent on live traffic', { timeout: 180_000 }, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let work: string;

  before(async () => {
    requirePrograms({ tcpdump: 'tcpdump', ip: 'iproute2', iperf3: 'iperf3', curl: 'curl', python3: 'python3', ping: 'iputils-ping' });
    lab = new Lab(`es-agent-${process.pid}`);
    work = await mkdtemp(path.join(tmpdir(), 'endsight-agent-'));
    await chmod(work, 0o755); // the agent's unprivileged worker must reach its store
    ({ a, b } = await lab.addHostPair({ a4: A4, b4: B4, a6: A6, b6: B6 }));
    const http = lab.start('http server', b.exec(['python3', '-u', '-m', 'http.server', '--bind', '::', '8080', '--directory', REPO_ROOT]));
    const iperf = lab.start('iperf3 server', b.exec(['iperf3', '-s', '-p', '5201', '--forceflush']));
    await Promise.all([http.waitForOutput(/Serving HTTP/), iperf.waitForOutput(/Server listening/)]);
  });

  after(async () => {
    const problems = await lab?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
    assert.deepEqual(problems ?? [], [], 'lab cleanup');
  });

  function startAgent(name: string, dataDir: string, config: string, healthPort: number): BackgroundProcess {
    return lab.start(name, a.exec(['node', BIN, 'agent', '--data-dir', dataDir, '--config', config, '--health', `127.0.0.1:${healthPort}`]));
  }

  async function traffic(): Promise<void> {
    for (const url of [`http://${B4}:8080/README.md`, `http://[${B6}]:8080/package.json`, `http://${B4}:8080/nothing-here`]) {
      await runCommand(a.exec(['curl', '-s', '-o', '/dev/null', url]));
    }
    await runCommand(a.exec(['iperf3', '-c', B4, '-p', '5201', '-t', '1', '-b', '100M']));
    await runCommand(a.exec(['iperf3', '-c', B6, '-p', '5201', '-t', '1', '-u', '-b', '2M']));
    await runCommand(a.exec(['ping', '-c', '5', '-i', '0.05', B4]));
    await runCommand(b.exec(['ping', '-c', '4', '-i', '0.05', A6]));
    await runCommand(a.exec(['ping', '-c', '3', '-i', '0.05', '127.0.0.1']));
  }

  it('stores what tcpdump sees on the same interface, with directions, and serves its health', async () => {
    const dataDir = path.join(work, 'live');
    const config = path.join(work, 'live.yaml');
    // The agent also exports IPFIX to endsight's own collector, on the namespace's loopback.
    const collected = path.join(work, 'collected');
    const collector = lab.start('endsight collect', a.exec(['node', BIN, 'collect', '--listen', 'udp://127.0.0.1:4739', '--data-dir', collected, '--export-interval', '1s', '--format', 'json']));
    await collector.waitForOutput(/collecting on/, 20_000);
    await writeFile(config, 'capture:\n  cpu_budget: 800%\nflows:\n  export_interval: 1s\nexport:\n  - ipfix://127.0.0.1:4739\n');
    const reference = path.join(work, 'reference.pcap');
    const tcpdump = lab.start('reference tcpdump', a.exec(['tcpdump', '-i', 'a0', '-s', '256', '-B', '16384', '-w', reference]));
    const agent = startAgent('agent', dataDir, config, 19469);
    await Promise.all([tcpdump.waitForOutput(/listening on/), agent.waitForOutput(/capture started/, 20_000)]);

    // Privilege separation: the agent process, which parses packets, has given root up, in every
    // thread, with no capability left; the capture and socket events programs have switched to its
    // user with no capability; only the privileged helper (which parses nothing) and conntrack keep root.
    const credentials = (pid: number, task = pid): { comm: string; uid: number; uids: string; capEff: string; capPrm: string } => {
      const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '';
      return { comm: field('Name'), uid: Number(field('Uid').split(/\s+/)[1]), uids: field('Uid'), capEff: field('CapEff'), capPrm: field('CapPrm') };
    };
    const threads = readdirSync(`/proc/${agent.pid!}/task`).map((task) => credentials(agent.pid!, Number(task)));
    const meterUid = threads[0].uid;
    assert.ok(meterUid !== 0, `the meter runs unprivileged: ${JSON.stringify(threads[0])}`);
    for (const t of threads) {
      assert.ok(t.uids.split(/\s+/).every((u) => Number(u) === meterUid) && /^0+$/.test(t.capEff) && /^0+$/.test(t.capPrm), `every thread of the meter is unprivileged: ${JSON.stringify(threads)}`);
    }
    const processes = descendants(agent.pid!).map((pid) => credentials(pid));
    const helper = processes.find((p) => p.comm === 'endsight-privil'); // endsight-privileged
    assert.ok(helper && helper.uid === 0, `the privileged helper keeps root: ${JSON.stringify(processes)}`);
    const captureProgram = processes.find((p) => p.comm === 'endsight-captur'); // comm: 15 characters
    assert.ok(captureProgram && captureProgram.uid === meterUid && /^0+$/.test(captureProgram.capEff), `unprivileged capture program: ${JSON.stringify(processes)}`);
    const socketEvents = processes.find((p) => p.comm === 'endsight-socket'); // endsight-socket-events
    assert.ok(socketEvents && socketEvents.uid === meterUid && /^0+$/.test(socketEvents.capEff), `unprivileged socket events program: ${JSON.stringify(processes)}`);

    await traffic();
    await sleep(2500); // the ring's block timeout and the capture program's 1 s batches: both captures have every packet
    const metrics = (await runCommand(a.exec(['curl', '-s', 'http://127.0.0.1:19469/metrics']))).stdout;
    assert.match(metrics, /^endsight_capture_packets_dropped_total 0$/m, 'the agent lost nothing in the kernel');
    assert.match(metrics, /^endsight_up 1$/m);
    assert.match(metrics, /^# TYPE endsight_capture_packets_dropped_total counter$/m);
    const seen = Number(/^endsight_packets_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(seen > 0, `endsight_packets_total should count the traffic: ${metrics}`);

    await agent.stop('SIGTERM', 20_000);
    assert.equal(agent.exitCode, 0, `agent exit: ${agent.stderr}`);
    assert.match(agent.stderr, /every flow stored/);
    await tcpdump.stop('SIGTERM');
    assert.match(tcpdump.stderr, /\b0 packets dropped by kernel/, `the reference capture is complete: ${tcpdump.stderr}`);

    const referenceStore = path.join(work, 'reference-store');
    await runCommand(['node', BIN, 'import', '-q', '--data-dir', referenceStore, reference]);
    const live = await totalsByTuple(dataDir, `interface = 'a0' AND ${LAB_TRAFFIC}`);
    const expected = await totalsByTuple(referenceStore, LAB_TRAFFIC);
    assert.ok(expected.size >= 12, `the reference capture holds the lab's flows: ${[...expected.keys()].join(', ')}`);
    assert.deepEqual(
      Object.fromEntries([...live].sort()),
      Object.fromEntries([...expected].sort()),
      `agent (live) vs reference tcpdump per 5-tuple; reference said: ${tcpdump.stderr.replace(/\s+/g, ' ').trim()}`,
    );

    const directions = await queryRows(dataDir, `SELECT DISTINCT interface, direction, src_addr FROM flows WHERE ${LAB_TRAFFIC} OR interface = 'lo' ORDER BY ALL`);
    for (const row of directions) {
      const want = row.interface === 'lo' ? 'local' : row.src_addr === A4 || row.src_addr === A6 ? 'out' : 'in';
      assert.equal(row.direction, want, `direction of ${JSON.stringify(row)}`);
    }
    assert.ok(directions.some((r) => r.interface === 'lo'), 'loopback traffic is captured too');
    assert.deepEqual(await queryRows(dataDir, `SELECT DISTINCT source, sampling FROM flows`), [{ source: 'live', sampling: 1 }]);

    // What the agent exported as IPFIX is what it stored, host context included (enterprise 32473).
    await sleep(500);
    await collector.stop('SIGTERM', 10_000);
    const summary = JSON.parse(collector.stdout.trim()) as { exporters: { lost: number; issues: object }[] };
    assert.deepEqual(summary.exporters.map((e) => [e.lost, e.issues]), [[0, {}]], collector.stdout);
    const context = "src_addr, dst_addr, src_port, dst_port, proto, packets, bytes, direction, process, pid, username, uid";
    const exported = await queryRows(collected, `SELECT ${context} FROM flows WHERE ${LAB_TRAFFIC} ORDER BY ALL`);
    const stored = await queryRows(dataDir, `SELECT ${context} FROM flows WHERE interface = 'a0' AND ${LAB_TRAFFIC} ORDER BY ALL`);
    assert.deepEqual(exported, stored);
    assert.ok(stored.some((r) => r.process === 'curl' && r.username === 'root'), 'the exported flows carry their process and user');
  });

  it('reloads its configuration on SIGHUP: a new filter restarts the capture; a broken file is refused', async () => {
    const dataDir = path.join(work, 'reload');
    const config = path.join(work, 'reload.yaml');
    await writeFile(config, 'capture:\n  cpu_budget: 800%\nflows:\n  export_interval: 1s\n');
    const agent = startAgent('agent (reload)', dataDir, config, 19473);
    await agent.waitForOutput(/capture started/, 20_000);
    await runCommand(a.exec(['ping', '-c', '2', '-i', '0.05', B4]));
    await writeFile(config, 'flows:\n  export_interval: 1s\ncapture:\n  cpu_budget: 800%\n  filter: not icmp and not icmp6\n');
    process.kill(agent.pid!, 'SIGHUP');
    await agent.waitForOutput(/capture restarting with the reloaded settings/, 10_000);
    await agent.waitForOutput(/capture started[\s\S]*capture started/, 20_000);
    await runCommand(a.exec(['ping', '-c', '3', '-i', '0.05', B6]));
    await runCommand(a.exec(['curl', '-s', '-o', '/dev/null', `http://${B4}:8080/package.json`]));
    await writeFile(config, 'capture:\n  cpu_budget: 800%\nflows:\n  export_interval: never\n');
    process.kill(agent.pid!, 'SIGHUP');
    await agent.waitForOutput(/configuration not reloaded/, 10_000);
    await sleep(2500);
    await agent.stop('SIGTERM', 20_000);
    assert.equal(agent.exitCode, 0, agent.stderr);
    const rows = await queryRows(dataDir, `SELECT proto, dst_addr, sum(packets) AS packets FROM flows WHERE proto IN (1, 58) AND dst_port IN (2048, 32768) AND src_addr IN ('${A4}', '${A6}') GROUP BY ALL`);
    assert.deepEqual(rows, [{ proto: 1, dst_addr: B4, packets: 2 }], 'echo requests before the reload only; none after `not icmp and not icmp6`');
    const tcp = await queryRows(dataDir, `SELECT count(*) AS n FROM flows WHERE proto = 6 AND dst_port = 8080`);
    assert.equal(Number(tcp[0].n), 1, 'other traffic is still captured after the reload');
  });

  it('without the privileges eBPF needs goes on unattributed and says why; follows an address added while it runs', async () => {
    // Root, but with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN out of its bounding set: the kernel refuses the program.
    requirePrograms({ setpriv: 'util-linux' });
    const dataDir = path.join(work, 'degraded');
    const config = path.join(work, 'degraded.yaml');
    await writeFile(config, 'capture:\n  cpu_budget: 800%\nflows:\n  export_interval: 1s\n  fin_timeout: 1s\n');
    const command = ['setpriv', '--bounding-set=-bpf,-perfmon,-sys_admin', 'node', BIN, 'agent', '--data-dir', dataDir, '--config', config, '--health', '127.0.0.1:19474'];
    const agent = lab.start('agent (no eBPF)', a.exec(command), {});
    await agent.waitForOutput(/capture started/, 20_000);
    // Inside `ip netns exec` tracefs must be mounted anew, which CAP_SYS_ADMIN allows: without it, that is the reason given.
    assert.match(agent.stderr, /"reason":"(tracefs is not mounted, so eBPF tracepoints cannot attach|eBPF needs root, or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)[^"]*","msg":"attribution unavailable: process, user and container stay NULL"/);
    // Where tracefs is mounted, the kernel's refusal is the reason, in one line (exit code 3).
    const refused = spawnSync('setpriv', ['--bounding-set=-bpf,-perfmon,-sys_admin', socketEventsProgramPath()], { encoding: 'utf8' });
    assert.equal(refused.status, 3, refused.stderr);
    assert.match(refused.stderr, /endsight-socket-events: the kernel did not load the eBPF program: Operation not permitted\n$/);
    const metrics = (await runCommand(a.exec(['curl', '-s', 'http://127.0.0.1:19474/metrics']))).stdout;
    assert.match(metrics, /^endsight_attribution_up 0$/m);
    // A new address on a0, used at once.
    const added = '10.77.0.11';
    await runCommand(a.exec(['ip', 'addr', 'add', `${added}/24`, 'dev', 'a0']));
    await sleep(1500); // the agent re-reads the host's addresses every second
    await runCommand(a.exec(['curl', '-s', '-o', '/dev/null', '--interface', added, `http://${B4}:8080/package.json`]));
    await sleep(2500);
    await agent.stop('SIGTERM', 20_000);
    assert.equal(agent.exitCode, 0, agent.stderr);
    await runCommand(a.exec(['ip', 'addr', 'del', `${added}/24`, 'dev', 'a0']));
    const rows = await queryRows(dataDir, `SELECT src_addr, direction, process FROM flows WHERE proto = 6 AND (src_addr = '${added}' OR dst_addr = '${added}') ORDER BY src_addr`);
    assert.deepEqual(rows, [
      { src_addr: added, direction: 'out', process: null }, // '10.77.0.11' sorts before '10.77.0.2'
      { src_addr: B4, direction: 'in', process: null },
    ]);
  });

  /** Every process below `pid`. */
  function descendants(pid: number): number[] {
    return childProcesses(pid).flatMap((child) => [child, ...descendants(child)]);
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  it('survives kill -9 under load: the store stays readable, exported flows stay, capture resumes after restart', async () => {
    const dataDir = path.join(work, 'crash');
    const config = path.join(work, 'crash.yaml');
    await writeFile(config, 'capture:\n  cpu_budget: 800%\nflows:\n  export_interval: 1s\n  fin_timeout: 1s\n  idle_timeout: 3s\n');
    const agent = startAgent('agent before kill', dataDir, config, 19470);
    await agent.waitForOutput(/capture started/, 20_000);
    // Short connections that end (FIN + 1 s) and are exported (1 s) well before the kill.
    for (let i = 0; i < 5; i++) await runCommand(a.exec(['curl', '-s', '-o', '/dev/null', `http://${B4}:8080/package.json?early=${i}`]));
    const load = lab.start('load', a.exec(['iperf3', '-c', B4, '-p', '5201', '-t', '30', '-b', '20M']));
    // FIN + 1 s, the agent's 5 s delivery slack, then the 1 s export: all stored within about 8 s.
    await sleep(10_000);
    const programs = descendants(agent.pid!);
    assert.ok(programs.length >= 4, `the agent's privileged helper, capture and socket events programs, conntrack: ${programs.join(', ')}`);
    process.kill(agent.pid!, 'SIGKILL'); // the agent only: the capture program, its child, stays as after a real crash
    await agent.exited;
    await load.stop('SIGTERM');
    await runCommand(['pkill', '-KILL', '-g', String(agent.pid)], { allowFailure: true });
    // Whatever the agent started goes with it (the native programs ask for SIGTERM when their parent dies).
    const deadline = Date.now() + 5000;
    while (programs.some(alive) && Date.now() < deadline) await sleep(100);
    assert.deepEqual(programs.filter(alive).map(processName), [], 'no program of the killed agent is left running');

    const early = await queryRows(dataDir, `SELECT count(*) AS n FROM flows WHERE proto = 6 AND dst_port = 8080 AND src_addr = '${A4}'`);
    assert.equal(Number(early[0].n), 5, 'the five early connections, exported before the kill, are stored');

    const restarted = startAgent('agent after kill', dataDir, config, 19470);
    await restarted.waitForOutput(/capture started/, 20_000);
    await runCommand(a.exec(['curl', '-s', '-o', '/dev/null', `http://${B4}:8080/package.json?late=1`]));
    await sleep(1500);
    await restarted.stop('SIGTERM', 20_000);
    assert.equal(restarted.exitCode, 0, `restarted agent exit: ${restarted.stderr}`);
    const after = await queryRows(dataDir, `SELECT count(*) AS n FROM flows WHERE proto = 6 AND dst_port = 8080 AND src_addr = '${A4}'`);
    assert.equal(Number(after[0].n), 6, 'the connection made after the restart is stored in the same store');
  });
});

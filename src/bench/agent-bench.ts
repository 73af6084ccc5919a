/**
 * The agent's benchmark (issue 3): CPU and memory of `endsight agent` against softflowd and nethogs,
 * all three capturing the same live traffic in the same run.
 *
 * Two namespaces joined by a veth pair; in A run the agent (with its capture and socket events programs),
 * `softflowd -i a0` and `nethogs -t a0`; iperf3 in A sends UDP datagrams with 64-byte payloads to B
 * at each target rate. Over a steady window each tool's CPU comes from /proc (schedstat; the agent's
 * is the sum of all its processes: the meter, the privileged helper, the capture and socket events
 * programs, conntrack), the packets from iperf3's own count, the agent's drops
 * from libpcap's counters. Then 100,000 one-packet flows are sent and the agent's memory is read
 * with them all active. Needs root and the Debian packages iperf3, softflowd, nethogs,
 * iproute2, python3.
 */
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Lab, requirePrograms, runCommand, sleep, type Netns } from '../lab/netns.js';
import { childProcesses, cpuSeconds, processName, statusField } from '../lab/proc.js';

export const AGENT_TARGETS = { cpuPerPacketVsSoftflowd: 1.5, dropsAtHighRate: 0, attributedBytes: 0.99, rssAt100kFlowsBytes: 150e6 };

export interface AgentBenchOptions {
  repoDir: string;
  rates: number[];
  windowSeconds: number;
  activeFlows: number;
}

interface ToolCpu {
  tool: string;
  cpuSeconds: number;
  /** Share of one core over the window. */
  cpuShare: number;
  /** CPU per packet, microseconds. */
  cpuUsPerPacket: number;
  rssBytes: number;
}

export interface AgentRateResult {
  targetRate: number;
  packets: number;
  packetsPerSecond: number;
  tools: ToolCpu[];
  /** The agent's own parts: the meter (node), the privileged helper, the capture program, the socket events program (attribution), conntrack. */
  agentParts: ToolCpu[];
  agentDrops: number;
  agentSampling: number;
}

export interface AgentBenchReport {
  /** CPU with no traffic (the floor): the agent's sum and parts, then the peers. */
  idle: { tools: ToolCpu[]; agentParts: ToolCpu[] };
  rates: AgentRateResult[];
  attributedBytesShare: number;
  activeFlows: {
    flows: number;
    rssBytes: { agent: number; capture: number; events: number };
    /** The same without file-backed pages (node's binary and libraries). */
    anonBytes: { agent: number; capture: number; events: number };
    /** Proportional set size of all the agent's processes: shared pages divided among the processes that map them. */
    pssBytes: number;
  };
}

const A4 = '10.81.0.1';
const B4 = '10.81.0.2';
const HEALTH = '127.0.0.1:19480';
/** The capture program's name in /proc (comm: its first 15 characters). */
const CAPTURE_COMM = 'endsight-captur';
const EVENTS_COMM = 'endsight-socket';
const HELPER_COMM = 'endsight-privil';
const PART_NAMES: Record<string, string> = { [CAPTURE_COMM]: 'capture', [EVENTS_COMM]: 'events', [HELPER_COMM]: 'privileged helper' };

/** Every process below `pid`. */
function descendants(pid: number): number[] {
  return childProcesses(pid).flatMap((child) => [child, ...descendants(child)]);
}

/** CPU time and RSS of a process; RssAnon is its own memory, without the file-backed (shared, reclaimable) library pages. */
function procStat(pid: number): { cpuSeconds: number; rssBytes: number; anonBytes: number; pssBytes: number } {
  const kb = (field: string): number => Number(/^(\d+) kB$/.exec(statusField(pid, field))?.[1] ?? NaN) * 1024;
  // PSS: each shared page counted once over all the processes that map it (node's code, libraries).
  const pss = Number(/^Pss:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN) * 1024;
  return { cpuSeconds: cpuSeconds(pid), rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon'), pssBytes: pss };
}

async function metric(ns: Netns, name: string): Promise<number> {
  const text = (await runCommand(ns.exec(['curl', '-s', `http://${HEALTH}/metrics`]))).stdout;
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

/** Sends one datagram to each of `count` destination ports (from as many source sockets as needed): `count` new flows. */
const SPRAY_PY = String.raw`
import socket, sys
host, count = sys.argv[1], int(sys.argv[2])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range((count + 59999) // 60000)]
for i in range(count):
    socks[i // 60000].sendto(b'x', (host, 1024 + i % 60000))
`;

export async function runAgentBench(options: AgentBenchOptions, log: (line: string) => void): Promise<AgentBenchReport> {
  requirePrograms({ iperf3: 'iperf3', softflowd: 'softflowd', nethogs: 'nethogs', ip: 'iproute2', python3: 'python3', curl: 'curl' });
  const lab = new Lab(`es-agentbench-${process.pid}`);
  const work = await mkdtemp(path.join(tmpdir(), 'endsight-agentbench-'));
  await chmod(work, 0o755); // the agent's unprivileged meter must reach its store
  try {
    const { a, b } = await lab.addHostPair({ a4: A4, b4: B4 });
    const server = lab.start('iperf3 server', b.exec(['iperf3', '-s', '-p', '5201', '--forceflush']));
    await server.waitForOutput(/Server listening/);

    const dataDir = path.join(work, 'store');
    const config = path.join(work, 'agent.yaml');
    // The budget is lifted so that the agent meters every packet: the benchmark measures the full cost.
    await writeFile(config, `capture:\n  cpu_budget: 800%\nflows:\n  max_flows: ${Math.max(options.activeFlows * 2, 200_000)}\n`);
    const agent = lab.start('agent', a.exec(['node', path.join(options.repoDir, 'bin', 'endsight.js'), 'agent', '--data-dir', dataDir, '--config', config, '--health', HEALTH]));
    await agent.waitForOutput(/capture started/, 60_000);
    const softflowd = lab.start('softflowd', a.exec(['softflowd', '-i', 'a0', '-n', '127.0.0.1:9995', '-v', '9', '-d', '-c', path.join(work, 'softflowd.ctl'), '-p', path.join(work, 'softflowd.pid')]));
    const nethogs = lab.start('nethogs', a.exec(['nethogs', '-t', '-d', '1', 'a0']));
    await sleep(3000);
    for (const p of [softflowd, nethogs]) if (p.hasExited) throw new Error(`${p.name} exited: ${p.stderr.slice(-500)}`);
    // As root the agent is the meter (node, unprivileged once started) and its privileged helper, whose
    // children are the capture and socket events programs and conntrack.
    const parts = (): { name: string; pid: number }[] => [
      { name: 'meter', pid: agent.pid! },
      ...descendants(agent.pid!).map((pid) => ({ name: PART_NAMES[processName(pid)] ?? processName(pid), pid })),
    ];

    // CPU of each watched process between two readings; per packet when packets are given.
    const cpuOver = (watched: { name: string; pid: number }[], before: ReturnType<typeof procStat>[], elapsed: number, packets: number): ToolCpu[] =>
      watched.map((w, i): ToolCpu => {
        const after = procStat(w.pid);
        const cpuSeconds = after.cpuSeconds - before[i].cpuSeconds;
        return { tool: w.name, cpuSeconds, cpuShare: cpuSeconds / elapsed, cpuUsPerPacket: packets > 0 ? (cpuSeconds * 1e6) / packets : 0, rssBytes: after.rssBytes };
      });
    const sum = (xs: ToolCpu[]): ToolCpu => ({
      tool: 'endsight agent',
      cpuSeconds: xs.reduce((s, x) => s + x.cpuSeconds, 0),
      cpuShare: xs.reduce((s, x) => s + x.cpuShare, 0),
      cpuUsPerPacket: xs.reduce((s, x) => s + x.cpuUsPerPacket, 0),
      rssBytes: xs.reduce((s, x) => s + x.rssBytes, 0),
    });
    const peers = [{ name: 'softflowd', pid: softflowd.pid! }, { name: 'nethogs', pid: nethogs.pid! }];

    await sleep(7000); // the agent's start-up work (compiling, loading the eBPF program, the store) is over
    log(`agent bench: no traffic for ${options.windowSeconds} s (the floor)`);
    const idleWatched = [...parts(), ...peers];
    const idleBefore = idleWatched.map((w) => procStat(w.pid));
    const idleStart = Date.now();
    await sleep(options.windowSeconds * 1000);
    const idleCpu = cpuOver(idleWatched, idleBefore, (Date.now() - idleStart) / 1000, 0);
    const idleParts = idleCpu.slice(0, idleWatched.length - peers.length);
    const idle = { tools: [sum(idleParts), ...idleCpu.slice(idleParts.length)], agentParts: idleParts };

    const rates: AgentRateResult[] = [];
    for (const rate of options.rates) {
      log(`agent bench: ${rate.toLocaleString('en-US')} packets/s for ${options.windowSeconds + 3} s`);
      const dropsBefore = await metric(a, 'endsight_capture_packets_dropped_total');
      const seconds = options.windowSeconds + 3;
      // iperf3's pacing tops out below 150,000 datagrams/s here; at high targets it sends as fast as it can (-b 0).
      const bandwidth = rate >= 100_000 ? '0' : String(rate * 64 * 8);
      const iperf = lab.start('iperf3', a.exec(['iperf3', '-c', B4, '-p', '5201', '-u', '-l', '64', '-b', bandwidth, '-t', String(seconds), '-J']));
      await sleep(3000);
      const agentParts = parts();
      const watched = [...agentParts, ...peers];
      const before = watched.map((w) => procStat(w.pid));
      const startedAt = Date.now();
      await iperf.waitForExit(seconds * 1000 + 30_000);
      const elapsed = (Date.now() - startedAt) / 1000;
      const result = JSON.parse(iperf.stdout) as { end: { sum: { packets: number; seconds: number } } };
      const pps = result.end.sum.packets / result.end.sum.seconds;
      const cpu = cpuOver(watched, before, elapsed, pps * elapsed);
      const partsCpu = cpu.slice(0, agentParts.length);
      await sleep(2500);
      rates.push({
        targetRate: rate,
        packets: result.end.sum.packets,
        packetsPerSecond: pps,
        tools: [sum(partsCpu), ...cpu.slice(agentParts.length)],
        agentParts: partsCpu,
        agentDrops: (await metric(a, 'endsight_capture_packets_dropped_total')) - dropsBefore,
        agentSampling: await metric(a, 'endsight_sampling_rate'),
      });
    }

    log(`agent bench: ${options.activeFlows.toLocaleString('en-US')} active flows`);
    const spray = path.join(work, 'spray.py');
    await writeFile(spray, SPRAY_PY);
    await runCommand(a.exec(['python3', spray, B4, String(options.activeFlows)]), { timeoutMs: 120_000 });
    await sleep(4000);
    const flows = await metric(a, 'endsight_flows_active');
    const meter = procStat(agent.pid!);
    const rss = { agent: meter.rssBytes, capture: 0, events: 0 };
    const anon = { agent: meter.anonBytes, capture: 0, events: 0 };
    let pss = meter.pssBytes;
    for (const child of descendants(agent.pid!)) {
      const name = processName(child);
      const stat = procStat(child);
      const part = name === CAPTURE_COMM ? 'capture' : name === EVENTS_COMM ? 'events' : 'agent'; // 'agent': the meter, the privileged helper, conntrack
      rss[part] += stat.rssBytes;
      anon[part] += stat.anonBytes;
      pss += stat.pssBytes;
    }

    await agent.stop('SIGTERM', 60_000);
    const query = await runCommand([
      'node', path.join(options.repoDir, 'bin', 'endsight.js'), 'query', '--data-dir', dataDir, '--format', 'json',
      `SELECT sum(bytes) FILTER (WHERE process = 'iperf3') / sum(bytes) AS share FROM flows WHERE proto = 17 AND src_addr = '${A4}' AND dst_port = 5201`,
    ]);
    const attributedBytesShare = Number((JSON.parse(query.stdout.trim()) as { share: number }).share);
    return { idle, rates, attributedBytesShare, activeFlows: { flows, rssBytes: rss, anonBytes: anon, pssBytes: pss } };
  } finally {
    await lab.cleanup();
    await rm(work, { recursive: true, force: true });
  }
}

/** The report's lines, with ratios against softflowd measured in the same run. */
export function formatAgentBench(r: AgentBenchReport): string[] {
  const out: string[] = ['', 'agent: live capture of iperf3 UDP (64-byte payloads) on a veth pair; endsight agent = meter + privileged helper + capture program + socket events program + conntrack'];
  out.push('rate (pkt/s)  tool            CPU % of a core  CPU µs/packet  RSS MB   vs softflowd');
  for (const t of r.idle.tools) out.push(`${'no traffic'.padStart(12)}  ${t.tool.padEnd(14)}  ${(100 * t.cpuShare).toFixed(2).padStart(15)}`);
  out.push(`              agent parts: ${r.idle.agentParts.map((p) => `${p.tool} ${(100 * p.cpuShare).toFixed(2)}%`).join(', ')}`);
  for (const rate of r.rates) {
    const softflowd = rate.tools.find((t) => t.tool === 'softflowd')!;
    for (const t of rate.tools) {
      out.push(
        `${Math.round(rate.packetsPerSecond).toLocaleString('en-US').padStart(12)}  ${t.tool.padEnd(14)}  ${(100 * t.cpuShare).toFixed(1).padStart(15)}  ` +
          `${t.cpuUsPerPacket.toFixed(3).padStart(13)}  ${(t.rssBytes / 1e6).toFixed(1).padStart(6)}   ${(t.cpuUsPerPacket / softflowd.cpuUsPerPacket).toFixed(2)}x`,
      );
    }
    out.push(
      `              agent parts: ${rate.agentParts.map((p) => `${p.tool} ${(100 * p.cpuShare).toFixed(1)}%`).join(', ')}; ` +
        `kernel drops ${rate.agentDrops}; sampling 1 in ${rate.agentSampling}`,
    );
  }
  const high = r.rates.at(-1)!;
  const low = r.rates[0];
  const ratio = (x: AgentRateResult): number => x.tools[0].cpuUsPerPacket / x.tools.find((t) => t.tool === 'softflowd')!.cpuUsPerPacket;
  const pass = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
  out.push('');
  out.push(`CPU per packet vs softflowd at ${Math.round(low.packetsPerSecond)} pkt/s      ${ratio(low).toFixed(2)}x   target <= ${AGENT_TARGETS.cpuPerPacketVsSoftflowd}x  ${pass(ratio(low) <= AGENT_TARGETS.cpuPerPacketVsSoftflowd)}`);
  out.push(`CPU per packet vs softflowd at ${Math.round(high.packetsPerSecond)} pkt/s     ${ratio(high).toFixed(2)}x   target <= ${AGENT_TARGETS.cpuPerPacketVsSoftflowd}x  ${pass(ratio(high) <= AGENT_TARGETS.cpuPerPacketVsSoftflowd)}`);
  out.push(`kernel drops at ${Math.round(high.packetsPerSecond)} pkt/s                     ${high.agentDrops}       target 0      ${pass(high.agentDrops === 0)}`);
  out.push(`bytes attributed (iperf3's flow)                 ${(100 * r.attributedBytesShare).toFixed(1)}%  target >= 99%  ${pass(r.attributedBytesShare >= AGENT_TARGETS.attributedBytes)}`);
  const { agent, capture, events } = r.activeFlows.rssBytes;
  const total = agent + capture + events;
  const anon = r.activeFlows.anonBytes;
  const anonTotal = anon.agent + anon.capture + anon.events;
  out.push(
    `RSS at ${r.activeFlows.flows.toLocaleString('en-US')} active flows (all the agent's processes)  ${(total / 1e6).toFixed(0)} MB  target < 150 MB  ${pass(total < AGENT_TARGETS.rssAt100kFlowsBytes)}` +
      `  (meter, privileged helper and conntrack ${(agent / 1e6).toFixed(0)} MB, capture program ${(capture / 1e6).toFixed(0)} MB, socket events program ${(events / 1e6).toFixed(0)} MB)`,
  );
  out.push(
    `the same without file-backed pages (RssAnon)                ${(anonTotal / 1e6).toFixed(0)} MB  target < 150 MB  ${pass(anonTotal < AGENT_TARGETS.rssAt100kFlowsBytes)}` +
      `  (meter, privileged helper and conntrack ${(anon.agent / 1e6).toFixed(0)} MB, capture program ${(anon.capture / 1e6).toFixed(0)} MB, socket events program ${(anon.events / 1e6).toFixed(0)} MB; ` +
      'file-backed pages are the shared, reclaimable code of node and the libraries)',
  );
  out.push(`the same as PSS (shared pages counted once)                 ${(r.activeFlows.pssBytes / 1e6).toFixed(0)} MB  target < 150 MB  ${pass(r.activeFlows.pssBytes < AGENT_TARGETS.rssAt100kFlowsBytes)}`);
  return out;
}

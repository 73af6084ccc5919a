/**
 * The agent's CPU budget under a packet storm (issue 3, "a resource budget"): iperf3 sends UDP
 * datagrams with 64-byte payloads as fast as it can from A to B while the agent in A runs with
 * `capture.cpu_budget: 5%` (it needs about 9% to meter every packet of this storm). The agent must
 * - stay within its budget once the sampling has settled (measured from /proc over the
 *   storm's second half), up to the floor that sampling cannot remove (reading the capture pipe):
 *   within twice the budget,
 * - store the storm flow with `sampling` > 1 and packets scaled so that the estimate is within 10% of
 *   what iperf3 says it sent,
 * - go back to every packet (sampling 1) once the storm is over.
 * Needs root, tcpdump, iperf3, iproute2.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab, requirePrograms, runCommand, sleep, type Netns } from '../../src/lab/netns.js';
import { childProcesses, cpuSeconds, processName } from '../../src/lab/proc.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const A4 = '10.79.0.1';
const B4 = '10.79.0.2';
const BUDGET = 0.05;
const STORM_SECONDS = 10;

/**
 * The process that meters: the agent itself, or, when it runs as root with privilege separation, its
 * worker (the child running node).
 */
function meteringPid(agentPid: number): number {
  return childProcesses(agentPid).find((pid) => processName(pid) === 'node') ?? agentPid;
}

async function metric(ns: Netns, name: string): Promise<number> {
  const text = (await runCommand(ns.exec(['curl', '-s', 'http://127.0.0.1:19472/metrics']))).stdout;
  const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
  assert.ok(value !== undefined, `${name} in ${text}`);
  return Number(value);
}

describe('agent CPU budget under a packet storm', { timeout: 120_000 }, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let work: string;

  before(async () => {
    requirePrograms({ tcpdump: 'tcpdump', iperf3: 'iperf3', ip: 'iproute2', curl: 'curl' });
    lab = new Lab(`es-budget-${process.pid}`);
    work = await mkdtemp(path.join(tmpdir(), 'endsight-budget-'));
    await chmod(work, 0o755); // the agent's unprivileged worker must reach its store
    ({ a, b } = await lab.addHostPair({ a4: A4, b4: B4 }));
  });

  after(async () => {
    const problems = (await lab?.cleanup()) ?? [];
    if (work) await rm(work, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'cleanup');
  });

  it('samples to stay within the budget, scales the counts, and stops sampling after the storm', async () => {
    const server = lab.start('iperf3 server', b.exec(['iperf3', '-s', '-p', '5201', '--forceflush']));
    await server.waitForOutput(/Server listening/);
    const config = path.join(work, 'agent.yaml');
    writeFileSync(config, `capture:\n  cpu_budget: ${BUDGET * 100}%\nflows:\n  export_interval: 1s\n`);
    const dataDir = path.join(work, 'store');
    const agent = lab.start('agent', a.exec(['node', BIN, 'agent', '--data-dir', dataDir, '--config', config, '--health', '127.0.0.1:19472']));
    await agent.waitForOutput(/capture started/, 30_000);
    await sleep(2000); // start-up work (bpftrace, DuckDB) is over

    const storm = lab.start('storm', a.exec(['iperf3', '-c', B4, '-p', '5201', '-u', '-l', '64', '-b', '0', '-t', String(STORM_SECONDS), '-J']));
    await sleep((STORM_SECONDS / 2) * 1000);
    const meter = meteringPid(agent.pid!);
    const cpuAtHalf = cpuSeconds(meter);
    const halfAt = Date.now();
    await storm.waitForExit(STORM_SECONDS * 1000 + 20_000);
    const cpuShare = (cpuSeconds(meter) - cpuAtHalf) / ((Date.now() - halfAt) / 1000);
    const sent = (JSON.parse(storm.stdout) as { end: { sum: { packets: number } } }).end.sum.packets;
    const samplingDuringStorm = await metric(a, 'endsight_sampling_rate');
    const dropped = await metric(a, 'endsight_capture_packets_dropped_total');

    let samplingAfter = samplingDuringStorm;
    for (let i = 0; i < 20 && samplingAfter > 1; i++) {
      await sleep(1000);
      samplingAfter = await metric(a, 'endsight_sampling_rate');
    }
    await agent.stop('SIGTERM', 30_000);
    assert.equal(agent.exitCode, 0, agent.stderr);

    const { stdout } = await runCommand([
      'node', BIN, 'query', '--data-dir', dataDir, '--format', 'json',
      `SELECT sum(packets) AS packets, max(sampling) AS sampling FROM flows WHERE proto = 17 AND src_addr = '${A4}' AND dst_port = 5201`,
    ]);
    const stored = JSON.parse(stdout.trim()) as { packets: number; sampling: number };
    console.log(
      `storm: iperf3 sent ${sent} datagrams (${Math.round(sent / STORM_SECONDS)}/s); agent CPU ${(100 * cpuShare).toFixed(1)}% of a core ` +
        `(budget ${100 * BUDGET}%) over the second half; sampling 1 in ${samplingDuringStorm} (max stored ${stored.sampling}); ` +
        `estimated ${stored.packets} packets (${((100 * stored.packets) / sent).toFixed(1)}% of sent); kernel drops ${dropped}; sampling back to ${samplingAfter}`,
    );
    assert.ok(sent > 100_000, `the storm is a storm: ${sent} datagrams`);
    assert.ok(stored.sampling > 1, 'the storm flow was sampled');
    // Sampling cannot remove the cost of reading every packet from the capture pipe (4–9% of a core at
    // this rate on this shared machine, docs/agent.md): the budget is met up to that floor.
    assert.ok(cpuShare <= BUDGET * 2, `agent CPU ${(100 * cpuShare).toFixed(1)}% stays within twice the ${100 * BUDGET}% budget`);
    assert.ok(Math.abs(stored.packets - sent) / sent <= 0.1, `scaled estimate ${stored.packets} within 10% of ${sent} sent`);
    assert.equal(samplingAfter, 1, 'every packet is metered again after the storm');
    assert.match(agent.stderr, /over the CPU budget: metering 1 packet in \d+/);
  });
});

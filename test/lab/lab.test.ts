/**
 * `endsight lab` on samples/office.yaml (issue 8): a lab of nine namespaces (four FRR routers, a LAN
 * switch, four hosts) comes up, carries the traffic it generates, and yields flows from the planned
 * probes only (NetFlow from 0.0.0.2, 0.0.0.3 and 0.0.0.4 at its collector; none from 0.0.0.1, which
 * the plan leaves out) and from the two agents; `lab down` then leaves no namespace, process or
 * interface behind. Needs root, frr, softflowd, iperf3, python3, curl and dig.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requirePrograms, runCommand, sleep } from '../../src/lab/netns.js';
import { labDown, labNamespaces, type LabState } from '../../src/lab/network-lab.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(REPO, 'bin', 'endsight.js');

describe('endsight lab', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-lab-'));
  // The lab is named after its file: a name of its own, so that it never meets a lab of the user's.
  const topology = path.join(dir, `t${process.pid % 100000}.yaml`);
  const stateDir = path.join(dir, 'state');
  let rootLinks = '';

  before(async () => {
    requirePrograms({ vtysh: 'frr', softflowd: 'softflowd', iperf3: 'iperf3', python3: 'python3', curl: 'curl', dig: 'dnsutils', tc: 'iproute2' });
    if (process.getuid?.() !== 0) assert.fail('this test makes network namespaces and runs FRR, which needs root');
    chmodSync(dir, 0o755); // FRR (user frr) and the agents' workers reach the state directory below it
    copyFileSync(path.join(REPO, 'samples', 'office.yaml'), topology);
    rootLinks = (await runCommand(['ip', '-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(':')[1]?.trim()).sort().join(' ');
  });

  after(async () => {
    await labDown(topology, { stateDir });
    rmSync(dir, { recursive: true, force: true });
  });

  it('comes up, carries traffic, yields flows on the planned probes only, and goes down without a trace', async () => {
    const lab = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      runCommand([process.execPath, BIN, 'lab', ...args, topology, '--state-dir', stateDir, '--format', 'json'], { allowFailure: true, timeoutMs: 180_000 });
    const up = await lab('up', '--rate', '100mbit');
    assert.equal(up.code, 0, up.stderr);
    const state = JSON.parse(up.stdout) as LabState;
    assert.ok(state.namespaces.length >= 8, `${state.namespaces.length} namespaces`);
    assert.deepEqual(state.plan.probes.sort(), ['0.0.0.2', '0.0.0.3', '0.0.0.4']);
    assert.match(up.stderr, /converge/);

    // Flows arrive: NetFlow at the collector from every planned probe, records in both agents' stores.
    const addressesOf = new Map(state.routers.map((r) => [r.id, r.addresses]));
    const exporterRouter = (address: string): string | undefined =>
      address === '127.0.0.1' ? state.collector.router : state.routers.find((r) => r.addresses.includes(address))?.id;
    let flows: Record<string, Record<string, number>> = {};
    for (const deadline = Date.now() + 90_000; ; await sleep(3000)) {
      const status = await lab('status');
      assert.equal(status.code, 0, status.stderr);
      flows = (JSON.parse(status.stdout) as { flows: Record<string, Record<string, number>> }).flows;
      const exporters = new Set(Object.keys(flows.collector ?? {}).map(exporterRouter));
      const agents = ['hosts/web1', 'hosts/db1'].every((store) => Object.values(flows[store] ?? {}).some((n) => n > 0));
      if (state.plan.probes.every((p) => exporters.has(p)) && agents) break;
      assert.ok(Date.now() < deadline, `flows from every probe and agent within 90 s: ${JSON.stringify(flows)}`);
    }
    const exporters = Object.keys(flows.collector);
    console.log(`lab: ${state.namespaces.length} namespaces; flows at the collector by exporter ${JSON.stringify(flows.collector)}; agents ${JSON.stringify({ web1: flows['hosts/web1'], db1: flows['hosts/db1'] })}`);
    for (const address of exporters) assert.ok(state.plan.probes.includes(exporterRouter(address) ?? ''), `${address} is a planned probe`);
    assert.ok(!exporters.some((a) => addressesOf.get('0.0.0.1')!.includes(a)), '0.0.0.1 has no probe and exports nothing');

    // The agents saw the traffic between the hosts: web1's store has flows with db1 and desk1.
    // (TCP first; DNS over UDP once its flows have been idle for the lab's 10 s.)
    const db1 = state.hosts.find((h) => h.name === 'db1')!.address;
    for (const deadline = Date.now() + 45_000; ; await sleep(3000)) {
      const seen = await runCommand([process.execPath, BIN, 'query', '--data-dir', path.join(stateDir, 'hosts', 'web1'), '--format', 'json',
        `SELECT count(*) AS n, list(DISTINCT proto ORDER BY proto) AS protos FROM flows WHERE dst_addr = '${db1}' OR src_addr = '${db1}'`]);
      const counted = JSON.parse(seen.stdout.trim()) as { n: number; protos: number[] };
      if (counted.protos.includes(6) && counted.protos.includes(17)) break;
      assert.ok(Date.now() < deadline, `web1 saw TCP and UDP flows with db1 within 45 s: ${seen.stdout}`);
    }

    const down = await lab('down');
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await labNamespaces(path.basename(topology, '.yaml')), [], 'no namespace left');
    const leftover = await runCommand(['pgrep', '-f', stateDir], { allowFailure: true });
    assert.equal(leftover.stdout.trim(), '', 'no process left');
    const links = (await runCommand(['ip', '-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(':')[1]?.trim()).sort().join(' ');
    assert.equal(links, rootLinks, 'no interface left');
  });
});

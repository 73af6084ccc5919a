/**
 * Attribution of a container with its own network stack (issue 3: "container (Docker/containerd/
 * Kubernetes id …)"). Namespace C plays the container: its own network namespace behind the
 * monitored host A (a veth pair, A routes), and its process in a cgroup named as Docker names its
 * containers (`…/docker-<64 hex>.scope`). B is a server on the far side of A.
 *
 *   C (container, 10.91.0.2) ── c0 ── A (agent, routes) ── a0 ── B (web server, 10.82.0.2)
 *
 * The agent on A sees the connection twice, on c0 and on a0, passing through (direction transit).
 * The records from C must name curl, its user and `docker/<id>`; those from B the web server (B is a
 * namespace on the same kernel); a ping (no socket) stays unattributed.
 * A second case masquerades the container on the uplink (nftables), as Docker does: the agent follows
 * the translation (conntrack events) back to curl.
 * Needs root, conntrack, nftables, curl, python3, iproute2, util-linux.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab, requirePrograms, runCommand, sleep, type BackgroundProcess, type Netns } from '../../src/lab/netns.js';
import { cgroup2Root } from '../../src/lab/proc.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const A4 = '10.82.0.1';
const B4 = '10.82.0.2';
const A_TO_C = '10.91.0.1';
const C4 = '10.91.0.2';

describe('attribution of a container with its own network namespace', { timeout: 120_000 }, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let c: Netns;
  let work: string;
  const containerId = randomBytes(32).toString('hex');
  const cgroupParent = path.join(cgroup2Root() ?? '/sys/fs/cgroup', `endsight-test-${process.pid}`);
  const cgroup = path.join(cgroupParent, `docker-${containerId}.scope`);

  before(async () => {
    requirePrograms({ curl: 'curl', python3: 'python3', ip: 'iproute2' });
    assert.ok(cgroup2Root(), 'a cgroup v2 hierarchy is mounted (cgroup2 in /proc/self/mountinfo)');
    lab = new Lab(`es-ctr-${process.pid}`);
    work = await mkdtemp(path.join(tmpdir(), 'endsight-container-'));
    await chmod(work, 0o755); // the agent's unprivileged worker must reach its store
    ({ a, b } = await lab.addHostPair({ a4: A4, b4: B4 }));
    c = await lab.addNamespace('c');
    await lab.addVeth(a, 'c0', c, 'eth0');
    await runCommand(a.exec(['ip', 'addr', 'add', `${A_TO_C}/24`, 'dev', 'c0']));
    await runCommand(c.exec(['ip', 'addr', 'add', `${C4}/24`, 'dev', 'eth0']));
    await runCommand(c.exec(['ip', 'route', 'add', 'default', 'via', A_TO_C]));
    await runCommand(b.exec(['ip', 'route', 'add', '10.91.0.0/24', 'via', A4]));
    await runCommand(a.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']));
    mkdirSync(cgroup, { recursive: true });
  });

  after(async () => {
    const problems = (await lab?.cleanup()) ?? [];
    for (const dir of [cgroup, cgroupParent]) {
      try {
        rmdirSync(dir);
      } catch (error) {
        problems.push(`rmdir ${dir}: ${String(error)}`);
      }
    }
    if (work) await rm(work, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'cleanup');
  });

  /** The agent on A with its own store (`store-NAME`), once it captures. */
  async function startAgent(name: string): Promise<{ agent: BackgroundProcess; dataDir: string }> {
    const config = path.join(work, `agent-${name}.yaml`);
    writeFileSync(config, 'capture:\n  cpu_budget: 800%\nflows:\n  export_interval: 1s\n  fin_timeout: 1s\n');
    const dataDir = path.join(work, `store-${name}`);
    const agent = lab.start(`agent (${name})`, a.execWithCgroups(['node', BIN, 'agent', '--data-dir', dataDir, '--config', config, '--health', 'off']));
    await agent.waitForOutput(/capture started/, 30_000);
    return { agent, dataDir };
  }

  /** curl fetching `url` from the "container": it joins the cgroup, then enters the namespace (ip netns exec keeps the pid). */
  async function curlInContainer(url: string): Promise<BackgroundProcess> {
    const curl = lab.start(`curl ${url} in the container`, ['sh', '-c', `echo $$ > ${path.join(cgroup, 'cgroup.procs')} && exec ${c.exec(['curl', '-sf', '-o', '/dev/null', url]).join(' ')}`]);
    await curl.waitForExit(30_000);
    assert.equal(curl.exitCode, 0, curl.stderr);
    return curl;
  }

  it('names the process and the container of a connection that passes through the host', async () => {
    const web = lab.start('web server', b.exec(['python3', '-u', '-m', 'http.server', '--bind', '0.0.0.0', '8080', '--directory', REPO_ROOT]));
    await web.waitForOutput(/Serving HTTP/);
    const { agent, dataDir } = await startAgent('plain');
    assert.match(agent.stderr, /attribution started/);

    const curl = await curlInContainer(`http://${B4}:8080/README.md`);
    await runCommand(c.exec(['ping', '-c', '2', '-i', '0.05', B4]));
    await sleep(4000);
    await agent.stop('SIGTERM', 30_000);
    assert.equal(agent.exitCode, 0, agent.stderr);

    const { stdout } = await runCommand([
      'node', BIN, 'query', '--data-dir', dataDir, '--format', 'json',
      `SELECT interface, proto, src_addr, dst_addr, direction, process, pid, username, container FROM flows WHERE '${C4}' IN (src_addr, dst_addr) ORDER BY interface, proto, src_addr`,
    ]);
    const rows = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    console.log(`container flows seen by the host:\n  ${rows.map((r) => JSON.stringify(r)).join('\n  ')}`);
    const tcp = rows.filter((r) => r.proto === 6);
    assert.equal(tcp.length, 4, 'the connection, both ways, on c0 and on a0');
    for (const r of tcp) {
      // Each direction goes to the socket that sends it. B is a namespace on this same kernel, so
      // the web server that sends the replies is on this host too (on a real network it would not be).
      const expected = r.src_addr === C4 ? ['transit', 'curl', curl.pid, 'root', `docker/${containerId}`] : ['transit', 'python3', web.pid, 'root', null];
      assert.deepEqual([r.direction, r.process, r.pid, r.username, r.container], expected, JSON.stringify(r));
    }
    const icmp = rows.filter((r) => r.proto === 1);
    assert.ok(icmp.length >= 2, 'the ping is recorded');
    for (const r of icmp) assert.equal(r.process, null, 'a ping has no socket to attribute');
  });

  it('follows the container connection through NAT: the masqueraded flows on the uplink name curl too', async () => {
    requirePrograms({ nft: 'nftables', conntrack: 'conntrack' });
    // A masquerades the container's traffic on a0, as Docker's bridge network does; B can no longer
    // route to the container (it only sees A's address).
    await runCommand(b.exec(['ip', 'route', 'del', '10.91.0.0/24']));
    await runCommand(a.exec(['nft', 'add table ip nat']));
    await runCommand(a.exec(['nft', 'add chain ip nat post { type nat hook postrouting priority 100; }']));
    await runCommand(a.exec(['nft', 'add rule ip nat post oifname "a0" masquerade']));
    const web = lab.start('web server (NAT)', b.exec(['python3', '-u', '-m', 'http.server', '--bind', '0.0.0.0', '8081', '--directory', REPO_ROOT]));
    await web.waitForOutput(/Serving HTTP/);
    const { agent, dataDir } = await startAgent('nat');
    assert.doesNotMatch(agent.stderr, /address translations not followed/);
    const curl = await curlInContainer(`http://${B4}:8081/README.md`);
    await sleep(4000);
    await agent.stop('SIGTERM', 30_000);
    assert.equal(agent.exitCode, 0, agent.stderr);

    const { stdout } = await runCommand([
      'node', BIN, 'query', '--data-dir', dataDir, '--format', 'json',
      `SELECT interface, src_addr, dst_addr, direction, process, pid, container FROM flows WHERE proto = 6 AND 8081 IN (src_port, dst_port) ORDER BY interface, src_addr`,
    ]);
    const rows = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    console.log(`masqueraded container flows:\n  ${rows.map((r) => JSON.stringify(r)).join('\n  ')}`);
    const uplink = rows.filter((r) => r.interface === 'a0');
    assert.deepEqual(uplink.map((r) => [r.src_addr, r.direction]), [[A4, 'out'], [B4, 'in']], 'on a0 the connection carries the host address');
    for (const r of uplink) assert.deepEqual([r.process, r.pid, r.container], ['curl', curl.pid, `docker/${containerId}`], JSON.stringify(r));
  });
});

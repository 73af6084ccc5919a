/**
 * Pre-encryption visibility, the paper's central claim, on a real VPN (issue 3).
 *
 *   namespace A (the monitored host)                       namespace B (VPN server, web server)
 *   curl as es-vpnuser → tun0 10.8.0.2 ══ OpenVPN, UDP 1194 over a0 ══ 10.8.0.1 tun0 → http.server :8080
 *   endsight agent (every interface)                       tcpdump on b0: the wire, metered by softflowd
 *
 * OpenVPN (Debian's openvpn 2.6, static key, AES-256-CBC) carries the inner traffic encrypted. The
 * agent on A must record the inner flows on tun0 with their process and user, and the outer flow
 * on a0 attributed to openvpn and marked as tunnel transport (`tunnel = 'tun0'`). softflowd, metering
 * the wire, must see the tunnel only: UDP 1194 between the endpoints, nothing of 10.8.0.0/24 or
 * port 8080. The two views are printed side by side.
 * Needs root, openvpn, tcpdump, softflowd, nfdump, curl, python3, util-linux, passwd.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab, requirePrograms, runCommand, sleep, type Netns } from '../../src/lab/netns.js';
import { runSoftflowd } from '../differential/peers.js';
import type { MeterFlow } from '../differential/meter-flow.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const A_WIRE = '10.80.0.1';
const B_WIRE = '10.80.0.2';
const A_TUN = '10.8.0.2';
const B_TUN = '10.8.0.1';
const USER = 'es-vpnuser';

interface Row {
  interface: string;
  proto: number;
  src_addr: string;
  src_port: number;
  dst_addr: string;
  dst_port: number;
  packets: number;
  bytes: number;
  process: string | null;
  username: string | null;
  tunnel: string | null;
}

describe('pre-encryption visibility on an OpenVPN tunnel', { timeout: 120_000 }, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let work: string;
  let createdUser = false;

  before(async () => {
    requirePrograms({
      openvpn: 'openvpn', tcpdump: 'tcpdump', softflowd: 'softflowd', nfdump: 'nfdump',
      curl: 'curl', python3: 'python3', setpriv: 'util-linux', useradd: 'passwd',
    });
    if ((await runCommand(['id', '-u', USER], { allowFailure: true })).code !== 0) {
      await runCommand(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
      createdUser = true;
    }
    lab = new Lab(`es-vpn-${process.pid}`);
    work = await mkdtemp(path.join(tmpdir(), 'endsight-vpn-'));
    await chmod(work, 0o755); // the agent's unprivileged worker must reach its store
    ({ a, b } = await lab.addHostPair({ a4: A_WIRE, b4: B_WIRE }));
  });

  after(async () => {
    const problems = (await lab?.cleanup()) ?? [];
    if (createdUser) await runCommand(['userdel', USER], { allowFailure: true });
    if (work) await rm(work, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'cleanup');
  });

  it('records the inner flows with process and user, the tunnel as transport; the wire shows only the tunnel', async () => {
    const key = path.join(work, 'static.key');
    await runCommand(['openvpn', '--genkey', 'secret', key]);
    const vpn = (ns: Netns, local: string, remote: string, extra: string[]) =>
      lab.start(`openvpn ${ns.name}`, ns.exec([
        'openvpn', '--dev', 'tun0', '--ifconfig', local, remote, '--secret', key, '--cipher', 'AES-256-CBC',
        '--proto', 'udp', '--verb', '3', ...extra,
      ]));
    const server = vpn(b, B_TUN, A_TUN, ['--lport', '1194']);
    const wire = path.join(work, 'wire.pcap');
    const wireCapture = lab.start('tcpdump on the wire', b.exec(['tcpdump', '-i', 'b0', '-s', '256', '-B', '8192', '-w', wire]));
    await wireCapture.waitForOutput(/listening on/);
    const web = lab.start('web server', b.exec(['python3', '-u', '-m', 'http.server', '--bind', '0.0.0.0', '8080', '--directory', REPO_ROOT]));
    await web.waitForOutput(/Serving HTTP/);

    const dataDir = path.join(work, 'store');
    const config = path.join(work, 'agent.yaml');
    writeFileSync(config, 'capture:\n  cpu_budget: 800%\nflows:\n  export_interval: 1s\n  fin_timeout: 1s\n');
    const agent = lab.start('agent', a.exec(['node', BIN, 'agent', '--data-dir', dataDir, '--config', config, '--health', 'off']));
    await agent.waitForOutput(/capture started/, 30_000);
    assert.match(agent.stderr, /attribution started/);
    const client = vpn(a, A_TUN, B_TUN, ['--remote', B_WIRE, '1194']);
    await Promise.all([server.waitForOutput(/Initialization Sequence Completed/, 20_000), client.waitForOutput(/Initialization Sequence Completed/, 20_000)]);

    for (const file of ['README.md', 'package.json', 'docs/agent.md']) {
      await runCommand(a.exec(['setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--init-groups', '--', 'curl', '-sf', '-o', '/dev/null', `http://${B_TUN}:8080/${file}`]));
    }
    await sleep(4000); // FIN timeout, delivery slack, export
    await agent.stop('SIGTERM', 30_000);
    assert.equal(agent.exitCode, 0, agent.stderr);
    await wireCapture.stop('SIGTERM');

    const { stdout } = await runCommand([
      'node', BIN, 'query', '--data-dir', dataDir, '--format', 'json',
      "SELECT interface, proto, src_addr, src_port, dst_addr, dst_port, packets, bytes, process, username, tunnel FROM flows WHERE proto IN (6, 17) ORDER BY interface DESC, start_time",
    ]);
    const host = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
    const softflowd = await runSoftflowd(wire, { outDir: path.join(work, 'softflowd') });

    const show = (r: { proto: number; src: string; sp: number; dst: string; dp: number; packets: number; bytes: number }, extra = ''): string =>
      `${r.proto === 6 ? 'tcp' : r.proto === 17 ? 'udp' : r.proto} ${r.src}:${r.sp} > ${r.dst}:${r.dp}  ${r.packets} pkts ${r.bytes} B${extra}`;
    const hostLines = host.map((r) =>
      `${r.interface.padEnd(5)} ${show({ proto: r.proto, src: r.src_addr, sp: r.src_port, dst: r.dst_addr, dp: r.dst_port, packets: r.packets, bytes: r.bytes }, `  ${r.process ?? '-'}/${r.username ?? '-'}${r.tunnel ? `  tunnel=${r.tunnel}` : ''}`)}`);
    const wireLines = softflowd.flows.filter((f: MeterFlow) => f.protocol === 6 || f.protocol === 17).map((f: MeterFlow) =>
      show({ proto: f.protocol, src: f.srcAddr, sp: f.srcPort, dst: f.dstAddr, dp: f.dstPort, packets: f.packets, bytes: f.bytes }));
    console.log(`endsight on the host (TCP/UDP):\n  ${hostLines.join('\n  ')}\nsoftflowd on the wire (TCP/UDP):\n  ${wireLines.join('\n  ')}`);

    const inner = host.filter((r) => r.interface === 'tun0' && r.proto === 6 && (r.dst_port === 8080 || r.src_port === 8080));
    assert.equal(inner.length, 6, 'three HTTP connections, two directions each, on tun0');
    for (const r of inner) {
      assert.deepEqual([r.process, r.username, r.tunnel], ['curl', USER, null], `inner flow ${JSON.stringify(r)}`);
      assert.ok([A_TUN, B_TUN].includes(r.src_addr) && [A_TUN, B_TUN].includes(r.dst_addr));
    }
    const outer = host.filter((r) => r.interface === 'a0' && r.proto === 17 && (r.dst_port === 1194 || r.src_port === 1194));
    assert.equal(outer.length, 2, 'the tunnel: one UDP flow each way on a0');
    for (const r of outer) assert.deepEqual([r.process, r.username, r.tunnel], ['openvpn', 'root', 'tun0'], `outer flow ${JSON.stringify(r)}`);
    assert.ok(!host.some((r) => r.interface === 'a0' && (r.src_addr.startsWith('10.8.0.') || r.dst_addr.startsWith('10.8.0.'))), 'inner addresses never on the wire interface');

    const wireTcpUdp = softflowd.flows.filter((f: MeterFlow) => f.protocol === 6 || f.protocol === 17);
    assert.ok(wireTcpUdp.length > 0, 'softflowd metered the wire');
    for (const f of wireTcpUdp) {
      assert.equal(f.protocol, 17, `softflowd sees only the UDP tunnel: ${JSON.stringify(f)}`);
      assert.ok(f.srcPort === 1194 || f.dstPort === 1194, `softflowd sees only the tunnel port: ${JSON.stringify(f)}`);
      assert.ok([A_WIRE, B_WIRE].includes(f.srcAddr) && [A_WIRE, B_WIRE].includes(f.dstAddr));
    }
    // The tunnel carried the inner bytes: the outer flow A→B is larger than the inner flows A→B together.
    const innerOut = inner.filter((r) => r.src_addr === A_TUN).reduce((s, r) => s + r.bytes, 0);
    const outerOut = outer.find((r) => r.src_addr === A_WIRE)!.bytes;
    assert.ok(outerOut > innerOut, `outer ${outerOut} B carries inner ${innerOut} B`);
  });
});

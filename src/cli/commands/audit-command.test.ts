/**
 * `endsight audit` on a store written by hand: who used a subnet and an address (hosts, users,
 * processes, applications, bytes, times), and who used a link of a small network; wrong subjects
 * are one error line. The console's GET /api/audit answers the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowRecordBatch, type FlowRecord } from '../../flow/index.js';
import { FlowStore } from '../../store/index.js';
import { handTopology } from '../../topo/test-networks.js';
import { startConsole } from '../../console/test-console.js';

const BIN = path.join(fileURLToPath(new URL('../../../../', import.meta.url)), 'bin', 'endsight.js');
const T0 = Date.UTC(2026, 10, 20, 9) * 1000;

function record(host: string, src: string, dst: string, dstPort: number, bytes: number, user: string, process: string, minute: number): FlowRecord {
  return {
    host, startUs: T0 + minute * 60e6, endUs: T0 + minute * 60e6 + 1e6, srcAddr: src, dstAddr: dst, srcPort: 40000 + minute, dstPort, protocol: 6, packets: 10, bytes, tcpFlags: 0x1b,
    direction: 'out', endReason: 'fin', sampling: 1, interfaceName: 'eth0', source: 'live', process, pid: 100, username: user, uid: 1000, container: null, command: null, tunnel: null,
  };
}

test('endsight audit: a subnet, an address, a link', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-audit-'));
  try {
    const store = await FlowStore.open(path.join(dir, 'store'), { quotaBytes: 1e9 });
    const batch = new FlowRecordBatch();
    batch.push(record('ws1', '10.1.0.5', '10.4.0.5', 443, 5000, 'alice', 'curl', 0));
    batch.push(record('ws1', '10.1.0.5', '10.4.0.5', 443, 7000, 'alice', 'curl', 30));
    batch.push(record('ws1', '10.1.0.5', '10.4.0.9', 22, 900, 'bob', 'ssh', 10));
    batch.push(record('ws1', '10.1.0.5', '192.0.2.1', 53, 80, 'alice', 'dig', 5));
    store.append(batch);
    await store.flush();
    await store.close();
    writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(handTopology()));
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'audit', '--data-dir', path.join(dir, 'store'), '--format', 'json', ...args], { encoding: 'utf8', timeout: 60_000 });
    const lines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const subnet = run(['--subnet', '10.4.0.0/24']);
    assert.equal(subnet.status, 0, subnet.stderr);
    assert.deepEqual(lines(subnet.stdout).map((r) => [r.host, r.username, r.process, r.app, r.bytes, r.flows]), [['ws1', 'alice', 'curl', 'tcp/443', 12000, 2], ['ws1', 'bob', 'ssh', 'tcp/22', 900, 1]]);
    assert.equal(lines(subnet.stdout)[0].first, '2026-11-20T09:00:00.000000Z');
    const address = run(['--address', '192.0.2.1']);
    assert.deepEqual(lines(address.stdout).map((r) => [r.username, r.app, r.bytes]), [['alice', 'tcp/53', 80]]);
    // Over r3→r4: both pairs toward 10.4.0.0/24 cross it; the one to 192.0.2.1 is outside the network.
    const link = run(['--link', '0.0.0.3,0.0.0.4', '--topology', path.join(dir, 'net.yaml')]);
    assert.equal(link.status, 0, link.stderr);
    assert.deepEqual(lines(link.stdout).map((r) => [r.src, r.app, r.user, r.bytes]), [['10.1.0.5', 'tcp/443', 'alice', 12000], ['10.1.0.5', 'tcp/22', 'bob', 900]]);
    for (const args of [[], ['--subnet', '10.0.0.0/8', '--address', '10.1.0.5'], ['--link', '0.0.0.3,0.0.0.4'], ['--subnet', 'nonsense']]) {
      const bad = run(args);
      assert.equal(bad.status, 1, args.join(' '));
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }

    // The same as an API: the console's GET /api/audit gives the command's rows.
    const matrix = path.join(dir, 'm.csv');
    writeFileSync(matrix, 'src,dst,bytes\n10.1.0.5,10.4.0.5,1\n');
    const server = await startConsole(['--from', path.join(dir, 'net.yaml'), '--matrix', matrix, '--data-dir', path.join(dir, 'store'), '--http', '127.0.0.1:0', '--token', 'audit-token']);
    try {
      const base = server.base;
      const api = async (query: string) => {
        const response = await fetch(`${base}/api/audit?${query}`, { headers: { authorization: 'Bearer audit-token' } });
        return { status: response.status, body: (await response.json()) as { columns: { name: string }[]; rows: unknown[][]; answered: string[]; error?: string } };
      };
      const answer = await api('subnet=10.4.0.0/24');
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      const names = answer.body.columns.map((c) => c.name);
      assert.deepEqual(answer.body.rows.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i]]))), lines(subnet.stdout));
      assert.deepEqual(answer.body.answered, ['this host']);
      assert.equal((await api('address=192.0.2.1&top=1')).body.rows.length, 1);
      for (const wrong of ['', 'subnet=10.0.0.0/8&address=10.1.0.5', 'subnet=nonsense', 'address=10.1.0.5&top=0']) {
        const bad = await api(wrong);
        assert.equal(bad.status, 400, wrong);
        assert.ok(bad.body.error && !bad.body.error.includes('\n'), JSON.stringify(bad.body));
      }
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

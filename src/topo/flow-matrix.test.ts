/**
 * The traffic matrix from stored flow records: a flow seen by both ends counts once (the larger
 * view), one seen by one end counts as that end saw it; periods split it over time; and `topo links
 * --flows` routes it as the same matrix written by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowRecordBatch, type FlowRecord } from '../flow/index.js';
import { FlowStore } from '../store/index.js';
import { matrixFromRows } from './flow-matrix.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const T0 = Date.UTC(2026, 10, 1, 9) * 1000; // µs
const HOUR_US = 3_600_000_000;

test('matrixFromRows: the larger of the two views per pair, users of that view, coverage by ends', () => {
  const { periods, coverage } = matrixFromRows([
    { src: '10.1.0.5', dst: '10.4.0.5', app: 'tcp/443', user: 'alice', sent: 1000, received: 0 },
    { src: '10.1.0.5', dst: '10.4.0.5', app: 'tcp/443', user: 'www', sent: 0, received: 990 },
    { src: '10.4.0.9', dst: '10.1.0.1', app: 'udp/53', user: null, sent: 0, received: 300 },
    { src: '10.0.0.7', dst: '10.4.0.1', app: 'tcp/25', user: 'carol', sent: 40, received: 0 },
  ]);
  assert.deepEqual(periods.get(''), [
    { src: '10.1.0.5', dst: '10.4.0.5', bytes: 1000, app: 'tcp/443', user: 'alice', seenBy: 2, disagreement: 10 },
    { src: '10.4.0.9', dst: '10.1.0.1', bytes: 300, app: 'udp/53', user: null, seenBy: 1, disagreement: 0 },
    { src: '10.0.0.7', dst: '10.4.0.1', bytes: 40, app: 'tcp/25', user: 'carol', seenBy: 1, disagreement: 0 },
  ]);
  // Instrumented: 10.1.0.5 and 10.4.0.5 (both views), 10.1.0.1 (received), 10.0.0.7 (sent): 4 of 6 endpoints.
  assert.deepEqual(coverage, { pairs: 3, seenByBoth: 1, seenBySenderOnly: 1, seenByReceiverOnly: 1, bytes: 1340, disagreementBytes: 10, instrumentedFraction: 4 / 6 });
});

function record(host: string, startUs: number, src: string, dst: string, bytes: number, direction: string, username: string | null): FlowRecord {
  return {
    host, startUs, endUs: startUs + 1_000_000, srcAddr: src, dstAddr: dst, srcPort: 40000, dstPort: 443, protocol: 6, packets: 10, bytes, tcpFlags: 0x1b,
    direction, endReason: 'fin', sampling: 1, interfaceName: 'eth0', source: 'test', process: null, pid: null, username, uid: null, container: null, command: null, tunnel: null,
  } as FlowRecord;
}

test('endsight topo links --flows: the store\'s flows routed as the same matrix by hand, per period with --every', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-flowmatrix-'));
  try {
    const store = await FlowStore.open(path.join(dir, 'store'), { quotaBytes: 1e9 });
    const batch = new FlowRecordBatch();
    // Hour 1: r1's host to r4's, seen by both (1,000 sent, 990 received). Hour 2: only the receiver saw 300 bytes.
    batch.push(record('a', T0, '10.1.0.5', '10.4.0.5', 1000, 'out', 'alice'));
    batch.push(record('b', T0 + 5_000_000, '10.1.0.5', '10.4.0.5', 990, 'in', 'www'));
    batch.push(record('b', T0 + HOUR_US, '10.4.0.9', '10.1.0.1', 300, 'in', null));
    store.append(batch);
    await store.flush();
    await store.close();
    writeFileSync(path.join(dir, 'net.yaml'), [
      'routers:', '  - {id: 0.0.0.1, stubs: [{prefix: 10.1.0.0/24, cost: 1}]}', '  - {id: 0.0.0.3}', '  - {id: 0.0.0.4, stubs: [{prefix: 10.4.0.0/24, cost: 1}]}',
      'links:', '  - {a: 0.0.0.1, b: 0.0.0.3, cost: 10, subnet: 10.0.13.0/30}', '  - {a: 0.0.0.3, b: 0.0.0.4, cost: 5, subnet: 10.0.34.0/30}', '',
    ].join('\n'));
    writeFileSync(path.join(dir, 'm.csv'), 'src,dst,bytes\n10.1.0.5,10.4.0.5,1000\n10.4.0.9,10.1.0.1,300\n');
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'topo', 'links', '--from', path.join(dir, 'net.yaml'), '--format', 'json', ...args], { encoding: 'utf8', timeout: 60_000 });
    const lines = (out: string) => out.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const fromFlows = run(['--flows', '--data-dir', path.join(dir, 'store')]);
    assert.equal(fromFlows.status, 0, fromFlows.stderr);
    assert.match(fromFlows.stderr, /2 pairs, 1300 bytes; seen by both ends 1, by the sender only 0, by the receiver only 1; the two ends disagree by 10 bytes/);
    const byHand = run(['--matrix', path.join(dir, 'm.csv')]);
    assert.equal(byHand.status, 0, byHand.stderr);
    const base = (rows: Record<string, unknown>[]) => rows.map(({ from, to, via, from_address, bytes, share }) => ({ from, to, via, from_address, bytes, share }));
    assert.deepEqual(base(lines(fromFlows.stdout)), lines(byHand.stdout));
    // From flows, the accuracy columns: 1,000 bytes seen by both ends, 300 by one; 3 of 4 endpoints instrumented.
    const first = lines(fromFlows.stdout).find((r) => r.from === '0.0.0.3' && r.to === '0.0.0.4')!;
    assert.deepEqual([first.seen_by_both, first.seen_by_one, first.unseen_estimate, first.estimate], [1000, 0, 0, 1000]);
    const back = lines(fromFlows.stdout).find((r) => r.from === '0.0.0.4' && r.to === '0.0.0.3')!;
    assert.deepEqual([back.seen_by_both, back.seen_by_one, back.unseen_estimate], [0, 300, Math.round((300 * 0.25) / 1.5)]);
    const hourly = run(['--flows', '--data-dir', path.join(dir, 'store'), '--every', '1h']);
    assert.equal(hourly.status, 0, hourly.stderr);
    assert.deepEqual(lines(hourly.stdout).map((r) => `${String(r.period).slice(0, 13)} ${r.from}>${r.to} ${r.bytes}`), [
      '2026-11-01T09 0.0.0.1>0.0.0.3 1000', '2026-11-01T09 0.0.0.3>0.0.0.4 1000',
      '2026-11-01T10 0.0.0.3>0.0.0.1 300', '2026-11-01T10 0.0.0.4>0.0.0.3 300',
    ]);
    const both = run(['--flows', '--matrix', path.join(dir, 'm.csv')]);
    assert.equal(both.status, 1);
    assert.match(both.stderr, /exactly one of --matrix FILE, --flows/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

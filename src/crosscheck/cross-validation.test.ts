/**
 * Cross-validation: four hosts that talk to each other, recorded at both ends with ordinary loss and
 * clock skew, raise no alarm; a host whose records are altered, removed or invented is flagged and
 * the honest ones are not; with a single pair both ends are named. `endsight crosscheck` on two real
 * stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../bench/prng.js';
import { FlowRecordBatch, type FlowRecord } from '../flow/index.js';
import { FlowStore } from '../store/index.js';
import { crossCheck, type EndRecord } from './cross-validation.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const HOSTS = ['a', 'b', 'c', 'd'];
const address = (h: string): string => `10.0.0.${HOSTS.indexOf(h) + 1}`;
const T0 = Date.UTC(2026, 11, 1, 10);

/** Every host sends `perPair` flows to every other; receivers lose a packet now and then and run `skewMs[h]` late. */
function honest(hosts: string[], perPair: number, seed: number, skewMs: Record<string, number> = {}): EndRecord[] {
  const rng = new Rng(seed);
  const out: EndRecord[] = [];
  for (const s of hosts) {
    for (const r of hosts) {
      if (s === r) continue;
      for (let i = 0; i < perPair; i++) {
        const start = T0 + rng.int(3_600_000);
        const packets = 5 + rng.int(500);
        const bytes = packets * (60 + rng.int(1400));
        const tuple = { srcAddr: address(s), dstAddr: address(r), srcPort: 30000 + rng.int(30000), dstPort: [22, 80, 443][rng.int(3)], protocol: 6 };
        out.push({ host: s, ...tuple, startMs: start, endMs: start + 2000, packets, bytes, direction: 'out' });
        const lost = rng.next() < 0.2 ? 1 : 0;
        const skew = (skewMs[r] ?? 0) + rng.int(100) - 50;
        out.push({ host: r, ...tuple, startMs: start + skew, endMs: start + 2000 + skew, packets: packets - lost, bytes: bytes - lost * 1400, direction: 'in' });
      }
    }
  }
  return out;
}

test('honest hosts with loss and skew raise no alarm', () => {
  const { hosts, discrepancies } = crossCheck(honest(HOSTS, 60, 1, { b: 700, c: -400 }));
  assert.equal(hosts.length, 4);
  assert.deepEqual(hosts.filter((h) => h.flagged).map((h) => h.host), []);
  assert.equal(discrepancies.length, 0);
  assert.ok(hosts.every((h) => h.matched > 0 && h.score === 0));
});

test('a host with altered, removed and invented records is flagged; the honest ones are not', () => {
  const rng = new Rng(5);
  const records = honest(HOSTS, 60, 2)
    .filter((r) => !(r.host === 'd' && rng.next() < 0.1)) // d removes some of its records
    .map((r) => (r.host === 'd' && rng.next() < 0.2 ? { ...r, bytes: r.bytes * 3, packets: r.packets * 3 } : r)); // and inflates others
  for (let i = 0; i < 10; i++) records.push({ host: 'd', srcAddr: address('d'), dstAddr: address('a'), srcPort: 1000 + i, dstPort: 443, protocol: 6, startMs: T0 + i * 1000, endMs: T0 + i * 1000 + 10, packets: 100, bytes: 1e6, direction: 'out' });
  const { hosts, discrepancies } = crossCheck(records);
  const byName = Object.fromEntries(hosts.map((h) => [h.host, h]));
  assert.equal(byName.d.flagged, true, JSON.stringify(byName.d));
  assert.deepEqual(byName.d.disagreesWith, ['a', 'b', 'c']);
  for (const h of ['a', 'b', 'c']) {
    assert.equal(byName[h].flagged, false, `${h}: ${JSON.stringify(byName[h])}`);
    assert.deepEqual(byName[h].disagreesWith, ['d']);
  }
  assert.ok(discrepancies.some((d) => d.kind === 'altered'));
  assert.ok(discrepancies.some((d) => d.kind === 'unmatched' && d.at === 'd' && d.peer === 'a'), 'the invented flows');
  assert.ok(discrepancies.some((d) => d.kind === 'unmatched' && d.peer === 'd'), 'the removed ones: their peers have them');
});

test('with a single pair, both ends are named', () => {
  const records = honest(['a', 'b'], 50, 3).map((r) => (r.host === 'b' ? { ...r, bytes: r.bytes + 50_000 } : r));
  const { hosts } = crossCheck(records);
  assert.deepEqual(hosts.map((h) => [h.host, h.flagged]).sort(), [['a', true], ['b', true]]);
  assert.match(hosts[0].reason ?? '', /one of the two is wrong/);
});

function storeRecord(r: EndRecord): FlowRecord {
  return {
    host: r.host, startUs: r.startMs * 1000, endUs: r.endMs * 1000, srcAddr: r.srcAddr, dstAddr: r.dstAddr, srcPort: r.srcPort, dstPort: r.dstPort, protocol: r.protocol,
    packets: r.packets, bytes: r.bytes, tcpFlags: 0x1b, direction: r.direction, endReason: 'fin', sampling: 1, interfaceName: 'eth0', source: 'live',
    process: null, pid: null, username: null, uid: null, container: null, command: null, tunnel: null,
  };
}

test('endsight crosscheck on two stores: honest, then one of them altered', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-crosscheck-'));
  try {
    const write = async (name: string, records: EndRecord[]): Promise<string> => {
      const store = await FlowStore.open(path.join(dir, name), { quotaBytes: 1e9 });
      const batch = new FlowRecordBatch();
      for (const r of records) batch.push(storeRecord(r));
      store.append(batch);
      await store.flush();
      await store.close();
      return path.join(dir, name);
    };
    const records = honest(['a', 'b'], 40, 4, { b: 300 });
    const a = await write('a', records.filter((r) => r.host === 'a'));
    const b = await write('b', records.filter((r) => r.host === 'b'));
    const run = (stores: string[]) => spawnSync(process.execPath, [BIN, 'crosscheck', ...stores.flatMap((s) => ['--store', s]), '--format', 'json'], { encoding: 'utf8', timeout: 60_000 });
    const ok = run([a, b]);
    assert.equal(ok.status, 0, ok.stderr);
    const honestAnswer = JSON.parse(ok.stdout) as { hosts: { host: string; matched: number; flagged: boolean }[] };
    assert.deepEqual(honestAnswer.hosts.map((h) => [h.host, h.matched, h.flagged]).sort(), [['a', 80, false], ['b', 80, false]]);
    const b2 = await write('b2', records.filter((r) => r.host === 'b').map((r) => ({ ...r, bytes: r.bytes * 2 + 5000 })));
    const bad = run([a, b2]);
    assert.equal(bad.status, 0, bad.stderr);
    assert.deepEqual((JSON.parse(bad.stdout) as { hosts: { flagged: boolean }[] }).hosts.map((h) => h.flagged), [true, true]);
    const none = spawnSync(process.execPath, [BIN, 'crosscheck'], { encoding: 'utf8' });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /^endsight: Cannot tell where the records are/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * `endsight capacity` on a store with a demand known in advance (capacity/test-demand.ts): the
 * command's mean, peak, p95, growth and projection against what the test works out from its own
 * generator (and, for the growth and the peak, in closed form); the projection of moving the
 * application's server onto the links of the hand-worked network (topo/test-networks.ts); bad input
 * as one error line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { handTopology } from '../../topo/test-networks.js';
import { expectedStatistics, hourlyBytes, HOUR_MS, HOURS, shape, T0_MS, writeFlows, type Flow } from '../../capacity/test-demand.js';

const BIN = path.join(fileURLToPath(new URL('../../../../', import.meta.url)), 'bin', 'endsight.js');
const BASE = 100_000;
const GROWTH = 0.05;
const WINDOW = `${new Date(T0_MS).toISOString()}/${new Date(T0_MS + HOURS * HOUR_MS).toISOString()}`;
const CLIENT = '10.1.0.5';
const SERVER = '10.4.0.5';

/** The client's records: each hour a request of hourlyBytes in two records and a response nine times as large; DNS to another server at r4 every hour. */
function clientFlows(): { flows: Flow[]; https: number[]; dns: number[] } {
  const flows: Flow[] = [];
  const https: number[] = [];
  const dns: number[] = [];
  for (let k = 0; k < HOURS; k++) {
    const hour = T0_MS + k * HOUR_MS;
    const request = hourlyBytes(k, BASE, GROWTH);
    https.push(request * 10);
    dns.push(5000);
    if (request > 0) {
      const half = Math.floor(request / 2);
      flows.push({ host: 'client-1', src: CLIENT, dst: SERVER, srcPort: 50000, dstPort: 443, proto: 6, bytes: half, startMs: hour + 10 * 60_000, direction: 'out' });
      flows.push({ host: 'client-1', src: CLIENT, dst: SERVER, srcPort: 50001, dstPort: 443, proto: 6, bytes: request - half, startMs: hour + 40 * 60_000, direction: 'out' });
      flows.push({ host: 'client-1', src: SERVER, dst: CLIENT, srcPort: 443, dstPort: 50000, proto: 6, bytes: request * 9, startMs: hour + 10 * 60_000 + 1, direction: 'in' });
    }
    flows.push({ host: 'client-1', src: '10.1.0.7', dst: '10.4.0.9', srcPort: 40000, dstPort: 53, proto: 17, bytes: 5000, startMs: hour + 30 * 60_000, direction: 'out' });
  }
  return { flows, https, dns };
}

const close = (actual: unknown, expected: number, what: string, tolerance = 1e-6): void => {
  assert.equal(typeof actual, 'number', what);
  // The command rounds rates to 0.001 bit/s: a difference of two of them is off by up to 0.002.
  assert.ok(Math.abs((actual as number) - expected) <= tolerance * Math.abs(expected) + 0.002, `${what}: ${String(actual)} vs ${expected}`);
};

test('endsight capacity: demand, projection onto links, bad input', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-capacity-'));
  try {
    const { flows, https, dns } = clientFlows();
    const store = await writeFlows(path.join(dir, 'store'), flows);
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'capacity', '--data-dir', store, '--between', WINDOW, '--format', 'json', ...args], { encoding: 'utf8', timeout: 120_000 });
    const lines = (out: string) => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

    // The demand of every application, hourly, with the trend per day and 12 weeks ahead.
    const demand = run(['--site', 'paris']);
    assert.equal(demand.status, 0, demand.stderr);
    const rows = lines(demand.stdout);
    assert.deepEqual(rows.map((r) => [r.app, r.site, r.hosts, r.steps]), [['tcp/443', 'paris', 1, HOURS], ['udp/53', 'paris', 1, HOURS]]);
    const want = expectedStatistics(https, 3600, 24, 12 * 604_800);
    const got = rows[0];
    assert.equal(got.bytes, want.bytes);
    // Nights have no traffic and count as zeros: 18 active hours a day.
    assert.equal(got.active_steps, 28 * 18);
    assert.equal(want.active, 28 * 18);
    close(got.mean_bps, want.mean, 'mean', 1e-5);
    close(got.p95_bps, want.p95, 'p95', 1e-5);
    // The busiest hour is 14:00 on the last day, by the generator's shape and growth.
    close(got.peak_bps, (hourlyBytes(HOURS - 10, BASE, GROWTH) * 10 * 8) / 3600, 'peak', 1e-5);
    assert.equal(got.peak_at, new Date(T0_MS + (HOURS - 10) * HOUR_MS).toISOString());
    assert.equal(shape(14), 3);
    // The daily means lie on a line of slope base · growth · mean shape per week (×10 for the response, in bits/s).
    const closedForm = (BASE * 10 * GROWTH * (20 / 24) * 8) / 3600;
    close(got.growth_bps_per_week, closedForm, 'growth (closed form)', 1e-3);
    close(got.growth_bps_per_week, want.slope, 'growth', 1e-5);
    close(got.growth_pct_per_week, want.percent, 'growth %', 1e-4);
    close(got.projected_p95_bps, want.projected, 'projected p95', 1e-5);
    // A flat application: no growth, its p95 projected as it is.
    const flat = rows[1];
    close(flat.mean_bps, (5000 * 8) / 3600, 'dns mean', 1e-5);
    close(flat.growth_bps_per_week, 0, 'dns growth', 1e-6);
    close(flat.projected_p95_bps, (5000 * 8) / 3600, 'dns projected', 1e-5);

    // --sites names the host's site, before --site.
    writeFileSync(path.join(dir, 'sites.csv'), 'host,site\nclient-1,lyon\n');
    const named = run(['--app', 'udp/53', '--sites', path.join(dir, 'sites.csv'), '--site', 'paris']);
    assert.equal(named.status, 0, named.stderr);
    assert.deepEqual(lines(named.stdout).map((r) => [r.app, r.site]), [['udp/53', 'lyon']]);

    // Five-minute steps: eleven of every twelve are empty, and still count.
    const fine = run(['--app', 'udp/53', '--step', '5m', '--trend', 'week']);
    assert.equal(fine.status, 0, fine.stderr);
    const dnsFine = lines(fine.stdout);
    assert.equal(dnsFine.length, 1);
    const fineSeries = Array.from({ length: HOURS * 12 }, (_, i) => (i % 12 === 6 ? dns[Math.floor(i / 12)] : 0));
    const wantFine = expectedStatistics(fineSeries, 300, 12 * 24 * 7, 12 * 604_800);
    assert.equal(dnsFine[0].active_steps, HOURS);
    close(dnsFine[0].mean_bps, wantFine.mean, 'dns 5m mean', 1e-5);
    // One step in twelve (8.3%, more than 5%) has the traffic: the p95 is that step's rate.
    close(dnsFine[0].p95_bps, wantFine.p95, 'dns 5m p95', 1e-5);
    close(wantFine.p95, (5000 * 8) / 300, 'dns 5m p95 by hand', 1e-9);
    close(dnsFine[0].peak_bps, (5000 * 8) / 300, 'dns 5m peak', 1e-5);
    assert.equal(dnsFine[0].site, null);

    // Move the HTTPS server from r4 to r2, on the hand-worked network.
    writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(handTopology()));
    writeFileSync(path.join(dir, 'caps.csv'), 'address,bps\n10.0.34.1,1M\n');
    const moved = run(['--topology', path.join(dir, 'net.yaml'), '--move', 'tcp/443=0.0.0.2', '--capacity', path.join(dir, 'caps.csv'), '--top', '50']);
    assert.equal(moved.status, 0, moved.stderr);
    assert.match(moved.stderr, /tcp\/443: 1 server move to 0\.0\.0\.2 \(10\.4\.0\.5\)/);
    const links = new Map(lines(moved.stdout).map((r) => [`${r.from}>${r.to}`, r]));
    const peakStep = HOURS - 10;
    const request = hourlyBytes(peakStep, BASE, GROWTH);
    const bps = (bytes: number): number => (bytes * 8) / 3600;
    // Worked by hand (test-networks.ts): r1→r4 splits evenly at r1 between r1–r3–r4 and r1–LAN–r2–r3–r4;
    // r4→r1 splits at r3 between r3–r1 and r3–r2–LAN–r1. At r2, both directions go over the LAN alone.
    const expected: Record<string, [number, number]> = {
      '0.0.0.1>0.0.0.3': [bps(request) / 2, 0], '0.0.0.1>0.0.0.2': [bps(request) / 2, bps(request)], '0.0.0.2>0.0.0.3': [bps(request) / 2, 0], '0.0.0.3>0.0.0.4': [bps(request), 0],
      '0.0.0.4>0.0.0.3': [bps(9 * request), 0], '0.0.0.3>0.0.0.1': [bps(9 * request) / 2, 0], '0.0.0.3>0.0.0.2': [bps(9 * request) / 2, 0], '0.0.0.2>0.0.0.1': [bps(9 * request) / 2, bps(9 * request)],
    };
    // The p95 matrix is the window's (one request to nine of response) scaled to the p95 hour's bytes.
    const p95Bytes = (want.p95 * 3600) / 8;
    for (const [key, [before, after]] of Object.entries(expected)) {
      const row = links.get(key);
      assert.ok(row, `${key} listed`);
      close(row.peak_before_bps, before, `${key} peak before`, 1e-5);
      close(row.peak_after_bps, after, `${key} peak after`, 1e-5);
      close(row.peak_change_bps, after - before, `${key} peak change`, 1e-5);
      close(row.p95_before_bps, (before / bps(10 * request)) * bps(p95Bytes), `${key} p95 before`, 1e-5);
      close(row.p95_after_bps, (after / bps(10 * request)) * bps(p95Bytes), `${key} p95 after`, 1e-5);
      // The DNS flow does not move: all traffic changes exactly as the moved application's.
      close((row.total_after_bps as number) - (row.total_before_bps as number), after - before, `${key} total change`, 1e-5);
    }
    assert.equal(links.size, Object.keys(expected).length);
    // The DNS flow to 10.4.0.9 at r4 stays on r1→…→r4: in the totals, on top of the application's.
    close((links.get('0.0.0.3>0.0.0.4')!.total_before_bps as number) - bps(request), bps(5000), 'dns on r3→r4');
    close(links.get('0.0.0.3>0.0.0.4')!.total_after_bps, bps(5000), 'only dns on r3→r4 after');
    // Capacity: r3's address on r3–r4 (10.0.34.0/30's first) at 1 Mbit/s.
    const r34 = links.get('0.0.0.3>0.0.0.4')!;
    assert.equal(r34.from_address, '10.0.34.1');
    close(r34.capacity_bps, 1e6, 'capacity');
    close(r34.before_utilisation, Number(((bps(request) + bps(5000)) / 1e6).toFixed(4)), 'utilisation before');
    close(r34.after_utilisation, Number((bps(5000) / 1e6).toFixed(4)), 'utilisation after');
    // The links that change most at the peak come first.
    const changes = lines(moved.stdout).map((r) => Math.abs(r.peak_change_bps as number));
    assert.deepEqual(changes, [...changes].sort((a, b) => b - a));

    for (const args of [
      ['--app', 'http'], ['--app', 'tcp/99999'], ['--move', 'tcp/443', '--topology', path.join(dir, 'net.yaml')], ['--move', 'tcp/443=0.0.0.9', '--topology', path.join(dir, 'net.yaml')],
      ['--move', 'tcp/443=0.0.0.2'], ['--move', 'icmp=0.0.0.2', '--topology', path.join(dir, 'net.yaml')], ['--step', '7m'], ['--trend', 'month'],
      ['--move', 'tcp/443=0.0.0.2', '--topology', path.join(dir, 'net.yaml'), '--app', 'udp/53'], ['--between', '2026-10-05T00:10Z/2026-10-05T00:50Z'],
    ]) {
      const bad = run(args);
      assert.equal(bad.status, 1, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, /^endsight: Cannot [^\n]+\n$/, args.join(' '));
      assert.equal(bad.stdout, '', args.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

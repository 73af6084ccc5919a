/**
 * `endsight capacity --nats` end to end: a real nats-server on loopback, three hosts answering
 * signed queries from their own stores (FleetHost and QueryResponder, in this process), each with a
 * site in its heartbeats, and the command run as a separate process. The sites come from the fleet
 * registry, and each site's figures are those of its hosts' generators added up (test-demand.ts).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, requirePrograms } from '../lab/netns.js';
import { startTestFleet, type TestFleet } from '../fleet/test-fleet.js';
import { expectedStatistics, hostFlows, HOSTS, HOUR_MS, HOURS, siteSeries, T0_MS, writeFlows } from './test-demand.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const FLEET = 'capacity-fleet';

/** Runs the command without blocking this process, whose hosts must answer meanwhile. */
function endsight(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('endsight capacity --nats', { timeout: 120_000 }, () => {
  const lab = new Lab(`es-capacity-${process.pid}`);
  let dir = '';
  let fleet: TestFleet | undefined;

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-capacity-nats-'));
    const hosts = [];
    for (const [i, h] of HOSTS.entries()) {
      hosts.push({ identity: { id: h.host, site: h.site, tags: [], addresses: [`10.9.${i}.1`] }, dataDir: await writeFlows(path.join(dir, h.host), hostFlows(h, i)) });
    }
    fleet = await startTestFleet(lab, dir, FLEET, hosts);
  });

  after(async () => {
    await fleet?.stop();
    assert.deepEqual(await lab.cleanup(), []);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("groups the fleet's demand by the registry's sites", async () => {
    const between = `${new Date(T0_MS).toISOString()}/${new Date(T0_MS + HOURS * HOUR_MS).toISOString()}`;
    const run = await endsight(['capacity', '--nats', fleet!.url, '--sign-key', fleet!.signKey, '--fleet', FLEET, '--between', between, '--app', 'tcp/443', '--format', 'json']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /demand: 3 of 3 hosts answered/);
    const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    assert.deepEqual(rows.map((r) => [r.app, r.site, r.hosts]).sort(), [['tcp/443', 'lyon', 1], ['tcp/443', 'paris', 2]]);
    for (const row of rows) {
      const want = expectedStatistics(siteSeries(String(row.site)), 3600, 24, 12 * 604_800);
      assert.equal(row.bytes, want.bytes);
      assert.equal(row.active_steps, 28 * 18);
      assert.equal(row.peak_at, new Date(T0_MS + want.peakStep * HOUR_MS).toISOString());
      for (const [name, value] of [['mean_bps', want.mean], ['peak_bps', want.peak], ['p95_bps', want.p95], ['growth_bps_per_week', want.slope], ['projected_p95_bps', want.projected]] as const) {
        assert.ok(Math.abs((row[name] as number) - value) <= 1e-6 * Math.abs(value) + 0.001, `${row.site} ${name}: ${row[name]} vs ${value}`);
      }
    }
  });
});

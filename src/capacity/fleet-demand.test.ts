/**
 * The demand model over a fleet: three host stores (two at one site, one at another) asked the
 * demand SQL as the fleet asks it (split by query-plan.ts, each host's partial answer from its own
 * store, merged by merge-answers.ts, without NATS), then grouped by site: each site's series is the
 * sum of its hosts' generators, step by step, zeros included.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { defineEmptyFlows, QueryEngine } from '../query/index.js';
import { mergeAnswers } from '../fleet/merge-answers.js';
import { planFleetQuery } from '../fleet/query-plan.js';
import { parseApplication } from './application-spec.js';
import { stepWindow } from './capacity-window.js';
import { demandSql } from './demand-sql.js';
import { demandGroups, demandRows } from './demand-table.js';
import { expectedStatistics, hourlyBytes, HOUR_MS, HOURS, T0_MS, writeFlows, type Flow } from './test-demand.js';

/** Each host: its site, and the base and weekly growth of its HTTPS demand. */
const HOSTS = [
  { host: 'web-1', site: 'paris', base: 40_000, growth: 0.1 },
  { host: 'web-2', site: 'paris', base: 25_000, growth: -0.02 },
  { host: 'web-3', site: 'lyon', base: 60_000, growth: 0.03 },
];

function hostFlows(h: (typeof HOSTS)[number], index: number): Flow[] {
  const flows: Flow[] = [];
  for (let k = 0; k < HOURS; k++) {
    const bytes = hourlyBytes(k, h.base, h.growth);
    // Served by this host: the server's own records of its responses (out) and requests (in).
    if (bytes > 0) {
      flows.push({ host: h.host, src: `10.9.${index}.1`, dst: '198.51.100.7', srcPort: 443, dstPort: 51000 + (k % 1000), proto: 6, bytes, startMs: T0_MS + k * HOUR_MS + 59 * 60_000, direction: 'out', process: 'nginx' });
      flows.push({ host: h.host, src: '198.51.100.7', dst: `10.9.${index}.1`, srcPort: 51000 + (k % 1000), dstPort: 443, proto: 6, bytes: 700, startMs: T0_MS + k * HOUR_MS, direction: 'in', process: 'nginx' });
    }
    // Other traffic, which --app tcp/443 leaves out.
    flows.push({ host: h.host, src: `10.9.${index}.1`, dst: '192.0.2.53', srcPort: 40000, dstPort: 53, proto: 17, bytes: 90, startMs: T0_MS + k * HOUR_MS + 5, direction: 'out' });
  }
  return flows;
}

describe('capacity demand over a fleet, by site', () => {
  let dir = '';
  const engines: QueryEngine[] = [];
  let instance: DuckDBInstance;
  let coordinator: DuckDBConnection;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-capacity-fleet-'));
    for (const [i, h] of HOSTS.entries()) engines.push(await QueryEngine.open(await writeFlows(path.join(dir, h.host), hostFlows(h, i))));
    instance = await DuckDBInstance.create(':memory:');
    coordinator = await instance.connect();
    await defineEmptyFlows(coordinator);
  });

  after(() => {
    for (const engine of engines) engine.close();
    coordinator?.closeSync();
    instance?.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  it('merges the hosts per site and step, and describes each site as its hosts\' generators add up', async () => {
    const window = stepWindow({ between: `${new Date(T0_MS).toISOString()}/${new Date(T0_MS + HOURS * HOUR_MS).toISOString()}`, step: '1h' });
    assert.equal(window.steps, HOURS);
    const sql = demandSql(window, [parseApplication('tcp/443')], false);
    const plan = await planFleetQuery(coordinator, sql);
    assert.equal(plan.kind, 'aggregate', 'the demand SQL merges as a GROUP BY');
    if (plan.kind !== 'aggregate') return;
    const merged = await mergeAnswers(coordinator, plan, await Promise.all(engines.map((e) => e.all(plan.hostSql))));
    const site = new Map(HOSTS.map((h) => [h.host, h.site]));
    const groups = demandGroups(demandRows(merged.columns, merged.rows), window, (host) => site.get(host ?? '') ?? null, 24, 12 * 604_800);
    assert.deepEqual(groups.map((g) => [g.app, g.site, g.hosts]).sort(), [['tcp/443', 'lyon', 1], ['tcp/443', 'paris', 2]]);
    for (const name of ['paris', 'lyon']) {
      const members = HOSTS.filter((h) => h.site === name);
      const series = Array.from({ length: HOURS }, (_, k) => members.reduce((sum, h) => sum + (hourlyBytes(k, h.base, h.growth) > 0 ? hourlyBytes(k, h.base, h.growth) + 700 : 0), 0));
      const group = groups.find((g) => g.site === name)!;
      assert.deepEqual(Array.from(group.series), series, `${name}: every step, zeros included`);
      const want = expectedStatistics(series, 3600, 24, 12 * 604_800);
      const got = group.stats;
      assert.equal(got.bytes, want.bytes);
      assert.equal(got.activeSteps, 28 * 18);
      assert.equal(got.peakStep, want.peakStep);
      for (const [what, a, b] of [['mean', got.meanBps, want.mean], ['peak', got.peakBps, want.peak], ['p95', got.p95Bps, want.p95], ['growth', got.growthBpsPerWeek, want.slope], ['percent', got.growthPercentPerWeek, want.percent], ['projected', got.projectedP95Bps, want.projected]] as const) {
        assert.ok(Math.abs((a as number) - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${name} ${what}: ${a} vs ${b}`);
      }
    }
    // The growth of paris in closed form: the two hosts' slopes add (their bases × growth × mean shape 20/24, in bits/s per week).
    const paris = groups.find((g) => g.site === 'paris')!.stats.growthBpsPerWeek!;
    const closedForm = ((40_000 * 0.1 + 25_000 * -0.02) * (20 / 24) * 8) / 3600;
    assert.ok(Math.abs(paris - closedForm) <= 1e-3 * closedForm, `${paris} vs ${closedForm}`);
  });
});

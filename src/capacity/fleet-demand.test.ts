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
import { expectedStatistics, hostFlows, HOSTS, HOUR_MS, HOURS, siteSeries, T0_MS, writeFlows } from './test-demand.js';

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
      const series = siteSeries(name);
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

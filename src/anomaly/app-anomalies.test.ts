/**
 * app_anomalies on synthetic stores: scores equal a TypeScript reference computed from the records,
 * thin history is blended with days of the same type, injected anomalies are found with the right
 * kind while tiny never-seen applications stay quiet, and the fleet path (planned and merged as a
 * coordinator does, without NATS) returns both hosts' anomalies, worst first, as one store would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { FlowRecord } from '../flow/index.js';
import { defineEmptyFlows, QueryEngine, type CellValue } from '../query/index.js';
import { mergeAnswers } from '../fleet/merge-answers.js';
import { planFleetQuery } from '../fleet/query-plan.js';
import { anomaliesSql, timestampSql, type ScoredWindow } from './anomaly-query.js';
import { MIN_WEEKLY_PERIODS, SCORE_THRESHOLD, type Feature } from './anomaly-thresholds.js';
import { robustZ } from './robust-stats.js';
import { applicationOf, DAY_US, historyRecords, HOUR_US, writeRecords } from './synthetic-history.js';
import { normalHour, writeTwoHosts } from './test-traffic.js';

/** The scored apps' features in [lo, hi), as the macro defines them. */
function features(records: readonly FlowRecord[], lo: number, hi: number): Record<Exclude<Feature, 'ports'>, number> {
  const own = records.filter((r) => r.startUs >= lo && r.startUs < hi);
  const pairs = new Set(own.map((r) => [r.srcAddr, r.dstAddr].sort().join(' ')));
  const sent = own.filter((r) => [6, 17, 132].includes(r.protocol) && r.dstPort === Math.min(r.srcPort, r.dstPort));
  return { bytes: own.reduce((s, r) => s + r.bytes, 0), sent: sent.reduce((s, r) => s + r.bytes, 0), flows: own.length, peers: pairs.size };
}

/** The reference: each application's score, computed from the records in TypeScript. */
function referenceScores(records: readonly FlowRecord[], window: ScoredWindow): Map<string, number> {
  const weekend = (us: number): boolean => [0, 6].includes(new Date(us / 1000).getUTCDay());
  const active = (d: number): boolean => records.some((r) => r.startUs >= window.fromUs - d * DAY_US && r.startUs < window.toUs - d * DAY_US);
  const periods: { d: number; week: boolean }[] = [];
  for (let d = 1; d <= 28; d++) {
    const week = d % 7 === 0;
    if ((week || (d <= 14 && weekend(window.fromUs - d * DAY_US) === weekend(window.fromUs))) && active(d)) periods.push({ d, week });
  }
  const weeks = periods.filter((p) => p.week).length;
  const used = periods.filter((p) => p.week || weeks < MIN_WEEKLY_PERIODS);
  const scores = new Map<string, number>();
  const byApp = new Map<string, FlowRecord[]>();
  for (const r of records) {
    const app = applicationOf(r);
    if (!byApp.has(app)) byApp.set(app, []);
    byApp.get(app)!.push(r);
  }
  const apps = new Set(records.filter((r) => r.startUs >= window.fromUs && r.startUs < window.toUs).map(applicationOf));
  for (const app of apps) {
    const own = byApp.get(app)!;
    const now = features(own, window.fromUs, window.toUs);
    const past = used.map((p) => features(own, window.fromUs - p.d * DAY_US, window.toUs - p.d * DAY_US));
    scores.set(app, Math.max(...(['bytes', 'sent', 'flows', 'peers'] as const).map((f) => robustZ(now[f], past.map((x) => x[f]), f))));
  }
  return scores;
}

async function rowsOf(engine: QueryEngine, sql: string): Promise<Record<string, CellValue>[]> {
  const { columns, rows } = await engine.all(sql);
  return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]])));
}

describe('app_anomalies on synthetic history', () => {
  let dir = '';
  const hourUs = Math.floor((Date.now() * 1000) / HOUR_US) * HOUR_US - HOUR_US; // the last whole hour
  const window = { fromUs: hourUs, toUs: hourUs + HOUR_US };
  const engines: QueryEngine[] = [];
  const records = { a: [] as FlowRecord[], b: [] as FlowRecord[] };
  let stores: Record<'a' | 'b' | 'all' | 'thin' | 'empty', string>;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-anomaly-'));
    stores = { a: path.join(dir, 'a'), b: path.join(dir, 'b'), all: path.join(dir, 'all'), thin: path.join(dir, 'thin'), empty: path.join(dir, 'empty') };
    const hosts = await writeTwoHosts(dir, hourUs);
    records.a = hosts.a;
    records.b = hosts.b;
    stores.a = hosts.stores.a;
    stores.b = hosts.stores.b;
    await writeRecords(stores.all, [...records.a, ...records.b]);
    // Ten days of history: one week back only, so the baseline takes the days of the same type too.
    const template = normalHour('host-t', hourUs, '10.3.0.1');
    await writeRecords(stores.thin, [...historyRecords(template, { hourStartUs: hourUs, days: 10, seed: 3 }), ...template]);
    // A host with no past at all: nothing to compare with.
    await writeRecords(stores.empty, template);
  });

  after(() => {
    for (const engine of engines) engine.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(store: string): Promise<QueryEngine> {
    const engine = await QueryEngine.open(store);
    engines.push(engine);
    return engine;
  }

  it('scores every application as the TypeScript reference does from the records', async () => {
    for (const host of ['a', 'b'] as const) {
      const rows = await rowsOf(await open(stores[host]), `SELECT app, score FROM app_anomalies(${timestampSql(window.fromUs)}, ${timestampSql(window.toUs)}) WHERE app <> '*'`);
      const reference = referenceScores(records[host], window);
      assert.equal(rows.length, reference.size);
      for (const row of rows) {
        const expected = reference.get(String(row.app));
        assert.ok(expected !== undefined && Math.abs(Number(row.score) - expected) < 1e-6 * Math.max(1, Math.abs(expected)), `${host} ${row.app}: ${row.score} vs ${expected}`);
      }
    }
  });

  it('finds the injected anomalies with their kind and evidence, and nothing else', async () => {
    const a = await rowsOf(await open(stores.a), anomaliesSql(window, 20));
    const b = await rowsOf(await open(stores.b), anomaliesSql(window, 20));
    const found = (rows: Record<string, CellValue>[]): string[] => rows.map((r) => `${r.app} ${r.kind} ${r.feature}`).sort();
    assert.deepEqual(found(a), ['* scan ports', 'tcp/443 exfiltration sent']);
    // The sweep shows twice: in tcp/22's peers and in the host's as a whole.
    assert.deepEqual(found(b), ['* scan peers', 'tcp/22 scan peers', 'tcp/7777 new_application bytes']);
    const exfiltration = a.find((r) => r.app === 'tcp/443')!;
    assert.equal(exfiltration.observed, Number(exfiltration.sent));
    assert.ok(Number(exfiltration.observed) > 40e6 && Number(exfiltration.median) < 1e6, JSON.stringify(exfiltration));
    assert.equal(exfiltration.baseline, 'hour_of_week');
    assert.equal(exfiltration.baseline_periods, 4);
    assert.equal(exfiltration.process, 'rclone');
    assert.equal(exfiltration.pair, '10.1.0.1 <-> 203.0.113.66');
    assert.equal(a.find((r) => r.app === '*')!.pair, '10.1.0.1 <-> 10.9.9.9');
    const sweep = b.find((r) => r.app === 'tcp/22')!;
    assert.equal(sweep.observed, 41);
    assert.equal(sweep.median, 1);
    assert.ok(a.every((r) => Number(r.score) >= SCORE_THRESHOLD) && Number(a[0].score) >= Number(a[1].score));
  });

  it('blends in days of the same type when fewer than three weeks have data', async () => {
    const rows = await rowsOf(await open(stores.thin), anomaliesSql(window, 50, true));
    const weekend = (us: number): boolean => [0, 6].includes(new Date(us / 1000).getUTCDay());
    let sameType = 0;
    for (let d = 1; d <= 10; d++) if (d !== 7 && weekend(hourUs - d * DAY_US) === weekend(hourUs)) sameType++;
    assert.ok(rows.length >= 4);
    for (const row of rows) {
      assert.equal(row.baseline, 'blended');
      assert.equal(row.baseline_periods, 1 + sameType);
    }
    assert.deepEqual(rows.filter((r) => Number(r.score) >= SCORE_THRESHOLD), [], 'a normal hour is not anomalous');
  });

  it('scores nothing on a host without history, and refuses a window longer than a day', async () => {
    assert.deepEqual((await (await open(stores.empty)).all(anomaliesSql(window, 20, true))).rows, []);
    const engine = await open(stores.a);
    await assert.rejects(engine.all(anomaliesSql({ fromUs: hourUs - 2 * DAY_US, toUs: hourUs }, 20)), /last at most a day/);
  });

  describe('across the fleet', () => {
    let instance: DuckDBInstance;
    let coordinator: DuckDBConnection;
    before(async () => {
      instance = await DuckDBInstance.create(':memory:');
      coordinator = await instance.connect();
      await defineEmptyFlows(coordinator);
    });
    after(() => {
      coordinator?.closeSync();
      instance?.closeSync();
    });

    it('one planned query returns both hosts\' anomalies, worst first, as one store holding both would', async () => {
      const sql = anomaliesSql(window, 20);
      const plan = await planFleetQuery(coordinator, sql);
      assert.equal(plan.kind, 'rows');
      if (plan.kind !== 'rows') return;
      assert.match(plan.hostSql, /FROM app_anomalies\(/);
      const partials = await Promise.all([stores.a, stores.b].map(async (store) => (await open(store)).all(plan.hostSql)));
      const merged = await mergeAnswers(coordinator, plan, partials);
      const one = await (await open(stores.all)).all(sql);
      assert.deepEqual(merged.columns, one.columns);
      assert.deepEqual(merged.rows, one.rows);
      const host = merged.columns.findIndex((c) => c.name === 'host');
      const score = merged.columns.findIndex((c) => c.name === 'score');
      assert.deepEqual(new Set(merged.rows.map((r) => r[host])), new Set(['host-a', 'host-b']));
      assert.equal(merged.rows.length, 5);
      for (let i = 1; i < merged.rows.length; i++) assert.ok(Number(merged.rows[i - 1][score]) >= Number(merged.rows[i][score]));
      // The top two of the fleet, planned with LIMIT 2: still exact.
      const top = await planFleetQuery(coordinator, anomaliesSql(window, 2));
      assert.ok(top.kind === 'rows');
      const topMerged = await mergeAnswers(coordinator, top, await Promise.all([stores.a, stores.b].map(async (s) => (await open(s)).all(top.hostSql))));
      assert.deepEqual(topMerged.rows, one.rows.slice(0, 2));
    });

    it('plans aggregates over the macro too, and still refuses other table functions', async () => {
      const sql = `SELECT kind, count(*) AS n, max(score) AS worst FROM app_anomalies(${timestampSql(window.fromUs)}, ${timestampSql(window.toUs)}) WHERE anomalous GROUP BY kind ORDER BY kind`;
      const plan = await planFleetQuery(coordinator, sql);
      assert.equal(plan.kind, 'aggregate');
      if (plan.kind !== 'aggregate') return;
      const merged = await mergeAnswers(coordinator, plan, await Promise.all([stores.a, stores.b].map(async (s) => (await open(s)).all(plan.hostSql))));
      assert.deepEqual(merged.rows, (await (await open(stores.all)).all(sql)).rows);
      for (const other of ["SELECT * FROM read_csv('/etc/passwd')", "SELECT * FROM range(10)"]) {
        await assert.rejects(planFleetQuery(coordinator, other), /reads one table, flows or hosts/);
      }
    });
  });
});

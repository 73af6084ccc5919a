/**
 * Fleet queries split and merged (query-plan.ts, merge-answers.ts) against the same query on one
 * store holding every host's flows: exact for exact aggregates and row queries, within the stated
 * error for count(DISTINCT …) and quantiles; refusals name what cannot be merged.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { defineEmptyFlows, QueryEngine, type CellValue } from '../query/index.js';
import { mergeAnswers } from './merge-answers.js';
import { FleetQueryError, planFleetQuery } from './query-plan.js';
import { HLL_RELATIVE_ERROR, QUANTILE_RELATIVE_ERROR } from './sketches.js';
import { writeHostStores } from './test-stores.js';

describe('fleet queries split per host and merged', () => {
  let dir = '';
  const hosts: QueryEngine[] = [];
  let single: QueryEngine;
  let coordinator: DuckDBConnection;
  let instance: DuckDBInstance;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-fleet-'));
    const stores = await writeHostStores(dir, [3000, 1200, 5000]);
    for (const store of stores.hosts) hosts.push(await QueryEngine.open(store));
    single = await QueryEngine.open(stores.all);
    instance = await DuckDBInstance.create(':memory:');
    coordinator = await instance.connect();
    await defineEmptyFlows(coordinator);
  });

  after(() => {
    for (const engine of hosts) engine.close();
    single?.close();
    coordinator?.closeSync();
    instance?.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The query across the hosts, and on the single store. */
  async function both(sql: string): Promise<{ fleet: { columns: unknown[]; rows: CellValue[][] }; one: { columns: unknown[]; rows: CellValue[][] }; approximations: string[] }> {
    const plan = await planFleetQuery(coordinator, sql);
    assert.ok(plan.kind !== 'registry');
    const partials = await Promise.all(hosts.map((engine) => engine.all(plan.hostSql)));
    const fleet = await mergeAnswers(coordinator, plan, partials);
    const one = await single.all(sql);
    return { fleet, one, approximations: plan.approximations };
  }

  const exact = [
    'SELECT count(*), sum(bytes), min(start_time), max(end_time), avg(packets) FROM flows',
    'SELECT proto, dst_port, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY ALL ORDER BY b DESC LIMIT 5',
    'SELECT host, sum(packets) FROM flows WHERE proto = 6 GROUP BY 1 ORDER BY 1',
    "SELECT date_trunc('hour', start_time) AS hour, sum(bytes) / count(*) AS mean_bytes, max(bytes) - min(bytes) AS spread FROM flows GROUP BY hour HAVING count(*) > 10 ORDER BY hour",
    'SELECT process, count_if(dst_port = 443) AS https, bool_or(tcp_flags > 60) AS flagged, sum(packets) FILTER (WHERE proto = 17) AS udp FROM flows GROUP BY process ORDER BY process NULLS FIRST',
    'SELECT src_addr, sum(bytes) AS b FROM flows GROUP BY src_addr ORDER BY b DESC, src_addr LIMIT 10',
    'SELECT count(*) AS none FROM flows WHERE dst_port = 1',
    'SELECT host, src_addr, dst_addr, bytes FROM flows WHERE dst_port = 53 ORDER BY bytes DESC, src_addr LIMIT 20',
    'SELECT src_addr FROM flows ORDER BY start_time, src_addr LIMIT 7 OFFSET 3',
    'SELECT DISTINCT proto, dst_port FROM flows ORDER BY proto, dst_port',
    // CASE … WHEN: its comparisons have no place in the text (a query_location of 2^64 − 1 in DuckDB's JSON).
    "SELECT CASE proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' ELSE 'ip' || proto END AS p, sum(CASE WHEN dst_port = 53 THEN 0 ELSE bytes END) AS b FROM flows GROUP BY ALL ORDER BY p",
  ];
  for (const sql of exact) {
    it(`exact: ${sql}`, async () => {
      const { fleet, one } = await both(sql);
      assert.deepEqual(fleet.columns, one.columns);
      assert.equal(fleet.rows.length, one.rows.length);
      assert.ok(one.rows.length > 0);
      fleet.rows.forEach((row, r) => row.forEach((cell, c) => assert.ok(sameCell(cell, one.rows[r][c]), `row ${r} column ${c}: ${String(cell)} vs ${String(one.rows[r][c])}`)));
    });
  }

  it('approximate: count(DISTINCT …) within 3 standard errors, and says so', async () => {
    const { fleet, one, approximations } = await both('SELECT proto, count(DISTINCT src_addr) AS n, count(DISTINCT dst_port) AS ports FROM flows GROUP BY proto ORDER BY proto');
    assert.equal(fleet.rows.length, one.rows.length);
    fleet.rows.forEach((row, r) => {
      assert.equal(row[0], one.rows[r][0]);
      for (const c of [1, 2]) {
        const truth = Number(one.rows[r][c]);
        assert.ok(Math.abs(Number(row[c]) - truth) <= 3 * HLL_RELATIVE_ERROR * truth + 1, `estimate ${String(row[c])} vs ${truth}`);
      }
    });
    assert.match(approximations.join('; '), /count\(DISTINCT src_addr\): HyperLogLog, standard error 1\.6%/);
  });

  it('approximate: quantiles within the sketch error of the true value', async () => {
    const { fleet, approximations } = await both('SELECT median(bytes) AS m, quantile_disc(bytes, 0.9) AS p90, quantile_cont(duration_us, 0.99) AS slow FROM (SELECT *, epoch_us(end_time) - epoch_us(start_time) AS duration_us FROM flows)').catch(
      (error: Error) => ({ fleet: null, one: null, approximations: [error.message] }),
    );
    // A derived table is not a fleet query: the same with the expression inline.
    assert.equal(fleet, null);
    assert.match(approximations[0], /reads one table, flows/);
    const inline = await both('SELECT median(bytes) AS m, quantile_disc(bytes, 0.9) AS p90, quantile_cont(epoch_us(end_time) - epoch_us(start_time), 0.99) AS slow FROM flows');
    inline.fleet.rows[0].forEach((cell, c) => {
      const truth = Number(inline.one.rows[0][c]);
      assert.ok(Math.abs(Number(cell) - truth) <= 2 * QUANTILE_RELATIVE_ERROR * truth, `column ${c}: ${String(cell)} vs ${truth}`);
    });
    assert.equal(inline.approximations.length, 3);
  });

  it('refuses what it cannot merge, naming it', async () => {
    const refusals: [string, RegExp][] = [
      ["SELECT string_agg(src_addr, ',') FROM flows", /uses the aggregate string_agg, which cannot be merged across hosts/],
      ['SELECT sum(DISTINCT bytes) FROM flows', /DISTINCT in this aggregate/],
      ['SELECT src_addr, row_number() OVER () FROM flows', /window functions/],
      ['SELECT * FROM flows f JOIN flows g USING (src_addr)', /reads one table, flows/],
      ['SELECT count(*) FROM flows WHERE bytes > (SELECT avg(bytes) FROM flows)', /subqueries/],
      ['SELECT proto, sum(bytes) FROM flows GROUP BY ROLLUP (proto)', /ROLLUP/],
      ['SELECT nope FROM flows', /Cannot run the query: .*nope/],
      ['SELECT 1; SELECT 2', /exactly one SELECT/],
      ["SELECT quantile_cont(bytes, [0.5, 0.9]) FROM flows", /one constant fraction/],
    ];
    for (const [sql, pattern] of refusals) {
      await assert.rejects(planFleetQuery(coordinator, sql), (error: Error) => {
        assert.ok(error instanceof FleetQueryError, `${sql}: ${String(error)}`);
        assert.match(error.message, pattern, sql);
        return true;
      });
    }
  });

  it('a global aggregate over hosts that have nothing still gives one row, as one store does', async () => {
    const plan = await planFleetQuery(coordinator, 'SELECT count(*) AS n, sum(bytes) AS b, avg(bytes) AS a FROM flows');
    assert.ok(plan.kind !== 'registry');
    const merged = await mergeAnswers(coordinator, plan, []);
    assert.deepEqual(merged.rows, [[0, null, null]]);
  });
});

/** Equal cells; doubles (avg) to the last few bits, since the sum is divided once here and once there. */
function sameCell(a: CellValue, b: CellValue): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
  return JSON.stringify(a) === JSON.stringify(b);
}

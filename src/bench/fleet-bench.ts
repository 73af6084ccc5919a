/**
 * The fleet query plane's local cost (issue 4's benchmark, first part): one real store holding a busy
 * host's week (the GROUP BY store of groupby.ts, 10 million records by default), and the time of
 * typical aggregates on it, two ways:
 *   - local: `endsight query` on the store (the query engine with DuckDB's default threads);
 *   - as a fleet host answers it: the coordinator's plan (planFleetQuery) gives the host part, signed
 *     in an envelope and answered by a QueryResponder as an agent would (signature check, an engine
 *     opened per query, one thread, 256 MB), so the figure includes what the sandbox costs.
 * Medians of several runs after a warm-up. Target: under 200 ms each.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { pino } from 'pino';
import { planFleetQuery } from '../fleet/query-plan.js';
import { QueryResponder } from '../fleet/query-responder.js';
import { generateAuthorityKeys, loadKey, signQuery } from '../fleet/signed-query.js';
import { defineEmptyFlows, QueryEngine } from '../query/index.js';
import { median } from './process-stats.js';

export const FLEET_LOCAL_TARGET_MS = 200;

/** `target`: one of the two typical aggregates, whose local time the target is on. */
export const TYPICAL_AGGREGATES = [
  { name: 'top applications by bytes', target: true, sql: 'SELECT process, sum(bytes) AS bytes FROM flows GROUP BY process ORDER BY bytes DESC LIMIT 10' },
  {
    name: 'bytes to a subnet per hour',
    target: true,
    sql: "SELECT date_trunc('hour', start_time) AS hour, sum(bytes) AS bytes FROM flows WHERE in_cidr(dst_addr, '10.0.0.0/8') GROUP BY hour ORDER BY hour",
  },
  { name: 'flows and distinct peers per port', target: false, sql: 'SELECT dst_port, count(*) AS flows, count(DISTINCT src_addr) AS peers FROM flows GROUP BY dst_port ORDER BY flows DESC LIMIT 10' },
];

export interface FleetLocalResult {
  name: string;
  sql: string;
  target: boolean;
  localMs: number[];
  localMedianMs: number;
  hostMs: number[];
  hostMedianMs: number;
  rows: number;
}

export async function runFleetLocalBench(dataDir: string, runs: number, log: (line: string) => void): Promise<FleetLocalResult[]> {
  const keys = generateAuthorityKeys();
  const signKey = loadKey(keys.privateKeyPem, 'private', 'bench key');
  const identity = { id: 'bench-host-01', site: null, tags: [], addresses: [] };
  const responder = new QueryResponder({ identity, audience: 'bench', authority: loadKey(keys.publicKeyPem, 'public', 'bench'), dataDir, log: pino({ level: 'silent' }) });
  const instance = await DuckDBInstance.create(':memory:');
  const planner = await instance.connect();
  await defineEmptyFlows(planner);
  const engine = await QueryEngine.open(dataDir);
  const results: FleetLocalResult[] = [];
  try {
    for (const { name, sql, target } of TYPICAL_AGGREGATES) {
      const plan = await planFleetQuery(planner, sql);
      if (plan.kind === 'registry') throw new Error(`${name}: not a flows query`);
      const localMs: number[] = [];
      const hostMs: number[] = [];
      let rows = 0;
      for (let r = 0; r <= runs; r++) {
        let t = performance.now();
        rows = (await engine.all(sql)).rows.length;
        if (r > 0) localMs.push(performance.now() - t); // run 0 warms the page cache
        const signed = signQuery(signKey, { query: plan.hostSql, target: 'all', limits: { timeoutMs: 60_000, maxRows: 100_000 }, issuer: 'bench', audience: 'bench' });
        t = performance.now();
        const answer = await responder.answer(Buffer.from(JSON.stringify(signed)));
        if (!answer.ok) throw new Error(`${name}: the host refused or failed: ${answer.code}: ${answer.error}`);
        if (r > 0) hostMs.push(performance.now() - t);
      }
      const result = { name, sql, target, localMs, localMedianMs: median(localMs), hostMs, hostMedianMs: median(hostMs), rows };
      log(`fleet local: ${name}: ${result.localMedianMs.toFixed(0)} ms local, ${result.hostMedianMs.toFixed(0)} ms as a fleet host answers it`);
      results.push(result);
    }
  } finally {
    engine.close();
    planner.closeSync();
    instance.closeSync();
  }
  return results;
}

export function formatFleetLocal(records: number, results: readonly FleetLocalResult[]): string[] {
  const lines = [`fleet queries on one host's store (${records.toLocaleString('en-US')} records, a week): median ms after a warm-up; target: the issue's two, locally, < ${FLEET_LOCAL_TARGET_MS} ms`];
  const rows = [['query', 'local', 'as a fleet host', 'verdict']];
  for (const r of results) {
    const verdict = !r.target ? '(not a target)' : r.localMedianMs < FLEET_LOCAL_TARGET_MS ? 'PASS' : 'MISS';
    rows.push([r.name, r.localMedianMs.toFixed(0), r.hostMedianMs.toFixed(0), verdict]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) lines.push('  ' + row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  lines.push('  as a fleet host: the coordinator\'s host part, signed, checked and run by the agent\'s responder (engine opened per query, 1 thread on purpose, so that');
  lines.push('  a query leaves the other core to the capture; 256 MB): shown beside, not the target.');
  return lines;
}

/**
 * What `endsight coverage` and the console's GET /api/coverage compute from flows: the pairs' rows
 * (per source, destination and application: bytes and flows), the curves, and optionally the fewest
 * best-first hosts that see a share of the bytes (docs/coverage.md).
 */
import { APPLICATION_GROUP_SQL, APPLICATION_SQL } from '../query/application-sql.js';
import { coverage, unorderedPairs, type CoverageResult, type HostPair } from './coverage.js';

/** Per source, destination and application: bytes and flows (the application: protocol and the lower port). */
export const PAIRS_SQL =
  'SELECT src_addr AS src, dst_addr AS dst, ' +
  `${APPLICATION_SQL} AS app, ` +
  'sum(bytes)::DOUBLE AS bytes, count(*)::DOUBLE AS flows FROM flows GROUP BY ALL';
/**
 * The same from the local store, cheaper, and already the unordered pairs (each pair and application
 * once): both directions grouped at once (least and greatest address), the application's text made
 * once per group rather than once per record, then the groups of one application merged (100 million
 * records: 17 s → 13 s, and no merging in JavaScript). The fleet asks PAIRS_SQL, whose single
 * GROUP BY ALL its planner splits, and the pairs are merged here.
 */
export const LOCAL_PAIRS_SQL =
  'SELECT src, dst, app, sum(bytes) AS bytes, sum(flows) AS flows FROM (' +
  `SELECT least(src_addr, dst_addr) AS src, greatest(src_addr, dst_addr) AS dst, ${APPLICATION_SQL} AS app, ` +
  'sum(bytes)::DOUBLE AS bytes, count(*)::DOUBLE AS flows FROM flows ' +
  `GROUP BY least(src_addr, dst_addr), greatest(src_addr, dst_addr), ${APPLICATION_GROUP_SQL}) GROUP BY ALL`;

export interface PairRow {
  src: string;
  dst: string;
  app: string;
  bytes: number;
  flows: number;
}

/** A query's columns and rows (src, dst, app, bytes, flows in any order) as pair rows. */
export function pairRowsOf(columns: readonly { name: string }[], cells: readonly unknown[][]): PairRow[] {
  const at = (name: string): number => columns.findIndex((c) => c.name === name);
  const [s, d, a, b, f] = ['src', 'dst', 'app', 'bytes', 'flows'].map(at);
  return cells.map((row) => ({ src: String(row[s]), dst: String(row[d]), app: String(row[a]), bytes: Number(row[b]), flows: Number(row[f]) }));
}

export interface CoverageReport {
  pairs: HostPair[];
  hosts: number;
  result: CoverageResult;
  /** With `cover`: the fewest best-first hosts that see that share of the bytes, and the share they see. */
  cover: { target: number; hosts: string[]; bytes: number } | null;
}

/** The curves at `points` (every k with `allPoints`); `unordered`: the rows are the unordered pairs already (LOCAL_PAIRS_SQL). */
export function coverageReport(rows: readonly PairRow[], unordered: boolean, options: { trials: number; allPoints: boolean; cover: number | null }): CoverageReport {
  const pairs = unordered ? rows.map((r) => ({ a: r.src, b: r.dst, bytes: r.bytes, flows: r.flows, app: r.app })) : unorderedPairs(rows);
  const hosts = new Set(pairs.flatMap((p) => [p.a, p.b])).size;
  const result = coverage(pairs, { points: checkpoints(hosts, options.allPoints), trials: options.trials });
  let cover: CoverageReport['cover'] = null;
  if (options.cover !== null) {
    let k = 0;
    const full = coverage(pairs, { points: Array.from({ length: hosts + 1 }, (_, i) => i), trials: 1 });
    while (k < hosts && full.points[k].bytes + 1e-12 < options.cover) k++;
    cover = { target: options.cover, hosts: full.order.slice(0, k), bytes: full.points[k].bytes };
  }
  return { pairs, hosts, result, cover };
}

/** The report as `endsight coverage --format json` prints it. */
export function coverageJson(report: CoverageReport): object {
  const { result, cover } = report;
  return {
    hosts: result.hosts, total_bytes: result.totalBytes, total_flows: result.totalFlows, best_first: result.order,
    ...(cover ? { cover: cover.target, hosts_to_instrument: cover.hosts } : {}),
    points: result.points.map((p) => ({ k: p.k, bytes: p.bytes, flows: p.flows, random_bytes: p.randomBytes, random_flows: p.randomFlows })),
    apps: result.apps.map((a) => ({ app: a.app, bytes: a.bytes, coverage: a.coverage })),
  };
}

/** k = 0..10, then 1-2-5 steps, and every host; with `all`, every k. */
export function checkpoints(hosts: number, all: boolean): number[] {
  if (all) return Array.from({ length: hosts + 1 }, (_, k) => k);
  const ks = new Set<number>();
  for (let k = 0; k <= Math.min(10, hosts); k++) ks.add(k);
  for (let decade = 10; decade <= hosts; decade *= 10) for (const f of [1, 2, 5]) if (decade * f <= hosts) ks.add(decade * f);
  ks.add(hosts);
  return [...ks].sort((a, b) => a - b);
}

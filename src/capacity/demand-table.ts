/**
 * The demand model's table: the stores' per host, step and application sums (demand-sql.ts) grouped
 * by application (and process) and the reporting host's site, each group's bytes laid on every step
 * of the window (zeros where it had none) and described by demand-statistics.ts.
 *
 * A site's demand is what its hosts' own records count: a flow between two instrumented hosts counts
 * at both ends (the sender's `out` record and the receiver's `in` record), as it loads both hosts'
 * access to the network; within one site it therefore counts twice. The network view's traffic
 * matrix (flow-matrix.ts) counts it once, and the projection onto links uses that.
 */
import type { CellValue } from '../query/index.js';
import { demandStatistics, type DemandStatistics } from './demand-statistics.js';
import type { StepWindow } from './capacity-window.js';

/** One row of demandSql's answer. */
export interface DemandRow {
  host: string | null;
  step: number;
  app: string | null;
  process?: string | null;
  bytes: number;
}

export interface DemandGroup {
  app: string | null;
  process: string | null;
  site: string | null;
  hosts: number;
  /** Bytes per step of the window. */
  series: Float64Array;
  stats: DemandStatistics;
}

/** Rows of a query answer (columns and cells) as DemandRows. */
export function demandRows(columns: readonly { name: string }[], rows: readonly CellValue[][]): DemandRow[] {
  const at = (name: string): number => columns.findIndex((c) => c.name === name);
  const [host, step, app, process, bytes] = ['host', 'step', 'app', 'process', 'bytes'].map(at);
  return rows.map((r) => ({ host: r[host] as string | null, step: Number(r[step]), app: r[app] as string | null, process: process < 0 ? undefined : (r[process] as string | null), bytes: Number(r[bytes]) || 0 }));
}

/**
 * Groups `rows` by application, process and `siteOf(host)`, most bytes first. `binSteps` and
 * `horizonS` are the trend's (demandStatistics). Steps outside the window are an error: the SQL
 * keeps only flows that start inside it.
 */
export function demandGroups(rows: readonly DemandRow[], window: StepWindow, siteOf: (host: string | null) => string | null, binSteps: number, horizonS: number): DemandGroup[] {
  const groups = new Map<string, { app: string | null; process: string | null; site: string | null; hosts: Set<string | null>; series: Float64Array }>();
  for (const row of rows) {
    if (!(Number.isInteger(row.step) && row.step >= 0 && row.step < window.steps)) throw new RangeError(`Cannot place a step ${row.step} in a window of ${window.steps} steps`);
    const site = siteOf(row.host);
    const process = row.process ?? null;
    const key = JSON.stringify([row.app, process, site]);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { app: row.app, process, site, hosts: new Set(), series: new Float64Array(window.steps) }));
    group.hosts.add(row.host);
    group.series[row.step] += row.bytes;
  }
  const stepS = window.stepUs / 1e6;
  return [...groups.values()]
    .map((g) => ({ app: g.app, process: g.process, site: g.site, hosts: g.hosts.size, series: g.series, stats: demandStatistics(g.series, stepS, binSteps, horizonS) }))
    .sort((a, b) => b.stats.bytes - a.stats.bytes || String(a.app).localeCompare(String(b.app)) || String(a.site).localeCompare(String(b.site)));
}

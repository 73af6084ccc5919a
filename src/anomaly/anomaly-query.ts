/**
 * The query `endsight anomalies` asks of one store or of every host (one signed fleet query): a row
 * query over app_anomalies (anomaly-sql.ts), so that each host scores itself and sends its top rows,
 * and the coordinator keeps the fleet's top ones (query-plan.ts plans it like any row query).
 */
import { MAX_WINDOW_US } from './anomaly-thresholds.js';

/** The window scored: [fromUs, toUs). */
export interface ScoredWindow {
  fromUs: number;
  toUs: number;
}

/**
 * The window of --since/--between as app_anomalies takes it: both ends given, at most a day long
 * (the baseline shifts the window by whole days). Throws RangeError naming the option otherwise.
 */
export function scoredWindow(window: { fromUs: number | null; toUs: number | null } | undefined, nowUs: number): ScoredWindow {
  const fromUs = window?.fromUs ?? nowUs - 3_600_000_000;
  const toUs = window?.toUs ?? nowUs;
  if (window !== undefined && window.fromUs === null) throw new RangeError('Cannot score an open window: give --between a start, e.g. 2026-11-02T09:00Z/2026-11-02T10:00Z');
  if (toUs - fromUs > MAX_WINDOW_US) throw new RangeError('Cannot score a window longer than a day (--since, --between): baselines are the same window in past days and weeks');
  if (toUs <= fromUs) throw new RangeError('Cannot score an empty window: its end must be after its start');
  return { fromUs: Math.floor(fromUs), toUs: Math.floor(toUs) };
}

/** A TIMESTAMP literal for µs since the epoch (UTC, microseconds kept). */
export function timestampSql(us: number): string {
  const ms = Math.floor(us / 1000);
  const micro = String(us % 1_000_000).padStart(6, '0');
  return `TIMESTAMP '${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}.${micro}'`;
}

/** The columns the command shows, rounded for reading. */
const SELECTED = [
  'host', 'app', 'kind', 'anomalous', 'round(score, 1) AS score', 'feature', 'round(observed, 1) AS observed', 'round(median, 1) AS median',
  'round(mad, 1) AS mad', 'baseline_periods', 'baseline', 'bytes', 'sent', 'flows', 'peers', 'ports', 'process', 'pair', 'window_start', 'window_end',
];

/** The most abnormal applications of the window (all scored ones with `all`), worst first. */
export function anomaliesSql(window: ScoredWindow, top: number, all = false): string {
  return (
    `SELECT ${SELECTED.join(', ')} FROM app_anomalies(${timestampSql(window.fromUs)}, ${timestampSql(window.toUs)})` +
    `${all ? '' : ' WHERE anomalous'} ORDER BY score DESC, host, app LIMIT ${top}`
  );
}

/**
 * Robust statistics in TypeScript: the reference the SQL macro (anomaly-sql.ts) is tested against,
 * and the definitions docs/anomaly.md states.
 */
import { FLOORS, MAD_SCALE, RELATIVE_FLOOR, type Feature } from './anomaly-thresholds.js';

/** The median (the mean of the two middle values for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The median absolute deviation from the median. */
export function mad(values: readonly number[]): number {
  const m = median(values);
  return median(values.map((v) => Math.abs(v - m)));
}

/**
 * How far `observed` lies above the baseline `values`, in robust standard deviations: the spread is
 * 1.4826 MAD, but at least RELATIVE_FLOOR of the median and the feature's absolute floor, so that a
 * baseline that happens not to vary, or a tiny one, does not turn a wobble into an alarm.
 */
export function robustZ(observed: number, values: readonly number[], feature: Feature): number {
  const m = median(values);
  const spread = Math.max(MAD_SCALE * mad(values), RELATIVE_FLOOR * m, FLOORS[feature]);
  return (observed - m) / spread;
}

/**
 * The statistics of one demand series: bytes per step over the whole window, every step present
 * (a step without traffic is a zero, not a missing value: leaving it out would raise the mean and
 * the percentiles of an application that is idle at night).
 *
 *   - rate of a step: its bytes × 8 / the step's length (bits/s);
 *   - mean: the bytes of the window over its length;
 *   - peak: the highest step rate, and the first step that has it;
 *   - p95: nearest rank, the ⌈0.95 · n⌉-th smallest of the n step rates (a rate the demand exceeds
 *     in at most 5% of the steps; a value that occurred, with no interpolation);
 *   - trend: the least-squares line through the mean rate of each trend bin (a day or a week of
 *     steps, from the window's start; a last bin cut short by the window's end is its mean over the
 *     steps it has), against the bin's middle in weeks: the slope in bits/s per week, and that slope
 *     over the mean of the bins (the fitted level at their mean time) as a percentage per week;
 *   - projected p95: the p95 scaled as the fitted line grows from the bins' mean time to the window's
 *     end plus the horizon. The p95 describes the window as a whole, whose level is the bins' mean;
 *     scaling rather than adding assumes the daily shape grows with the level (busy hours grow as
 *     much, in proportion, as quiet ones). Never below zero.
 */

export interface DemandStatistics {
  steps: number;
  /** Steps with some traffic. */
  activeSteps: number;
  bytes: number;
  meanBps: number;
  peakBps: number;
  /** Index of the first step at the peak. */
  peakStep: number;
  p95Bps: number;
  /** Null with fewer than two trend bins. */
  growthBpsPerWeek: number | null;
  growthPercentPerWeek: number | null;
  projectedP95Bps: number | null;
}

const WEEK_S = 7 * 86_400;

/** Statistics of `bytes` per step of `stepS` seconds; trend bins of `binSteps` steps; `horizonS` past the window's end. */
export function demandStatistics(bytes: ArrayLike<number>, stepS: number, binSteps: number, horizonS: number): DemandStatistics {
  const n = bytes.length;
  if (n === 0) throw new RangeError('Cannot describe a demand over no step');
  const rates = Array.from(bytes, (b) => (b * 8) / stepS);
  let total = 0;
  let active = 0;
  let peakStep = 0;
  for (let k = 0; k < n; k++) {
    total += bytes[k];
    if (bytes[k] > 0) active++;
    if (rates[k] > rates[peakStep]) peakStep = k;
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const p95 = sorted[Math.ceil(0.95 * n) - 1];
  const meanBps = (total * 8) / (n * stepS);
  const trend = fitTrend(rates, stepS, binSteps);
  let growthPercent: number | null = null;
  let projected: number | null = null;
  if (trend !== null) {
    growthPercent = trend.level > 0 ? (trend.slopePerWeek / trend.level) * 100 : null;
    const endWeeks = (n * stepS) / WEEK_S;
    const later = trend.level + trend.slopePerWeek * (endWeeks + horizonS / WEEK_S - trend.meanWeeks);
    projected = trend.level > 0 ? Math.max(0, (p95 * later) / trend.level) : null;
  }
  return { steps: n, activeSteps: active, bytes: total, meanBps, peakBps: rates[peakStep], peakStep, p95Bps: p95, growthBpsPerWeek: trend?.slopePerWeek ?? null, growthPercentPerWeek: growthPercent, projectedP95Bps: projected };
}

/** The least-squares line through the bins' mean rates: its slope (bits/s per week), the bins' mean rate and mean time (weeks). */
function fitTrend(rates: readonly number[], stepS: number, binSteps: number): { slopePerWeek: number; level: number; meanWeeks: number } | null {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let first = 0; first < rates.length; first += binSteps) {
    const last = Math.min(rates.length, first + binSteps);
    let sum = 0;
    for (let k = first; k < last; k++) sum += rates[k];
    ys.push(sum / (last - first));
    xs.push((((first + last) / 2) * stepS) / WEEK_S);
  }
  if (xs.length < 2) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return { slopePerWeek: sxy / sxx, level: my, meanWeeks: mx };
}

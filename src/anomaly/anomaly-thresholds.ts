/**
 * The numbers behind anomaly scores (docs/anomaly.md#thresholds). One place, because the SQL macro
 * (anomaly-sql.ts), its TypeScript reference (robust-stats.ts) and the docs must agree.
 */

/** A row is anomalous when its score (a robust z-score) is at least this. */
export const SCORE_THRESHOLD = 5;

/** 1.4826 · MAD estimates the standard deviation of normally distributed values. */
export const MAD_SCALE = 1.4826;

/**
 * The spread a deviation is divided by is at least this fraction of the baseline median: with a
 * handful of past periods the MAD is often near zero by chance, and a 30% wobble would score
 * in the tens. With 0.25 and a threshold of 5, an application must at least double (2.25×) to count.
 */
export const RELATIVE_FLOOR = 0.25;

/**
 * ... and at least these absolute amounts, so that tiny applications (a few DNS queries, neighbour
 * discovery, a scan's single probe per port) never score: with the threshold of 5, a never-seen
 * application needs 160 KiB, or 20 flows, or 10 peer pairs to be reported.
 */
export const FLOORS = {
  bytes: 32 * 1024,
  sent: 32 * 1024,
  flows: 4,
  peers: 2,
  ports: 4,
} as const;

export type Feature = keyof typeof FLOORS;
export const FEATURES: readonly Feature[] = ['bytes', 'sent', 'flows', 'peers', 'ports'];

/** Past periods of the same hour of the week: 1 to 4 weeks before the window. */
export const WEEKS_BACK = 4;
/** When fewer than this many weekly periods have data, the baseline also takes days of the same type. */
export const MIN_WEEKLY_PERIODS = 3;
/** Days of the same type (weekday, weekend) blended in: 1 to 14 days before the window. */
export const DAYS_BACK = 14;
/** An application not seen in this many days before the window is new. */
export const LOOKBACK_DAYS = 7 * WEEKS_BACK;
/** The longest window scored: shifted by whole days, longer windows would overlap their baselines. */
export const MAX_WINDOW_US = 86_400_000_000;

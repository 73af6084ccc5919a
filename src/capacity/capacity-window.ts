/**
 * The time the demand model covers: whole steps only. The window from --since/--between is cut to
 * the step boundaries inside it (the start rounded up, the end rounded down), so that every step
 * counts its full length and a step's rate is its bytes over the step, never over a fraction of it.
 * Boundaries are whole multiples of the step from 2000-01-03T00:00Z, the origin DuckDB's
 * time_bucket uses, so that steps of an hour or a day start on the UTC hour or midnight and agree
 * with `endsight topo links --every`.
 */
import { parseDurationMs } from '../common/duration.js';
import { windowBetween, windowSince } from '../query/time-window.js';

export const STEP_ORIGIN_US = Date.UTC(2000, 0, 3) * 1000;

export interface StepWindow {
  /** First step's start and the last step's end, µs since the epoch (UTC). */
  startUs: number;
  endUs: number;
  stepUs: number;
  /** How many steps: (endUs − startUs) / stepUs. */
  steps: number;
}

/** The window of `--since` (default 4w before `nowMs`) or `--between`, in whole steps of `step`. */
export function stepWindow(options: { since?: string; between?: string; step: string }, nowMs = Date.now()): StepWindow {
  if (options.since !== undefined && options.between !== undefined) throw new RangeError('Cannot use --since and --between together: pick one');
  const stepMs = parseDurationMs(options.step, '--step');
  if (!(stepMs >= 1000) || !Number.isInteger(stepMs / 1000)) throw new RangeError(`Cannot use --step ${JSON.stringify(options.step)}: a whole number of seconds, at least 1 s (e.g. 5m, 1h, 1d)`);
  const window = options.between !== undefined ? windowBetween(options.between) : windowSince(options.since ?? '4w', nowMs);
  if (window.fromUs === null) throw new RangeError(`Cannot model demand from the beginning of time: --between needs a start (START/END, an empty END means now)`);
  const stepUs = stepMs * 1000;
  const toUs = window.toUs ?? nowMs * 1000;
  const startUs = STEP_ORIGIN_US + Math.ceil((window.fromUs - STEP_ORIGIN_US) / stepUs) * stepUs;
  const endUs = STEP_ORIGIN_US + Math.floor((toUs - STEP_ORIGIN_US) / stepUs) * stepUs;
  if (!(endUs > startUs)) throw new RangeError(`Cannot model demand over less than one whole --step ${options.step}: the window holds no step from start to end`);
  return { startUs, endUs, stepUs, steps: (endUs - startUs) / stepUs };
}

/** The window as `--between` text, for the stores' own window (which prunes segments). */
export function betweenText(window: StepWindow): string {
  return `${new Date(window.startUs / 1000).toISOString()}/${new Date(window.endUs / 1000).toISOString()}`;
}

/** The start of step `k`, ISO 8601 UTC. */
export function stepStart(window: StepWindow, k: number): string {
  return new Date((window.startUs + k * window.stepUs) / 1000).toISOString();
}

/** The time range a query looks at: `--since 2h` or `--between START/END`. */
import { parseDurationMs } from '../common/duration.js';

/** Flows overlapping [fromUs, toUs): null bounds are open. */
export interface TimeWindow {
  fromUs: number | null;
  toUs: number | null;
}

/** Window of the last `since` (a duration) before `nowMs`. */
export function windowSince(since: string, nowMs = Date.now()): TimeWindow {
  // A duration may have a fraction of a millisecond (21.5909ms): the window starts at a whole µs.
  return { fromUs: Math.floor((nowMs - parseDurationMs(since, '--since')) * 1000), toUs: null };
}

/**
 * Window between two instants, `START/END` or `START,END` (ISO 8601; a time without a zone is UTC;
 * either side may be empty for an open bound).
 */
export function windowBetween(between: string): TimeWindow {
  const parts = between.includes('/') ? between.split('/') : between.split(',');
  if (parts.length !== 2) {
    throw new RangeError(`Cannot parse --between ${JSON.stringify(between)}: expected START/END, e.g. 2026-11-01T00:00Z/2026-11-02T00:00Z`);
  }
  const [fromUs, toUs] = parts.map((p) => (p.trim() === '' ? null : parseInstantUs(p.trim(), between)));
  if (fromUs !== null && toUs !== null && toUs <= fromUs) {
    throw new RangeError(`Cannot use --between ${JSON.stringify(between)}: the end must be after the start`);
  }
  return { fromUs, toUs };
}

function parseInstantUs(text: string, whole: string): number {
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(text);
  const ms = Date.parse(hasZone || !/\d{2}:\d{2}/.test(text) ? text : `${text}Z`);
  if (Number.isNaN(ms)) {
    throw new RangeError(`Cannot parse --between ${JSON.stringify(whole)}: ${JSON.stringify(text)} is not an ISO 8601 time such as 2026-11-01T12:00Z`);
  }
  return ms * 1000;
}

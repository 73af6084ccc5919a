/** Parses the durations people type on the command line: `90`, `90s`, `30m`, `2h`, `7d`, `1.5h`. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** Longest duration accepted: a hundred years is longer than any timeout, retention or window. */
const MAX_DURATION_MS = 100 * 365.25 * 86_400_000;

/** Milliseconds for a duration; plain numbers are seconds. Throws RangeError naming the bad value. */
export function parseDurationMs(text: string, what = 'duration'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(text);
  if (!match) {
    throw new RangeError(`Cannot parse ${what} ${JSON.stringify(text)}: expected a number with an optional unit ms, s, m, h, d or w (e.g. 90s, 30m, 2h)`);
  }
  const ms = Number(match[1]) * UNIT_MS[match[2] ?? 's'];
  if (!(ms <= MAX_DURATION_MS)) throw new RangeError(`Cannot use ${what} ${JSON.stringify(text)}: it is longer than 100 years`);
  return ms;
}

/** Formats milliseconds compactly for messages (`1h30m`, `90s`, `250ms`). */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let seconds = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  if (seconds > 0 || parts.length === 0) parts.push(`${seconds}s`);
  return parts.join('');
}

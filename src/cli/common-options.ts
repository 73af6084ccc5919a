/** Options and helpers shared by every verb. */
import { Option, type Command } from 'commander';
import { parseDurationMs } from '../common/duration.js';
import { parseByteSize } from '../common/byte-size.js';
// Light modules imported directly, not through store/ and query/ index.ts: those load DuckDB,
// which takes ~0.4 s, and `--help` should not wait for it.
import { defaultDataDir } from '../store/data-dir.js';
import { windowBetween, windowSince, type TimeWindow } from '../query/time-window.js';
import { OUTPUT_FORMATS } from './output.js';

/** Adds `--data-dir DIR` with the platform default. */
export function addDataDirOption(command: Command): Command {
  return command.option('--data-dir <dir>', 'where the store lives', defaultDataDir());
}

/** Adds `--format table|csv|json`. */
export function addFormatOption(command: Command, formats: readonly string[] = OUTPUT_FORMATS): Command {
  return command.addOption(new Option('--format <format>', 'output format').choices(formats).default(formats[0]));
}

/** Adds `--since` and `--between`, which limit `flows` to a time window. */
export function addWindowOptions(command: Command): Command {
  return command
    .option('--since <duration>', 'only flows active within this long before now, e.g. 2h, 7d')
    .option('--between <start/end>', 'only flows active between two ISO 8601 times, e.g. 2026-11-01T00:00Z/2026-11-02T00:00Z');
}

/** Adds what every verb reading the store takes: --format, --since/--between, --data-dir, and examples. */
export function addReadOptions(command: Command, examples: readonly string[]): Command {
  addFormatOption(command);
  addWindowOptions(command);
  addDataDirOption(command);
  return command.addHelpText('after', '\nExamples:\n' + examples.map((e) => `  ${e}\n`).join('').trimEnd());
}

/** The time window from --since/--between (they exclude each other). */
export function windowFromOptions(options: { since?: string; between?: string }): TimeWindow | undefined {
  if (options.since !== undefined && options.between !== undefined) {
    throw new RangeError('Cannot use --since and --between together: pick one');
  }
  if (options.since !== undefined) return windowSince(options.since);
  if (options.between !== undefined) return windowBetween(options.between);
  return undefined;
}

/** Parses a duration option into microseconds; plain numbers are seconds. */
export function durationUs(text: string, optionName: string): number {
  const ms = parseDurationMs(text, optionName);
  if (ms <= 0) throw new RangeError(`Cannot use ${optionName} ${JSON.stringify(text)}: it must be greater than zero`);
  return ms * 1000;
}

/** Parses a positive whole number option. */
export function positiveInteger(text: string, optionName: string): number {
  const n = /^\d[\d_]*$/.test(text) ? Number(text.replaceAll('_', '')) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Cannot use ${optionName} ${JSON.stringify(text)}: expected a whole number of at least 1`);
  return n;
}

/** Parses a byte size such as 2GiB, 500MB, 1048576. */
export function byteSize(text: string, optionName: string): number {
  const bytes = parseByteSize(text);
  if (bytes === null) throw new RangeError(`Cannot use ${optionName} ${JSON.stringify(text)}: expected a size such as 500MiB or 2GiB (at most 8 PiB)`);
  return bytes;
}

/** Human-readable byte count (1.5 MB). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Commander's argument parser for a repeatable option: each use adds its value to the list. */
export function repeatable(value: string, list: string[]): string[] {
  return [...list, value];
}

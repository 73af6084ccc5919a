import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDurationMs, parseDurationMs } from './duration.js';

test('parseDurationMs reads the documented forms: a number with an optional unit ms, s, m, h, d or w', () => {
  const cases: [string, number][] = [
    ['90', 90_000], // a plain number is seconds
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['1w', 604_800_000],
    ['0', 0],
    ['0.05s', 50],
    [' 2h ', 7_200_000],
    ['2 h', 7_200_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDurationMs(text), ms, text);
});

test('parseDurationMs refuses anything else with a RangeError naming the value and the option', () => {
  for (const text of ['', ' ', 'abc', '2x', 'h', '-5s', '+5s', '1e3', '.5s', '5.s', '2hh', '1h30m', '1,5h', 'Infinity', 'NaN', '0x10']) {
    assert.throws(
      () => parseDurationMs(text, '--idle-timeout'),
      (e: Error) => e instanceof RangeError && e.message.includes(`"${text}"`) && e.message.includes('--idle-timeout') && !e.message.includes('\n'),
      JSON.stringify(text),
    );
  }
  assert.throws(() => parseDurationMs('2x'), /^RangeError: Cannot parse duration "2x": expected a number with an optional unit/);
});

test('parseDurationMs refuses a number too large to be a duration instead of returning Infinity', () => {
  const huge = '9'.repeat(400); // Number() of this is Infinity
  assert.throws(() => parseDurationMs(huge, '--since'), (e: Error) => e instanceof RangeError && e.message.includes('--since'));
  assert.throws(() => parseDurationMs(`${huge}ms`), RangeError);
});

test('formatDurationMs prints compact durations', () => {
  const cases: [number, string][] = [
    [0, '0ms'],
    [250, '250ms'],
    [999, '999ms'],
    [1000, '1s'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [90_061_000, '1d1h1m1s'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDurationMs(ms), text, String(ms));
});

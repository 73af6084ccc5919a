import { test } from 'node:test';
import assert from 'node:assert/strict';
import { windowBetween, windowSince } from './time-window.js';

const NOW_MS = Date.UTC(2026, 10, 22, 8, 0, 0);
const us = (iso: string): number => Date.parse(iso) * 1000;

test('windowSince: flows active within a duration before now, no upper bound', () => {
  assert.deepEqual(windowSince('2h', NOW_MS), { fromUs: (NOW_MS - 7_200_000) * 1000, toUs: null });
  assert.deepEqual(windowSince('7d', NOW_MS), { fromUs: (NOW_MS - 7 * 86_400_000) * 1000, toUs: null });
  assert.deepEqual(windowSince('90', NOW_MS), { fromUs: (NOW_MS - 90_000) * 1000, toUs: null }, 'plain numbers are seconds');
  const before = Date.now();
  const w = windowSince('1m');
  assert.ok(w.fromUs! >= (before - 60_000) * 1000 && w.fromUs! <= (Date.now() - 60_000) * 1000, 'now defaults to the clock');
});

test('windowSince refuses a bad duration with a RangeError naming --since and the value', () => {
  for (const text of ['2x', '', '-1h', 'yesterday']) {
    assert.throws(
      () => windowSince(text, NOW_MS),
      (e: Error) => e instanceof RangeError && e.message.includes('--since') && e.message.includes(`"${text}"`),
      text,
    );
  }
});

test('windowBetween reads START/END and START,END in ISO 8601', () => {
  const day = { fromUs: us('2026-11-01T00:00:00Z'), toUs: us('2026-11-02T00:00:00Z') };
  assert.deepEqual(windowBetween('2026-11-01T00:00Z/2026-11-02T00:00Z'), day);
  assert.deepEqual(windowBetween('2026-11-01T00:00Z,2026-11-02T00:00Z'), day);
  assert.deepEqual(windowBetween(' 2026-11-01T00:00:00.000Z / 2026-11-02T00:00:00Z '), day);
  assert.deepEqual(windowBetween('2026-11-01T02:00+02:00/2026-11-01T19:00-05:00'), day, 'zone offsets');
  assert.deepEqual(windowBetween('2026-11-01T12:30:15.250Z/2026-11-01T12:30:16Z'), { fromUs: us('2026-11-01T12:30:15.250Z'), toUs: us('2026-11-01T12:30:16Z') });
});

test('windowBetween: a time without a zone is UTC, also for date-only forms', () => {
  assert.deepEqual(windowBetween('2026-11-01T00:00/2026-11-02T12:30'), { fromUs: us('2026-11-01T00:00Z'), toUs: us('2026-11-02T12:30Z') });
  assert.deepEqual(windowBetween('2026-11-01T00:00:00/2026-11-01T00:00:01'), { fromUs: us('2026-11-01T00:00:00Z'), toUs: us('2026-11-01T00:00:01Z') });
  assert.deepEqual(windowBetween('2026-11-01/2026-11-02'), { fromUs: us('2026-11-01T00:00Z'), toUs: us('2026-11-02T00:00Z') });
});

test('windowBetween: an empty side is an open bound', () => {
  assert.deepEqual(windowBetween('2026-11-01T00:00Z/'), { fromUs: us('2026-11-01T00:00Z'), toUs: null });
  assert.deepEqual(windowBetween('/2026-11-01T00:00Z'), { fromUs: null, toUs: us('2026-11-01T00:00Z') });
  assert.deepEqual(windowBetween('2026-11-01T00:00Z,'), { fromUs: us('2026-11-01T00:00Z'), toUs: null });
});

test('windowBetween refuses bad windows with a RangeError naming --between and the bad part', () => {
  const cases: [string, RegExp][] = [
    ['garbage', /Cannot parse --between "garbage": expected START\/END/],
    ['2026-11-01', /expected START\/END/],
    ['a/b/c', /expected START\/END/],
    ['yesterday/today', /"yesterday" is not an ISO 8601 time/],
    ['2026-11-01T00:00Z/tomorrow', /"tomorrow" is not an ISO 8601 time/],
    ['2026-11-02T00:00Z/2026-11-01T00:00Z', /the end must be after the start/],
    ['2026-11-01T00:00Z/2026-11-01T00:00Z', /the end must be after the start/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => windowBetween(text),
      (e: Error) => e instanceof RangeError && message.test(e.message) && e.message.includes(`--between "${text}"`) && !e.message.includes('\n'),
      text,
    );
  }
});

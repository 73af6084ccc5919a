/**
 * Fuzz test of parseDurationMs, the parser behind every duration option (--idle-timeout, --since, …):
 * 100,000 inputs from a seeded PRNG (FUZZ_SEED=<n> repeats a run, FUZZ_CASES=<n> changes the count),
 * built from pieces of durations (digits, units, signs, exponents, whitespace, unicode digits) and
 * fully random strings. Whatever the input, the result is a finite duration of at least 0 ms, or a
 * RangeError whose message is one line naming the option and the value; nothing else. Well-formed
 * inputs (number, spaces, unit) must give exactly number × unit, or be refused beyond 100 years.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../bench/prng.js';
import { fuzzSeed, randomText } from './fuzz-text.js';
import { parseDurationMs } from './duration.js';

const SEED = fuzzSeed('duration');
const CASES = Number(process.env.FUZZ_CASES ?? 100_000);

const UNIT_MS: Record<string, number> = { '': 1000, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const OPTIONS = ['--idle-timeout', '--since', '--retention', 'duration'];
const PIECES = [
  '0', '1', '9', '90', '1.5', '.5', '5.', '00', '007', '0.000001', '1_000', '1,5', '1e3', '1E3', '0x10', '0b1', '-', '+', '.', '..',
  'ms', 's', 'm', 'h', 'd', 'w', 'M', 'S', 'H', 'D', 'W', 'min', 'sec', 'µs', 'us', 'ns', 'y', 'mo', 'hh',
  ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u2028', '\u200b', '\u0000',
  'Infinity', 'NaN', 'null', 'undefined', '٣', '１', '๑', '🙂', 'İ', '"', "'", '\\', '%s', '${x}',
];

function digits(rng: Rng, count: number): string {
  let out = String(1 + rng.int(9));
  while (out.length < count) out += String(rng.int(10));
  return out;
}

/** A well-formed duration (number, optional spaces, unit) and its value in ms. */
function wellFormed(rng: Rng): { text: string; ms: number } {
  const whole = rng.chance(0.1) ? '0' : digits(rng, 1 + rng.int(rng.chance(0.05) ? 30 : 8));
  const numberText = rng.chance(0.3) ? `${whole}.${digits(rng, 1 + rng.int(6))}` : whole;
  const unit = Object.keys(UNIT_MS)[rng.int(7)];
  const space = () => [' ', '', '\t', '  '][rng.int(4)];
  return { text: `${rng.chance(0.2) ? space() : ''}${numberText}${rng.chance(0.2) ? space() : ''}${unit}${rng.chance(0.2) ? space() : ''}`, ms: Number(numberText) * UNIT_MS[unit] };
}

function input(rng: Rng): string {
  const r = rng.next();
  if (r < 0.3) return wellFormed(rng).text;
  if (r < 0.8) {
    let text = '';
    for (let n = 1 + rng.int(5); n > 0; n--) text += PIECES[rng.int(PIECES.length)];
    return text;
  }
  if (r < 0.85) return digits(rng, 300 + rng.int(120)) + ['', 's', 'ms', 'w'][rng.int(4)]; // past Number.MAX_VALUE
  return randomText(rng, 24);
}

/** Why `text` broke the contract, or null when it kept it. */
function check(text: string, option: string): string | null {
  let ms: number;
  try {
    ms = parseDurationMs(text, option);
  } catch (error) {
    if (!(error instanceof RangeError)) return `threw ${(error as Error)?.name ?? typeof error}: ${String(error)}`;
    if (/[\r\n]/.test(error.message)) return `message of more than one line: ${JSON.stringify(error.message)}`;
    if (!error.message.includes(option)) return `message does not name the option ${option}: ${error.message}`;
    if (!error.message.includes(`"${text}"`) && !error.message.includes(JSON.stringify(text))) return `message does not name the value: ${error.message}`;
    return null;
  }
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return `returned ${String(ms)}`;
  return null;
}

test(`parseDurationMs fuzz: ${CASES} inputs give a finite duration or a one-line RangeError (FUZZ_SEED=${SEED})`, () => {
  const rng = new Rng(SEED);
  const failures = new Map<string, string[]>();
  let accepted = 0;
  let exact = 0;
  for (let i = 0; i < CASES; i++) {
    const option = OPTIONS[rng.int(OPTIONS.length)];
    const text = input(rng);
    const problem = check(text, option);
    if (problem !== null) {
      const kind = problem.split(':')[0];
      const list = failures.get(kind) ?? [];
      if (list.length < 5) list.push(`${JSON.stringify(text).slice(0, 120)} → ${problem.slice(0, 300)}`);
      failures.set(kind, list);
      continue;
    }
    try {
      parseDurationMs(text, option);
      accepted++;
    } catch {
      // refused as it should be
    }
  }
  // Well-formed inputs: exactly number × unit (plain numbers are seconds), up to the documented bound
  // of a hundred years; longer ones are refused (a little slack either side of the bound).
  const YEAR_MS = 365.25 * 86_400_000;
  for (let i = 0; i < CASES / 10; i++) {
    const { text, ms } = wellFormed(rng);
    if (ms < 99 * YEAR_MS) {
      assert.equal(parseDurationMs(text), ms, `${JSON.stringify(text)} (FUZZ_SEED=${SEED})`);
      exact++;
    } else if (ms > 101 * YEAR_MS) {
      assert.throws(() => parseDurationMs(text), RangeError, `${JSON.stringify(text)} is longer than 100 years (FUZZ_SEED=${SEED})`);
    }
  }
  console.log(`duration fuzz: ${CASES} cases, ${accepted} accepted, ${exact} well-formed checked exactly`);
  const report = [...failures].map(([kind, examples]) => `${kind}:\n  ${examples.join('\n  ')}`).join('\n');
  assert.equal(failures.size, 0, `parseDurationMs broke its contract (FUZZ_SEED=${SEED}):\n${report}`);
  assert.ok(accepted > CASES / 10, `only ${accepted} inputs accepted: the generator is not reaching the parser's success path`);
});

/**
 * Fuzz test of the option parsers of the command line (byteSize for --quota, positiveInteger for
 * --max-flows and --limit, durationUs for the timeouts): 30,000 seeded inputs each (FUZZ_SEED repeats
 * a run). Whatever the input, the result is a finite whole number in range, or a RangeError whose
 * message is one line naming the option; nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../bench/prng.js';
import { fuzzSeed, longDigits, randomText } from '../common/fuzz-text.js';
import { byteSize, durationUs, positiveInteger } from './common-options.js';

const SEED = fuzzSeed('common-options');
const CASES = Number(process.env.FUZZ_CASES ?? 30_000);
const PIECES = ['0', '1', '9', '1.5', '.5', '_', '1_000', 'B', 'KB', 'MiB', 'GiB', 'TiB', 'k', 'M', 'G', 'T', 's', 'm', 'h', 'd', 'ms', ' ', '\n', '-', '+', 'e3', '0x10', '🙂', '\u0000'];

function input(rng: Rng): string {
  const r = rng.next();
  if (r < 0.4) return randomText(rng, 12);
  if (r < 0.45) return longDigits(rng) + (rng.next() < 0.5 ? 'GiB' : 's');
  let out = '';
  for (let n = 1 + rng.int(4); n > 0; n--) out += PIECES[rng.int(PIECES.length)];
  return out;
}

const parsers: [string, (text: string) => number, (value: number) => boolean][] = [
  ['--quota', (t) => byteSize(t, '--quota'), (v) => Number.isSafeInteger(v) && v >= 0],
  ['--max-flows', (t) => positiveInteger(t, '--max-flows'), (v) => Number.isSafeInteger(v) && v >= 1],
  ['--idle-timeout', (t) => durationUs(t, '--idle-timeout'), (v) => Number.isFinite(v) && v > 0],
];

for (const [option, parse, valid] of parsers) {
  test(`${option} parser fuzz: a value in range or a one-line RangeError (FUZZ_SEED=${SEED})`, () => {
    const rng = new Rng(SEED);
    for (let i = 0; i < CASES; i++) {
      const text = input(rng);
      try {
        const value = parse(text);
        assert.ok(valid(value), `${JSON.stringify(text)} gave ${value}`);
      } catch (error) {
        assert.ok(error instanceof RangeError, `${JSON.stringify(text)} threw ${String(error)}`);
        assert.ok(!error.message.includes('\n') && error.message.includes(option), `${JSON.stringify(text)}: ${error.message}`);
      }
    }
  });
}

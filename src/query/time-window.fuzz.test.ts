/**
 * Fuzz test of the time-window parsers behind --since and --between: 50,000 inputs each from a seeded
 * PRNG (FUZZ_SEED=<n> repeats a run, FUZZ_CASES=<n> changes the count), built from pieces of ISO 8601
 * times, durations, separators and unicode, plus fully random strings. Whatever the input, the result
 * is a window whose bounds are null or finite whole microseconds (and, when both are set, end after
 * start), or a RangeError whose message is one line naming the option and the value; nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../bench/prng.js';
import { fuzzSeed, randomText, longDigits } from '../common/fuzz-text.js';
import { windowBetween, windowSince, type TimeWindow } from './time-window.js';

const SEED = fuzzSeed('time-window');
const CASES = Number(process.env.FUZZ_CASES ?? 50_000);
const NOW_MS = Date.UTC(2026, 10, 22, 8, 0, 0);

const DURATION_PIECES = ['0', '1', '2', '90', '1.5', '.5', '1e3', '-', '+', 'ms', 's', 'm', 'h', 'd', 'w', 'H', 'min', ' ', '\t', '\n', 'Infinity', '٣', '🙂'];
const TIME_PIECES = [
  '2026-11-01', '2026-11-01T00:00', '2026-11-01T00:00Z', '2026-11-01T12:30:15.250Z', '2026-11-02T00:00:00+02:00', '2026-11-01T00:00-0530',
  '2026-13-01', '2026-02-30', '2026-11-31T25:61', '+275760-09-13T00:00Z', '-271821-04-20T00:00Z', '+275760-09-14T00:00Z', '0000-01-01', '9999-12-31T23:59:59.999Z',
  '1970-01-01T00:00Z', '2026', '11', 'T', 'Z', 'z', 'UTC', 'GMT', 'PST', '+05:30', '-00:00', '.123456789', ':', '-', '+',
  '/', '/', '/', ',', ' ', '  ', '\t', '\n', 'now', 'yesterday', 'today', 'Nov 1 2026', 'Sun, 01 Nov 2026 00:00:00 GMT', '1', '01:02', '12:00',
  '٢٠٢٦', '２０２６', '🙂', '\u0000', '\u00a0', '"', "'",
];

function soup(rng: Rng, pieces: readonly string[], maxPieces: number): string {
  let text = '';
  for (let n = 1 + rng.int(maxPieces); n > 0; n--) text += pieces[rng.int(pieces.length)];
  return text;
}

function sinceInput(rng: Rng): string {
  const r = rng.next();
  if (r < 0.3) return `${1 + rng.int(1000)}${['', 'ms', 's', 'm', 'h', 'd', 'w'][rng.int(7)]}`;
  if (r < 0.8) return soup(rng, DURATION_PIECES, 5);
  if (r < 0.85) return longDigits(rng) + ['', 'h', 'w'][rng.int(3)];
  return randomText(rng, 24);
}

function betweenInput(rng: Rng): string {
  const r = rng.next();
  if (r < 0.3) {
    const side = () => (rng.chance(0.1) ? '' : TIME_PIECES[rng.int(16)]);
    return `${side()}${rng.chance(0.8) ? '/' : ','}${side()}`;
  }
  if (r < 0.85) return soup(rng, TIME_PIECES, 6);
  if (r < 0.9) return `${longDigits(rng)}/${longDigits(rng)}`;
  return randomText(rng, 40);
}

/** Why the outcome broke the contract, or null. */
function check(run: () => TimeWindow, text: string, option: string, expectToNull: boolean): string | null {
  let window: TimeWindow;
  try {
    window = run();
  } catch (error) {
    if (!(error instanceof RangeError)) return `threw ${(error as Error)?.name ?? typeof error}: ${String(error)}`;
    if (/[\r\n]/.test(error.message)) return `message of more than one line: ${JSON.stringify(error.message)}`;
    if (!error.message.includes(option)) return `message does not name ${option}: ${error.message}`;
    if (!error.message.includes(`"${text}"`) && !error.message.includes(JSON.stringify(text))) return `message does not name the value: ${error.message}`;
    return null;
  }
  const bound = (x: unknown) => x === null || (typeof x === 'number' && Number.isFinite(x) && Number.isInteger(x));
  if (!bound(window.fromUs) || !bound(window.toUs)) return `bounds not null or whole finite µs: ${JSON.stringify(window)} (${String(window.fromUs)}, ${String(window.toUs)})`;
  if (expectToNull && window.toUs !== null) return `--since window with an upper bound: ${JSON.stringify(window)}`;
  if (expectToNull && window.fromUs === null) return `--since window without a lower bound`;
  if (window.fromUs !== null && window.toUs !== null && window.toUs <= window.fromUs) return `end not after start: ${JSON.stringify(window)}`;
  return null;
}

function fuzz(name: string, option: string, make: (rng: Rng) => string, run: (text: string) => TimeWindow, sinceLike: boolean): void {
  test(`${name} fuzz: ${CASES} inputs give a well-formed window or a one-line RangeError (FUZZ_SEED=${SEED})`, () => {
    const rng = new Rng(SEED ^ (sinceLike ? 0x5111ce : 0xbe7ee1));
    const failures = new Map<string, string[]>();
    let accepted = 0;
    for (let i = 0; i < CASES; i++) {
      const text = make(rng);
      const problem = check(() => run(text), text, option, sinceLike);
      if (problem === null) {
        try {
          run(text);
          accepted++;
        } catch {
          // refused as it should be
        }
        continue;
      }
      const kind = problem.split(':')[0];
      const list = failures.get(kind) ?? [];
      if (list.length < 5) list.push(`${JSON.stringify(text).slice(0, 120)} → ${problem.slice(0, 300)}`);
      failures.set(kind, list);
    }
    console.log(`${name} fuzz: ${CASES} cases, ${accepted} accepted`);
    const report = [...failures].map(([kind, examples]) => `${kind}:\n  ${examples.join('\n  ')}`).join('\n');
    assert.equal(failures.size, 0, `${name} broke its contract (FUZZ_SEED=${SEED}):\n${report}`);
    assert.ok(accepted > CASES / 20, `only ${accepted} inputs accepted: the generator is not reaching the success path`);
  });
}

fuzz('windowSince', '--since', sinceInput, (text) => windowSince(text, NOW_MS), true);
fuzz('windowBetween', '--between', betweenInput, (text) => windowBetween(text), false);

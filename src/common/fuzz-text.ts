/** Test support for the fuzz tests of people-facing parsers: random text, seeded. */
import type { Rng } from '../bench/prng.js';

/** A random string: mostly printable ASCII, with control characters, other planes and lone surrogates. */
export function randomText(rng: Rng, maxLength: number): string {
  const length = rng.int(maxLength + 1);
  let out = '';
  for (let i = 0; i < length; i++) {
    const r = rng.next();
    if (r < 0.6) out += String.fromCharCode(0x20 + rng.int(0x5f));
    else if (r < 0.7) out += String.fromCharCode(rng.int(0x20));
    else if (r < 0.85) out += String.fromCharCode(0x80 + rng.int(0xd800 - 0x80));
    else if (r < 0.95) out += String.fromCodePoint(0x10000 + rng.int(0x10ffff - 0x10000));
    else out += String.fromCharCode(0xd800 + rng.int(0x800));
  }
  return out;
}

/** A number of 300 to 400 digits: beyond what a double holds. */
export function longDigits(rng: Rng): string {
  let out = '9';
  for (let n = 300 + rng.int(100); n > 0; n--) out += String(rng.int(10));
  return out;
}

/** The seed of a fuzz run: FUZZ_SEED when set, otherwise new each run; printed so a failure can be repeated. */
export function fuzzSeed(name: string): number {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  console.log(`${name} fuzz seed ${seed} (repeat with FUZZ_SEED=${seed})`);
  return seed;
}

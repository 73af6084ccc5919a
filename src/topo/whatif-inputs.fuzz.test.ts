/**
 * Fuzz test of what people type into the network view: what-if steps (`--link-down`, `--cost`, …),
 * scenario files, and the matrix and capacity CSV files. Seeded (FUZZ_SEED repeats a run). Whatever
 * the input: a parsed value that applies to the network or fails with a WhatIfError naming the step,
 * or one clear error line; never another exception, never a hang.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Rng } from '../bench/prng.js';
import { fuzzSeed, randomText } from '../common/fuzz-text.js';
import { readCapacities, readMatrix } from '../cli/commands/topo-inputs.js';
import { topologyDatabase } from './ospf/topology-file.js';
import { readScenarioFile } from './scenario-file.js';
import { handTopology } from './test-networks.js';
import { applySteps, parseStep, WhatIfError, type WhatIfStep } from './whatif.js';

const SEED = fuzzSeed('whatif-inputs');
const CASES = Number(process.env.FUZZ_CASES ?? 20_000);
const PIECES = ['0.0.0.1', '0.0.0.2', '0.0.0.3', '0.0.0.4', '9.9.9.9', '10.0.0.0/24', '10.1.0.25', '/33', ',', '=', '+', ' ', '300', '0', '-1', '65536', '1e3', 'x', '256.1.1.1', '\n', '🙂'];
const KINDS: WhatIfStep['kind'][] = ['link-down', 'router-down', 'cost', 'move'];

function pieces(rng: Rng, n: number): string {
  if (rng.next() < 0.3) return randomText(rng, 24);
  let out = '';
  for (let k = 1 + rng.int(n); k > 0; k--) out += PIECES[rng.int(PIECES.length)];
  return out;
}

const oneLine = (error: unknown): boolean => error instanceof Error && error.message.length > 0 && !error.message.includes('\n');

test(`what-if steps fuzz: parsed and applied, or one WhatIfError line (FUZZ_SEED=${SEED})`, () => {
  const rng = new Rng(SEED);
  const lsdb = topologyDatabase(handTopology());
  for (let i = 0; i < CASES; i++) {
    const kind = KINDS[rng.int(KINDS.length)];
    const text = pieces(rng, 5);
    let step: WhatIfStep;
    try {
      step = parseStep(kind, text);
    } catch (error) {
      assert.ok(error instanceof WhatIfError && oneLine(error), `--${kind} ${JSON.stringify(text)}: ${String(error)}`);
      continue;
    }
    try {
      applySteps(lsdb, [step], 0);
    } catch (error) {
      assert.ok(error instanceof WhatIfError && oneLine(error) && /^step 1 \(/.test(error.message), `${JSON.stringify(step)}: ${String(error)}`);
    }
  }
});

test(`scenario files and matrix/capacity CSV fuzz: read, or one error line naming the file (FUZZ_SEED=${SEED})`, async () => {
  const rng = new Rng(SEED + 1);
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-whatif-fuzz-'));
  const file = path.join(dir, 'input');
  const yamlPieces = ['name: x\n', 'steps:\n', '  - ', 'link-down: ', 'cost: ', 'move: ', 'reboot: ', '[', ']', '{', '}', ': ', '\n', '  ', '- ', '"', "'", '&a ', '*a ', '!!binary ', '0.0.0.1,0.0.0.3', '0.0.0.2,0.0.0.3=5', '10.1.0.25=0.0.0.3'];
  const csvPieces = ['src,dst,bytes\n', 'src,dst,bytes,app,user\n', 'address,bps\n', '10.1.0.5,', '10.4.0.5,', '1200', ',tcp/443', ',alice', '\n', '\r\n', ',', '1G', '-5', 'NaN', '1e309', '"', ' '];
  try {
    for (let i = 0; i < Math.max(1, CASES / 10); i++) {
      const which = rng.int(3);
      const parts = which === 0 ? yamlPieces : csvPieces;
      let text = '';
      for (let k = rng.int(14); k > 0; k--) text += rng.next() < 0.1 ? randomText(rng, 8) : parts[rng.int(parts.length)];
      writeFileSync(file, text);
      try {
        if (which === 0) readScenarioFile(file);
        else if (which === 1) await readMatrix(file);
        else await readCapacities(file);
      } catch (error) {
        assert.ok(oneLine(error) && (error as Error).message.includes(file), `${JSON.stringify(text)}: ${String(error)}`);
        assert.ok(which === 0 ? error instanceof WhatIfError : error instanceof RangeError, `${JSON.stringify(text)}: ${String(error)}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

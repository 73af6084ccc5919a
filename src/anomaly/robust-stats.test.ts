/** The robust statistics, by hand and against DuckDB's median and mad, which the SQL macro uses. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDBInstance } from '@duckdb/node-api';
import { Rng } from '../bench/prng.js';
import { FLOORS, MAD_SCALE, RELATIVE_FLOOR } from './anomaly-thresholds.js';
import { mad, median, robustZ } from './robust-stats.js';

describe('robust statistics', () => {
  it('median and MAD of small sets', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
    // One outlier moves neither.
    assert.equal(median([1, 2, 3, 4, 100]), 3);
    assert.equal(mad([1, 2, 3, 4, 100]), 1);
    assert.equal(mad([5, 5, 5, 5]), 0);
  });

  it('z-scores divide by 1.4826 MAD, or by the relative and absolute floors when larger', () => {
    // 1.4826 · MAD = 148 is below 0.25 · median = 250: the relative floor wins.
    assert.equal(robustZ(2000, [900, 1000, 1100], 'flows'), (2000 - 1000) / (RELATIVE_FLOOR * 1000));
    // A varied baseline: the MAD wins.
    const varied = [100, 1000, 1900, 1000, 500];
    assert.equal(robustZ(5000, varied, 'flows'), (5000 - 1000) / (MAD_SCALE * mad(varied)));
    // A baseline of nothing: the absolute floor (a never-seen application).
    assert.equal(robustZ(10 * FLOORS.bytes, [0, 0, 0, 0], 'bytes'), 10);
    assert.equal(robustZ(1, [1, 1, 1], 'peers'), 0);
  });

  it("DuckDB's median and mad agree with these on random sets", async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      const rng = new Rng(11);
      for (let trial = 0; trial < 40; trial++) {
        const values = Array.from({ length: 1 + rng.int(12) }, () => Math.round(rng.logNormal(1000, 1)));
        const reader = await connection.runAndReadAll(`SELECT median(v), mad(v) FROM (SELECT unnest([${values.join(', ')}]::DOUBLE[]) AS v)`);
        const [m, d] = reader.getRows()[0].map(Number);
        assert.ok(Math.abs(m - median(values)) < 1e-9, `median of ${values}: ${m}`);
        assert.ok(Math.abs(d - mad(values)) < 1e-9, `mad of ${values}: ${d}`);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });
});

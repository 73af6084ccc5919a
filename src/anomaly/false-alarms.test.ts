/**
 * False alarms on normal hours: five weeks of a workstation's synthetic history, and every other hour
 * of the last week (nights and weekends included) scored against the weeks before it. Everything
 * reported is a false alarm. Printed for two levels of hour-to-hour noise (log-normal sigma of an
 * application's volume), asserted for both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QueryEngine } from '../query/index.js';
import { anomaliesSql } from './anomaly-query.js';
import { historyRecords, HOUR_US, writeRecords } from './synthetic-history.js';
import { normalHour } from './test-traffic.js';

describe('false alarms on synthetic normal hours', { timeout: 300_000 }, () => {
  let dir = '';
  const hourUs = Math.floor((Date.now() * 1000) / HOUR_US) * HOUR_US;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-false-alarms-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const [sigma, most] of [[0.25, 0.01], [0.5, 0.03]] as const) {
    it(`noise sigma ${sigma}: at most ${100 * most}% of scored rows anomalous`, async () => {
      const store = path.join(dir, `sigma-${sigma}`);
      await writeRecords(store, historyRecords(normalHour('ws', hourUs, '10.0.0.1'), { hourStartUs: hourUs, days: 35, seed: 4, sigma }));
      const engine = await QueryEngine.open(store);
      let scored = 0;
      const alarms: string[] = [];
      try {
        for (let h = 1; h <= 168; h += 2) {
          const fromUs = hourUs - h * HOUR_US;
          const { columns, rows } = await engine.all(anomaliesSql({ fromUs, toUs: fromUs + HOUR_US }, 100, true));
          const at = (name: string): number => columns.findIndex((c) => c.name === name);
          scored += rows.length;
          for (const row of rows.filter((r) => r[at('anomalous')] === true)) alarms.push(`${new Date(fromUs / 1000).toISOString()} ${row[at('app')]} ${row[at('kind')]} ${row[at('score')]}`);
        }
      } finally {
        engine.close();
      }
      console.log(`false alarms, noise sigma ${sigma}: ${alarms.length} of ${scored} rows scored over 84 hours${alarms.length > 0 ? ` (${alarms.join('; ')})` : ''}`);
      assert.ok(scored >= 84 * 4, `every hour scored: ${scored}`);
      assert.ok(alarms.length <= scored * most, alarms.join('\n'));
    });
  }
});

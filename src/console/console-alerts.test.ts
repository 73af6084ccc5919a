/** The console's alerts file: what it accepts, and one error naming every problem otherwise. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readAlertsFile } from './console-alerts.js';

test('alerts files: the specs, and clear errors', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-alerts-'));
  try {
    const file = (name: string, text: string): string => {
      writeFileSync(path.join(dir, name), text);
      return path.join(dir, name);
    };
    assert.deepEqual(readAlertsFile(file('ok.yaml', '- name: big\n  every: 1m\n  sql: SELECT host, sum(bytes) AS b FROM flows GROUP BY host\n  alert: b > 1e9\n  target: site:paris\n')), [
      { name: 'big', periodMs: 60_000, sql: 'SELECT host, sum(bytes) AS b FROM flows GROUP BY host', alert: 'b > 1e9', target: 'site:paris', webhook: null },
    ]);
    const bad = file('bad.yaml', '- name: a b\n  every: 100ms\n  sql: SELECT 1\n- name: x\n  every: 1m\n  sql: SELECT 1\n  alert: "1"\n  webhook: ftp://x\n  extra: 1\n');
    assert.throws(() => readAlertsFile(bad), (error: Error) => {
      assert.match(error.message, /^[^\n]+$/, 'one line');
      for (const part of ['0.name: expected a name', '0.every: expected a period from 1s to 24h', '0.alert:', '1.webhook: expected an http(s) URL', 'extra']) assert.ok(error.message.includes(part), `${part} in ${error.message}`);
      return true;
    });
    assert.throws(() => readAlertsFile(file('twice.yaml', '- {name: a, every: 1m, sql: SELECT 1, alert: "1"}\n- {name: a, every: 2m, sql: SELECT 1, alert: "1"}\n')), /the alert name a is used twice/);
    assert.throws(() => readAlertsFile(file('empty.yaml', '[]\n')), /expected a list of alerts/);
    assert.throws(() => readAlertsFile(path.join(dir, 'missing.yaml')), /Cannot read --alerts/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

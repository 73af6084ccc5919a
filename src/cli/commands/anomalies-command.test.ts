/**
 * `endsight anomalies` on a store of live-style records (directions known, processes attributed):
 * an upload from the host is exfiltration, a large upload *to* the host's own server is volume, the
 * evidence names the process; wrong options are one error line; --help and docs/anomaly.md explain
 * every column the command prints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlowRecord } from '../../flow/index.js';
import { ANOMALY_COLUMNS } from '../../anomaly/anomaly-sql.js';
import { historyRecords, HOUR_US, writeRecords } from '../../anomaly/synthetic-history.js';
import { connection, normalHour } from '../../anomaly/test-traffic.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'endsight.js');
const CLIENT = '10.5.0.1';

function endsight(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync('node', [BIN, ...args], { encoding: 'utf8' });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** As the agent records them: out from the host's address, in to it. */
const live = (records: FlowRecord[]): FlowRecord[] => records.map((r) => ({ ...r, direction: r.srcAddr === CLIENT ? 'out' : 'in', source: 'live' }));

test('endsight anomalies: directions, evidence, errors, help and docs', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-anomalies-cli-'));
  try {
    const hourUs = Math.floor((Date.now() * 1000) / HOUR_US) * HOUR_US - 2 * HOUR_US;
    const template = live(normalHour('ws', hourUs, CLIENT));
    const window = [
      ...template,
      // The host uploads 30 MB over HTTPS (out): exfiltration, by rclone.
      ...live(connection('ws', hourUs + 100e6, CLIENT, '203.0.113.5', 45000, 443, 6, 30e6, 400_000, 'rclone')),
      // Someone uploads 30 MB to the host's own SSH server (in, towards its port): volume, not exfiltration.
      ...live(connection('ws', hourUs + 200e6, '198.51.100.22', CLIENT, 52000, 22, 6, 30e6, 300_000, 'sshd')),
    ];
    const store = path.join(dir, 'store');
    await writeRecords(store, [...historyRecords(template, { hourStartUs: hourUs, days: 28, seed: 5 }), ...window]);
    const between = `${new Date(hourUs / 1000).toISOString()}/${new Date((hourUs + HOUR_US) / 1000).toISOString()}`;

    const run = endsight(['anomalies', '--data-dir', store, '--between', between, '--format', 'json']);
    assert.equal(run.status, 0, run.stderr);
    const rows = run.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows.map((r) => Object.keys(r)), rows.map(() => ANOMALY_COLUMNS.map((c) => c.name)));
    assert.deepEqual(rows.map((r) => `${r.app} ${r.kind} ${r.feature} ${r.process}`).sort(), ['tcp/22 volume bytes sshd', 'tcp/443 exfiltration sent rclone']);
    const upload = rows.find((r) => r.app === 'tcp/443')!;
    assert.ok(Number(upload.sent) > 30e6 && Number(upload.median) < 1e6, JSON.stringify(upload));
    assert.equal(upload.pair, `${CLIENT} <-> 203.0.113.5`);

    const table = endsight(['anomalies', '--data-dir', store, '--between', between, '--all']);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /udp\/53\s+normal\s+false/);

    for (const [args, message] of [
      [['--top', '0'], /^endsight: Cannot use --top "0": expected a whole number of at least 1\n$/],
      [['--since', '2d'], /^endsight: Cannot score a window longer than a day/],
      [['--between', '/2026-11-02T10:00Z'], /^endsight: Cannot score an open window/],
      [['--format', 'xml'], /^endsight: Cannot use --format "xml": use table, csv or json\n$/],
      [['--since', '1h', '--between', between], /^endsight: Cannot use --since and --between together/],
    ] as const) {
      const bad = endsight(['anomalies', '--data-dir', store, ...args]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, message);
      assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    }

    const help = endsight(['anomalies', '--help']).stdout;
    const docs = readFileSync(path.join(ROOT, 'docs', 'anomaly.md'), 'utf8');
    for (const column of ANOMALY_COLUMNS) {
      assert.match(help, new RegExp(`^  ${column.name} +\\S`, 'm'), `--help explains ${column.name}`);
      assert.ok(docs.includes(`| \`${column.name}\` |`), `docs/anomaly.md explains ${column.name}`);
    }
    assert.match(help, /Examples:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

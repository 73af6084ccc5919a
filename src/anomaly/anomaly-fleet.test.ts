/**
 * `endsight anomalies --nats` end to end: a real nats-server on loopback, two hosts answering signed
 * queries from their own stores through the query responder's sandbox, and the command as an
 * operator runs it. The fleet's answer holds both hosts' anomalies, worst first, and equals the two
 * local answers merged.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, requirePrograms, runCommand } from '../lab/netns.js';
import { startTestFleet, type TestFleet } from '../fleet/test-fleet.js';
import { HOUR_US } from './synthetic-history.js';
import { writeTwoHosts } from './test-traffic.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const FLEET = 'anomaly-fleet';

describe('endsight anomalies across a fleet over NATS', { timeout: 120_000 }, () => {
  const lab = new Lab(`es-anomaly-nats-${process.pid}`);
  const hourUs = Math.floor((Date.now() * 1000) / HOUR_US) * HOUR_US - HOUR_US;
  let dir = '';
  let stores: { a: string; b: string };
  let served: TestFleet | undefined;

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-anomaly-nats-'));
    ({ stores } = await writeTwoHosts(dir, hourUs));
    served = await startTestFleet(lab, dir, FLEET, [
      { identity: { id: 'host-a', site: null, tags: [], addresses: [] }, dataDir: stores.a },
      { identity: { id: 'host-b', site: null, tags: [], addresses: [] }, dataDir: stores.b },
    ]);
  });

  after(async () => {
    await served?.stop();
    assert.deepEqual(await lab.cleanup(), []);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('one signed query returns both hosts\' anomalies, worst first, as their local answers merged', async () => {
    const between = `${new Date(hourUs / 1000).toISOString()}/${new Date((hourUs + HOUR_US) / 1000).toISOString()}`;
    const rows = (stdout: string): Record<string, unknown>[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const fleet = await runCommand(['node', BIN, 'anomalies', '--nats', served!.url, '--sign-key', served!.signKey, '--fleet', FLEET, '--between', between, '--format', 'json']);
    assert.match(fleet.stderr, /2 of 2 hosts answered/);
    const merged = rows(fleet.stdout);
    assert.deepEqual(merged.map((r) => `${r.host} ${r.app} ${r.kind}`).sort(), [
      'host-a * scan', 'host-a tcp/443 exfiltration', 'host-b * scan', 'host-b tcp/22 scan', 'host-b tcp/7777 new_application',
    ]);
    for (let i = 1; i < merged.length; i++) assert.ok(Number(merged[i - 1].score) >= Number(merged[i].score), 'worst first');
    const local = [];
    for (const store of [stores.a, stores.b]) local.push(...rows((await runCommand(['node', BIN, 'anomalies', '--data-dir', store, '--between', between, '--format', 'json'])).stdout));
    local.sort((x, y) => Number(y.score) - Number(x.score) || String(x.host).localeCompare(String(y.host)) || String(x.app).localeCompare(String(y.app)));
    assert.deepEqual(merged, local);
  });
});

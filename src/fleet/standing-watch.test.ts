/**
 * Standing queries over a real nats-server: two hosts whose stores hold flows of the coming seconds
 * register a query with a one-second period; each period's merged result equals the single store's
 * answer for that period's window; a condition on the merged result raises alerts, POSTed to a
 * webhook (an HTTP server of the test, on loopback); an alert condition that does not bind is one
 * clear error; the hosts drop the query once the watch stops renewing it and the envelope expires.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { freeTcpPort } from '../common/free-port.js';
import { Lab, requirePrograms } from '../lab/netns.js';
import { QueryEngine } from '../query/index.js';
import { FleetRegistry } from './fleet-registry.js';
import { openMergeEngine, type MergeEngine } from './merge-engine.js';
import { FleetHost } from './nats-fleet.js';
import { QueryResponder } from './query-responder.js';
import { generateAuthorityKeys, loadKey, type HostIdentity } from './signed-query.js';
import { StandingWatch, type StandingPeriod, type StandingWatchOptions } from './standing-watch.js';
import { writeHostStores } from './test-stores.js';

const FLEET = 'standing';
const IDENTITIES: HostIdentity[] = [
  { id: 'host-0', site: 'paris', tags: [], addresses: ['10.1.0.10'] },
  { id: 'host-1', site: 'lyon', tags: [], addresses: ['10.2.0.10'] },
];
const SQL = 'SELECT proto, count(*) AS n, sum(bytes) AS bytes FROM flows GROUP BY proto ORDER BY proto';
const keys = generateAuthorityKeys();
const signKey = loadKey(keys.privateKeyPem, 'private', 'test key');

describe('standing queries over NATS', { timeout: 120_000 }, () => {
  const lab = new Lab(`es-standing-${process.pid}`);
  let dir = '';
  let all = '';
  let coordinator: NatsConnection;
  let registry: FleetRegistry;
  let planner: MergeEngine;
  let webhook: Server;
  let webhookUrl = '';
  const posted: Record<string, unknown>[] = [];
  const connections: NatsConnection[] = [];
  const hosts: FleetHost[] = [];
  const responders: QueryResponder[] = [];

  const options = (extra: Partial<StandingWatchOptions> & Pick<StandingWatchOptions, 'onPeriod'>): StandingWatchOptions => ({
    sql: SQL, target: 'all', fleet: FLEET, signKey, issuer: 'test', limits: { timeoutMs: 5000, maxRows: 1000 }, registry, periodMs: 1000, graceMs: 800, ...extra,
  });

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-standing-'));
    // Flows of the next 20 seconds, every 10 ms on host-0 and about every 340 ms on host-1.
    const stores = await writeHostStores(dir, [2000, 60], { startUs: Date.now() * 1000, stepUs: 10_000, hostOffsetUs: 0 });
    all = stores.all;
    const port = await freeTcpPort();
    const server = lab.start('nats-server', ['nats-server', '-a', '127.0.0.1', '-p', String(port)]);
    await server.waitForOutput(/Server is ready/);
    const url = `nats://127.0.0.1:${port}`;
    coordinator = await connect({ servers: url });
    registry = new FleetRegistry(coordinator, FLEET);
    const log = pino({ level: 'silent' });
    for (let h = 0; h < IDENTITIES.length; h++) {
      const connection = await connect({ servers: url });
      connections.push(connection);
      const responder = new QueryResponder({ identity: IDENTITIES[h], audience: FLEET, authority: loadKey(keys.publicKeyPem, 'public', 'pub'), dataDir: stores.hosts[h], log });
      responders.push(responder);
      hosts.push(new FleetHost(connection, FLEET, IDENTITIES[h], 'test', responder));
    }
    planner = await openMergeEngine();
    webhook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        posted.push(JSON.parse(body) as Record<string, unknown>);
        response.end('ok');
      });
    });
    const hookPort = await freeTcpPort();
    await new Promise<void>((resolve) => webhook.listen(hookPort, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${hookPort}/alerts`;
    while (registry.hosts().length < IDENTITIES.length) await new Promise((resolve) => setTimeout(resolve, 50));
  });

  after(async () => {
    registry?.stop();
    for (const host of hosts) host.stop();
    for (const responder of responders) responder.standing.stop();
    for (const c of [...connections, coordinator]) await c?.close().catch(() => undefined);
    planner?.close();
    await new Promise((resolve) => webhook?.close(resolve));
    assert.deepEqual(await lab.cleanup(), []);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reports each period's merged result, equal to the single store's for that period, with alerts sent to the webhook", async () => {
    const periods: StandingPeriod[] = [];
    const registered: string[][] = [];
    const watch = await StandingWatch.start(coordinator, planner.connection, options({
      alert: 'n > 0 AND proto = 6', webhook: webhookUrl, onPeriod: (period) => void periods.push(period), onRegistered: (ids) => void registered.push(ids),
    }));
    try {
      while (periods.length < 3) await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await watch.stop();
    }
    assert.deepEqual(registered[0], ['host-0', 'host-1']);
    for (const period of periods.slice(0, 3)) {
      assert.deepEqual([period.answered, period.missing], [['host-0', 'host-1'], []], period.periodEnd);
      assert.equal(Date.parse(period.periodEnd) - Date.parse(period.periodStart), 1000);
      const single = await QueryEngine.open(all, { window: { fromUs: Date.parse(period.periodStart) * 1000, toUs: Date.parse(period.periodEnd) * 1000 } });
      try {
        const one = await single.all(SQL);
        assert.deepEqual(period.rows, one.rows, period.periodEnd);
        assert.ok(one.rows.length > 0, 'the period had flows');
        assert.deepEqual(period.alerts, one.rows.filter((row) => row[0] === 6));
      } finally {
        single.close();
      }
      assert.equal(period.webhookError, null);
    }
    const hooked = posted.find((p) => p.period_end === periods[0].periodEnd);
    assert.ok(hooked, 'the first period with alerts reached the webhook');
    assert.equal(hooked.condition, 'n > 0 AND proto = 6');
    assert.deepEqual((hooked.rows as { proto: number }[]).map((row) => row.proto), [6]);
  });

  it('refuses an alert condition that does not bind, naming the columns', async () => {
    await assert.rejects(
      StandingWatch.start(coordinator, planner.connection, options({ alert: 'nonsense > 1', onPeriod: () => undefined })),
      /Cannot use the alert condition "nonsense > 1": .*the result's columns: proto, n, bytes/,
    );
  });

  it('leaves nothing running on the hosts once the watch stops renewing and the envelope expires', async () => {
    const watch = await StandingWatch.start(coordinator, planner.connection, options({ lifetimeMs: 2500, renewEveryMs: 1000, onPeriod: () => undefined }));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(responders.every((r) => r.standing.ids().includes(watch.id)), 'registered on every host');
    await watch.stop();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    assert.deepEqual(responders.map((r) => r.standing.ids().includes(watch.id)), [false, false]);
  });
});

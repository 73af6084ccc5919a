/**
 * The fleet's transport as deployed (docs/fleet.md): real nats-servers with TLS on every connection
 * (certificates made here by openssl) and one credential per role (nats-server-config.ts).
 * - A client that does not trust the fleet's CA, or has no or a wrong password, is refused.
 * - An agent's credential cannot ask queries nor listen to other hosts' answers.
 * - A 3-node cluster: one server is killed while a query is out; its hosts reconnect to the others,
 *   are asked again and answer: the query completes with every host, equal to the single store's.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { pino } from 'pino';
import { Lab, requirePrograms, sleep } from '../lab/netns.js';
import { connectAs, startNats, type NatsLab } from '../lab/nats-lab.js';
import { defineEmptyFlows, QueryEngine } from '../query/index.js';
import { natsOptions } from './fleet-member.js';
import { FleetHost, runFleetQuery, type FleetQueryOptions } from './nats-fleet.js';
import { QueryResponder } from './query-responder.js';
import { generateAuthorityKeys, loadKey, signQuery, type HostIdentity } from './signed-query.js';
import { writeHostStores } from './test-stores.js';

const FLEET = 'lab';
const IDENTITIES: HostIdentity[] = [
  { id: 'host-0', site: 'paris', tags: [], addresses: ['10.1.0.10'] },
  { id: 'host-1', site: 'paris', tags: [], addresses: ['10.1.0.20'] },
  { id: 'host-2', site: 'lyon', tags: [], addresses: ['10.2.0.10'] },
];
const SQL = 'SELECT host, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY host ORDER BY host';
const keys = generateAuthorityKeys();
const signKey = loadKey(keys.privateKeyPem, 'private', 'test key');

describe('the fleet over NATS with TLS and per-role credentials', { timeout: 180_000 }, () => {
  const lab = new Lab(`es-natstls-${process.pid}`);
  let dir = '';
  let stores: { hosts: string[]; all: string };
  let single: QueryEngine;
  let instance: DuckDBInstance;
  let planner: DuckDBConnection;
  const open: NatsConnection[] = [];
  const fleetHosts: FleetHost[] = [];

  const options = (sql: string): FleetQueryOptions => ({
    sql, target: 'all', fleet: FLEET, signKey, issuer: 'test', limits: { timeoutMs: 10_000, maxRows: 100_000 }, registryWaitMs: 2500, answerWaitMs: 15_000, reaskEveryMs: 1000,
  });

  async function startHosts(nats: NatsLab, serverOf: (h: number) => number): Promise<void> {
    for (let h = 0; h < IDENTITIES.length; h++) {
      const order = [serverOf(h), ...nats.urls.map((_, i) => i).filter((i) => i !== serverOf(h))];
      const connection = await connectAs(nats, 'agent', order);
      open.push(connection);
      const responder = new QueryResponder({ identity: IDENTITIES[h], audience: FLEET, authority: loadKey(keys.publicKeyPem, 'public', 'pub'), dataDir: stores.hosts[h], log: pino({ level: 'silent' }) });
      fleetHosts.push(new FleetHost(connection, FLEET, IDENTITIES[h], 'test', responder));
    }
  }

  async function stopHosts(): Promise<void> {
    for (const host of fleetHosts.splice(0)) host.stop();
    for (const c of open.splice(0)) await c.close().catch(() => undefined);
  }

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server', openssl: 'openssl' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-natstls-'));
    stores = await writeHostStores(dir, [1500, 700, 2200]);
    single = await QueryEngine.open(stores.all);
    instance = await DuckDBInstance.create(':memory:');
    planner = await instance.connect();
    await defineEmptyFlows(planner);
  });

  after(async () => {
    await stopHosts();
    single?.close();
    planner?.closeSync();
    instance?.closeSync();
    assert.deepEqual(await lab.cleanup(), []);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('one server', () => {
    let nats: NatsLab;
    before(async () => {
      nats = await startNats(lab, path.join(dir, 'one'), { fleet: FLEET });
      await startHosts(nats, () => 0);
    });
    after(async () => {
      await stopHosts();
      for (const server of nats?.servers ?? []) await server.stop();
    });

    it('answers a query with every connection on TLS, each role with its own credential', async () => {
      const coordinator = await connectAs(nats, 'coordinator');
      try {
        const result = await runFleetQuery(coordinator, planner, options(SQL));
        assert.deepEqual(result.answered, ['host-0', 'host-1', 'host-2']);
        assert.deepEqual(result.rows, (await single.all(SQL)).rows);
        assert.equal(coordinator.info?.tls_required, true);
      } finally {
        await coordinator.close();
      }
    });

    it('refuses clients that do not trust its certificate, or lack the password', async () => {
      const url = nats.urls[0].replace('nats://', `nats://agent:${nats.passwords.agent}@`);
      // The server requires TLS: the client upgrades, and finds a certificate it has no reason to trust.
      await assert.rejects(connect({ ...natsOptions({ nats: url, tls: null }, 'no CA'), maxReconnectAttempts: 0, timeout: 3000 }), /certificate|self.signed|UNABLE/i);
      const ca = { ca: nats.certificates!.caPem, cert: null, key: null };
      await assert.rejects(connect({ ...natsOptions({ nats: nats.urls[0], tls: ca }, 'no password'), maxReconnectAttempts: 0 }), /Authorization Violation/i);
      const wrong = nats.urls[0].replace('nats://', 'nats://agent:wrong@');
      await assert.rejects(connect({ ...natsOptions({ nats: wrong, tls: ca }, 'wrong password'), maxReconnectAttempts: 0 }), /Authorization Violation/i);
    });

    it("keeps an agent's credential from asking queries or reading other hosts' answers", async () => {
      const intruder = await connectAs(nats, 'agent');
      const watcher = await connectAs(nats, 'agent');
      const errors: string[] = [];
      void (async () => {
        for await (const status of intruder.status()) if (status.type === 'error') errors.push(String((status as { error?: unknown }).error));
      })();
      try {
        // A signed query published by an agent's credential is dropped by the server.
        let received = 0;
        watcher.subscribe(`endsight.${FLEET}.q.all`, { callback: () => void received++ });
        await watcher.flush();
        const signed = signQuery(signKey, { query: 'SELECT count(*) FROM flows', target: 'all', limits: { timeoutMs: 1000, maxRows: 10 }, issuer: 'intruder', audience: FLEET });
        intruder.publish(`endsight.${FLEET}.q.all`, JSON.stringify(signed));
        // Listening to the coordinators' answer inboxes is refused too.
        const sniff = intruder.subscribe('_INBOX.>');
        let sniffClosed = false;
        void sniff.closed.then(() => (sniffClosed = true), () => (sniffClosed = true));
        await sleep(1000);
        assert.equal(received, 0, 'no host received the query');
        assert.ok(errors.some((e) => /Permissions Violation for Publish to "endsight\.lab\.q\.all"/.test(e)), errors.join('; '));
        assert.ok(errors.some((e) => /Permissions Violation for Subscription to "_INBOX\.>"/.test(e)) || sniffClosed, errors.join('; '));
      } finally {
        await intruder.close().catch(() => undefined);
        await watcher.close();
      }
    });
  });

  describe('a 3-node cluster', () => {
    let nats: NatsLab;
    before(async () => {
      nats = await startNats(lab, path.join(dir, 'cluster'), { fleet: FLEET, count: 3 });
      // host-h on server h; the coordinator on server 0.
      await startHosts(nats, (h) => h);
    });
    after(async () => {
      await stopHosts();
      for (const server of nats?.servers ?? []) await server.stop();
    });

    it('completes a query through the others when one server is killed while it is out', async () => {
      const coordinator = await connectAs(nats, 'coordinator', [0, 1]);
      try {
        const before = await runFleetQuery(coordinator, planner, options(SQL));
        assert.deepEqual(before.answered, ['host-0', 'host-1', 'host-2'], 'all three answer across the cluster');
        const result = await runFleetQuery(coordinator, planner, { ...options(SQL), onAsked: () => void nats.servers[2].stop('SIGKILL') });
        assert.deepEqual(result.expected, ['host-0', 'host-1', 'host-2']);
        assert.deepEqual(result.answered, ['host-0', 'host-1', 'host-2'], `missing ${result.missing.join(', ')}`);
        assert.deepEqual(result.failed, {});
        assert.deepEqual(result.rows, (await single.all(SQL)).rows);
        assert.equal(nats.servers[2].hasExited, true);
      } finally {
        await coordinator.close();
      }
    });
  });
});

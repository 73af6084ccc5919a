/**
 * Fleet queries over a real nats-server (Debian nats-server, started here on loopback): three hosts,
 * each answering from its own store; merged answers equal the single store's; targets pick the right
 * hosts; a host that dies before answering is listed as missing while the query completes; queries
 * signed by another key are refused by every host and reported as failed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { pino } from 'pino';
import { Lab, requirePrograms } from '../lab/netns.js';
import { defineEmptyFlows, QueryEngine } from '../query/index.js';
import { FleetHost, runFleetQuery, type FleetQueryOptions, type FleetResult } from './nats-fleet.js';
import { QueryResponder } from './query-responder.js';
import { generateAuthorityKeys, loadKey, type HostIdentity } from './signed-query.js';
import { writeHostStores } from './test-stores.js';
import { freeTcpPort } from '../common/free-port.js';

const FLEET = 'test-fleet';
const IDENTITIES: HostIdentity[] = [
  { id: 'host-0', site: 'paris', tags: ['web'], addresses: ['10.1.0.10'] },
  { id: 'host-1', site: 'paris', tags: ['db'], addresses: ['10.1.0.20'] },
  { id: 'host-2', site: 'lyon', tags: ['web'], addresses: ['10.2.0.10'] },
];

const HEALTH = { packets: 123_456, dropped: 7, flowsActive: 42, recordsStored: 9_000, storeBytes: 150_000, cpu: 0.031, rssBytes: 180_000_000, attributedRatio: 0.98, sampling: 1 };

describe('fleet queries over NATS', { timeout: 120_000 }, () => {
  const lab = new Lab(`es-nats-${process.pid}`);
  let dir = '';
  let url = '';
  let single: QueryEngine;
  let planner: DuckDBConnection;
  let instance: DuckDBInstance;
  const keys = generateAuthorityKeys();
  const signKey = loadKey(keys.privateKeyPem, 'private', 'test key');
  const connections: NatsConnection[] = [];
  const hosts: FleetHost[] = [];
  let coordinator: NatsConnection;

  const options = (sql: string, target = 'all'): FleetQueryOptions => ({
    sql, target, fleet: FLEET, signKey, issuer: 'test', limits: { timeoutMs: 10_000, maxRows: 100_000 }, registryWaitMs: 2500, answerWaitMs: 15_000,
  });

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-nats-'));
    const stores = await writeHostStores(dir, [2000, 800, 3000]);
    const port = await freeTcpPort();
    url = `nats://127.0.0.1:${port}`;
    const server = lab.start('nats-server', ['nats-server', '-a', '127.0.0.1', '-p', String(port)]);
    await server.waitForOutput(/Server is ready/);
    const log = pino({ level: 'silent' });
    for (let h = 0; h < IDENTITIES.length; h++) {
      const connection = await connect({ servers: url, name: IDENTITIES[h].id });
      connections.push(connection);
      const responder = new QueryResponder({ identity: IDENTITIES[h], audience: FLEET, authority: loadKey(keys.publicKeyPem, 'public', 'pub'), dataDir: stores.hosts[h], log });
      // host-0 reports health and a policy version, as an agent does; the others, as older agents, none.
      const extras = h === 0 ? { health: () => HEALTH, privacy: { status: () => ({ version: 4, section: 'default', issuer: null, dropped: 0, minGroupSize: 1 }), offer: async () => ({ ok: false as const, version: 4, error: 'test' }) } } : {};
      hosts.push(new FleetHost(connection, FLEET, IDENTITIES[h], 'test', responder, undefined, extras));
    }
    coordinator = await connect({ servers: url, name: 'coordinator' });
    single = await QueryEngine.open(stores.all);
    instance = await DuckDBInstance.create(':memory:');
    planner = await instance.connect();
    await defineEmptyFlows(planner);
  });

  after(async () => {
    for (const host of hosts) host.stop();
    for (const c of [...connections, coordinator]) await c?.close().catch(() => undefined);
    single?.close();
    planner?.closeSync();
    instance?.closeSync();
    assert.deepEqual(await lab.cleanup(), []);
    rmSync(dir, { recursive: true, force: true });
  });

  it('merges every host\'s answer into the single store\'s answer, naming who answered', async () => {
    for (const sql of [
      'SELECT proto, count(*) AS n, sum(bytes) AS b, avg(packets) AS p FROM flows GROUP BY proto ORDER BY proto',
      'SELECT host, src_addr, bytes FROM flows WHERE dst_port = 53 ORDER BY bytes DESC, src_addr LIMIT 15',
    ]) {
      const result = await runFleetQuery(coordinator, planner, options(sql));
      const one = await single.all(sql);
      assert.deepEqual(result.expected, ['host-0', 'host-1', 'host-2']);
      assert.deepEqual(result.answered, ['host-0', 'host-1', 'host-2']);
      assert.deepEqual(result.missing, []);
      assert.deepEqual(result.failed, {});
      assert.deepEqual(result.columns, one.columns);
      assert.equal(JSON.stringify(roundDoubles(result.rows)), JSON.stringify(roundDoubles(one.rows)), sql);
    }
  });

  it('asks only the targeted hosts: one host, a site, a tag, a subnet', async () => {
    const cases: [string, string[]][] = [
      ['host:host-1', ['host-1']],
      ['site:paris', ['host-0', 'host-1']],
      ['tag:web', ['host-0', 'host-2']],
      ['net:10.2.0.0/16', ['host-2']],
    ];
    for (const [target, ids] of cases) {
      const sql = 'SELECT host, count(*) AS n FROM flows GROUP BY host ORDER BY host';
      const result = await runFleetQuery(coordinator, planner, options(sql, target));
      assert.deepEqual(result.expected, ids, target);
      assert.deepEqual(result.answered, ids, target);
      const one = await single.all(`SELECT host, count(*) AS n FROM flows WHERE host IN (${ids.map((id) => `'${id}'`).join(', ')}) GROUP BY host ORDER BY host`);
      assert.deepEqual(result.rows, one.rows, target);
    }
  });

  it('answers queries over hosts from the registry of heartbeats', async () => {
    const sql = 'SELECT id, site, tags, addresses, agent_version, abs(clock_offset_ms) < 1000 AS clock_ok, last_heartbeat <= now() AS heard FROM hosts ORDER BY id';
    const result = await runFleetQuery(coordinator, planner, options(sql));
    assert.deepEqual(result.rows, IDENTITIES.map((h) => [h.id, h.site, [...h.tags], [...h.addresses], 'test', true, true]));
    assert.deepEqual(result.answered, ['host-0', 'host-1', 'host-2']);
    const health = await runFleetQuery(coordinator, planner, options('SELECT id, policy_version, packets, dropped, flows_active, records_stored, store_bytes, cpu, rss_bytes, attributed_ratio, sampling FROM hosts ORDER BY id'));
    assert.deepEqual(health.rows, [
      ['host-0', 4, HEALTH.packets, HEALTH.dropped, HEALTH.flowsActive, HEALTH.recordsStored, HEALTH.storeBytes, HEALTH.cpu, HEALTH.rssBytes, HEALTH.attributedRatio, HEALTH.sampling],
      ['host-1', null, null, null, null, null, null, null, null, null, null],
      ['host-2', null, null, null, null, null, null, null, null, null, null],
    ]);
    const paris = await runFleetQuery(coordinator, planner, options('SELECT site, count(*) AS n FROM hosts GROUP BY site', 'site:paris'));
    assert.deepEqual(paris.rows, [['paris', 2]]);
    await assert.rejects(runFleetQuery(coordinator, planner, options('SELECT count(*) FROM flows JOIN hosts ON flows.host = hosts.id')), /reads one table, flows or hosts/);
  });

  it('refuses queries signed by another key on every host, and says so', async () => {
    const other = loadKey(generateAuthorityKeys().privateKeyPem, 'private', 'other');
    const result = await runFleetQuery(coordinator, planner, { ...options('SELECT count(*) FROM flows'), signKey: other });
    assert.deepEqual(result.answered, []);
    assert.deepEqual(Object.keys(result.failed).sort(), ['host-0', 'host-1', 'host-2']);
    for (const reason of Object.values(result.failed)) assert.match(reason, /^bad_signature: /);
    assert.deepEqual(result.rows, [[0]], 'no host answered: the count over nothing');
  });

  it('lists a host that dies before answering as missing; the query completes with the others', async () => {
    // host-2 was in the registry a moment ago; it goes away the moment the query is out.
    const partials: FleetResult[] = [];
    const result = await runFleetQuery(coordinator, planner, {
      ...options('SELECT count(*) AS n FROM flows'),
      answerWaitMs: 4000,
      onPartial: (partial) => partials.push(partial),
      onAsked: () => {
        hosts[2].stop();
        void connections[2].close();
      },
    });
    assert.deepEqual(result.expected, ['host-0', 'host-1', 'host-2']);
    assert.deepEqual(result.answered, ['host-0', 'host-1']);
    assert.deepEqual(result.missing, ['host-2']);
    const one = await single.all("SELECT count(*) AS n FROM flows WHERE host IN ('host-0', 'host-1')");
    assert.deepEqual(result.rows, one.rows);
    // Partial answers came first, as the two answers arrived; the last of them is the final answer's.
    assert.ok(partials.length >= 1);
    for (const partial of partials) assert.ok(partial.answered.length >= 1 && partial.answered.every((id) => result.answered.includes(id)));
    assert.deepEqual(partials.at(-1)!.answered, ['host-0', 'host-1']);
    assert.deepEqual(partials.at(-1)!.rows, result.rows);
  });
});

function roundDoubles(rows: unknown[][]): unknown[][] {
  return rows.map((row) => row.map((cell) => (typeof cell === 'number' && !Number.isInteger(cell) ? Number(cell.toPrecision(12)) : cell)));
}

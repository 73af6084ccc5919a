/**
 * Site aggregators over a real nats-server (TLS, per-role credentials): five hosts in two sites, two
 * aggregators for paris and one for lyon. Through the aggregators, merged answers equal the single
 * store's; an aggregator that dies holding a query is replaced by the other of its queue group; a
 * site whose aggregators are all gone has its hosts listed as missing; a badly signed query is
 * refused by the aggregators; the aggregator role cannot ask hosts outside the query subjects.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { Lab, requirePrograms } from '../lab/netns.js';
import { connectAs, startNats, type NatsLab } from '../lab/nats-lab.js';
import { QueryEngine } from '../query/index.js';
import { FleetRegistry } from './fleet-registry.js';
import { openMergeEngine, type MergeEngine } from './merge-engine.js';
import { FleetHost, runFleetQuery, type FleetQueryOptions } from './nats-fleet.js';
import { QueryResponder } from './query-responder.js';
import { generateAuthorityKeys, loadKey, type HostIdentity } from './signed-query.js';
import { SiteAggregator } from './site-aggregator.js';
import { writeHostStores } from './test-stores.js';

const FLEET = 'sites';
const IDENTITIES: HostIdentity[] = [
  { id: 'host-0', site: 'paris', tags: ['web'], addresses: ['10.1.0.10'] },
  { id: 'host-1', site: 'paris', tags: ['db'], addresses: ['10.1.0.20'] },
  { id: 'host-2', site: 'paris', tags: ['web'], addresses: ['10.1.0.30'] },
  { id: 'host-3', site: 'lyon', tags: ['web'], addresses: ['10.2.0.10'] },
  { id: 'host-4', site: 'lyon', tags: [], addresses: ['10.2.0.20'] },
];
const ALL = IDENTITIES.map((h) => h.id);
const keys = generateAuthorityKeys();
const signKey = loadKey(keys.privateKeyPem, 'private', 'test key');
const authority = loadKey(keys.publicKeyPem, 'public', 'test key');
const silent = pino({ level: 'silent' });

describe('site aggregators over NATS', { timeout: 180_000 }, () => {
  const lab = new Lab(`es-sites-${process.pid}`);
  let dir = '';
  let nats: NatsLab;
  let single: QueryEngine;
  let planner: MergeEngine;
  let coordinator: NatsConnection;
  let registry: FleetRegistry;
  const connections: NatsConnection[] = [];
  const hosts: FleetHost[] = [];
  const aggregators = new Map<string, { aggregator: SiteAggregator; connection: NatsConnection }>();
  /** What each aggregator does when it accepts a query (the tests set it). */
  let onQuery: (aggregator: string) => void = () => undefined;

  const options = (sql: string, target = 'all'): FleetQueryOptions => ({
    sql, target, fleet: FLEET, signKey, issuer: 'test', limits: { timeoutMs: 5000, maxRows: 100_000 }, registry, via: 'sites', answerWaitMs: 12_000, reaskEveryMs: 1000,
  });

  async function startAggregator(site: string, id: string): Promise<void> {
    const connection = await connectAs(nats, 'aggregator');
    const aggregator = await SiteAggregator.start(connection, { fleet: FLEET, site, id, authority, version: 'test', log: silent, reaskEveryMs: 1000, registryWaitMs: 800, onQuery: () => onQuery(id) });
    aggregators.set(id, { aggregator, connection });
  }

  async function stopAggregator(id: string): Promise<void> {
    const entry = aggregators.get(id);
    aggregators.delete(id);
    await entry?.aggregator.stop();
    await entry?.connection.close();
  }

  /** Until the coordinator's registry lists these sites with every host of theirs. */
  async function waitForSites(expected: Record<string, string[]>): Promise<void> {
    const deadline = Date.now() + 15_000;
    const heard = (): Record<string, string[]> => Object.fromEntries(registry.sites().map((s) => [s.site, s.hosts]));
    while (JSON.stringify(heard()) !== JSON.stringify(expected)) {
      if (Date.now() > deadline) throw new Error(`the registry heard ${JSON.stringify(heard())}, not ${JSON.stringify(expected)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server', openssl: 'openssl' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-sites-'));
    const stores = await writeHostStores(dir, [1200, 500, 900, 1600, 300]);
    single = await QueryEngine.open(stores.all);
    planner = await openMergeEngine();
    nats = await startNats(lab, path.join(dir, 'nats'), { fleet: FLEET });
    for (let h = 0; h < IDENTITIES.length; h++) {
      const connection = await connectAs(nats, 'agent');
      connections.push(connection);
      const responder = new QueryResponder({ identity: IDENTITIES[h], audience: FLEET, authority, dataDir: stores.hosts[h], log: silent });
      hosts.push(new FleetHost(connection, FLEET, IDENTITIES[h], 'test', responder, 500));
    }
    coordinator = await connectAs(nats, 'coordinator');
    registry = new FleetRegistry(coordinator, FLEET);
    await startAggregator('paris', 'paris-a');
    await startAggregator('paris', 'paris-b');
    await startAggregator('lyon', 'lyon-a');
    await waitForSites({ lyon: ['host-3', 'host-4'], paris: ['host-0', 'host-1', 'host-2'] });
  });

  after(async () => {
    registry?.stop();
    for (const id of [...aggregators.keys()]) await stopAggregator(id);
    for (const host of hosts) host.stop();
    for (const c of [...connections, coordinator]) await c?.close().catch(() => undefined);
    single?.close();
    planner?.close();
    assert.deepEqual(await lab.cleanup(), []);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("merges the sites' answers into the single store's answer, for aggregates, sketches and rows", async () => {
    for (const sql of [
      'SELECT proto, count(*) AS n, sum(bytes) AS b, avg(packets) AS p, min(start_time) AS first, max(bytes) AS top FROM flows GROUP BY proto ORDER BY proto',
      'SELECT count(*) AS n, sum(bytes) AS b FROM flows WHERE dst_port = 53',
      'SELECT host, src_addr, bytes FROM flows WHERE dst_port = 53 ORDER BY bytes DESC, src_addr, host LIMIT 15',
      'SELECT process, sum(bytes) AS bytes FROM flows GROUP BY process ORDER BY bytes DESC, process LIMIT 3',
    ]) {
      const result = await runFleetQuery(coordinator, planner.connection, options(sql));
      const one = await single.all(sql);
      assert.deepEqual([result.expected, result.answered, result.missing, result.failed], [ALL, ALL, [], {}], sql);
      const { elapsedMs, ...sites } = result.sites!;
      assert.deepEqual(sites, { expected: ['lyon', 'paris'], answered: ['lyon', 'paris'], missing: [], failed: {} }, sql);
      assert.deepEqual(Object.keys(elapsedMs).sort(), ['lyon', 'paris']);
      assert.deepEqual(result.columns, one.columns, sql);
      assert.equal(JSON.stringify(roundDoubles(result.rows)), JSON.stringify(roundDoubles(one.rows)), sql);
    }
    // Sketches: the sites' merged states give exactly what the hosts' states give merged directly.
    const sketches = 'SELECT proto, count(DISTINCT src_addr) AS peers, quantile_cont(bytes, 0.9) AS p90 FROM flows GROUP BY proto ORDER BY proto';
    const viaSites = await runFleetQuery(coordinator, planner.connection, options(sketches));
    const direct = await runFleetQuery(coordinator, planner.connection, { ...options(sketches), via: 'hosts' });
    assert.deepEqual(direct.answered, ALL);
    assert.deepEqual(viaSites.rows, direct.rows);
    assert.deepEqual(viaSites.approximations, direct.approximations);
  });

  it('asks only the targeted hosts of each site: a site, a tag, a subnet', async () => {
    const cases: [string, string[], string[]][] = [
      ['site:lyon', ['host-3', 'host-4'], ['lyon']],
      ['tag:web', ['host-0', 'host-2', 'host-3'], ['lyon', 'paris']],
      ['net:10.1.0.0/16', ['host-0', 'host-1', 'host-2'], ['lyon', 'paris']],
    ];
    for (const [target, ids, sites] of cases) {
      const sql = 'SELECT host, count(*) AS n FROM flows GROUP BY host ORDER BY host';
      const result = await runFleetQuery(coordinator, planner.connection, options(sql, target));
      assert.deepEqual([result.expected, result.answered, result.sites?.answered], [ids, ids, sites], target);
      const one = await single.all(`SELECT host, count(*) AS n FROM flows WHERE host IN (${ids.map((id) => `'${id}'`).join(', ')}) GROUP BY host ORDER BY host`);
      assert.deepEqual(result.rows, one.rows, target);
    }
  });

  it('completes through the other aggregator of a site when the one holding the query dies', async () => {
    const holders: string[] = [];
    onQuery = (id) => {
      if (!id.startsWith('paris') || holders.length > 0) return;
      holders.push(id);
      // Gone the moment it has accepted the query: it never answers.
      void stopAggregator(id);
    };
    try {
      const sql = 'SELECT host, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY host ORDER BY host';
      const result = await runFleetQuery(coordinator, planner.connection, options(sql));
      assert.equal(holders.length, 1, 'a paris aggregator took the query');
      assert.deepEqual([result.answered, result.missing, result.sites?.answered], [ALL, [], ['lyon', 'paris']]);
      assert.deepEqual(result.rows, (await single.all(sql)).rows);
      assert.ok(result.elapsedMs >= 1000, 'paris answered only when asked again');
    } finally {
      onQuery = () => undefined;
    }
    // The dead one's place is taken again, for the next test.
    await startAggregator('paris', 'paris-c');
  });

  it('refuses a query signed by another key at the aggregators', async () => {
    const other = loadKey(generateAuthorityKeys().privateKeyPem, 'private', 'other');
    const result = await runFleetQuery(coordinator, planner.connection, { ...options('SELECT count(*) AS n FROM flows'), signKey: other });
    assert.deepEqual(result.answered, []);
    assert.deepEqual(Object.keys(result.sites?.failed ?? {}).sort(), ['lyon', 'paris']);
    for (const reason of Object.values(result.sites!.failed)) assert.match(reason, /^bad_signature: /);
    assert.deepEqual(Object.keys(result.failed).sort(), ALL, 'every host of a failed site is listed as failed');
  });

  it("lists a site's hosts as missing when none of its aggregators answers; the query completes with the others", async () => {
    await stopAggregator('lyon-a');
    const result = await runFleetQuery(coordinator, planner.connection, { ...options('SELECT count(*) AS n FROM flows'), answerWaitMs: 3000 });
    assert.deepEqual(result.sites?.missing, ['lyon']);
    assert.deepEqual(result.missing, ['host-3', 'host-4']);
    assert.deepEqual(result.answered, ['host-0', 'host-1', 'host-2']);
    assert.deepEqual(result.rows, (await single.all("SELECT count(*) AS n FROM flows WHERE host IN ('host-0', 'host-1', 'host-2')")).rows);
  });
});

function roundDoubles(rows: unknown[][]): unknown[][] {
  return rows.map((row) => row.map((cell) => (typeof cell === 'number' && !Number.isInteger(cell) ? Number(cell.toPrecision(12)) : cell)));
}

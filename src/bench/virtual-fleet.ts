/**
 * The fleet benchmark's virtual hosts (fleet-scale-bench.ts): many fleet hosts multiplexed in one
 * process, each a FleetHost on the process's NATS connection (its own subscriptions, heartbeats and
 * replies, as a real agent has), each answering from its own small set of flow records, plus,
 * when asked, the site aggregators of some sites. Run as a child process:
 *
 *   node dist/src/bench/virtual-fleet.js '<JSON VirtualFleetConfig>'
 *
 * It prints "ready" once every host subscribes and "computed" lines as it answers a query kind for
 * the first time; it stops on SIGTERM.
 *
 * What differs from a real agent, and why: a real agent checks the envelope's signature and runs the
 * host query on its own CPU, in parallel with every other host. Here thousands of hosts share two
 * cores, so the process checks each distinct envelope's signature once for all of its hosts (each
 * host still checks its targets and its nonces), and the host query runs on the hosts' records in
 * DuckDB once, the first time it is asked (for all hosts at once, grouped by host), each host
 * keeping its answer for later asks. The local part
 * of the benchmark (fleet-bench.ts) measures what a host's run costs; this part measures what the
 * fleet adds: fan-out, answers, merges.
 */
import { connect } from '@nats-io/transport-node';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { pino } from 'pino';
import { FleetHost } from '../fleet/nats-fleet.js';
import type { HostAnswer } from '../fleet/query-responder.js';
import { loadKey, NonceCache, QueryRefused, targets, verifySignedQuery, type HostIdentity, type QueryEnvelope } from '../fleet/signed-query.js';
import { SiteAggregator } from '../fleet/site-aggregator.js';
import { natsOptions } from '../fleet/fleet-member.js';
import { flowsViewOverRelation, SQL_MACROS, toCell, type CellValue } from '../query/index.js';
import { STORED_COLUMNS } from '../store/index.js';

export interface VirtualFleetConfig {
  /** NATS URLs with the agent role's credential (and the aggregator's, for aggregators). */
  agentServers: string;
  aggregatorServers: string;
  caPem: string | null;
  fleet: string;
  authorityPem: string;
  /** Hosts [from, to) of the fleet: host i is virtualHostId(i) in site virtualSite(i, sites). */
  from: number;
  to: number;
  sites: number;
  recordsPerHost: number;
  heartbeatEveryMs: number;
  /** How long a host's heartbeat keeps it in an aggregator's registry. */
  presentForMs: number;
  /** Sites (names) whose aggregators this process runs. */
  aggregatorSites: string[];
}

export const virtualHostId = (i: number): string => `v${String(i).padStart(6, '0')}`;
export const virtualSite = (i: number, sites: number): string => `site-${String(i % sites).padStart(3, '0')}`;
/** The address of virtual host i: its flows' source address. */
const addressSql = (h: string): string => `'10.' || (${h} // 65536 % 256) || '.' || (${h} // 256 % 256) || '.' || (${h} % 256)`;

/**
 * SQL for the stored columns of hosts [from, to), `perHost` records each: a day of flows, 16
 * applications, a third of them to 10.200/16, five server ports. Every stored column must have its
 * expression here, so that a change of the schema shows up as an error, not as a wrong benchmark.
 */
export function virtualRecordsSql(from: number, to: number, perHost: number): string {
  const u = (salt: number): string => `hash(h, i, ${salt})`;
  const expressions: Record<string, string> = {
    host: `'v' || lpad(CAST(h AS VARCHAR), 6, '0')`,
    start_time: `make_timestamp(${Date.UTC(2024, 2, 1) * 1000} + CAST(${u(1)} % ${24 * 3600 * 1_000_000} AS BIGINT))`,
    duration_us: `${u(2)} % 5000000`,
    src_addr: addressSql('h'),
    dst_addr: `CASE WHEN ${u(3)} % 3 = 0 THEN '10.200.' || (${u(4)} % 256) || '.' || (${u(5)} % 256) ELSE '198.51.' || (${u(4)} % 100) || '.' || (${u(5)} % 256) END`,
    src_port: `1024 + ${u(6)} % 60000`,
    dst_port: `[53, 80, 443, 22, 5432][CAST(1 + ${u(7)} % 5 AS BIGINT)]`,
    proto: `[6, 17][CAST(1 + ${u(8)} % 2 AS BIGINT)]`,
    packets: `1 + ${u(9)} % 1000`,
    bytes: `40 + ${u(10)} % 1000000`,
    tcp_flags: '27',
    direction: `'out'`,
    process: `['firefox', 'chrome', 'firefox', 'ssh', 'curl', 'apt', 'systemd-resolve', 'chronyd', 'smbd', 'thunderbird', 'code', 'slack', 'zoom', 'node', 'postgres', 'python3'][CAST(1 + ${u(11)} % 16 AS BIGINT)]`,
    pid: 'NULL', username: 'NULL', uid: 'NULL', container: 'NULL', end_reason: `'fin'`, sampling: '1', interface: 'NULL', source: `'bench:virtual'`, command: 'NULL', tunnel: 'NULL',
  };
  const columns = STORED_COLUMNS.map((c) => {
    const expression = expressions[c.name];
    if (expression === undefined) throw new Error(`virtual-fleet.ts has no expression for the stored column ${c.name}: add one`);
    return `CAST(${expression} AS ${c.sqlType}) AS ${c.name}`;
  });
  return `SELECT ${columns.join(', ')} FROM range(${from}, ${to}) t(h), range(${perHost}) r(i)`;
}

/**
 * The records of hosts [from, to) in `connection` as the `flows` view: over all of them, or (viewPerHost)
 * over one host's, the one named by the variable vhost. The view's derived columns are computed once
 * into a table, so that a host's query binds a plain view (a few ms less per host query).
 */
export async function loadVirtualRecords(connection: DuckDBConnection, from: number, to: number, perHost: number, viewPerHost: boolean): Promise<void> {
  for (const macro of SQL_MACROS) await connection.run(macro);
  await connection.run(flowsViewOverRelation(virtualRecordsSql(from, to, perHost)));
  if (!viewPerHost) return;
  await connection.run('CREATE TABLE all_flows AS SELECT * FROM flows ORDER BY host');
  await connection.run('DROP VIEW flows');
  await connection.run(`CREATE VIEW flows AS SELECT * FROM all_flows WHERE host = getvariable('vhost')`);
}

/** Answers for the process's hosts: signature checked once per envelope, each host's run once per query. */
class VirtualResponders {
  private readonly checked = new Map<string, { envelope: QueryEnvelope } | { refused: QueryRefused }>();
  private readonly answers = new Map<string, Promise<Map<string, HostAnswer>>>();
  private readonly nonces = new Map<string, NonceCache>();
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly config: VirtualFleetConfig,
    private readonly identities: readonly HostIdentity[],
  ) {}

  responder(identity: HostIdentity): { answer(message: Uint8Array): Promise<HostAnswer> } {
    return { answer: (message) => this.answer(identity, message) };
  }

  private async answer(identity: HostIdentity, message: Uint8Array): Promise<HostAnswer> {
    const host = identity.id;
    const key = Buffer.from(message).toString('latin1');
    let checked = this.checked.get(key);
    if (!checked) {
      try {
        checked = { envelope: verifySignedQuery(message, loadKey(this.config.authorityPem, 'public', 'authority'), { audience: this.config.fleet, host: null }, new NonceCache()) };
      } catch (error) {
        checked = { refused: error as QueryRefused };
      }
      if (this.checked.size > 1000) this.checked.clear();
      this.checked.set(key, checked);
    }
    if ('refused' in checked) return { host, ok: false, code: checked.refused.code, error: checked.refused.message };
    const envelope = checked.envelope;
    if (!targets(envelope.target, identity)) return { host, ok: false, code: 'not_targeted', error: `not for ${host}` };
    let nonces = this.nonces.get(host);
    if (!nonces) this.nonces.set(host, (nonces = new NonceCache(1000)));
    const now = Date.now();
    // Asked again with the same envelope (a site aggregator's re-ask): the kept answer, as a real host does.
    if (!nonces.add(envelope.nonce, Date.parse(envelope.expiresAt), now) && envelope.queryId === undefined) {
      return { host, ok: false, code: 'replayed', error: `nonce ${envelope.nonce} was already used` };
    }
    if (envelope.window) return { host, ok: false, code: 'query_failed', error: 'virtual hosts answer queries without a time window only' };
    let all = this.answers.get(envelope.query);
    if (!all) {
      // One query at a time on the connection: the per-host path sets a variable that another run would change.
      all = this.running.then(() => this.runForAll(envelope.query));
      this.running = all.then(() => undefined, () => undefined);
      this.answers.set(envelope.query, all);
    }
    const answer = (await all).get(host)!;
    if (!answer.ok || answer.rows.length <= envelope.limits.maxRows) return answer;
    return { ...answer, rows: answer.rows.slice(0, envelope.limits.maxRows), truncated: true };
  }

  /**
   * Runs the host query on every host's own records. A grouped host query (the planner's shape:
   * SELECT … FROM flows [WHERE …] GROUP BY g0, …) runs once for all hosts, grouped by host as well,
   * which gives each host exactly the rows it would get alone; anything else runs host by host.
   */
  private async runForAll(sql: string): Promise<Map<string, HostAnswer>> {
    const started = Date.now();
    const out = new Map<string, HostAnswer>();
    const grouped = /^SELECT (.*) FROM flows( WHERE .*)? GROUP BY (g\d+(?:, g\d+)*)$/s.exec(sql);
    if (grouped) {
      const [, items, where = '', groups] = grouped;
      const reader = await this.connection.runAndReadAll(`SELECT host AS vhost__, ${items} FROM all_flows${where} GROUP BY vhost__, ${groups}`);
      const columns = reader.columnNames().slice(1).map((name, i) => ({ name, type: reader.columnType(i + 1).toString() }));
      const rows = new Map<string, CellValue[][]>();
      for (const row of reader.getRows()) {
        const cells = row.map(toCell);
        const host = String(cells[0]);
        let list = rows.get(host);
        if (!list) rows.set(host, (list = []));
        list.push(cells.slice(1));
      }
      for (const { id } of this.identities) out.set(id, { host: id, ok: true, columns, rows: rows.get(id) ?? [], truncated: false, elapsedMs: 0 });
    } else {
      for (const { id } of this.identities) {
        await this.connection.run(`SET VARIABLE vhost = '${id}'`);
        const t = Date.now();
        try {
          const reader = await this.connection.runAndReadAll(sql);
          const columns = reader.columnNames().map((name, i) => ({ name, type: reader.columnType(i).toString() }));
          out.set(id, { host: id, ok: true, columns, rows: reader.getRows().map((row) => row.map(toCell)), truncated: false, elapsedMs: Date.now() - t });
        } catch (error) {
          out.set(id, { host: id, ok: false, code: 'query_failed', error: (error as Error).message.split('\n')[0] });
        }
      }
    }
    process.stdout.write(`computed ${this.identities.length} ${Date.now() - started}\n`);
    return out;
  }
}

async function main(config: VirtualFleetConfig): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  await loadVirtualRecords(connection, config.from, config.to, config.recordsPerHost, true);
  const identities: HostIdentity[] = [];
  for (let i = config.from; i < config.to; i++) identities.push({ id: virtualHostId(i), site: virtualSite(i, config.sites), tags: i % 10 === 0 ? ['canary'] : [], addresses: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`] });
  const tls = config.caPem ? { ca: config.caPem, cert: null, key: null } : null;
  const nats = await connect({ ...natsOptions({ nats: config.agentServers, tls }, `virtual hosts ${config.from}-${config.to}`), maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  const responders = new VirtualResponders(connection, config, identities);
  const hosts = identities.map((identity) => new FleetHost(nats, config.fleet, identity, 'bench', responders.responder(identity), config.heartbeatEveryMs));
  const aggregatorConnections = [];
  const aggregators: SiteAggregator[] = [];
  const log = pino({ level: 'silent' });
  for (const site of config.aggregatorSites) {
    const c = await connect({ ...natsOptions({ nats: config.aggregatorServers, tls }, `aggregator ${site}`), maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    aggregatorConnections.push(c);
    aggregators.push(
      await SiteAggregator.start(c, { fleet: config.fleet, site, id: `${site}-agg`, authority: loadKey(config.authorityPem, 'public', 'authority'), version: 'bench', log, presentForMs: config.presentForMs, registryWaitMs: 0 }),
    );
  }
  await nats.flush();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  for (const aggregator of aggregators) await aggregator.stop();
  for (const host of hosts) host.stop();
  for (const c of [nats, ...aggregatorConnections]) await c.close();
  connection.closeSync();
  instance.closeSync();
}

if (process.argv[1]?.endsWith('virtual-fleet.js') && process.argv[2]) {
  main(JSON.parse(process.argv[2]) as VirtualFleetConfig).catch((error: Error) => {
    process.stderr.write(`virtual fleet: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
}

/**
 * The `hosts` table of fleet queries: one row per agent heard in the registry's heartbeats, kept by
 * the coordinator (hosts do not answer for it: a host that is down still has its last row here,
 * which is what "who is on the fleet" needs). Queries that read `hosts` alone run on the coordinator;
 * `flows` queries name their host in the `host` column.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../store/index.js';
import type { Heartbeat } from './fleet-registry.js';

/** A heartbeat as the coordinator heard it. */
export interface HeardHeartbeat extends Heartbeat {
  /** The coordinator's clock when it arrived, ms since the epoch. */
  receivedAt: number;
}

/** Columns of `hosts`, documented in docs/fleet.md. */
export const HOSTS_COLUMNS = [
  ['id', 'VARCHAR'],
  ['site', 'VARCHAR'],
  ['tags', 'VARCHAR[]'],
  ['addresses', 'VARCHAR[]'],
  ['agent_version', 'VARCHAR'],
  // The host's clock minus the coordinator's, from the last heartbeat (includes its one-way delay).
  ['clock_offset_ms', 'DOUBLE'],
  ['last_heartbeat', 'TIMESTAMP'],
  // From the heartbeat's health and policy (NULL when it has none: an older agent, a test host).
  ['policy_version', 'INTEGER'],
  ['packets', 'DOUBLE'],
  ['dropped', 'DOUBLE'],
  ['flows_active', 'DOUBLE'],
  ['records_stored', 'DOUBLE'],
  ['store_bytes', 'DOUBLE'],
  ['cpu', 'DOUBLE'],
  ['rss_bytes', 'DOUBLE'],
  ['attributed_ratio', 'DOUBLE'],
  ['sampling', 'DOUBLE'],
] as const;

/** Creates the empty `hosts` table on the coordinator's connection. */
export async function defineHostsTable(connection: DuckDBConnection): Promise<void> {
  await connection.run(`CREATE OR REPLACE TABLE hosts (${HOSTS_COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ')})`);
}

/** Replaces the rows of `hosts` with these heartbeats. */
export async function fillHostsTable(connection: DuckDBConnection, heartbeats: readonly HeardHeartbeat[]): Promise<void> {
  await connection.run('DELETE FROM hosts');
  if (heartbeats.length === 0) return;
  const list = (items: readonly string[]): string => `[${items.map(sqlString).join(', ')}]::VARCHAR[]`;
  // Numbers from the wire: anything but a finite number is NULL.
  const number = (value: unknown): string => (typeof value === 'number' && Number.isFinite(value) ? String(value) : 'NULL');
  const values = heartbeats.map((h) => {
    const health = (typeof h.health === 'object' && h.health !== null ? h.health : {}) as Partial<Record<keyof NonNullable<Heartbeat['health']>, unknown>>;
    const healthValues = [health.packets, health.dropped, health.flowsActive, health.recordsStored, health.storeBytes, health.cpu, health.rssBytes, health.attributedRatio, health.sampling];
    return (
      `(${sqlString(h.id)}, ${h.site === null ? 'NULL' : sqlString(h.site)}, ${list(h.tags)}, ${list(h.addresses)}, ${sqlString(h.version)}, ` +
      `${h.sentAt - h.receivedAt}, make_timestamp(${Math.round(h.receivedAt) * 1000}), ` +
      `${Number.isInteger(h.policyVersion) ? h.policyVersion : 'NULL'}, ${healthValues.map(number).join(', ')})`
    );
  });
  await connection.run(`INSERT INTO hosts VALUES ${values.join(', ')}`);
}

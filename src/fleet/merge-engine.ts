/**
 * The in-memory DuckDB where a coordinator plans and merges, and a site aggregator merges: the empty
 * `flows` view and the query macros, then locked like a host's engine (no files, no network, no
 * extensions, configuration locked), since the SQL it runs came over the wire or from an operator.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { defineEmptyFlows } from '../query/index.js';
import { defineHostsTable } from './hosts-table.js';

export interface MergeEngine {
  connection: DuckDBConnection;
  close(): void;
}

export async function openMergeEngine(): Promise<MergeEngine> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  const close = (): void => {
    connection.closeSync();
    instance.closeSync();
  };
  try {
    await defineEmptyFlows(connection);
    await defineHostsTable(connection);
    await connection.run('SET enable_external_access = false');
    await connection.run('SET lock_configuration = true');
  } catch (error) {
    close();
    throw error;
  }
  return { connection, close };
}

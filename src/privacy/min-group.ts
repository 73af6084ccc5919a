/**
 * The privacy policy's minimum group size for fleet answers: an aggregate answer describes only
 * groups of at least k of this host's flows, and a row answer (single flows) is refused.
 *
 * The query is parsed by DuckDB (json_serialize_sql), `count(*) >= k` is added to its HAVING, and
 * it is turned back into SQL (json_deserialize_sql). So that `count(*)` counts flows, the query must
 * read `flows` directly: one SELECT over the flows table, no CTE, join, subquery or table function
 * in FROM, no UNION (those could multiply or pre-group rows). A query without aggregates cannot take
 * the HAVING: DuckDB's binder says so (checked on `connection`, whose `flows` may be empty) and the
 * query is refused.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../common/sql-string.js';

export class MinimumGroupRefused extends Error {
  override name = 'MinimumGroupRefused';
}

interface ParsedStatements {
  error: boolean;
  error_message?: string;
  statements: { node: Record<string, unknown> }[];
}

/** `sql` with every group smaller than `k` flows left out; throws MinimumGroupRefused when it cannot be. */
export async function withMinimumGroup(connection: DuckDBConnection, sql: string, k: number): Promise<string> {
  const parsed = await serialize(connection, sql);
  if (parsed.error) throw new MinimumGroupRefused(`the query does not parse: ${parsed.error_message ?? 'syntax error'}`);
  if (parsed.statements.length !== 1) throw new MinimumGroupRefused('one statement only');
  const node = parsed.statements[0].node;
  const why = `this host's privacy policy answers only aggregates over flows with groups of at least ${k} flows`;
  if (node.type !== 'SELECT_NODE') throw new MinimumGroupRefused(`${why}; a UNION or other set operation cannot be checked`);
  const ctes = (node.cte_map as { map?: unknown[] } | undefined)?.map ?? [];
  if (ctes.length > 0) throw new MinimumGroupRefused(`${why}; a WITH clause cannot be checked`);
  const from = node.from_table as { type?: string; table_name?: string; schema_name?: string; catalog_name?: string } | null;
  if (!from || from.type !== 'BASE_TABLE' || from.table_name?.toLowerCase() !== 'flows' || (from.schema_name ?? '') !== '' || (from.catalog_name ?? '') !== '') {
    throw new MinimumGroupRefused(`${why}; the query must read flows directly (no join, subquery or function in FROM)`);
  }
  const condition = await havingCondition(connection, k);
  node.having = node.having ? { class: 'CONJUNCTION', type: 'CONJUNCTION_AND', alias: '', children: [node.having, condition] } : condition;
  const reader = await connection.runAndReadAll(`SELECT json_deserialize_sql(${sqlString(JSON.stringify(parsed))})`);
  const rewritten = String(reader.getRows()[0][0]);
  try {
    await connection.runAndReadAll(`DESCRIBE ${rewritten}`);
  } catch (error) {
    const message = (error as Error).message;
    if (/GROUP BY|aggregate/i.test(message)) throw new MinimumGroupRefused(`${why}; this query returns single flows, not groups`);
    throw new MinimumGroupRefused(`the query does not bind: ${message.split('\n')[0]}`);
  }
  return rewritten;
}

async function serialize(connection: DuckDBConnection, sql: string): Promise<ParsedStatements> {
  const reader = await connection.runAndReadAll(`SELECT json_serialize_sql(${sqlString(sql)})`);
  return JSON.parse(String(reader.getRows()[0][0])) as ParsedStatements;
}

/** `count(*) >= k` as DuckDB's syntax tree, from DuckDB itself (so the shape follows its version). */
async function havingCondition(connection: DuckDBConnection, k: number): Promise<unknown> {
  const parsed = await serialize(connection, `SELECT 1 FROM flows HAVING count(*) >= ${Math.floor(k)}`);
  return parsed.statements[0].node.having;
}

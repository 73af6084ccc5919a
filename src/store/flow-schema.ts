/**
 * The stored flow columns: their Parquet/DuckDB types and the FlowRecordBatch column each comes from.
 * `community_id` is not stored: the query layer derives it (see query/sql-macros.ts).
 */
import type { NumberColumn, StringColumn } from '../flow/index.js';

export type StoredColumn =
  | { readonly name: string; readonly sqlType: string; readonly kind: 'number' | 'timestamp'; readonly source: NumberColumn }
  | { readonly name: string; readonly sqlType: 'VARCHAR'; readonly kind: 'string'; readonly source: StringColumn };

/** Columns in segment order. Changing this list changes the file format: bump STORE_FORMAT_VERSION. */
export const STORED_COLUMNS: readonly StoredColumn[] = [
  { name: 'host', sqlType: 'VARCHAR', kind: 'string', source: 'host' },
  { name: 'start_time', sqlType: 'TIMESTAMP', kind: 'timestamp', source: 'startUs' },
  { name: 'end_time', sqlType: 'TIMESTAMP', kind: 'timestamp', source: 'endUs' },
  { name: 'src_addr', sqlType: 'VARCHAR', kind: 'string', source: 'srcAddr' },
  { name: 'dst_addr', sqlType: 'VARCHAR', kind: 'string', source: 'dstAddr' },
  { name: 'src_port', sqlType: 'USMALLINT', kind: 'number', source: 'srcPort' },
  { name: 'dst_port', sqlType: 'USMALLINT', kind: 'number', source: 'dstPort' },
  { name: 'proto', sqlType: 'UTINYINT', kind: 'number', source: 'protocol' },
  { name: 'packets', sqlType: 'UBIGINT', kind: 'number', source: 'packets' },
  { name: 'bytes', sqlType: 'UBIGINT', kind: 'number', source: 'bytes' },
  { name: 'tcp_flags', sqlType: 'UTINYINT', kind: 'number', source: 'tcpFlags' },
  { name: 'direction', sqlType: 'VARCHAR', kind: 'string', source: 'direction' },
  { name: 'process', sqlType: 'VARCHAR', kind: 'string', source: 'process' },
  { name: 'pid', sqlType: 'INTEGER', kind: 'number', source: 'pid' },
  { name: 'username', sqlType: 'VARCHAR', kind: 'string', source: 'username' },
  { name: 'uid', sqlType: 'UINTEGER', kind: 'number', source: 'uid' },
  { name: 'container', sqlType: 'VARCHAR', kind: 'string', source: 'container' },
  { name: 'end_reason', sqlType: 'VARCHAR', kind: 'string', source: 'endReason' },
  { name: 'sampling', sqlType: 'UINTEGER', kind: 'number', source: 'sampling' },
  { name: 'interface', sqlType: 'VARCHAR', kind: 'string', source: 'interfaceName' },
  { name: 'source', sqlType: 'VARCHAR', kind: 'string', source: 'source' },
];

/** Version of the segment layout, written into the store's manifest. */
export const STORE_FORMAT_VERSION = 1;

/**
 * The stored flow columns: their Parquet/DuckDB types and how each is read from a FlowRecord.
 * `community_id` is not stored: the query layer derives it (see query/sql-macros.ts).
 */
import type { FlowRecord } from '../flow/index.js';

export interface StoredColumn {
  readonly name: string;
  /** DuckDB type of the column in the Parquet segment. */
  readonly sqlType: string;
  readonly kind: 'string' | 'number' | 'timestamp';
  readonly get: (record: FlowRecord) => string | number | null;
}

/** Columns in segment order. Changing this list changes the file format: bump STORE_FORMAT_VERSION. */
export const STORED_COLUMNS: readonly StoredColumn[] = [
  { name: 'host', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.host },
  { name: 'start_time', sqlType: 'TIMESTAMP', kind: 'timestamp', get: (r) => r.startUs },
  { name: 'end_time', sqlType: 'TIMESTAMP', kind: 'timestamp', get: (r) => r.endUs },
  { name: 'src_addr', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.srcAddr },
  { name: 'dst_addr', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.dstAddr },
  { name: 'src_port', sqlType: 'USMALLINT', kind: 'number', get: (r) => r.srcPort },
  { name: 'dst_port', sqlType: 'USMALLINT', kind: 'number', get: (r) => r.dstPort },
  { name: 'proto', sqlType: 'UTINYINT', kind: 'number', get: (r) => r.protocol },
  { name: 'packets', sqlType: 'UBIGINT', kind: 'number', get: (r) => r.packets },
  { name: 'bytes', sqlType: 'UBIGINT', kind: 'number', get: (r) => r.bytes },
  { name: 'tcp_flags', sqlType: 'UTINYINT', kind: 'number', get: (r) => r.tcpFlags },
  { name: 'direction', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.direction },
  { name: 'process', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.process },
  { name: 'pid', sqlType: 'INTEGER', kind: 'number', get: (r) => r.pid },
  { name: 'username', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.username },
  { name: 'uid', sqlType: 'UINTEGER', kind: 'number', get: (r) => r.uid },
  { name: 'container', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.container },
  { name: 'end_reason', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.endReason },
  { name: 'sampling', sqlType: 'UINTEGER', kind: 'number', get: (r) => r.sampling },
  { name: 'interface', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.interfaceName },
  { name: 'source', sqlType: 'VARCHAR', kind: 'string', get: (r) => r.source },
];

/** Version of the segment layout, written into the store's manifest. */
export const STORE_FORMAT_VERSION = 1;

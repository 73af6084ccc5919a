/**
 * The stored flow columns: their Parquet/DuckDB types and the FlowRecordBatch column each comes from.
 * Segments hold `duration_us` where the `flows` view shows `end_time` (= start_time + duration_us), and
 * no `community_id`: the query layer derives both (see query/query-engine.ts).
 */
import type { NumberColumn, StringColumn } from '../flow/index.js';

export type StoredColumn =
  | { readonly name: string; readonly sqlType: string; readonly kind: 'number' | 'timestamp'; readonly source: NumberColumn }
  /** end - start in µs: far smaller numbers than end times, so it compresses better (2.6 vs 3.7 B). */
  | { readonly name: string; readonly sqlType: 'UBIGINT'; readonly kind: 'duration'; readonly source: 'endUs' }
  | { readonly name: string; readonly sqlType: 'VARCHAR'; readonly kind: 'string'; readonly source: StringColumn }
  /** Text: IPv4 from the batch's number column `ipv4`, other addresses from the text code in `source`. */
  | { readonly name: string; readonly sqlType: 'VARCHAR'; readonly kind: 'address'; readonly source: 'srcAddr' | 'dstAddr'; readonly ipv4: 'srcIpv4' | 'dstIpv4' };

/** Columns in segment order. Changing this list changes the file format: bump STORE_FORMAT_VERSION. */
export const STORED_COLUMNS: readonly StoredColumn[] = [
  { name: 'host', sqlType: 'VARCHAR', kind: 'string', source: 'host' },
  { name: 'start_time', sqlType: 'TIMESTAMP', kind: 'timestamp', source: 'startUs' },
  { name: 'duration_us', sqlType: 'UBIGINT', kind: 'duration', source: 'endUs' },
  { name: 'src_addr', sqlType: 'VARCHAR', kind: 'address', source: 'srcAddr', ipv4: 'srcIpv4' },
  { name: 'dst_addr', sqlType: 'VARCHAR', kind: 'address', source: 'dstAddr', ipv4: 'dstIpv4' },
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
  { name: 'command', sqlType: 'VARCHAR', kind: 'string', source: 'command' },
  { name: 'tunnel', sqlType: 'VARCHAR', kind: 'string', source: 'tunnel' },
];

/** Version of the segment layout, written into the store's manifest. */
export const STORE_FORMAT_VERSION = 3;

/**
 * The local store: flow records as time-partitioned, zstd-compressed Parquet segments, written
 * crash-safely, with retention by age and a disk quota. Queries read the segments through DuckDB
 * (see ../query).
 */
export { FlowStore, MINUTE_SEGMENTS_COMPACTION, dayDirName, type FlowStoreOptions, type FlushResult, type CompactionResult } from './flow-store.js';
export { StoreError } from './store-error.js';
export { STORED_COLUMNS, STORE_FORMAT_VERSION } from './flow-schema.js';
export { listSegments, segmentListing, enforceRetention, type SegmentInfo, type RetentionResult } from './retention.js';
export { defaultDataDir } from './data-dir.js';
export { sqlString } from '../common/sql-string.js';

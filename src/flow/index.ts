/**
 * The flow module: turns decoded packets into unidirectional flow records (PRODUCT.md "The flow
 * record"): the flow table with idle/active timeouts, TCP completion and a hard cap, fragment
 * matching, and the Community ID.
 */
export { FlowMeter, type FlowMeterOptions, type FlowMeterStats, type LinkInterfaces, type DirectionOf, type FlowOwner, type OwnerOf } from './flow-meter.js';
export { FlowTable, FlowKey, BYTES_PER_FLOW, type FlowTableOptions, type TableEndReason } from './flow-table.js';
export { FragmentTable } from './fragment-table.js';
export { communityId } from './community-id.js';
export { Direction, EndReason, type FlowRecord } from './flow-record.js';
export { FlowRecordBatch, NUMBER_COLUMNS, STRING_COLUMNS, type NumberColumn, type StringColumn } from './flow-record-batch.js';
export { StringDictionary } from './string-dictionary.js';

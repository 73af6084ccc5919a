/**
 * The query module: read-only SQL over the local store (`flows` and `imports` views), with the
 * helpers in sql-macros.ts, time windows, and typed errors.
 */
export { QueryEngine, FLOW_COLUMNS, defineEmptyFlows, flowsViewOverRelation, formatTimestampUs, toCell, type CellValue, type QueryColumn, type QueryEngineOptions } from './query-engine.js';
export { QueryError } from './query-error.js';
export { windowSince, windowBetween, type TimeWindow } from './time-window.js';
export { SQL_MACROS } from './sql-macros.js';
export { compileFlowFilter, FilterError } from './flow-filter.js';

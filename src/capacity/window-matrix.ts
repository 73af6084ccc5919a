/**
 * The network view's traffic matrix (topo/flow-matrix.ts) restricted to some flows: the same SQL,
 * with a condition added to its WHERE, so that pairs are counted exactly as `topo links --flows`
 * counts them (a flow both ends saw counts once). The fleet refuses subqueries, so the condition
 * goes into the statement itself.
 */
import { matrixSql } from '../topo/flow-matrix.js';

/** matrixSql(periodS) keeping only the flows for which `condition` holds. */
export function matrixSqlWhere(periodS: number | null, condition: string): string {
  const sql = matrixSql(periodS);
  const at = sql.lastIndexOf(' GROUP BY ALL');
  // matrixSql ends with "WHERE … GROUP BY ALL"; if that ever changes, fail loudly rather than drop the condition.
  if (at < 0 || !sql.includes(' WHERE ')) throw new Error('matrixSql no longer ends with WHERE … GROUP BY ALL; matrixSqlWhere needs updating');
  return `${sql.slice(0, at)} AND (${condition})${sql.slice(at)}`;
}

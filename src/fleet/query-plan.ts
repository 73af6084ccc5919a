/**
 * Splits a fleet query into the part every host runs on its own flows and the part the coordinator
 * runs on the merged answers (issue 4, "the coordinator splits each query").
 *
 * The query is parsed by DuckDB itself (json_serialize_sql), so the split sees exactly the syntax tree
 * the engine would run, and each piece is turned back into SQL by DuckDB (json_deserialize_sql).
 *
 * Aggregate queries (aggregates or GROUP BY): each host groups by the query's group expressions
 * (g0, g1, …) and computes a mergeable state per aggregate (p0, p1, …): counts and sums to add up,
 * minima and maxima, a sum and a count for avg, a HyperLogLog state for count(DISTINCT …), a
 * log-bucket histogram for quantiles (sketches.ts). The coordinator merges the states per group
 * into final values (a0, a1, …) in a table `merged`, then runs the outer query on it: the select
 * list with aggregates and group expressions replaced by those columns, HAVING as WHERE, ORDER BY,
 * LIMIT. Exact for count, sum, min, max, avg, count_if, bool_and/or; approximate, with the error
 * stated, for count(DISTINCT …) and quantiles. Top-k is GROUP BY … ORDER BY … LIMIT k: every host
 * sends all its groups, so the top k are exact.
 *
 * Row queries (no aggregate): each host runs the query with its ORDER BY and LIMIT (LIMIT + OFFSET);
 * the coordinator unions the rows in a table `rows` and applies ORDER BY, OFFSET and LIMIT again.
 *
 * Instead of `flows`, a query may read a table macro over flows that every host defines
 * (FLOW_TABLE_MACRO_NAMES: app_anomalies): each host runs the macro on its own flows.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { FLOW_TABLE_MACRO_NAMES } from '../anomaly/anomaly-sql.js';
import { hllStateSql, HLL_RELATIVE_ERROR, quantileStateSql, QUANTILE_RELATIVE_ERROR } from './sketches.js';

/** A fleet query that cannot be split, with the reason for the operator. */
export class FleetQueryError extends Error {
  override name = 'FleetQueryError';
}

/** How the coordinator merges one aggregate's per-host state(s) into its final value. */
export type MergeRule =
  | { kind: 'sum' | 'min' | 'max' | 'bool_and' | 'bool_or'; state: string }
  /** Counts: added up, BIGINT like count(). */
  | { kind: 'count'; state: string }
  | { kind: 'avg'; sum: string; count: string }
  | { kind: 'distinct'; state: string }
  | { kind: 'quantile'; state: string; q: number };

export interface AggregatePlan {
  kind: 'aggregate';
  /** Runs on every host over its `flows`; columns g0… then the states. */
  hostSql: string;
  hostColumns: { name: string; type: string }[];
  groupColumns: string[];
  /** One per distinct aggregate of the query, in order: final column a{i}. */
  aggregates: MergeRule[];
  /** Runs on the coordinator over `merged` (g0…, a0…). */
  outerSql: string;
  /** The answer's columns, as the query on one store would name them. */
  columns: { name: string; type: string }[];
  /** What is approximate in the answer, and how much. */
  approximations: string[];
}

export interface RowsPlan {
  kind: 'rows';
  hostSql: string;
  hostColumns: { name: string; type: string }[];
  /** Runs on the coordinator over `rows` (the hosts' rows unioned). */
  outerSql: string;
  /**
   * Runs on a site aggregator over `rows` (its hosts' rows unioned): the rows of the host columns
   * that the final ORDER BY, OFFSET and LIMIT can still pick, so that the site's answer stays small.
   */
  partialSql: string;
  columns: { name: string; type: string }[];
  approximations: string[];
}

/** A query over `hosts` alone: the coordinator answers it from its registry. */
export interface RegistryPlan {
  kind: 'registry';
  sql: string;
  columns: { name: string; type: string }[];
}

export type FleetPlan = AggregatePlan | RowsPlan | RegistryPlan;

/** Rows a row query returns without a LIMIT of its own: it gets this one (and says so). */
export const DEFAULT_ROW_LIMIT = 10_000;

type Node = { [key: string]: unknown };

const SUM_LIKE = new Set(['sum', 'fsum', 'kahan_sum', 'sumkahan', 'sum_no_overflow']);
const QUANTILES = new Set(['quantile', 'quantile_cont', 'quantile_disc', 'median', 'approx_quantile', 'reservoir_quantile']);

/**
 * Plans `sql` for the fleet. `connection` holds the coordinator's empty `flows` view (defineEmptyFlows),
 * against which the query is also bound once: a query that does not run on one store is refused
 * here, with the engine's message.
 */
export async function planFleetQuery(connection: DuckDBConnection, sql: string): Promise<FleetPlan> {
  const syntax = new Syntax(connection);
  const select = await syntax.parseSelect(sql);
  const columns = await syntax.describe(sql);
  const aggregateNames = await syntax.aggregateFunctionNames();
  const from = select.from_table as Node | null;
  if (from && from.type === 'BASE_TABLE' && from.table_name === 'hosts' && from.schema_name === '' && from.catalog_name === '') {
    return { kind: 'registry', sql, columns };
  }
  const isFlows = from?.type === 'BASE_TABLE' && from.table_name === 'flows' && from.schema_name === '' && from.catalog_name === '';
  // A table macro over flows that every host defines (app_anomalies): each host runs it on its own flows.
  const macro = from?.type === 'TABLE_FUNCTION' ? (from.function as Node) : null;
  const isFlowMacro = macro !== null && FLOW_TABLE_MACRO_NAMES.includes(String(macro.function_name)) && macro.schema === '' && macro.catalog === '';
  if (!from || !(isFlows || isFlowMacro)) {
    throw new FleetQueryError('Cannot split the query: a fleet query reads one table, flows or hosts (no join, subquery or other source)');
  }
  const fromSql = isFlowMacro
    ? `${String(macro.function_name)}(${(await Promise.all((macro.children as Node[]).map((c) => syntax.expressionSql(c)))).join(', ')})${from.alias ? ` AS ${quoteIdentifier(String(from.alias))}` : ''}`
    : 'flows';
  if ((select.cte_map as { map: unknown[] }).map.length > 0) throw new FleetQueryError('Cannot split the query: WITH is not supported in fleet queries');
  if (select.qualify || select.sample || from.sample) throw new FleetQueryError('Cannot split the query: QUALIFY and SAMPLE are not supported in fleet queries');
  forEachNode(select, (node) => {
    if (node.class === 'SUBQUERY') throw new FleetQueryError('Cannot split the query: subqueries are not supported in fleet queries');
    if (node.class === 'WINDOW') throw new FleetQueryError('Cannot split the query: window functions (OVER) are not supported in fleet queries');
  });
  if (columns.map((c) => c.name).some((name, i, all) => all.indexOf(name) !== i)) {
    throw new FleetQueryError('Cannot split the query: two result columns have the same name; give them different aliases (AS …)');
  }
  const selectList = select.select_list as Node[];
  const isAggregate = (node: Node): boolean => node.class === 'FUNCTION' && aggregateNames.has(String(node.function_name));
  const hasAggregate = [...selectList, select.having as Node | null].some((n) => n !== null && containsNode(n, isAggregate));
  const grouped = (select.group_expressions as Node[]).length > 0 || select.aggregate_handling === 'FORCE_AGGREGATES';
  if (hasAggregate || grouped) return planAggregate(syntax, select, columns, isAggregate, fromSql);
  return planRows(syntax, select, columns, fromSql);
}

async function planAggregate(syntax: Syntax, select: Node, columns: { name: string; type: string }[], isAggregate: (n: Node) => boolean, fromSql: string): Promise<AggregatePlan> {
  const selectList = select.select_list as Node[];
  const groupSets = select.group_sets as number[][];
  const groupExpressions = resolveGroups(select, isAggregate);
  if (groupSets.length > 1 || (groupSets.length === 1 && groupSets[0].length !== groupExpressions.length)) {
    throw new FleetQueryError('Cannot split the query: GROUPING SETS, ROLLUP and CUBE are not supported in fleet queries');
  }
  const where = select.where_clause as Node | null;
  const whereSql = where ? await syntax.expressionSql(where) : null;

  // The aggregates, each once (the same aggregate in the select list and ORDER BY is computed once).
  const aggregates: Node[] = [];
  const aggregateIndex = (node: Node): number => {
    const key = shape(node);
    let i = aggregates.findIndex((a) => shape(a) === key);
    if (i < 0) i = aggregates.push(node) - 1;
    return i;
  };
  const modifiers = select.modifiers as Node[];
  const orders = (modifiers.find((m) => m.type === 'ORDER_MODIFIER')?.orders as Node[] | undefined) ?? [];
  const groupShapes = groupExpressions.map(shape);
  const rewrite = (node: Node): Node => {
    const g = groupShapes.indexOf(shape(node));
    if (g >= 0) return columnRef(`g${g}`, String(node.alias ?? ''));
    if (isAggregate(node)) return columnRef(`a${aggregateIndex(node)}`, String(node.alias ?? ''));
    return mapChildren(node, rewrite);
  };
  const outerSelect = selectList.map((item, i) => ({ ...rewrite(item), alias: columns[i].name }));
  const outerHaving = select.having ? rewrite(select.having as Node) : null;
  const outerOrders = orders.map((o) => ({ ...o, expression: rewrite(o.expression as Node) }));

  const hostColumns: string[] = [];
  for (let i = 0; i < groupExpressions.length; i++) hostColumns.push(`${await syntax.expressionSql(withoutAlias(groupExpressions[i]))} AS g${i}`);
  const rules: MergeRule[] = [];
  const approximations: string[] = [];
  for (let i = 0; i < aggregates.length; i++) {
    const { rule, states, approximation } = await mergeRuleOf(syntax, aggregates[i], i);
    rules.push(rule);
    hostColumns.push(...states);
    if (approximation) approximations.push(approximation);
  }
  const groupBy = groupExpressions.length > 0 ? ` GROUP BY ${groupExpressions.map((_, i) => `g${i}`).join(', ')}` : '';
  const hostSql = `SELECT ${hostColumns.join(', ')} FROM ${fromSql}${whereSql ? ` WHERE ${whereSql}` : ''}${groupBy}`;

  const outer: string[] = [];
  const distinct = modifiers.some((m) => m.type === 'DISTINCT_MODIFIER') ? 'DISTINCT ' : '';
  outer.push(`SELECT ${distinct}${(await Promise.all(outerSelect.map((item) => syntax.expressionSql(item, true)))).join(', ')} FROM merged`);
  if (outerHaving) outer.push(`WHERE ${await syntax.expressionSql(outerHaving)}`);
  outer.push(...(await modifiersSql(syntax, modifiers, outerOrders)));
  return {
    kind: 'aggregate',
    hostSql,
    hostColumns: await syntax.describe(hostSql),
    groupColumns: groupExpressions.map((_, i) => `g${i}`),
    aggregates: rules,
    outerSql: outer.join(' '),
    columns,
    approximations,
  };
}

async function planRows(syntax: Syntax, select: Node, columns: { name: string; type: string }[], fromSql: string): Promise<RowsPlan> {
  const selectList = select.select_list as Node[];
  const modifiers = select.modifiers as Node[];
  const distinct = modifiers.some((m) => m.type === 'DISTINCT_MODIFIER');
  if (distinct && (modifiers.find((m) => m.type === 'DISTINCT_MODIFIER')!.distinct_on_targets as unknown[]).length > 0) {
    throw new FleetQueryError('Cannot split the query: DISTINCT ON is not supported in fleet queries');
  }
  const orders = (modifiers.find((m) => m.type === 'ORDER_MODIFIER')?.orders as Node[] | undefined) ?? [];
  const limitModifier = modifiers.find((m) => m.type === 'LIMIT_MODIFIER');
  const limit = limitModifier?.limit ? await syntax.constantNumber(limitModifier.limit as Node, 'LIMIT') : null;
  const offset = limitModifier?.offset ? await syntax.constantNumber(limitModifier.offset as Node, 'OFFSET') : 0;
  const approximations: string[] = [];
  const effectiveLimit = limit ?? DEFAULT_ROW_LIMIT;
  if (limit === null) approximations.push(`no LIMIT given: at most ${DEFAULT_ROW_LIMIT.toLocaleString('en-US')} rows`);

  // Each result column under its final name; ORDER BY expressions that are not result columns
  // travel as hidden columns o0, o1, … (not with DISTINCT, where SQL requires them in the select list).
  const itemShapes = selectList.map((item) => shape(item));
  const hostItems: string[] = [];
  for (let i = 0; i < selectList.length; i++) hostItems.push(`${await syntax.expressionSql(withoutAlias(selectList[i]))} AS ${quoteIdentifier(columns[i].name)}`);
  const outerOrders: string[] = [];
  const hostOrders: string[] = [];
  for (let i = 0; i < orders.length; i++) {
    const expression = orders[i].expression as Node;
    const direction = orderDirectionSql(orders[i]);
    const hostExpression = await syntax.expressionSql(expression);
    hostOrders.push(`${hostExpression}${direction}`);
    const asItem = itemShapes.indexOf(shape(expression));
    const alias = expression.class === 'COLUMN_REF' ? columns.findIndex((c) => c.name === (expression.column_names as string[]).at(-1)) : -1;
    if (asItem >= 0 || alias >= 0) {
      outerOrders.push(`${quoteIdentifier(columns[asItem >= 0 ? asItem : alias].name)}${direction}`);
    } else if (distinct) {
      throw new FleetQueryError('Cannot split the query: with DISTINCT, ORDER BY must name result columns');
    } else {
      hostItems.push(`${hostExpression} AS o${i}`);
      outerOrders.push(`o${i}${direction}`);
    }
  }
  const where = select.where_clause as Node | null;
  const host = [`SELECT ${distinct ? 'DISTINCT ' : ''}${hostItems.join(', ')} FROM ${fromSql}`];
  if (where) host.push(`WHERE ${await syntax.expressionSql(where)}`);
  if (hostOrders.length > 0) host.push(`ORDER BY ${hostOrders.join(', ')}`);
  host.push(`LIMIT ${effectiveLimit + offset}`);
  const outer = [`SELECT ${distinct ? 'DISTINCT ' : ''}${columns.map((c) => quoteIdentifier(c.name)).join(', ')} FROM rows`];
  if (outerOrders.length > 0) outer.push(`ORDER BY ${outerOrders.join(', ')}`);
  outer.push(`LIMIT ${effectiveLimit}${offset > 0 ? ` OFFSET ${offset}` : ''}`);
  const hostSql = host.join(' ');
  const hostColumns = await syntax.describe(hostSql);
  const partial = [`SELECT ${distinct ? 'DISTINCT ' : ''}${hostColumns.map((c) => quoteIdentifier(c.name)).join(', ')} FROM rows`];
  if (outerOrders.length > 0) partial.push(`ORDER BY ${outerOrders.join(', ')}`);
  partial.push(`LIMIT ${effectiveLimit + offset}`);
  return { kind: 'rows', hostSql, hostColumns, outerSql: outer.join(' '), partialSql: partial.join(' '), columns, approximations };
}

/** The states a host computes for aggregate number `i`, and how the coordinator merges them. */
async function mergeRuleOf(syntax: Syntax, node: Node, i: number): Promise<{ rule: MergeRule; states: string[]; approximation: string | null }> {
  const name = String(node.function_name);
  const children = node.children as Node[];
  const filter = node.filter ? await syntax.expressionSql(node.filter as Node) : null;
  const text = await syntax.expressionSql(withoutAlias(node));
  const filtered = (call: string): string => (filter ? `${call} FILTER (WHERE ${filter})` : call);
  const argument = children.length > 0 ? await syntax.expressionSql(children[0]) : null;
  if ((node.order_bys as { orders: unknown[] }).orders.length > 0) throw unsupported(text, 'an ORDER BY inside an aggregate');
  const distinct = node.distinct === true;
  if (name === 'count' && distinct || name === 'approx_count_distinct') {
    return {
      rule: { kind: 'distinct', state: `p${i}` },
      states: [`${hllStateSql(argument!, filter)} AS p${i}`],
      approximation: `${text}: HyperLogLog, standard error ${(100 * HLL_RELATIVE_ERROR).toFixed(1)}%`,
    };
  }
  if (distinct && !['min', 'max'].includes(name)) throw unsupported(text, 'DISTINCT in this aggregate');
  if (name === 'count_star' || name === 'count' || name === 'count_if' || name === 'countif') {
    const call = name === 'count_star' ? 'count(*)' : `${name === 'count' ? 'count' : 'count_if'}(${argument})`;
    return { rule: { kind: 'count', state: `p${i}` }, states: [`${filtered(call)} AS p${i}`], approximation: null };
  }
  if (SUM_LIKE.has(name) || ['min', 'max', 'bool_and', 'bool_or'].includes(name)) {
    const kind = SUM_LIKE.has(name) ? 'sum' : (name as 'min' | 'max' | 'bool_and' | 'bool_or');
    return { rule: { kind, state: `p${i}` }, states: [`${filtered(`${kind}(${argument})`)} AS p${i}`], approximation: null };
  }
  if (name === 'avg' || name === 'mean' || name === 'favg') {
    return {
      rule: { kind: 'avg', sum: `p${i}_sum`, count: `p${i}_count` },
      states: [`${filtered(`sum(${argument})`)} AS p${i}_sum`, `${filtered(`count(${argument})`)} AS p${i}_count`],
      approximation: null,
    };
  }
  if (QUANTILES.has(name)) {
    const fraction = children[1];
    const q = name === 'median' ? 0.5 : children.length === 2 && fraction.class === 'CONSTANT' ? await syntax.constantNumber(fraction, `the fraction of ${text}`) : NaN;
    if (!(q >= 0 && q <= 1)) throw unsupported(text, 'a quantile other than one constant fraction from 0 to 1');
    return {
      rule: { kind: 'quantile', state: `p${i}`, q },
      states: [`${quantileStateSql(argument!, filter)} AS p${i}`],
      approximation: `${text}: log-bucket sketch, within ${100 * QUANTILE_RELATIVE_ERROR}% of a true value`,
    };
  }
  throw unsupported(text, `the aggregate ${name}`);
}

function unsupported(text: string, what: string): FleetQueryError {
  return new FleetQueryError(
    `Cannot split the query: ${text} uses ${what}, which cannot be merged across hosts; fleet queries support count, count(DISTINCT …), ` +
      'sum, min, max, avg, count_if, bool_and, bool_or, median and quantile(x, fraction)',
  );
}

/** The group expressions, with GROUP BY 1 and GROUP BY alias resolved to select items, and GROUP BY ALL expanded. */
function resolveGroups(select: Node, isAggregate: (n: Node) => boolean): Node[] {
  const selectList = select.select_list as Node[];
  const explicit = select.group_expressions as Node[];
  if (explicit.length === 0 && select.aggregate_handling === 'FORCE_AGGREGATES') {
    return selectList.filter((item) => !containsNode(item, isAggregate)).map(withoutAlias);
  }
  return explicit.map((g) => {
    const value = (g.value as { value?: unknown; type?: { id?: string } } | undefined) ?? {};
    if (g.class === 'CONSTANT' && typeof value.value === 'number' && /INT/.test(value.type?.id ?? '')) {
      const item = selectList[value.value - 1];
      if (!item) throw new FleetQueryError(`Cannot split the query: GROUP BY ${value.value} names no select item`);
      return withoutAlias(item);
    }
    if (g.class === 'COLUMN_REF' && (g.column_names as string[]).length === 1) {
      const aliased = selectList.find((item) => item.alias === (g.column_names as string[])[0]);
      if (aliased) return withoutAlias(aliased);
    }
    return g;
  });
}

async function modifiersSql(syntax: Syntax, modifiers: Node[], orders: Node[]): Promise<string[]> {
  const out: string[] = [];
  if (orders.length > 0) {
    const parts = await Promise.all(orders.map(async (o) => `${await syntax.expressionSql(o.expression as Node)}${orderDirectionSql(o)}`));
    out.push(`ORDER BY ${parts.join(', ')}`);
  }
  const limit = modifiers.find((m) => m.type === 'LIMIT_MODIFIER');
  if (limit?.limit) out.push(`LIMIT ${await syntax.constantNumber(limit.limit as Node, 'LIMIT')}`);
  if (limit?.offset) out.push(`OFFSET ${await syntax.constantNumber(limit.offset as Node, 'OFFSET')}`);
  return out;
}

function orderDirectionSql(order: Node): string {
  const direction = order.type === 'DESCENDING' ? ' DESC' : order.type === 'ASCENDING' ? ' ASC' : '';
  const nullOrder = String(order.null_order).replace('_', ' '); // "NULLS FIRST" (older versions: NULLS_FIRST)
  const nulls = nullOrder === 'NULLS FIRST' ? ' NULLS FIRST' : nullOrder === 'NULLS LAST' ? ' NULLS LAST' : '';
  return direction + nulls;
}

/** An identifier in double quotes, quotes doubled (DuckDB). */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function columnRef(name: string, alias: string): Node {
  return { class: 'COLUMN_REF', type: 'COLUMN_REF', alias, column_names: [name] };
}

function withoutAlias(node: Node): Node {
  return { ...node, alias: '' };
}

/** A node's structure without aliases and source positions: equal shapes are the same expression. */
function shape(node: Node): string {
  return JSON.stringify(node, (key, value) => (key === 'alias' || key === 'query_location' ? undefined : value));
}

const isNode = (value: unknown): value is Node => value !== null && typeof value === 'object' && !Array.isArray(value) && 'class' in value;

/** A copy of `node` with every child expression passed through `f`. */
function mapChildren(node: Node, f: (child: Node) => Node): Node {
  const out: Node = {};
  for (const [key, value] of Object.entries(node)) {
    if (isNode(value)) out[key] = f(value);
    else if (Array.isArray(value)) out[key] = value.map((v) => (isNode(v) ? f(v) : mapObject(v, f)));
    else out[key] = mapObject(value, f);
  }
  return out;
}

/** Maps expressions nested in plain objects (CASE checks, ORDER BY lists inside functions). */
function mapObject(value: unknown, f: (child: Node) => Node): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => (isNode(v) ? f(v) : mapObject(v, f)));
  const out: Node = {};
  for (const [key, v] of Object.entries(value)) out[key] = isNode(v) ? f(v) : mapObject(v, f);
  return out;
}

function containsNode(node: Node, test: (n: Node) => boolean): boolean {
  let found = false;
  forEachNode(node, (n) => {
    if (test(n)) found = true;
  });
  return found;
}

function forEachNode(value: unknown, visit: (n: Node) => void): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const v of value) forEachNode(v, visit);
    return;
  }
  if (isNode(value)) visit(value);
  for (const v of Object.values(value)) forEachNode(v, visit);
}

/** DuckDB's parser and serializer on the coordinator's connection. */
class Syntax {
  private static aggregates: Set<string> | null = null;

  constructor(private readonly connection: DuckDBConnection) {}

  /** The one SELECT of `sql`, as DuckDB parses it; FleetQueryError with the parser's message otherwise. */
  async parseSelect(sql: string): Promise<Node> {
    const reader = await this.connection.runAndReadAll(`SELECT json_serialize_sql(${literal(sql)})`);
    // DuckDB marks a node without a place in the text (the comparisons of a CASE … WHEN, for one) with
    // query_location 2^64 − 1, which a JavaScript number cannot hold: it would come back as a larger
    // number the deserializer refuses. Such a location carries nothing, so it is dropped here.
    const text = String(reader.getRows()[0][0]).replace(/"query_location":\s*18446744073709551615\b/g, '"query_location":0');
    const parsed = JSON.parse(text) as { error: boolean; error_message?: string; statements?: { node: Node }[] };
    if (parsed.error) throw new FleetQueryError(`Cannot run the query: ${parsed.error_message ?? 'it does not parse'}`);
    if (parsed.statements?.length !== 1) throw new FleetQueryError(`Cannot run the query: expected exactly one SELECT, found ${parsed.statements?.length ?? 0} statements`);
    const node = parsed.statements[0].node;
    if (node.type !== 'SELECT_NODE') throw new FleetQueryError('Cannot split the query: a fleet query is one SELECT … FROM flows (no UNION, VALUES or PIVOT)');
    return node;
  }

  /** The result columns of `sql` bound against the empty flows view; the engine's message when it does not bind. */
  async describe(sql: string): Promise<{ name: string; type: string }[]> {
    try {
      const prepared = await this.connection.prepare(sql);
      return Array.from({ length: prepared.columnCount }, (_, i) => ({ name: prepared.columnName(i), type: prepared.columnType(i).toString() }));
    } catch (error) {
      throw new FleetQueryError(`Cannot run the query: ${(error as Error).message.trim()}`);
    }
  }

  async aggregateFunctionNames(): Promise<Set<string>> {
    if (Syntax.aggregates) return Syntax.aggregates;
    const reader = await this.connection.runAndReadAll(`SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'aggregate'`);
    Syntax.aggregates = new Set(reader.getRows().map((row) => String(row[0])));
    return Syntax.aggregates;
  }

  /** One expression as SQL text (with its alias when `withAlias`). */
  async expressionSql(node: Node, withAlias = false): Promise<string> {
    const expression = withAlias ? node : withoutAlias(node);
    const statement = {
      error: false,
      statements: [{ node: { type: 'SELECT_NODE', modifiers: [], cte_map: { map: [] }, select_list: [expression], from_table: { type: 'EMPTY', alias: '', sample: null }, where_clause: null, group_expressions: [], group_sets: [], aggregate_handling: 'STANDARD_HANDLING', having: null, sample: null, qualify: null } }],
    };
    const reader = await this.connection.runAndReadAll(`SELECT json_deserialize_sql(json(${literal(JSON.stringify(statement))}))`);
    const text = String(reader.getRows()[0][0]);
    if (!text.startsWith('SELECT ')) throw new FleetQueryError(`Cannot split the query: an expression did not serialize (${text.slice(0, 80)})`);
    return text.slice('SELECT '.length);
  }

  /** A constant expression's number (LIMIT 10, the 0.9 of quantile(x, 0.9)). */
  async constantNumber(node: Node, what: string): Promise<number> {
    if (node.class !== 'CONSTANT') throw new FleetQueryError(`Cannot split the query: ${what} must be a constant number`);
    const reader = await this.connection.runAndReadAll(`SELECT CAST(${await this.expressionSql(node)} AS DOUBLE)`);
    const value = Number(reader.getRows()[0][0]);
    if (!Number.isFinite(value)) throw new FleetQueryError(`Cannot split the query: ${what} must be a constant number`);
    return value;
  }
}

/** A string literal for DuckDB. */
function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

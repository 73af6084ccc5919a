/**
 * The coordinator's half of a fleet query (query-plan.ts): the hosts' partial answers merged into the
 * answer the query would give on one store holding everything.
 *
 * Aggregate plans: partial rows are grouped by their group columns (g0…) and each aggregate's states
 * merged here (integers as BigInt, so sums stay exact past 2^53); the merged rows go into a table
 * `merged` with the final columns' types and the plan's outer query runs on it in DuckDB, so HAVING,
 * ORDER BY, LIMIT and any expression over aggregates mean exactly what they mean on one store.
 * Row plans: the rows are unioned into a table `rows` and the outer query orders and limits them.
 *
 * A site aggregator merges its hosts' answers the same way but stops one step short
 * (combinePartials): it sends the merged states, in the hosts' own columns, so that the coordinator
 * merges site answers exactly as it would merge host answers. The signed envelope carries what it
 * needs for that (MergeSpec), so an aggregator never plans a query.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { toCell, type CellValue, type QueryColumn } from '../query/index.js';
import { quoteIdentifier, type AggregatePlan, type MergeRule, type RowsPlan } from './query-plan.js';
import { HyperLogLog, QuantileSketch } from './sketches.js';

/** One host's answer to a plan's host query. */
export interface PartialAnswer {
  columns: QueryColumn[];
  rows: CellValue[][];
}

export interface MergedAnswer {
  columns: QueryColumn[];
  rows: CellValue[][];
}

const INTEGER_TYPES = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;

type Accumulator = {
  add(value: CellValue): void;
  result(): CellValue | bigint;
  /** The merged state, as a host would send it: one cell, or two for avg (sum, count). */
  state(): CellValue[];
};

/** What a site aggregator needs to merge its hosts' answers into one answer of the same shape. */
export type MergeSpec =
  | { kind: 'aggregate'; hostColumns: QueryColumn[]; groupColumns: string[]; aggregates: MergeRule[] }
  | { kind: 'rows'; hostColumns: QueryColumn[]; partialSql: string };

export function mergeSpecOf(plan: AggregatePlan | RowsPlan): MergeSpec {
  return plan.kind === 'aggregate'
    ? { kind: 'aggregate', hostColumns: plan.hostColumns, groupColumns: plan.groupColumns, aggregates: plan.aggregates }
    : { kind: 'rows', hostColumns: plan.hostColumns, partialSql: plan.partialSql };
}

/**
 * Why a host's answer cannot be merged (it lacks a column of the host query, or its rows are not
 * lists of that many cells), or null. Checked before merging, so that one bad answer fails its host
 * and not the whole merge. Remembered per answer: partial results check the same answers again and
 * again as more arrive.
 */
export function answerProblem(hostColumns: readonly QueryColumn[], answer: PartialAnswer): string | null {
  const held = checked.get(answer);
  if (held && held.hostColumns === hostColumns) return held.problem;
  const problem = findAnswerProblem(hostColumns, answer);
  checked.set(answer, { hostColumns, problem });
  return problem;
}

const checked = new WeakMap<PartialAnswer, { hostColumns: readonly QueryColumn[]; problem: string | null }>();

function findAnswerProblem(hostColumns: readonly QueryColumn[], answer: PartialAnswer): string | null {
  if (!Array.isArray(answer.columns) || !Array.isArray(answer.rows)) return 'bad_answer: no columns or rows';
  const names = new Set(answer.columns.map((c) => c?.name));
  const lacking = hostColumns.find((c) => !names.has(c.name));
  if (lacking) return `bad_answer: lacks the column ${lacking.name}`;
  if (answer.rows.some((row) => !Array.isArray(row) || row.length !== answer.columns.length)) return 'bad_answer: a row does not have one cell per column';
  return null;
}

/** Whether a value (from a signed envelope, still from the wire) has a MergeSpec's shape. */
export function isMergeSpec(value: unknown): value is MergeSpec {
  const spec = value as Partial<Record<string, unknown>> | null;
  const names = (list: unknown): boolean => Array.isArray(list) && list.every((item) => typeof item === 'string');
  const columns = Array.isArray(spec?.hostColumns) && (spec.hostColumns as unknown[]).every((c) => typeof (c as QueryColumn)?.name === 'string' && typeof (c as QueryColumn)?.type === 'string');
  if (spec === null || typeof spec !== 'object' || !columns) return false;
  if (spec.kind === 'rows') return typeof spec.partialSql === 'string';
  const kinds = new Set(['sum', 'min', 'max', 'bool_and', 'bool_or', 'count', 'avg', 'distinct', 'quantile']);
  const rules = Array.isArray(spec.aggregates) && (spec.aggregates as Partial<Record<string, unknown>>[]).every((r) =>
    r !== null && typeof r === 'object' && kinds.has(String(r.kind)) &&
    (r.kind === 'avg' ? typeof r.sum === 'string' && typeof r.count === 'string' : typeof r.state === 'string') &&
    (r.kind !== 'quantile' || typeof r.q === 'number'));
  return spec.kind === 'aggregate' && names(spec.groupColumns) && rules;
}

/**
 * A site aggregator's merge: its hosts' answers as one answer in the hosts' columns (states merged
 * per group, or rows unioned and cut by `spec.partialSql` on `connection`).
 */
export async function combinePartials(connection: DuckDBConnection, spec: MergeSpec, partials: readonly PartialAnswer[]): Promise<PartialAnswer> {
  if (spec.kind === 'rows') {
    const { columns, rows } = unionRows(spec, partials);
    await loadTable(connection, 'rows', columns, rows);
    const reader = await connection.runAndReadAll(spec.partialSql);
    return { columns: spec.hostColumns, rows: reader.getRows().map((row) => row.map(toCell)) };
  }
  const groups = mergeGroupStates(spec, partials);
  const position = new Map(spec.hostColumns.map((c, i) => [c.name, i]));
  const rows = groups.map(({ keys, accumulators }) => {
    const row: CellValue[] = new Array<CellValue>(spec.hostColumns.length).fill(null);
    spec.groupColumns.forEach((name, i) => (row[position.get(name)!] = keys[i]));
    spec.aggregates.forEach((rule, a) => {
      const names = rule.kind === 'avg' ? [rule.sum, rule.count] : [rule.state];
      accumulators[a].state().forEach((cell, i) => (row[position.get(names[i])!] = cell));
    });
    return row;
  });
  return { columns: spec.hostColumns, rows };
}

/** Merges the partial answers and runs the plan's outer query on `connection` (temporary tables). */
export async function mergeAnswers(connection: DuckDBConnection, plan: AggregatePlan | RowsPlan, partials: readonly PartialAnswer[]): Promise<MergedAnswer> {
  const table = plan.kind === 'aggregate' ? 'merged' : 'rows';
  const { columns, rows } = plan.kind === 'aggregate' ? mergeGroups(plan, partials) : unionRows(plan, partials);
  await loadTable(connection, table, columns, rows);
  const reader = await connection.runAndReadAll(plan.outerSql);
  return {
    columns: reader.columnNames().map((name, i) => ({ name, type: reader.columnType(i).toString() })),
    rows: reader.getRows().map((row) => row.map(toCell)),
  };
}

/** Column types as DuckDB names them (BIGINT, VARCHAR[], DECIMAL(18,3), MAP(INTEGER, BIGINT)…): no quote, no ; and no comment. */
const COLUMN_TYPE = /^[A-Za-z0-9_ (),[\]]{1,200}$/;

/** (Re)creates the temporary table `table` holding `rows`. Column types come from answers: checked. */
export async function loadTable(connection: DuckDBConnection, table: string, columns: readonly QueryColumn[], rows: readonly (CellValue | bigint)[][]): Promise<void> {
  for (const c of columns) if (!COLUMN_TYPE.test(c.type)) throw new Error(`a column type is not a type: ${JSON.stringify(c.type).slice(0, 80)}`);
  await connection.run(`DROP TABLE IF EXISTS ${table}`);
  await connection.run(`CREATE TEMP TABLE ${table} (${columns.map((c) => `${quoteIdentifier(c.name)} ${c.type}`).join(', ')})`);
  if (rows.length > 0) {
    const structure = JSON.stringify([Object.fromEntries(columns.map((c) => [c.name, c.type]))]);
    const json = JSON.stringify(rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]]))), (_, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v,
    );
    const insert = await connection.prepare(`INSERT INTO ${table} SELECT unnest(json_transform(CAST($1 AS JSON), ${sqlLiteral(structure)}), recursive := true)`);
    insert.bindVarchar(1, json);
    await insert.run();
  }
}

type AggregateRules = Pick<AggregatePlan, 'hostColumns' | 'groupColumns' | 'aggregates'>;
type MergedGroup = { keys: CellValue[]; accumulators: Accumulator[] };

function mergeGroups(plan: AggregateRules, partials: readonly PartialAnswer[]): { columns: QueryColumn[]; rows: (CellValue | bigint)[][] } {
  const typeOf = new Map(plan.hostColumns.map((c) => [c.name, c.type]));
  const groups = mergeGroupStates(plan, partials);
  const columns: QueryColumn[] = [
    ...plan.groupColumns.map((name) => ({ name, type: typeOf.get(name)! })),
    ...plan.aggregates.map((rule, i) => ({ name: `a${i}`, type: finalType(rule, typeOf) })),
  ];
  const rows = groups.map((g) => [...g.keys, ...g.accumulators.map((a) => a.result())]);
  return { columns, rows };
}

/** Every group of the partial answers with its aggregates' states merged. */
function mergeGroupStates(plan: AggregateRules, partials: readonly PartialAnswer[]): MergedGroup[] {
  const typeOf = new Map(plan.hostColumns.map((c) => [c.name, c.type]));
  const groups = new Map<string, MergedGroup>();
  const newGroup = (keys: CellValue[]): MergedGroup => ({
    keys,
    accumulators: plan.aggregates.map((rule) => accumulatorFor(rule, typeOf)),
  });
  for (const partial of partials) {
    const index = new Map(partial.columns.map((c, i) => [c.name, i]));
    const at = (name: string): number => {
      const i = index.get(name);
      if (i === undefined) throw new Error(`a host's answer lacks the column ${name}`);
      return i;
    };
    const groupAt = plan.groupColumns.map(at);
    const stateAt = plan.aggregates.map((rule) => (rule.kind === 'avg' ? [at(rule.sum), at(rule.count)] : [at(rule.state)]));
    for (const row of partial.rows) {
      const keys = groupAt.map((i) => row[i]);
      const id = JSON.stringify(keys);
      let group = groups.get(id);
      if (!group) groups.set(id, (group = newGroup(keys)));
      group.accumulators.forEach((accumulator, a) => {
        const cells = stateAt[a].map((i) => row[i]);
        accumulator.add(cells.length === 1 ? cells[0] : cells);
      });
    }
  }
  // Without GROUP BY there is always one row, as on one store (count 0, sum NULL).
  if (plan.groupColumns.length === 0 && groups.size === 0) groups.set('[]', newGroup([]));
  return [...groups.values()];
}

function unionRows(plan: Pick<RowsPlan, 'hostColumns'>, partials: readonly PartialAnswer[]): { columns: QueryColumn[]; rows: CellValue[][] } {
  const rows: CellValue[][] = [];
  for (const partial of partials) {
    const order = plan.hostColumns.map((c) => partial.columns.findIndex((pc) => pc.name === c.name));
    if (order.some((i) => i < 0)) throw new Error("a host's answer lacks a column of the query");
    for (const row of partial.rows) rows.push(order.map((i) => row[i]));
  }
  return { columns: plan.hostColumns, rows };
}

function finalType(rule: MergeRule, typeOf: Map<string, string>): string {
  switch (rule.kind) {
    case 'distinct':
      return 'BIGINT';
    case 'avg':
    case 'quantile':
      return 'DOUBLE';
    case 'bool_and':
    case 'bool_or':
      return 'BOOLEAN';
    default:
      return typeOf.get(rule.state)!;
  }
}

function accumulatorFor(rule: MergeRule, typeOf: Map<string, string>): Accumulator {
  switch (rule.kind) {
    case 'count': {
      let n = 0n;
      return { add: (v) => (n += toBigInt(v) ?? 0n), result: () => n, state: () => [bigCell(n)] };
    }
    case 'sum': {
      const integer = INTEGER_TYPES.test(typeOf.get(rule.state)!);
      let total: bigint | number | null = null;
      return {
        add: (v) => {
          if (v === null) return;
          total = integer ? ((total as bigint | null) ?? 0n) + toBigInt(v)! : ((total as number | null) ?? 0) + Number(v);
        },
        result: () => total,
        state: () => [typeof total === 'bigint' ? bigCell(total) : total],
      };
    }
    case 'min':
    case 'max': {
      const sign = rule.kind === 'min' ? -1 : 1;
      const integer = INTEGER_TYPES.test(typeOf.get(rule.state)!);
      let best: CellValue | null = null;
      return {
        add: (v) => {
          if (v === null) return;
          if (best === null || sign * compare(v, best, integer) > 0) best = v;
        },
        result: () => best,
        state: () => [best],
      };
    }
    case 'bool_and':
    case 'bool_or': {
      let value: boolean | null = null;
      return {
        add: (v) => {
          if (v === null) return;
          value = value === null ? v === true : rule.kind === 'bool_and' ? value && v === true : value || v === true;
        },
        result: () => value,
        state: () => [value],
      };
    }
    case 'avg': {
      let sum = 0n;
      let fractional = 0;
      let count = 0n;
      return {
        add: (v) => {
          const [s, c] = v as CellValue[];
          if (s === null) return;
          if (typeof s === 'number' && !Number.isInteger(s)) fractional += s;
          else sum += toBigInt(s)!;
          count += toBigInt(c) ?? 0n;
        },
        result: () => (count === 0n ? null : (Number(sum) + fractional) / Number(count)),
        // A sum with a fraction travels as a double, as the hosts' DOUBLE sums do.
        state: () => [count === 0n ? null : fractional !== 0 ? Number(sum) + fractional : bigCell(sum), bigCell(count)],
      };
    }
    case 'distinct': {
      const hll = new HyperLogLog();
      return { add: (v) => hll.addState(v), result: () => hll.estimate(), state: () => [hll.state()] };
    }
    case 'quantile': {
      const sketch = new QuantileSketch();
      return { add: (v) => sketch.addState(v), result: () => sketch.quantile(rule.q), state: () => [sketch.state()] };
    }
  }
}

/** An integer as a cell, as toCell makes it: a number when exact, else its digits. */
function bigCell(n: bigint): CellValue {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n.toString();
}

function toBigInt(value: CellValue): bigint | null {
  if (value === null) return null;
  if (typeof value === 'number') return BigInt(Math.trunc(value));
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  return null;
}

function compare(a: CellValue, b: CellValue, integer: boolean): number {
  if (integer) {
    const x = toBigInt(a)!;
    const y = toBigInt(b)!;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The console's standing-query alerts (issue 7, "alerts and anomalies"): the watches of an alerts
 * file (`endsight console --nats … --alerts FILE`), each a standing query registered with the fleet
 * as `endsight watch` registers one (fleet/standing-watch.ts), signed with the operator's key, with
 * an alert condition over its result. The console keeps each watch's state and the latest periods and
 * alerts for GET /api/alerts.
 *
 *   - name: big-talkers
 *     every: 1m
 *     sql: SELECT host, sum(bytes) AS bytes FROM flows GROUP BY host
 *     alert: bytes > 1e9
 *     target: all            # optional
 *     webhook: http://…      # optional: each period with alerts is POSTed there too
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDurationMs } from '../common/duration.js';
import { parseYamlText } from '../common/yaml-value.js';
import type { CellValue } from '../query/index.js';
import type { StandingPeriod, StandingWatch } from '../fleet/standing-watch.js';

export interface AlertSpec {
  name: string;
  periodMs: number;
  sql: string;
  alert: string;
  target: string;
  webhook: string | null;
}

const SPEC = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a name of letters, digits, - and _'),
    every: z.string().or(z.number()).transform((value, ctx) => {
      try {
        const ms = parseDurationMs(String(value), 'every');
        if (ms >= 1000 && ms <= 86_400_000) return ms;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: `expected a period from 1s to 24h such as 1m (got ${JSON.stringify(value)})` });
      return z.NEVER;
    }),
    sql: z.string().min(1, 'expected a query over flows'),
    alert: z.string().min(1, "expected a condition over the result's columns, such as bytes > 1e9"),
    target: z.string().regex(/^(all|host:.+|site:.+|tag:.+|net:.+)$/, 'expected all, host:ID, site:NAME, tag:T or net:CIDR').optional(),
    webhook: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  })
  .strict();

/** Reads and checks an alerts file; one error listing every problem, each with where it is. */
export function readAlertsFile(file: string): AlertSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new RangeError(`Cannot read --alerts ${file}: ${(error as Error).message}`);
  }
  const value = parseYamlText(text, file);
  const parsed = z.array(SPEC).min(1, 'expected a list of alerts, each with name, every, sql and alert').safeParse(value);
  if (!parsed.success) {
    throw new RangeError(`${file}: ${parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'top level'}: ${i.message}`).join('; ')}`);
  }
  const names = parsed.data.map((a) => a.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new RangeError(`${file}: the alert name ${twice} is used twice`);
  return parsed.data.map((a) => ({ name: a.name, periodMs: a.every, sql: a.sql, alert: a.alert, target: a.target ?? 'all', webhook: a.webhook ?? null }));
}

/** What GET /api/alerts shows of one watch. */
export interface WatchState {
  name: string;
  every_ms: number;
  sql: string;
  alert: string;
  target: string;
  /** starting, watching, or failed (with `error`). */
  state: 'starting' | 'watching' | 'failed';
  error: string | null;
  registered: string[];
  refused: Record<string, string>;
  periods: number;
  last_period: { start: string; end: string; answered: number; expected: number; missing: string[]; alerts: number } | null;
  problems: string[];
}

export interface FiredAlert {
  name: string;
  period_start: string;
  period_end: string;
  condition: string;
  rows: Record<string, CellValue>[];
  answered: string[];
  expected: string[];
  missing: string[];
  webhook_error: string | null;
}

const KEPT_ALERTS = 200;
const KEPT_PROBLEMS = 10;

/** The watches of a console and what they found, newest alerts first. */
export class ConsoleAlerts {
  private readonly states = new Map<string, WatchState>();
  private readonly fired: FiredAlert[] = [];
  private readonly watches: StandingWatch[] = [];

  constructor(
    specs: readonly AlertSpec[],
    /** Starts one standing watch (the console's fleet coordinator does it). */
    start: (spec: AlertSpec, callbacks: {
      onPeriod: (period: StandingPeriod) => void;
      onProblem: (problem: string) => void;
      onRegistered: (registered: string[], refused: Record<string, string>) => void;
    }) => Promise<StandingWatch>,
  ) {
    for (const spec of specs) {
      const state: WatchState = {
        name: spec.name, every_ms: spec.periodMs, sql: spec.sql, alert: spec.alert, target: spec.target,
        state: 'starting', error: null, registered: [], refused: {}, periods: 0, last_period: null, problems: [],
      };
      this.states.set(spec.name, state);
      start(spec, {
        onRegistered: (registered, refused) => Object.assign(state, { registered, refused }),
        onProblem: (problem) => {
          state.problems.push(problem);
          if (state.problems.length > KEPT_PROBLEMS) state.problems.shift();
        },
        onPeriod: (period) => this.record(spec, state, period),
      }).then(
        (watch) => {
          this.watches.push(watch);
          state.state = 'watching';
        },
        (error: Error) => Object.assign(state, { state: 'failed', error: error.message.split('\n')[0] }),
      );
    }
  }

  private record(spec: AlertSpec, state: WatchState, period: StandingPeriod): void {
    state.periods++;
    state.last_period = { start: period.periodStart, end: period.periodEnd, answered: period.answered.length, expected: period.expected.length, missing: period.missing, alerts: period.alerts.length };
    if (period.alerts.length === 0) return;
    this.fired.unshift({
      name: spec.name, period_start: period.periodStart, period_end: period.periodEnd, condition: spec.alert,
      rows: period.alerts.map((row) => Object.fromEntries(period.columns.map((c, i) => [c.name, row[i]]))),
      answered: period.answered, expected: period.expected, missing: period.missing, webhook_error: period.webhookError,
    });
    this.fired.length = Math.min(this.fired.length, KEPT_ALERTS);
  }

  list(): { watches: WatchState[]; alerts: FiredAlert[] } {
    return { watches: [...this.states.values()], alerts: [...this.fired] };
  }

  async stop(): Promise<void> {
    await Promise.all(this.watches.map((watch) => watch.stop()));
  }
}

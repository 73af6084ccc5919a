/**
 * The coordinator's side of a standing query (`endsight watch`): registers the query with the
 * targeted hosts (standing-queries.ts), renews the registration before its envelope expires, hears
 * each host's result of every period on endsight.F.sr.ID, merges each period's results once every
 * expected host has sent its own (or a grace time after the period's end), and checks the alert
 * condition on the merged result: each row where it holds is an alert.
 */
import { randomBytes } from 'node:crypto';
import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { DuckDBConnection } from '@duckdb/node-api';
import { toCell, type CellValue } from '../query/index.js';
import { FleetRegistry } from './fleet-registry.js';
import { encodeJson, HEARTBEAT_INTERVAL_MS, parseJson, querySubject, sendSafely, standingSubject } from './fleet-subjects.js';
import { loadTable } from './merge-answers.js';
import { mergeHostAnswers, type FleetQueryOptions, type FleetResult } from './nats-fleet.js';
import { FleetQueryError, planFleetQuery, type AggregatePlan, type RowsPlan } from './query-plan.js';
import type { HostAnswer } from './query-responder.js';
import { MAX_LIFETIME_MS, signQuery, targets } from './signed-query.js';
import type { StandingResult } from './standing-queries.js';

export interface StandingWatchOptions extends Pick<FleetQueryOptions, 'sql' | 'target' | 'fleet' | 'signKey' | 'issuer' | 'limits' | 'registry' | 'registryWaitMs' | 'analyst'> {
  periodMs: number;
  /** The standing query's name (default: random). */
  id?: string;
  /** An SQL condition over the result's columns (`bytes > 1e9`): each merged row where it holds is an alert. */
  alert?: string | null;
  /** Where each period with alerts is POSTed as JSON (alertPayload). */
  webhook?: string | null;
  /** How long after a period's first result the period is merged even if hosts are missing (default: the time limit and 2 s, at most the period). */
  graceMs?: number;
  /** How often the registration is renewed (default a minute, or a third of the envelope lifetime). */
  renewEveryMs?: number;
  /** Each envelope's lifetime: hosts stop this long after the last renewal (default 150 s). */
  lifetimeMs?: number;
  onPeriod: (period: StandingPeriod) => void | Promise<void>;
  /** A period that could not be merged, or a result refused (from the wire): what and why. */
  onProblem?: (problem: string) => void;
  /** Called after each registration or renewal with the hosts that refused it (host → reason). */
  onRegistered?: (registered: string[], refused: Record<string, string>) => void;
}

export interface StandingPeriod extends FleetResult {
  standing: string;
  periodStart: string;
  periodEnd: string;
  /** Rows of the merged result where the alert condition holds (empty without a condition). */
  alerts: CellValue[][];
  /** Why the webhook could not take this period's alerts; null when it did, or there was nothing to send. */
  webhookError: string | null;
}

const WEBHOOK_TIMEOUT_MS = 5000;

/** The JSON a webhook receives for a period with alerts; rows as objects by column name. */
export function alertPayload(period: StandingPeriod, sql: string, condition: string): Record<string, unknown> {
  return {
    standing: period.standing, sql, condition, period_start: period.periodStart, period_end: period.periodEnd,
    rows: period.alerts.map((row) => Object.fromEntries(period.columns.map((c, i) => [c.name, row[i]]))),
    expected: period.expected.length, answered: period.answered.length, missing: period.missing, failed: period.failed,
  };
}

/** POSTs the payload; the reason when the webhook did not take it (no answer in time, or not a 2xx). */
async function deliver(url: string, payload: Record<string, unknown>): Promise<string | null> {
  try {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload), signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
    await response.arrayBuffer().catch(() => undefined);
    return response.ok ? null : `the webhook answered HTTP ${response.status}`;
  } catch (error) {
    return `the webhook could not be reached: ${(error as Error).message}`;
  }
}

const DEFAULT_LIFETIME_MS = 150_000;
/** Periods being collected at once; results for more are dropped (they come from the wire). */
const MAX_OPEN_PERIODS = 16;

export class StandingWatch {
  private readonly subscriptions: Subscription[] = [];
  /** Periods being collected; each knows its expected hosts (the registry's when it opened) and how many have sent. */
  private readonly periods = new Map<string, { results: Map<string, StandingResult>; timer: NodeJS.Timeout; start: string; expected: string[]; expectedSet: Set<string>; expectedHeard: number }>();
  /** Periods already reported: a host's late result for one of them is dropped, not reported again. */
  private readonly closed = new Set<string>();
  private renewTimer: NodeJS.Timeout | null = null;
  /** Merges run one at a time on the planner's connection. */
  private merging: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    private readonly connection: NatsConnection,
    private readonly planner: DuckDBConnection,
    private readonly plan: AggregatePlan | RowsPlan,
    private readonly registry: FleetRegistry,
    private readonly ownRegistry: boolean,
    readonly id: string,
    private readonly options: StandingWatchOptions,
  ) {}

  /** Plans the query and checks the condition (clear errors for both), then registers it with the hosts. */
  static async start(connection: NatsConnection, planner: DuckDBConnection, options: StandingWatchOptions): Promise<StandingWatch> {
    const plan = await planFleetQuery(planner, options.sql);
    if (plan.kind === 'registry') throw new FleetQueryError('Cannot watch a query over hosts alone: a standing query reads flows');
    if (options.alert) {
      await loadTable(planner, 'result', plan.columns, []);
      await planner.run(`SELECT * FROM result WHERE (${options.alert})`).catch((error: Error) => {
        throw new RangeError(`Cannot use the alert condition ${JSON.stringify(options.alert)}: ${error.message.split('\n')[0]} (the result's columns: ${plan.columns.map((c) => c.name).join(', ')})`);
      });
    }
    const registry = options.registry ?? new FleetRegistry(connection, options.fleet);
    // Its own registry first hears who is there: each period's expected hosts come from it.
    if (!options.registry) await new Promise((resolve) => setTimeout(resolve, options.registryWaitMs ?? HEARTBEAT_INTERVAL_MS * 1.5));
    const watch = new StandingWatch(connection, planner, plan, registry, options.registry === undefined, options.id ?? randomBytes(8).toString('hex'), options);
    watch.listen();
    watch.register();
    return watch;
  }

  private get lifetimeMs(): number {
    return Math.min(this.options.lifetimeMs ?? DEFAULT_LIFETIME_MS, MAX_LIFETIME_MS);
  }

  private listen(): void {
    this.subscriptions.push(
      this.connection.subscribe(standingSubject(this.options.fleet, this.id), {
        callback: (error, msg) => {
          const result = error ? null : (parseJson(msg) as StandingResult | null);
          if (!result || result.standing !== this.id || typeof result.host !== 'string' || typeof result.periodEnd !== 'string' || typeof result.periodStart !== 'string') return;
          this.heard(result);
        },
      }),
    );
  }

  /** Signs and sends the registration (again, to renew it), and schedules the next renewal. */
  private register(): void {
    if (this.stopped) return;
    const { options } = this;
    const signed = signQuery(
      options.signKey,
      {
        query: this.plan.hostSql, target: options.target, limits: options.limits, issuer: options.issuer, audience: options.fleet,
        standing: { id: this.id, periodMs: options.periodMs }, template: options.analyst?.template,
      },
      Date.now(),
      this.lifetimeMs,
      options.analyst?.certificate,
    );
    const inbox = createInbox();
    const registered: string[] = [];
    const refused: Record<string, string> = {};
    const expected = new Set(this.expected());
    const heard = new Set<string>();
    let expectedHeard = 0;
    let reported = false;
    const report = (): void => {
      if (reported) return;
      reported = true;
      clearTimeout(timer);
      acks.unsubscribe();
      options.onRegistered?.(registered.sort(), refused);
    };
    // Reported once every expected host has acknowledged, or after two seconds with those that did.
    const timer = setTimeout(report, 2000);
    timer.unref();
    const acks = this.connection.subscribe(inbox, {
      callback: (error, msg) => {
        const answer = error ? null : (parseJson(msg) as HostAnswer | null);
        if (!answer || typeof answer.host !== 'string' || heard.has(answer.host)) return;
        heard.add(answer.host);
        if (expected.has(answer.host)) expectedHeard++;
        if (answer.ok && answer.standing === this.id) registered.push(answer.host);
        else if (!answer.ok) refused[answer.host] = `${answer.code}: ${answer.error}`;
        if (expected.size > 0 && expectedHeard === expected.size) report();
      },
    });
    // Lost when the connection is down: the next renewal tries again.
    const error = sendSafely(this.connection, () => this.connection.publish(querySubject(options.fleet, options.target), encodeJson(signed), { reply: inbox }));
    if (error) this.options.onProblem?.(`the registration could not be sent: ${error.message}`);
    this.renewTimer = setTimeout(() => this.register(), options.renewEveryMs ?? Math.min(60_000, this.lifetimeMs / 3));
  }

  private expected(): string[] {
    return this.registry.hosts().filter((host) => targets(this.options.target, host)).map((host) => host.id).sort();
  }

  private heard(result: StandingResult): void {
    if (this.closed.has(result.periodEnd)) return;
    // Results come from the wire: a period is one of this query's, ended, and not long ago.
    const start = Date.parse(result.periodStart);
    const end = Date.parse(result.periodEnd);
    const period = this.options.periodMs;
    const now = Date.now();
    if (!Number.isFinite(end) || end - start !== period || end % period !== 0 || end > now + 60_000 || end < now - this.lifetimeMs - period) {
      this.options.onProblem?.(`a result from ${String(result.host).slice(0, 64)} names a period that is not one of this query's (${String(result.periodEnd).slice(0, 40)})`);
      return;
    }
    let open = this.periods.get(result.periodEnd);
    if (!open) {
      if (this.periods.size >= MAX_OPEN_PERIODS) return;
      // The hosts run a period a delay after its end that only they know: the grace counts from its first result.
      const grace = this.options.graceMs ?? Math.min(this.options.limits.timeoutMs + 2000, period);
      const timer = setTimeout(() => this.close(result.periodEnd), grace);
      const expected = this.expected();
      open = { results: new Map(), timer, start: result.periodStart, expected, expectedSet: new Set(expected), expectedHeard: 0 };
      this.periods.set(result.periodEnd, open);
    }
    if (open.results.has(result.host)) return;
    open.results.set(result.host, result);
    // Counted as they come: with thousands of hosts, checking them all at every result would be quadratic.
    if (open.expectedSet.has(result.host)) open.expectedHeard++;
    if (open.expected.length > 0 && open.expectedHeard === open.expected.length) this.close(result.periodEnd);
  }

  /** Merges one period's results and reports them, once. */
  private close(periodEnd: string): void {
    const period = this.periods.get(periodEnd);
    if (!period) return;
    this.periods.delete(periodEnd);
    clearTimeout(period.timer);
    this.closed.add(periodEnd);
    if (this.closed.size > 100) this.closed.delete(this.closed.values().next().value!);
    const expected = period.expected;
    const started = Date.parse(periodEnd);
    this.merging = this.merging.then(async () => {
      const merged = await mergeHostAnswers(this.planner, this.plan, [...period.results.values()], expected, started);
      let alerts: CellValue[][] = [];
      if (this.options.alert) {
        await loadTable(this.planner, 'result', merged.columns, merged.rows);
        alerts = (await this.planner.runAndReadAll(`SELECT * FROM result WHERE (${this.options.alert})`)).getRows().map((row) => row.map(toCell));
      }
      const report: StandingPeriod = { ...merged, standing: this.id, periodStart: period.start, periodEnd, alerts, webhookError: null };
      if (alerts.length > 0 && this.options.webhook) report.webhookError = await deliver(this.options.webhook, alertPayload(report, this.options.sql, this.options.alert!));
      await this.options.onPeriod(report);
    }).catch((error: unknown) => this.options.onProblem?.(`the period ending ${periodEnd} could not be merged: ${(error as Error).message.split('\n')[0]}`));
  }

  /** Stops renewing and listening; the hosts drop the query when its last envelope expires. Waits for merges under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    for (const period of this.periods.values()) clearTimeout(period.timer);
    this.periods.clear();
    for (const s of this.subscriptions) s.unsubscribe();
    if (this.ownRegistry) this.registry.stop();
    await this.merging;
  }
}

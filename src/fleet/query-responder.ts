/**
 * A host's side of fleet queries: checks the signed envelope (signed-query.ts), runs its query on the
 * host's store within the envelope's limits, and says what came of it. Every request gets an answer
 * (rows, or a refusal or failure with its reason) and one audit log line.
 *
 * The sandbox: the store's query engine is read-only and locked (query-engine.ts: only the store's
 * files, no network, no extensions, configuration locked), with a memory limit; a query that runs
 * past the envelope's time limit is interrupted; at most maxRows rows and MAX_ANSWER_BYTES bytes go
 * back; queries beyond the concurrency limit wait their turn.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { QueryEngine, type CellValue, type QueryColumn } from '../query/index.js';
import { StandingQueries, type StandingSpec } from './standing-queries.js';
import { canonicalJson, NonceCache, QueryRefused, verifySignedQuery, type HostIdentity, type QueryEnvelope, type VerifiedEnvelope } from './signed-query.js';
import { openMergeEngine, type MergeEngine } from './merge-engine.js';
import { checkTemplatePlan } from './template-check.js';
import { MinimumGroupRefused, withMinimumGroup } from '../privacy/min-group.js';

/** What a host answers; `host` names it in every case. */
export type HostAnswer =
  /** `standing`: the envelope registered a standing query of this id (no rows now; results come each period). */
  | { host: string; ok: true; columns: QueryColumn[]; rows: CellValue[][]; truncated: boolean; elapsedMs: number; standing?: string }
  | { host: string; ok: false; code: string; error: string };

/** Below NATS's default 1 MiB payload limit, with room for the JSON around the rows. */
export const MAX_ANSWER_BYTES = 900 * 1024;
const DEFAULT_MEMORY_LIMIT = '256MB';

export interface ResponderOptions {
  identity: HostIdentity;
  audience: string;
  authority: KeyObject;
  /** The store the host answers from. */
  dataDir: string;
  log: Logger;
  maxConcurrent?: number;
  memoryLimit?: string;
  /**
   * How long after a period's end a standing query runs over it: the agent stores a flow when it
   * ends (idle timeout) and exports every export interval, so a period's flows are in the store
   * that much later.
   */
  standingDelayMs?: number;
  /** The privacy policy's minimum group size (privacy/min-group.ts), read at each query; absent: 1. */
  minGroupSize?: () => number;
}

/** Answers kept for repeated asks of the same query (queryId), each until its envelope expires. */
const MAX_KEPT_ANSWERS = 256;

export class QueryResponder {
  private readonly nonces = new NonceCache();
  private readonly kept = new Map<string, { answer: Promise<HostAnswer>; untilMs: number }>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private planner: Promise<MergeEngine> | null = null;
  /** Answers by outcome (ok, a refusal or failure code, standing, standing_skipped). */
  readonly outcomes = new Map<string, number>();
  /** The standing queries registered here; their results go where `standing.publish` says. */
  readonly standing: StandingQueries;

  constructor(private readonly options: ResponderOptions) {
    this.standing = new StandingQueries((envelope, window) => this.runLogged({ ...envelope, window }), options.standingDelayMs ?? 0, (spec, periodEnd) => {
      this.count('standing_skipped');
      this.options.log.warn({ standing: spec.id, periodEnd: new Date(periodEnd).toISOString() }, 'standing query: a period skipped, the previous run still going');
    });
  }

  /** Answers one request (bytes from the wire); never throws. */
  async answer(message: Uint8Array): Promise<HostAnswer> {
    let envelope: VerifiedEnvelope;
    const now = Date.now();
    const keptAnswer = (e: QueryEnvelope): boolean => e.queryId !== undefined && (this.kept.get(keptKey(e))?.untilMs ?? 0) >= now;
    try {
      envelope = verifySignedQuery(message, this.options.authority, { audience: this.options.audience, host: this.options.identity }, this.nonces, now, keptAnswer);
    } catch (error) {
      return this.refuse(error);
    }
    if (envelope.standing) return this.register(envelope, envelope.standing);
    const id = envelope.queryId;
    if (id === undefined) return this.checkedRun(envelope);
    const key = keptKey(envelope);
    for (const [k, entry] of this.kept) if (entry.untilMs < now || this.kept.size > MAX_KEPT_ANSWERS) this.kept.delete(k);
    const kept = this.kept.get(key);
    if (kept) {
      this.options.log.info({ audit: 'query asked again', issuer: envelope.issuer, nonce: envelope.nonce, queryId: id }, 'fleet query asked again: the same answer goes back');
      return kept.answer;
    }
    // Kept before anything is awaited: an ask that comes again meanwhile gets this same answer.
    const answer = this.checkedRun(envelope);
    this.kept.set(key, { answer, untilMs: Date.parse(envelope.expiresAt) });
    return answer;
  }

  /** The refusal's answer, counted and in the audit log. */
  private refuse(error: unknown): HostAnswer {
    const refused = error instanceof QueryRefused ? error : new QueryRefused('malformed', String(error));
    this.count(refused.code);
    this.options.log.warn({ audit: 'query refused', code: refused.code, reason: refused.message }, 'fleet query refused');
    return { host: this.options.identity.id, ok: false, code: refused.code, error: refused.message };
  }

  /** An analyst's query checked against its template, then run. */
  private async checkedRun(envelope: VerifiedEnvelope): Promise<HostAnswer> {
    try {
      if (envelope.allowedBy) await this.checkTemplate(envelope, envelope.allowedBy.sql);
    } catch (error) {
      return this.refuse(error);
    }
    return this.runLogged(envelope);
  }

  /** Registers (or renews) a standing query, checked as any query is. */
  private async register(envelope: VerifiedEnvelope, spec: StandingSpec): Promise<HostAnswer> {
    const host = this.options.identity.id;
    try {
      if (envelope.allowedBy && !envelope.allowedBy.standing) {
        throw new QueryRefused('not_allowed', `the certificate of ${envelope.allowedBy.analyst} does not allow standing queries (endsight keys certify --standing)`);
      }
      if (envelope.allowedBy) await this.checkTemplate(envelope, envelope.allowedBy.sql);
    } catch (error) {
      return this.refuse(error);
    }
    const refusal = this.standing.register(envelope, spec);
    this.count(refusal === null ? 'standing' : 'too_many_standing');
    this.options.log.info(
      { audit: refusal === null ? 'standing query registered' : 'standing query refused', issuer: envelope.issuer, nonce: envelope.nonce, standing: spec.id, periodMs: spec.periodMs, query: envelope.query, until: envelope.expiresAt },
      'fleet standing query',
    );
    if (refusal !== null) return { host, ok: false, code: 'too_many_standing', error: refusal };
    return { host, ok: true, columns: [], rows: [], truncated: false, elapsedMs: 0, standing: spec.id };
  }

  /**
   * An analyst's query runs only if it is what the coordinator's planner makes of the certificate's
   * template: the host plans the template itself (on a planner of its own, opened on first use) and
   * compares.
   */
  private async checkTemplate(envelope: QueryEnvelope, templateSql: string): Promise<void> {
    let planner: MergeEngine;
    try {
      planner = await this.openPlanner();
    } catch (error) {
      throw new QueryRefused('not_allowed', `cannot check template ${envelope.template?.name} on this host: ${(error as Error).message}`);
    }
    await checkTemplatePlan(planner.connection, envelope, templateSql, false);
  }

  /** The host's own planner (empty flows), opened on first use; one that failed to open is tried again next time. */
  private openPlanner(): Promise<MergeEngine> {
    this.planner ??= openMergeEngine().catch((error: unknown) => {
      this.planner = null;
      throw error;
    });
    return this.planner;
  }

  /** The query as this host runs it: under a minimum group size, with the small groups left out. */
  private async policyQuery(query: string): Promise<string> {
    const k = this.options.minGroupSize?.() ?? 1;
    if (k <= 1) return query;
    return withMinimumGroup((await this.openPlanner()).connection, query, k);
  }

  /** Closes the template planner, if one was opened. */
  async close(): Promise<void> {
    this.standing.stop();
    const planner = this.planner;
    this.planner = null;
    (await planner?.catch(() => null))?.close();
  }

  /** Runs an accepted envelope's query in its turn, with its audit line. */
  private async runLogged(envelope: QueryEnvelope): Promise<HostAnswer> {
    await this.turn();
    try {
      const answer = await this.run(envelope);
      this.count(answer.ok ? 'ok' : answer.code);
      this.options.log.info(
        { audit: 'query run', issuer: envelope.issuer, template: envelope.template?.name, nonce: envelope.nonce, queryId: envelope.queryId, query: envelope.query, outcome: answer.ok ? 'ok' : answer.code, rows: answer.ok ? answer.rows.length : 0 },
        'fleet query answered',
      );
      return answer;
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }

  private async run(envelope: QueryEnvelope): Promise<HostAnswer> {
    const host = this.options.identity.id;
    const started = Date.now();
    let query: string;
    try {
      query = await this.policyQuery(envelope.query);
    } catch (error) {
      if (error instanceof MinimumGroupRefused) return { host, ok: false, code: 'privacy_policy', error: error.message };
      return { host, ok: false, code: 'query_failed', error: (error as Error).message.split('\n')[0] };
    }
    let engine: QueryEngine;
    try {
      // Opened per query: it sees the segments written since the last one.
      engine = await QueryEngine.open(this.options.dataDir, { window: envelope.window ?? undefined, memoryLimit: this.options.memoryLimit ?? DEFAULT_MEMORY_LIMIT, threads: 1 });
    } catch (error) {
      return { host, ok: false, code: 'store_unavailable', error: (error as Error).message };
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      engine.interrupt();
    }, envelope.limits.timeoutMs);
    try {
      let columns: QueryColumn[] = [];
      const rows: CellValue[][] = [];
      let bytes = 0;
      let truncated = false;
      outer: for await (const part of engine.stream(query)) {
        columns = part.columns;
        for (const row of part.rows) {
          const size = JSON.stringify(row, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)).length;
          if (rows.length >= envelope.limits.maxRows || bytes + size > MAX_ANSWER_BYTES) {
            truncated = true;
            break outer;
          }
          rows.push(row);
          bytes += size;
        }
      }
      return { host, ok: true, columns, rows, truncated, elapsedMs: Date.now() - started };
    } catch (error) {
      if (timedOut) return { host, ok: false, code: 'timeout', error: `stopped after the ${envelope.limits.timeoutMs} ms time limit` };
      return { host, ok: false, code: 'query_failed', error: (error as Error).message.split('\n')[0] };
    } finally {
      clearTimeout(timer);
      engine.close();
    }
  }

  /** Waits for a free slot under the concurrency limit. */
  private async turn(): Promise<void> {
    if (this.running >= (this.options.maxConcurrent ?? 2)) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
  }

  private count(outcome: string): void {
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
  }
}

/**
 * The key of an envelope's kept answer: only the same query asked again gets it, whatever its id
 * says; hashed, so that kept keys stay small however long the queries.
 */
function keptKey(envelope: QueryEnvelope): string {
  return createHash('sha256').update(canonicalJson({ id: envelope.queryId, query: envelope.query, window: envelope.window ?? null, limits: envelope.limits })).digest('base64');
}

/**
 * A site aggregator (issue 4, "site aggregators fan a query out to their site and merge, so the
 * coordinator gets one answer per site"). Stateless: it keeps nothing but the registry of its site's
 * hosts, heard from their heartbeats. Several may serve one site: they form a NATS queue group, so
 * each query reaches one of them, and a coordinator that hears nothing from a site asks again and
 * reaches another.
 *
 * On a query it checks the envelope as a host would (signature, audience, validity, nonce; every
 * target within its site is its business), forwards the very same signed bytes to its site's hosts,
 * asks silent hosts again with the same bytes (a host that answered sends its kept answer and runs
 * nothing), merges the answers one step short of final (merge-answers.ts, combinePartials) and
 * answers with the merged states and who in the site answered, was missing or failed.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { CellValue, QueryColumn } from '../query/index.js';
import { FleetRegistry } from './fleet-registry.js';
import type { HostOutcomes } from './nats-fleet.js';
import { encodeJson, HEARTBEAT_INTERVAL_MS, parseJson, querySubject, REASK_EVERY_MS, sendSafely, siteHeartbeatSubject, siteQuerySubject, siteQueueGroup } from './fleet-subjects.js';
import { answerProblem, combinePartials, isMergeSpec, type PartialAnswer } from './merge-answers.js';
import { checkTemplatePlan } from './template-check.js';
import { openMergeEngine, type MergeEngine } from './merge-engine.js';
import { MAX_ANSWER_BYTES, type HostAnswer } from './query-responder.js';
import { NonceCache, QueryRefused, targets, verifySignedQuery, type QueryEnvelope, type VerifiedEnvelope } from './signed-query.js';

/** A site's answer: the merged states in the hosts' columns, and the site's hosts by outcome. */
export type SiteAnswer =
  | (HostOutcomes & { site: string; aggregator: string; ok: true; columns: QueryColumn[]; rows: CellValue[][]; elapsedMs: number })
  | { site: string; aggregator: string; ok: false; code: string; error: string };

export interface SiteAggregatorOptions {
  fleet: string;
  site: string;
  /** This aggregator's name (default: a random one). */
  id?: string;
  authority: KeyObject;
  version: string;
  log: Logger;
  /** How often silent hosts are asked again (default REASK_EVERY_MS). */
  reaskEveryMs?: number;
  heartbeatEveryMs?: number;
  /** How long a host heartbeat keeps the host in the registry. */
  presentForMs?: number;
  /**
   * How long to listen to the site's heartbeats before serving queries (default a heartbeat interval
   * and a half): an aggregator that knew no hosts yet would answer for an empty site.
   */
  registryWaitMs?: number;
  /** Called when a query has been accepted, before the site is asked (tests stop an aggregator here). */
  onQuery?: (envelope: QueryEnvelope) => void;
}

/** The time an aggregator leaves itself to merge and answer before the coordinator gives up on it. */
const ANSWER_MARGIN_MS = 1000;
/** A host's failure reason is cut to this length in the site's answer (hosts' messages come from the wire). */
const MAX_REASON_CHARS = 300;

export class SiteAggregator {
  readonly id: string;
  private readonly subscriptions: Subscription[] = [];
  private readonly heartbeat: NodeJS.Timeout;
  private readonly nonces = new NonceCache();
  /** Site answers by query, made or being made, each kept until its envelope expires. */
  private readonly inFlight = new Map<string, { answer: Promise<SiteAnswer>; untilMs: number }>();
  /** Merges run one at a time on the one connection. */
  private merging = Promise.resolve();

  private constructor(
    private readonly connection: NatsConnection,
    private readonly engine: MergeEngine,
    private readonly registry: FleetRegistry,
    private readonly options: SiteAggregatorOptions,
  ) {
    this.id = options.id ?? `aggregator-${randomBytes(4).toString('hex')}`;
    const queue = siteQueueGroup(options.site);
    for (const subject of [siteQuerySubject(options.fleet, 'all'), siteQuerySubject(options.fleet, `site:${options.site}`)]) {
      this.subscriptions.push(connection.subscribe(subject, { queue, callback: (error, msg) => (error ? undefined : void this.serve(msg)) }));
    }
    const beat = (): void =>
      this.publish(siteHeartbeatSubject(options.fleet, options.site), encodeJson({
        site: options.site, aggregator: this.id, hosts: this.registry.hosts().map((h) => h.id).sort(), version: options.version, sentAt: Date.now(),
      }));
    beat();
    this.heartbeat = setInterval(beat, options.heartbeatEveryMs ?? HEARTBEAT_INTERVAL_MS);
  }

  static async start(connection: NatsConnection, options: SiteAggregatorOptions): Promise<SiteAggregator> {
    const registry = new FleetRegistry(connection, options.fleet, { sites: false, site: options.site, presentForMs: options.presentForMs });
    const engine = await openMergeEngine();
    await new Promise((resolve) => setTimeout(resolve, options.registryWaitMs ?? HEARTBEAT_INTERVAL_MS * 1.5));
    return new SiteAggregator(connection, engine, registry, options);
  }

  /** Answers one query (bytes from the wire); never throws. */
  private async serve(msg: Msg): Promise<void> {
    if (!msg.reply) return;
    const { site } = this.options;
    let envelope: VerifiedEnvelope;
    try {
      envelope = verifySignedQuery(msg.data, this.options.authority, { audience: this.options.fleet, host: null }, this.nonces);
      if (!isMergeSpec(envelope.merge)) throw new QueryRefused('malformed', 'the envelope says nothing of how to merge (merge); it is for hosts, not site aggregators');
      if (envelope.allowedBy) await this.checkTemplate(envelope, envelope.allowedBy.sql);
    } catch (error) {
      const refused = error instanceof QueryRefused ? error : new QueryRefused('malformed', String(error));
      this.options.log.warn({ audit: 'query refused', code: refused.code, reason: refused.message }, 'site aggregator refused a query');
      this.respond(msg, { site, aggregator: this.id, ok: false, code: refused.code, error: refused.message });
      return;
    }
    // The same query asked again (the coordinator's re-ask, a new envelope with the same query id)
    // while this aggregator works on it, or after: the same answer, not a second fan-out.
    const key = `${envelope.queryId ?? envelope.nonce} ${envelope.query}`;
    for (const [k, entry] of this.inFlight) if (entry.untilMs < Date.now()) this.inFlight.delete(k);
    let answer = this.inFlight.get(key)?.answer;
    if (!answer) {
      // A connection that closes under the work (subscribing then throws) fails the site's answer, never the process.
      answer = this.work(msg.data, envelope).catch((error: unknown): SiteAnswer => ({
        site, aggregator: this.id, ok: false, code: 'aggregator_failed', error: String((error as Error)?.message ?? error).slice(0, MAX_REASON_CHARS),
      }));
      this.inFlight.set(key, { answer, untilMs: Date.parse(envelope.expiresAt) });
    }
    this.respond(msg, await answer);
  }

  /** Asks the site, merges, and makes the site's answer. */
  private async work(signed: Uint8Array, envelope: VerifiedEnvelope): Promise<SiteAnswer> {
    const { site } = this.options;
    this.options.onQuery?.(envelope);
    const started = Date.now();
    const expected = this.registry.hosts().filter((host) => targets(envelope.target, host)).map((host) => host.id).sort();
    const answers = await this.ask(signed, expected, envelope);
    const spec = envelope.merge!;
    const failed: Record<string, string> = {};
    const ok: Extract<HostAnswer, { ok: true }>[] = [];
    for (const a of answers) {
      // A host's answer that does not fit the query fails that host, not the site.
      const problem = a.ok ? answerProblem(spec.hostColumns, a) : `${a.code}: ${a.error}`;
      if (problem === null && a.ok) ok.push(a);
      else failed[a.host] = String(problem).slice(0, MAX_REASON_CHARS);
    }
    const partials: PartialAnswer[] = ok.map((a) => ({ columns: a.columns, rows: a.rows }));
    const merged = this.merging.then(() => combinePartials(this.engine.connection, spec, partials));
    this.merging = merged.then(() => undefined, () => undefined);
    let answer: SiteAnswer;
    try {
      const { columns, rows } = await merged;
      const heard = new Set(answers.map((a) => a.host));
      answer = withinPayload({
        site, aggregator: this.id, ok: true, columns, rows,
        expected, answered: ok.map((a) => a.host).sort(), missing: expected.filter((id) => !heard.has(id)), failed,
        truncated: ok.filter((a) => a.truncated).map((a) => a.host).sort(), elapsedMs: Date.now() - started,
      }, spec.kind);
    } catch (error) {
      answer = { site, aggregator: this.id, ok: false, code: 'merge_failed', error: (error as Error).message.split('\n')[0].slice(0, MAX_REASON_CHARS) };
    }
    this.options.log.info({ audit: 'site query answered', issuer: envelope.issuer, queryId: envelope.queryId, expected: expected.length, answered: ok.length, outcome: answer.ok ? 'ok' : answer.code }, 'site aggregator answered');
    return answer;
  }

  /**
   * Publishes, unless the connection is closing or closed under a query still being served (it is
   * then lost, as a dead aggregator's); a publish that fails anyway is logged, never thrown.
   */
  private publish(subject: string, data: Uint8Array, reply?: string): void {
    const error = sendSafely(this.connection, () => this.connection.publish(subject, data, reply ? { reply } : undefined));
    if (error) this.options.log.warn({ err: error.message, subject }, 'site aggregator: publish failed');
  }

  private respond(msg: Msg, answer: SiteAnswer): void {
    const error = sendSafely(this.connection, () => msg.respond(encodeJson(answer)));
    if (!error) return;
    // Over the server's payload limit after all: the site says so rather than staying silent.
    this.options.log.warn({ err: error.message }, 'site aggregator: the answer could not be sent');
    const refusal: SiteAnswer = { site: answer.site, aggregator: this.id, ok: false, code: 'answer_too_large', error: error.message.slice(0, MAX_REASON_CHARS) };
    sendSafely(this.connection, () => msg.respond(encodeJson(refusal)));
  }

  /**
   * An analyst's envelope is merged only as the coordinator's planner merges its template: the
   * aggregator plans the template itself and compares the host query and the merge (hosts check
   * the host query again).
   */
  private async checkTemplate(envelope: QueryEnvelope, templateSql: string): Promise<void> {
    // On the one connection, in turn with the merges.
    const checked = this.merging.then(() => checkTemplatePlan(this.engine.connection, envelope, templateSql, true));
    this.merging = checked.then(() => undefined, () => undefined);
    await checked;
  }

  /** Asks the site's hosts (the same signed bytes), asking silent ones again, until all answered or time is up. */
  private async ask(signed: Uint8Array, expected: readonly string[], envelope: QueryEnvelope): Promise<HostAnswer[]> {
    const answers = new Map<string, HostAnswer>();
    if (expected.length === 0) return [];
    const wanted = new Set(expected);
    const inbox = createInbox();
    const { fleet, site } = this.options;
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        clearInterval(reask);
        sub.unsubscribe();
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, Math.min(envelope.limits.timeoutMs + ANSWER_MARGIN_MS, Date.parse(envelope.expiresAt) - Date.now())));
      const reask = setInterval(() => {
        for (const id of expected) if (!answers.has(id)) this.publish(querySubject(fleet, `host:${id}`), signed, inbox);
      }, this.options.reaskEveryMs ?? REASK_EVERY_MS);
      const sub = this.connection.subscribe(inbox, {
        callback: (error, msg) => {
          const answer = error ? null : (parseJson(msg) as HostAnswer | null);
          if (!answer || typeof answer.host !== 'string' || !wanted.has(answer.host) || answers.has(answer.host)) return;
          answers.set(answer.host, answer);
          if (answers.size === wanted.size) finish();
        },
      });
      this.publish(querySubject(fleet, `site:${site}`), signed, inbox);
    });
    return [...answers.values()];
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const s of this.subscriptions) s.unsubscribe();
    this.registry.stop();
    await this.merging;
    this.engine.close();
  }
}

/**
 * The answer made to fit a NATS message: a row query's rows cut from the end (the aggregator named
 * as truncated, as a host cut at its limit); an aggregate's groups are never dropped, since the
 * totals would then be wrong: the site fails with answer_too_large instead.
 */
function withinPayload(answer: Extract<SiteAnswer, { ok: true }>, kind: 'aggregate' | 'rows'): SiteAnswer {
  let bytes = encodeJson(answer).length;
  if (bytes <= MAX_ANSWER_BYTES) return answer;
  const tooLarge = (): SiteAnswer => ({
    site: answer.site, aggregator: answer.aggregator, ok: false, code: 'answer_too_large',
    error: `the site's merged answer is ${bytes} bytes, over the ${MAX_ANSWER_BYTES}-byte limit; ask fewer groups or a smaller target`,
  });
  if (kind === 'aggregate') return tooLarge();
  const rows = [...answer.rows];
  while (rows.length > 0 && bytes > MAX_ANSWER_BYTES) bytes -= encodeJson(rows.pop()).length + 1;
  return bytes > MAX_ANSWER_BYTES ? tooLarge() : { ...answer, rows, truncated: [...answer.truncated, `aggregator:${answer.aggregator}`] };
}

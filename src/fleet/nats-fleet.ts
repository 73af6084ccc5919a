/**
 * Fleet queries over NATS (subjects in fleet-subjects.ts): a host's side (answering queries, sending
 * heartbeats) and the coordinator's (asking, collecting, merging), directly or through site
 * aggregators (site-aggregator.ts).
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { DuckDBConnection } from '@duckdb/node-api';
import { toCell, type CellValue, type QueryColumn } from '../query/index.js';
import { FleetRegistry, type Heartbeat, type HostHealth } from './fleet-registry.js';
import { encodeJson, HEARTBEAT_INTERVAL_MS, heartbeatSubject, parseJson, policySubject, querySubject, REASK_EVERY_MS, sendSafely, siteQuerySubject, standingSubject } from './fleet-subjects.js';
import { defineHostsTable, fillHostsTable } from './hosts-table.js';
import { answerProblem, mergeAnswers, mergeSpecOf, type PartialAnswer } from './merge-answers.js';
import { planFleetQuery, type AggregatePlan, type RowsPlan } from './query-plan.js';
import type { HostAnswer, QueryResponder } from './query-responder.js';
import { signQuery, targets, type HostIdentity, type QueryLimits, type SignedQuery } from './signed-query.js';
import type { SiteAnswer } from './site-aggregator.js';
import type { SignedCertificate, TemplateUse } from './analyst-certificate.js';
import type { PrivacyGuard } from '../privacy/privacy-guard.js';

/** Partial answers go out at most this often. */
export const PARTIAL_EVERY_MS = 250;

/** A host on the fleet: answers the queries for it and sends heartbeats, until stop(). */
export class FleetHost {
  private readonly subscriptions: Subscription[] = [];
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    connection: NatsConnection,
    fleet: string,
    private readonly identity: HostIdentity,
    version: string,
    private readonly responder: Pick<QueryResponder, 'answer'> & Partial<Pick<QueryResponder, 'standing'>>,
    heartbeatEveryMs = HEARTBEAT_INTERVAL_MS,
    extras: {
      /** The host's privacy policy (privacy-guard.ts): pushed policies are offered to it, and its version goes in heartbeats. */
      privacy?: Pick<PrivacyGuard, 'offer' | 'status'> | null;
      /** The agent's health, read at each heartbeat. */
      health?: (() => HostHealth) | null;
    } = {},
  ) {
    const privacy = extras.privacy ?? null;
    const health = extras.health ?? null;
    // Lost when the connection is down: the next heartbeat or period tries again.
    const publish = (subject: string, data: Uint8Array): void => void sendSafely(connection, () => connection.publish(subject, data));
    if (responder.standing) responder.standing.publish = (result) => publish(standingSubject(fleet, result.standing), encodeJson(result));
    const subjects = [
      querySubject(fleet, 'all'),
      querySubject(fleet, `host:${identity.id}`),
      querySubject(fleet, 'net:any'),
      ...(identity.site ? [querySubject(fleet, `site:${identity.site}`)] : []),
      ...identity.tags.map((tag) => querySubject(fleet, `tag:${tag}`)),
    ];
    for (const subject of subjects) {
      this.subscriptions.push(
        connection.subscribe(subject, {
          callback: (error, msg) => {
            if (error || !msg.reply) return;
            void responder.answer(msg.data).then((answer) => {
              // Queries for others (net: queries reach every host, a site's aggregator forwards tag: queries to
              // the whole site) get no answer; the refusal is in the audit log.
              if (!answer.ok && answer.code === 'not_targeted') return;
              // Lost when the connection went away meanwhile: the coordinator asks again, and gets the kept answer.
              sendSafely(connection, () => msg.respond(encodeJson(answer)));
            });
          },
        }),
      );
    }
    if (privacy) {
      this.subscriptions.push(
        connection.subscribe(policySubject(fleet), {
          callback: (error, msg) => {
            if (error) return;
            void privacy.offer(msg.data, 'the fleet').then((outcome) => {
              if (msg.reply) sendSafely(connection, () => msg.respond(encodeJson({ host: identity.id, ...outcome })));
            });
          },
        }),
      );
    }
    const beat = (): void =>
      publish(
        heartbeatSubject(fleet, identity.site, identity.id),
        encodeJson({
          ...this.identity, version, sentAt: Date.now(),
          ...(privacy ? { policyVersion: privacy.status().version } : {}),
          ...(health ? { health: health() } : {}),
        } satisfies Heartbeat),
      );
    beat();
    this.heartbeat = setInterval(beat, heartbeatEveryMs);
  }

  stop(): void {
    clearInterval(this.heartbeat);
    for (const s of this.subscriptions) s.unsubscribe();
    if (this.responder.standing) this.responder.standing.publish = null;
  }
}

export interface FleetQueryOptions {
  sql: string;
  target: string;
  fleet: string;
  signKey: KeyObject;
  issuer: string;
  limits: QueryLimits;
  /** Only flows active in this window (µs since the epoch); each host applies it. */
  window?: { fromUs: number | null; toUs: number | null } | null;
  /** A registry that has been listening (a long-running coordinator's); without one, heartbeats are heard for registryWaitMs first. */
  registry?: FleetRegistry;
  /** How long to listen for heartbeats before asking, without a registry (default: a heartbeat interval and a half). */
  registryWaitMs?: number;
  /** An analyst's certificate (analyst-certificate.ts), when signKey is the analyst's key, and the template the query instantiates. */
  analyst?: { certificate: SignedCertificate; template: TemplateUse };
  /** hosts (default): ask the hosts directly; sites: ask each site's aggregators, which ask their site's hosts and merge. */
  via?: 'hosts' | 'sites';
  /** How long to wait for answers after asking (default: the time limit and 2 s). */
  answerWaitMs?: number;
  /** How often hosts that have not answered are asked again (default REASK_EVERY_MS). */
  reaskEveryMs?: number;
  /** Called once the query is out, with the hosts expected to answer. */
  onAsked?: (expected: readonly string[]) => void;
  /** Called with the answer merged so far, as answers arrive (at most every PARTIAL_EVERY_MS), before the final one. */
  onPartial?: (partial: FleetResult) => void;
  /** Called as answers arrive: how many of the expected hosts have answered. */
  onProgress?: (progress: { expected: number; answered: number; failed: number; last: string }) => void;
}

/** Who a merged answer covers: the hosts expected, and what came of each. */
export interface HostOutcomes {
  /** Hosts the registry says the target includes. */
  expected: string[];
  /** Hosts that answered with rows. */
  answered: string[];
  /** Expected hosts that did not answer in time. */
  missing: string[];
  /** Hosts that answered with a refusal or failure: host → reason. */
  failed: Record<string, string>;
  /** Hosts whose answer was cut at the row or byte limit (and a site aggregator whose own answer was). */
  truncated: string[];
}

export interface FleetResult extends HostOutcomes {
  columns: QueryColumn[];
  rows: CellValue[][];
  approximations: string[];
  elapsedMs: number;
  /** Through site aggregators: the sites expected, answered, silent, and failed (site → reason); each answer's time at its aggregator. */
  sites?: { expected: string[]; answered: string[]; missing: string[]; failed: Record<string, string>; elapsedMs: Record<string, number> };
}

/**
 * Plans, signs and asks a query across the fleet, then merges the answers. `planner` is the
 * coordinator's DuckDB connection with the empty flows view (merge-engine.ts).
 *
 * Directly (via 'hosts'), the expected hosts are the registry's, and each answers for itself.
 * Through site aggregators (via 'sites'), the expected sites are the registry's; each site's answer
 * names its expected, answered, missing and failed hosts, and the hosts of a site that does not
 * answer at all count as missing (for all and site: targets, which its heartbeat lists; for other
 * targets, which hosts of a silent site they include is not known here, and the site is named in
 * `sites.missing`).
 */
export async function runFleetQuery(connection: NatsConnection, planner: DuckDBConnection, options: FleetQueryOptions): Promise<FleetResult> {
  const started = Date.now();
  await defineHostsTable(planner);
  const plan = await planFleetQuery(planner, options.sql);
  const via = options.target.startsWith('host:') ? 'hosts' : (options.via ?? 'hosts');
  let registry = options.registry;
  if (!registry) {
    // Through site aggregators, the coordinator needs only their heartbeats, not every host's.
    registry = new FleetRegistry(connection, options.fleet, { hosts: via === 'hosts' || plan.kind === 'registry' });
    await new Promise((resolve) => setTimeout(resolve, options.registryWaitMs ?? HEARTBEAT_INTERVAL_MS * 1.5));
    registry.stop();
  }
  const targetedHosts = registry.hosts().filter((host) => targets(options.target, host));
  if (plan.kind === 'registry') {
    await fillHostsTable(planner, targetedHosts);
    const reader = await planner.runAndReadAll(plan.sql);
    const rows = reader.getRows().map((row) => row.map(toCell));
    const ids = targetedHosts.map((host) => host.id).sort();
    return { columns: plan.columns, rows, expected: ids, answered: ids, missing: [], failed: {}, truncated: [], approximations: [], elapsedMs: Date.now() - started };
  }
  // Named with its narrowed type: the functions below do not carry the narrowing of `plan`.
  const mergePlan: AggregatePlan | RowsPlan = plan;
  const queryId = randomBytes(12).toString('base64url');
  const merge = via === 'sites' ? mergeSpecOf(plan) : undefined;
  const sign = (target: string): Uint8Array =>
    encodeJson(signQuery(options.signKey, {
      query: plan.hostSql, target, limits: options.limits, issuer: options.issuer, audience: options.fleet, window: options.window ?? null, queryId, merge,
      template: options.analyst?.template,
    }, Date.now(), undefined, options.analyst?.certificate) satisfies SignedQuery);

  let summarize: (answers: readonly unknown[]) => Promise<FleetResult>;
  let collected: unknown[];
  if (via === 'hosts') {
    const expected = targetedHosts.map((host) => host.id).sort();
    summarize = (answers) => mergeHostAnswers(planner, mergePlan, answers as HostAnswer[], expected, started);
    options.onAsked?.(expected);
    let okCount = 0;
    collected = await collect<HostAnswer>(connection, {
      ...options,
      first: { subject: querySubject(options.fleet, options.target), message: sign(options.target) },
      expected,
      keyOf: (answer) => (typeof answer?.host === 'string' ? answer.host : null),
      // A host whose server went down, or whose answer was lost on the way, is asked again, alone, with
      // the same query id: it sends the answer it has or is making, and never runs the query twice.
      reask: (id) => ({ subject: querySubject(options.fleet, `host:${id}`), message: sign(`host:${id}`) }),
      progress: (answer, all) => {
        if (answer.ok) okCount++;
        options.onProgress?.({ expected: expected.length, answered: okCount, failed: all.size - okCount, last: answer.host });
      },
      summarize,
    });
  } else {
    const site = options.target.startsWith('site:') ? options.target.slice(5) : null;
    const sites = registry.sites().filter((heard) => site === null || heard.site === site);
    const expectedSites = sites.map((heard) => heard.site);
    const silentHosts = (name: string): string[] => (options.target === 'all' || site !== null ? (sites.find((heard) => heard.site === name)?.hosts ?? []) : []);
    summarize = (answers) => summarizeSites(answers as SiteAnswer[], expectedSites, silentHosts);
    options.onAsked?.(options.target === 'all' || site !== null ? sites.flatMap((heard) => heard.hosts).sort() : []);
    let answered = 0;
    let failed = 0;
    let expectedHosts = 0;
    collected = await collect<SiteAnswer>(connection, {
      ...options,
      first: { subject: siteQuerySubject(options.fleet, options.target), message: sign(options.target) },
      expected: expectedSites,
      keyOf: (answer) => (typeof answer?.site === 'string' ? answer.site : null),
      // A site that did not answer (its aggregator died, or the answer was lost) is asked again: the
      // queue group gives the query to another of its aggregators, whose hosts send their kept answers.
      reask: (name) => ({ subject: siteQuerySubject(options.fleet, `site:${name}`), message: sign(options.target) }),
      progress: (answer) => {
        if (answer.ok && siteAnswerProblem(answer) === null) {
          answered += answer.answered.length;
          failed += Object.keys(answer.failed).length;
          expectedHosts += answer.expected.length;
        }
        options.onProgress?.({ expected: expectedHosts, answered, failed, last: `site:${answer.site}` });
      },
      summarize,
    });
  }
  return summarize(collected);

  async function summarizeSites(got: readonly SiteAnswer[], expectedSites: readonly string[], silentHosts: (site: string) => string[]): Promise<FleetResult> {
    // A site's answer that does not fit the query fails that site.
    const ok = got.filter((a): a is Extract<SiteAnswer, { ok: true }> => a.ok && siteAnswerProblem(a) === null && answerProblem(mergePlan.hostColumns, a) === null);
    const merged = await mergeAnswers(planner, mergePlan, ok.map((a): PartialAnswer => ({ columns: a.columns, rows: a.rows })));
    const expected = ok.flatMap((a) => a.expected);
    const missing = ok.flatMap((a) => a.missing);
    const failed: Record<string, string> = Object.assign({}, ...ok.map((a) => a.failed));
    const siteFailed: Record<string, string> = {};
    for (const a of got) {
      if (ok.includes(a as Extract<SiteAnswer, { ok: true }>)) continue;
      const reason = a.ok ? (siteAnswerProblem(a) ?? answerProblem(mergePlan.hostColumns, a)) : `${a.code}: ${a.error}`;
      siteFailed[a.site] = String(reason);
      for (const id of silentHosts(a.site)) {
        expected.push(id);
        failed[id] = `its site aggregator ${a.aggregator} failed: ${reason}`;
      }
    }
    const heardSites = new Set(got.map((a) => a.site));
    const missingSites = expectedSites.filter((site) => !heardSites.has(site));
    for (const site of missingSites) for (const id of silentHosts(site)) expected.push(id), missing.push(id);
    return {
      columns: merged.columns,
      rows: merged.rows,
      expected: expected.sort(),
      answered: ok.flatMap((a) => a.answered).sort(),
      missing: missing.sort(),
      failed,
      truncated: ok.flatMap((a) => a.truncated).sort(),
      approximations: mergePlan.approximations,
      elapsedMs: Date.now() - started,
      sites: { expected: [...expectedSites], answered: ok.map((a) => a.site).sort(), missing: missingSites, failed: siteFailed, elapsedMs: Object.fromEntries(ok.map((a) => [a.site, a.elapsedMs])) },
    };
  }
}

/** Why a site's answer (from the wire) does not have its shape, or null. */
function siteAnswerProblem(answer: Extract<SiteAnswer, { ok: true }>): string | null {
  const strings = (list: unknown): boolean => Array.isArray(list) && list.every((item) => typeof item === 'string');
  const reasons = answer.failed !== null && typeof answer.failed === 'object' && Object.values(answer.failed).every((r) => typeof r === 'string');
  const ok = strings(answer.expected) && strings(answer.answered) && strings(answer.missing) && strings(answer.truncated) && reasons && typeof answer.elapsedMs === 'number';
  return ok ? null : 'bad_answer: the site answer lacks its host lists';
}

/** The merged answer over the hosts' answers `got`, and who answered, failed or is missing. */
export async function mergeHostAnswers(
  planner: DuckDBConnection,
  plan: AggregatePlan | RowsPlan,
  got: readonly HostAnswer[],
  expected: readonly string[],
  startedMs: number,
): Promise<FleetResult> {
  const failed: Record<string, string> = {};
  const ok: Extract<HostAnswer, { ok: true }>[] = [];
  for (const a of got) {
    // One answer that does not fit the query fails its host, not the query.
    const problem = a.ok ? answerProblem(plan.hostColumns, a) : `${a.code}: ${a.error}`;
    if (problem === null && a.ok) ok.push(a);
    else failed[a.host] = problem!;
  }
  const merged = await mergeAnswers(planner, plan, ok.map((a): PartialAnswer => ({ columns: a.columns, rows: a.rows })));
  const heard = new Set(got.map((a) => a.host));
  return {
    columns: merged.columns,
    rows: merged.rows,
    expected: [...expected],
    answered: ok.map((a) => a.host).sort(),
    missing: expected.filter((id) => !heard.has(id)),
    failed,
    truncated: ok.filter((a) => a.truncated).map((a) => a.host).sort(),
    approximations: plan.approximations,
    elapsedMs: Date.now() - startedMs,
  };
}

interface CollectOptions<A> extends Pick<FleetQueryOptions, 'answerWaitMs' | 'reaskEveryMs' | 'onPartial' | 'limits'> {
  first: { subject: string; message: Uint8Array };
  /** Who should answer (host ids, or site names). */
  expected: readonly string[];
  /** Who an answer is from; null for something that is not an answer. */
  keyOf: (answer: A | null) => string | null;
  reask: (id: string) => { subject: string; message: Uint8Array };
  progress: (answer: A, all: ReadonlyMap<string, A>) => void;
  summarize: (answers: readonly A[]) => Promise<FleetResult>;
}

/**
 * Publishes the query, collects one answer per sender until every expected one has answered or the
 * time is up, asks the silent ones again every reaskEveryMs, and sends partial results (onPartial)
 * as answers arrive, at most every PARTIAL_EVERY_MS, one at a time, all before it returns.
 */
async function collect<A>(connection: NatsConnection, options: CollectOptions<A>): Promise<A[]> {
  const answers = new Map<string, A>();
  const expected = new Set(options.expected);
  let expectedHeard = 0;
  const inbox = createInbox();
  let partialsDone = Promise.resolve();
  let partialTimer: NodeJS.Timeout | null = null;
  let lastPartialAt = 0;
  let closed = false;
  const schedulePartial = (): void => {
    const onPartial = options.onPartial;
    if (!onPartial || partialTimer || closed) return;
    partialTimer = setTimeout(() => {
      partialTimer = null;
      lastPartialAt = Date.now();
      const snapshot = [...answers.values()];
      partialsDone = partialsDone.then(async () => onPartial(await options.summarize(snapshot))).catch(() => undefined);
    }, Math.max(0, lastPartialAt + PARTIAL_EVERY_MS - Date.now()));
  };
  await new Promise<void>((resolve) => {
    const timer = setTimeout(finish, options.answerWaitMs ?? options.limits.timeoutMs + 2000);
    const reask = setInterval(() => {
      for (const id of expected) {
        if (answers.has(id)) continue;
        const again = options.reask(id);
        connection.publish(again.subject, again.message, { reply: inbox });
      }
    }, options.reaskEveryMs ?? REASK_EVERY_MS);
    const sub = connection.subscribe(inbox, {
      callback: (error, msg) => {
        if (error) return;
        const answer = parseJson(msg) as A | null;
        const key = options.keyOf(answer);
        if (key === null || answers.has(key)) return;
        answers.set(key, answer!);
        // Counted as they come: with thousands of hosts, recounting at every answer would be quadratic.
        if (expected.has(key)) expectedHeard++;
        options.progress(answer!, answers);
        if (expected.size > 0 && expectedHeard === expected.size) finish();
        else schedulePartial();
      },
    });
    function finish(): void {
      closed = true;
      if (partialTimer) clearTimeout(partialTimer);
      clearTimeout(timer);
      clearInterval(reask);
      sub.unsubscribe();
      resolve();
    }
    connection.publish(options.first.subject, options.first.message, { reply: inbox });
  });
  await partialsDone;
  return [...answers.values()];
}

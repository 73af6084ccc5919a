/**
 * Fleet queries over NATS: the subjects, a host's side (answering queries, sending heartbeats) and the
 * coordinator's (who is there, asking, collecting, merging).
 *
 * Subjects, for a fleet named F:
 *   endsight.F.q.all, endsight.F.q.host.ID, endsight.F.q.site.NAME, endsight.F.q.tag.T   queries by target
 *   endsight.F.q.net                                                                       net: targets (each host checks its addresses)
 *   endsight.F.hb.ID                                                                       heartbeats: the registry of hosts
 * Answers go to the request's reply subject (an inbox of the coordinator). Every host checks the
 * signed envelope itself, so a query published on a subject it should not reach is still refused.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { DuckDBConnection } from '@duckdb/node-api';
import { toCell, type CellValue, type QueryColumn } from '../query/index.js';
import { defineHostsTable, fillHostsTable, type HeardHeartbeat } from './hosts-table.js';
import { mergeAnswers, type PartialAnswer } from './merge-answers.js';
import { planFleetQuery, type AggregatePlan, type RowsPlan } from './query-plan.js';
import type { HostAnswer, QueryResponder } from './query-responder.js';
import { signQuery, targets, type HostIdentity, type QueryLimits, type SignedQuery } from './signed-query.js';

export const HEARTBEAT_INTERVAL_MS = 2000;
/** NATS delivers at most once: a host that has not answered by then is asked again, this often. */
export const REASK_EVERY_MS = 2500;
/** Partial answers go out at most this often. */
export const PARTIAL_EVERY_MS = 250;

/** A subject token: no dots, wildcards or spaces (NATS subject syntax). */
export function subjectToken(text: string): string {
  const token = text.replace(/[^A-Za-z0-9_\-:=@+]/g, '_');
  return token === '' ? '_' : token;
}

export function querySubject(fleet: string, target: string): string {
  const base = `endsight.${subjectToken(fleet)}.q`;
  if (target === 'all') return `${base}.all`;
  const [kind, ...rest] = target.split(':');
  const value = rest.join(':');
  if (kind === 'net') return `${base}.net`;
  if (!['host', 'site', 'tag'].includes(kind) || value === '') {
    throw new RangeError(`Unknown target "${target}": use all, host:ID, site:NAME, tag:T or net:CIDR`);
  }
  return `${base}.${kind}.${subjectToken(value)}`;
}

/** What a host announces every HEARTBEAT_INTERVAL_MS; the coordinator's registry and the `hosts` table. */
export interface Heartbeat extends HostIdentity {
  version: string;
  /** The host's clock when sent, ms since the epoch (the coordinator derives the clock offset). */
  sentAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));

/** A host on the fleet: answers the queries for it and sends heartbeats, until stop(). */
export class FleetHost {
  private readonly subscriptions: Subscription[] = [];
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    connection: NatsConnection,
    fleet: string,
    private readonly identity: HostIdentity,
    version: string,
    responder: QueryResponder,
  ) {
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
              // net: queries reach every host; those outside the network stay silent (the refusal is in the audit log).
              if (!answer.ok && answer.code === 'not_targeted') return;
              msg.respond(encode(answer));
            });
          },
        }),
      );
    }
    const beat = (): void => connection.publish(`endsight.${subjectToken(fleet)}.hb.${subjectToken(identity.id)}`, encode({ ...this.identity, version, sentAt: Date.now() } satisfies Heartbeat));
    beat();
    this.heartbeat = setInterval(beat, HEARTBEAT_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.heartbeat);
    for (const s of this.subscriptions) s.unsubscribe();
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
  /** How long to listen for heartbeats before asking (default: a heartbeat interval and a half). */
  registryWaitMs?: number;
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

export interface FleetResult {
  columns: QueryColumn[];
  rows: CellValue[][];
  /** Hosts the registry says the target includes. */
  expected: string[];
  /** Hosts that answered with rows. */
  answered: string[];
  /** Expected hosts that did not answer in time. */
  missing: string[];
  /** Hosts that answered with a refusal or failure: host → reason. */
  failed: Record<string, string>;
  /** Hosts whose answer was cut at the row or byte limit. */
  truncated: string[];
  approximations: string[];
  elapsedMs: number;
}

/** Who is on the fleet: the heartbeats heard within `waitMs`. */
export async function collectHeartbeats(connection: NatsConnection, fleet: string, waitMs: number): Promise<Map<string, HeardHeartbeat>> {
  const hosts = new Map<string, HeardHeartbeat>();
  const sub = connection.subscribe(`endsight.${subjectToken(fleet)}.hb.*`, {
    callback: (error, msg) => {
      if (error) return;
      const beat = parseJson(msg) as Heartbeat | null;
      if (isHeartbeat(beat)) hosts.set(beat.id, { ...beat, receivedAt: Date.now() });
    },
  });
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  sub.unsubscribe();
  return hosts;
}

/**
 * Plans, signs and asks a query across the fleet, then merges the answers. `planner` is the
 * coordinator's DuckDB connection with the empty flows view (defineEmptyFlows).
 */
export async function runFleetQuery(connection: NatsConnection, planner: DuckDBConnection, options: FleetQueryOptions): Promise<FleetResult> {
  const started = Date.now();
  await defineHostsTable(planner);
  const plan = await planFleetQuery(planner, options.sql);
  const subject = querySubject(options.fleet, options.target);
  const registry = await collectHeartbeats(connection, options.fleet, options.registryWaitMs ?? HEARTBEAT_INTERVAL_MS * 1.5);
  const targeted = [...registry.values()].filter((host) => targets(options.target, host));
  const expected = targeted.map((host) => host.id).sort();
  if (plan.kind === 'registry') {
    await fillHostsTable(planner, targeted);
    const reader = await planner.runAndReadAll(plan.sql);
    const rows = reader.getRows().map((row) => row.map(toCell));
    return { columns: plan.columns, rows, expected, answered: expected, missing: [], failed: {}, truncated: [], approximations: [], elapsedMs: Date.now() - started };
  }
  const queryId = randomBytes(12).toString('base64url');
  const sign = (target: string): SignedQuery =>
    signQuery(options.signKey, {
      query: plan.hostSql, target, limits: options.limits, issuer: options.issuer, audience: options.fleet, window: options.window ?? null, queryId,
    });

  // Named with its narrowed type: summarize() below is a function declaration, where TypeScript
  // does not carry the narrowing of `plan` past the registry case.
  const mergePlan: AggregatePlan | RowsPlan = plan;
  const answers = new Map<string, HostAnswer>();
  const expectedSet = new Set(expected);
  let okCount = 0;
  let expectedHeard = 0;
  const inbox = createInbox();
  // Partial answers (onPartial): merged as answers arrive, at most every PARTIAL_EVERY_MS, one at a
  // time on the planner's connection, all before the final merge.
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
      partialsDone = partialsDone.then(async () => onPartial(await summarize(snapshot))).catch(() => undefined);
    }, Math.max(0, lastPartialAt + PARTIAL_EVERY_MS - Date.now()));
  };
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(finish, options.answerWaitMs ?? options.limits.timeoutMs + 2000);
    // A host whose server went down, or whose answer was lost on the way, is asked again, alone, with
    // the same query id: it sends the answer it has or is making, and never runs the query twice.
    const reask = setInterval(() => {
      for (const id of expected) if (!answers.has(id)) connection.publish(querySubject(options.fleet, `host:${id}`), encoder.encode(JSON.stringify(sign(`host:${id}`))), { reply: inbox });
    }, options.reaskEveryMs ?? REASK_EVERY_MS);
    const sub = connection.subscribe(inbox, {
      callback: (error, msg) => {
        if (error) return;
        const answer = parseJson(msg) as HostAnswer | null;
        if (!answer || typeof answer.host !== 'string' || answers.has(answer.host)) return;
        answers.set(answer.host, answer);
        // Counted as they come: with thousands of hosts, recounting at every answer would be quadratic.
        if (answer.ok) okCount++;
        if (expectedSet.has(answer.host)) expectedHeard++;
        options.onProgress?.({ expected: expected.length, answered: okCount, failed: answers.size - okCount, last: answer.host });
        if (expected.length > 0 && expectedHeard === expected.length) finish();
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
  });
  connection.publish(subject, encoder.encode(JSON.stringify(sign(options.target))), { reply: inbox });
  options.onAsked?.(expected);
  await done;
  await partialsDone;
  return summarize([...answers.values()]);

  /** The merged answer over `got`, and who answered, failed or is missing. */
  async function summarize(got: readonly HostAnswer[]): Promise<FleetResult> {
    const ok = got.filter((a): a is Extract<HostAnswer, { ok: true }> => a.ok);
    const partials: PartialAnswer[] = ok.map((a) => ({ columns: a.columns, rows: a.rows }));
    const merged = await mergeAnswers(planner, mergePlan, partials);
    const failed: Record<string, string> = {};
    for (const a of got) if (!a.ok) failed[a.host] = `${a.code}: ${a.error}`;
    const heard = new Set(got.map((a) => a.host));
    return {
      columns: merged.columns,
      rows: merged.rows,
      expected,
      answered: ok.map((a) => a.host).sort(),
      missing: expected.filter((id) => !heard.has(id)),
      failed,
      truncated: ok.filter((a) => a.truncated).map((a) => a.host).sort(),
      approximations: mergePlan.approximations,
      elapsedMs: Date.now() - started,
    };
  }
}

/** A heartbeat's shape, checked: it comes from the wire (only agents may publish them, but bugs happen). */
function isHeartbeat(value: unknown): value is Heartbeat {
  const b = value as Partial<Heartbeat> | null;
  const strings = (list: unknown): boolean => Array.isArray(list) && list.every((item) => typeof item === 'string');
  return (
    b !== null && typeof b === 'object' && typeof b.id === 'string' && (b.site === null || typeof b.site === 'string') &&
    strings(b.tags) && strings(b.addresses) && typeof b.version === 'string' && typeof b.sentAt === 'number' && Number.isFinite(b.sentAt)
  );
}

function parseJson(msg: Msg): unknown {
  try {
    return JSON.parse(decoder.decode(msg.data));
  } catch {
    return null;
  }
}

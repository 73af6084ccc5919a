/**
 * Standing queries on a host (issue 4, "register a query with a period; hosts evaluate it each
 * period and push results"). A signed envelope with `standing: {id, periodMs}` registers its query;
 * the host then runs it once per period over the flows active in that period, in the same sandbox as
 * any fleet query, and pushes each result to endsight.F.sr.ID. A period is run a delay after its end
 * (the agent's idle timeout and export interval): a flow is in the store only once it has ended and
 * been exported. A flow longer than the active timeout is stored, and counted, a period later.
 *
 * A registration lasts as long as its envelope: the coordinator that watches the query sends a new
 * envelope (same id) before the last one expires. When it stops doing so (it was stopped, or died),
 * the hosts stop within one envelope lifetime; nothing is left running for nobody.
 */
import type { HostAnswer } from './query-responder.js';
import type { QueryEnvelope } from './signed-query.js';

export interface StandingSpec {
  /** Names the standing query: its results' subject, and a renewal replaces the registration of the same id. */
  id: string;
  periodMs: number;
}

/** One period's result from one host. */
export type StandingResult = HostAnswer & { standing: string; periodStart: string; periodEnd: string };

export const MIN_PERIOD_MS = 1000;
export const MAX_PERIOD_MS = 24 * 3600_000;
/** Standing queries one host keeps at once; more are refused (each costs a run per period). */
export const MAX_STANDING_QUERIES = 16;

/** Checks the `standing` field of an envelope (signed, but still from the wire); a reason, or null when it is fine. */
export function standingProblem(spec: unknown): string | null {
  const s = spec as Partial<StandingSpec> | null;
  if (s === null || typeof s !== 'object') return 'standing must be an object with id and periodMs';
  if (typeof s.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(s.id)) return 'standing.id must be 1 to 64 letters, digits, _ or -';
  if (!Number.isInteger(s.periodMs) || s.periodMs! < MIN_PERIOD_MS || s.periodMs! > MAX_PERIOD_MS) return `standing.periodMs must be a whole number from ${MIN_PERIOD_MS} to ${MAX_PERIOD_MS}`;
  return null;
}

interface Registration {
  envelope: QueryEnvelope;
  spec: StandingSpec;
  untilMs: number;
  timer: NodeJS.Timeout | null;
  /** The last period end run (or skipped): a boundary is never run twice. */
  lastBoundary: number;
  /** A run of this query is under way: the next period is skipped rather than queued behind it. */
  running: boolean;
}

export class StandingQueries {
  /** By issuer and id: a signer's standing query can be renewed or replaced by that signer only. */
  private readonly registrations = new Map<string, Registration>();
  /** Where results go; null while the host is not on the fleet (results of those periods are dropped). */
  publish: ((result: StandingResult) => void) | null = null;
  /**
   * `delayMs`: how long after a period's end it is run, once its flows are in the store; `onSkipped`:
   * told of a period not run because the previous run of the same query was still going.
   */
  constructor(
    private readonly run: (envelope: QueryEnvelope, window: { fromUs: number; toUs: number }) => Promise<HostAnswer>,
    private readonly delayMs = 0,
    private readonly onSkipped: (spec: StandingSpec, periodEnd: number) => void = () => undefined,
  ) {}

  /** Registers or renews; a reason when refused. */
  register(envelope: QueryEnvelope, spec: StandingSpec, now = Date.now()): string | null {
    const key = `${envelope.issuer}/${spec.id}`;
    const existing = this.registrations.get(key);
    if (existing && existing.spec.periodMs === spec.periodMs) {
      // A renewal: the same schedule goes on, with the new envelope (and its later expiry).
      existing.envelope = envelope;
      existing.untilMs = Date.parse(envelope.expiresAt);
      return null;
    }
    if (!existing && this.registrations.size >= MAX_STANDING_QUERIES) return `this host already runs ${MAX_STANDING_QUERIES} standing queries`;
    if (existing?.timer) clearTimeout(existing.timer);
    const registration: Registration = { envelope, spec, untilMs: Date.parse(envelope.expiresAt), timer: null, lastBoundary: existing?.lastBoundary ?? 0, running: false };
    this.registrations.set(key, registration);
    this.schedule(registration, now);
    return null;
  }

  /** The ids of the standing queries registered now. */
  ids(): string[] {
    return [...this.registrations.values()].map((r) => r.spec.id).sort();
  }

  stop(): void {
    for (const registration of this.registrations.values()) if (registration.timer) clearTimeout(registration.timer);
    this.registrations.clear();
  }

  private keyOf(registration: Registration): string {
    return `${registration.envelope.issuer}/${registration.spec.id}`;
  }

  /** The next run: at the next period boundary (wall clock) not run yet, plus the delay, while the envelope is valid. */
  private schedule(registration: Registration, now: number): void {
    const period = registration.spec.periodMs;
    let boundary = Math.floor((now - this.delayMs) / period) * period + period;
    if (boundary <= registration.lastBoundary) boundary = registration.lastBoundary + period;
    if (boundary > registration.untilMs) {
      this.registrations.delete(this.keyOf(registration));
      return;
    }
    registration.timer = setTimeout(() => void this.evaluate(registration, boundary), Math.max(0, boundary + this.delayMs - now));
  }

  private async evaluate(registration: Registration, boundary: number): Promise<void> {
    if (this.registrations.get(this.keyOf(registration)) !== registration) return; // replaced or stopped meanwhile
    registration.lastBoundary = boundary;
    this.schedule(registration, Date.now());
    if (registration.running) {
      this.onSkipped(registration.spec, boundary);
      return;
    }
    registration.running = true;
    const window = { fromUs: (boundary - registration.spec.periodMs) * 1000, toUs: boundary * 1000 };
    try {
      const answer = await this.run(registration.envelope, window);
      this.publish?.({
        ...answer,
        standing: registration.spec.id,
        periodStart: new Date(boundary - registration.spec.periodMs).toISOString(),
        periodEnd: new Date(boundary).toISOString(),
      });
    } finally {
      registration.running = false;
    }
  }
}

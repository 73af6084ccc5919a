/**
 * A link-state database (RFC 2328 §12, §13): per area, the newest instance of each LSA heard, from
 * any number of vantage points. An instance replaces the one held only when it is newer by the rules
 * of §13.1; an instance at MaxAge is a flush and removes the LSA. AS-external LSAs (type 5) are
 * flooded through every non-stub area but are one database for the AS (§12.4.4.1): they are kept
 * under the scope AS_SCOPE.
 */
import { lsaKey, LsaType, MAX_AGE_S, type Lsa, type LsaHeader } from './lsa.js';

/** The scope of type-5 LSAs. */
export const AS_SCOPE = 'as';
/** RFC 2328 appendix B: instances whose ages differ by less than this are the same age. */
const MAX_AGE_DIFF_S = 900;

export interface HeldLsa {
  lsa: Lsa;
  /** The database's clock when this instance arrived, ms: its age grows from there. */
  receivedAt: number;
}

/** What installing an instance did. */
export type InstallOutcome = 'installed' | 'flushed' | 'same' | 'older';

/**
 * RFC 2328 §13.1: > 0 when `a` is the more recent instance, < 0 when `b` is, 0 when they are the same.
 * Ages are the current ones (as received plus time held).
 */
export function compareInstances(a: LsaHeader, aAge: number, b: LsaHeader, bAge: number): number {
  if (a.sequence !== b.sequence) return a.sequence > b.sequence ? 1 : -1;
  if (a.checksum !== b.checksum) return a.checksum > b.checksum ? 1 : -1;
  const aMax = aAge >= MAX_AGE_S;
  const bMax = bAge >= MAX_AGE_S;
  if (aMax !== bMax) return aMax ? 1 : -1;
  if (Math.abs(aAge - bAge) > MAX_AGE_DIFF_S) return aAge < bAge ? 1 : -1;
  return 0;
}

export class LinkStateDatabase {
  private readonly scopes = new Map<string, Map<string, HeldLsa>>();

  /** Installs an instance heard in `areaId` at `now` (ms). */
  install(areaId: string, lsa: Lsa, now = Date.now()): InstallOutcome {
    const scope = lsa.header.type === LsaType.AS_EXTERNAL ? AS_SCOPE : areaId;
    let held = this.scopes.get(scope);
    if (!held) this.scopes.set(scope, (held = new Map()));
    const key = lsaKey(lsa.header);
    const current = held.get(key);
    if (current) {
      const order = compareInstances(lsa.header, lsa.header.age, current.lsa.header, this.ageOf(current, now));
      if (order < 0) return 'older';
      if (order === 0) return 'same';
    }
    if (lsa.header.age >= MAX_AGE_S) {
      held.delete(key);
      return 'flushed';
    }
    held.set(key, { lsa, receivedAt: now });
    return 'installed';
  }

  /** The instance held of the LSA with `header`'s key in the area (or the AS, for type 5), and its age now; null if none. */
  find(areaId: string, header: Pick<LsaHeader, 'type' | 'linkStateId' | 'advertisingRouter'>, now = Date.now()): { lsa: Lsa; age: number } | null {
    const held = this.scopes.get(header.type === LsaType.AS_EXTERNAL ? AS_SCOPE : areaId)?.get(lsaKey(header));
    if (!held) return null;
    const age = this.ageOf(held, now);
    return age >= MAX_AGE_S ? null : { lsa: held.lsa, age };
  }

  /** A copy to edit (the LSAs are shared: replace them, never change them in place). */
  clone(): LinkStateDatabase {
    const copy = new LinkStateDatabase();
    for (const [scope, held] of this.scopes) copy.scopes.set(scope, new Map(held));
    return copy;
  }

  /**
   * Puts `lsa` in `scope` in place of the instance held, whatever their order: for what-if edits,
   * which describe a network that is not running. The replaced instance's arrival time is kept.
   */
  replace(scope: string, lsa: Lsa, now = Date.now()): void {
    let held = this.scopes.get(scope);
    if (!held) this.scopes.set(scope, (held = new Map()));
    const key = lsaKey(lsa.header);
    held.set(key, { lsa, receivedAt: held.get(key)?.receivedAt ?? now });
  }

  /** Removes the LSA with `header`'s key from `scope` (what-if edits). */
  remove(scope: string, header: Pick<LsaHeader, 'type' | 'linkStateId' | 'advertisingRouter'>): void {
    this.scopes.get(scope)?.delete(lsaKey(header));
  }

  /** The instance's age now, seconds (RFC 2328 §12.1.1: it grows by one a second while held). */
  ageOf(held: HeldLsa, now = Date.now()): number {
    return Math.min(MAX_AGE_S, held.lsa.header.age + Math.floor(Math.max(0, now - held.receivedAt) / 1000));
  }

  /** The areas with LSAs (AS_SCOPE not included). */
  areas(): string[] {
    return [...this.scopes.keys()].filter((scope) => scope !== AS_SCOPE).sort();
  }

  /**
   * The LSAs of an area (or AS_SCOPE) that are not past MaxAge now. An LSA that reached MaxAge while
   * held, never refreshed (§12.1.1: its originator refreshes it every 30 minutes), is gone.
   */
  lsas(scope: string, now = Date.now()): Lsa[] {
    const held = this.scopes.get(scope);
    if (!held) return [];
    const out: Lsa[] = [];
    for (const [key, entry] of held) {
      if (this.ageOf(entry, now) >= MAX_AGE_S) held.delete(key);
      else out.push(entry.lsa);
    }
    return out;
  }

  /** Every held instance with its scope and current age, for listings. */
  entries(now = Date.now()): { scope: string; lsa: Lsa; age: number }[] {
    const out: { scope: string; lsa: Lsa; age: number }[] = [];
    for (const scope of [...this.scopes.keys()].sort()) {
      for (const lsa of this.lsas(scope, now)) out.push({ scope, lsa, age: this.ageOf(this.scopes.get(scope)!.get(lsaKey(lsa.header))!, now) });
    }
    return out;
  }
}

/**
 * Counts problems by reason code (`truncated_ipv4`, `caplen_exceeds_limit`, ...).
 *
 * Bytes from the wire never throw: each stage returns an issue code, and the caller counts it here.
 * The counts are shown after an import and stored with the data.
 */
export class IssueCounter {
  private readonly counts = new Map<string, number>();

  /** Adds `n` (default 1) occurrences of `reason`. */
  add(reason: string, n = 1): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + n);
  }

  /** Adds every count of `other` into this counter. */
  merge(other: IssueCounter): void {
    for (const [reason, n] of other.counts) this.add(reason, n);
  }

  /** How often `reason` was counted. */
  get(reason: string): number {
    return this.counts.get(reason) ?? 0;
  }

  /** Sum of all counts. */
  total(): number {
    let sum = 0;
    for (const n of this.counts.values()) sum += n;
    return sum;
  }

  /** The counts as a plain object, reasons sorted by name (stable output for JSON and diffs). */
  toJSON(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const reason of [...this.counts.keys()].sort()) out[reason] = this.counts.get(reason)!;
    return out;
  }
}

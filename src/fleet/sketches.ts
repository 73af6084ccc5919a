/**
 * Mergeable sketches for the aggregates that cannot be added up exactly across hosts.
 *
 * - count(DISTINCT x): HyperLogLog (Flajolet et al. 2007) with 2^12 registers, standard error
 *   1.04/√4096 ≈ 1.6%. Each host computes, per group, the distinct (register, rank) pairs of its
 *   values in SQL (HLL_STATE_SQL); the coordinator keeps the largest rank per register over all
 *   hosts, so the merge is exact (the union's sketch), and estimates once.
 * - quantiles: a log-bucket histogram (DDSketch, Masson et al. 2019) with relative accuracy 1%:
 *   every value v > 0 falls in bucket ⌈log_γ v⌉ with γ = 1.01/0.99, so any quantile is within 1% of
 *   a true value. Hosts send bucket counts (QUANTILE_STATE_SQL); counts add up across hosts.
 */

export const HLL_PRECISION = 12;
export const HLL_REGISTERS = 1 << HLL_PRECISION;
export const HLL_RELATIVE_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS);

/**
 * SQL for one host's HLL state of `value` (an SQL expression): the list of distinct
 * register * 64 + rank, where the register is the hash's low 12 bits and the rank the position of
 * the first 1 bit in the remaining 52 (1-based; 53 when they are all 0).
 */
export function hllStateSql(value: string, filter: string | null): string {
  const h = `hash(${value})`;
  const rest = `(${h} >> ${HLL_PRECISION})`;
  const rank = `CASE WHEN ${rest} = 0 THEN ${64 - HLL_PRECISION + 1} ELSE ${64 - HLL_PRECISION} - CAST(floor(log2(CAST(${rest} AS DOUBLE))) AS INTEGER) END`;
  const pair = `CASE WHEN ${value} IS NULL THEN NULL ELSE (${h} & ${HLL_REGISTERS - 1}) * 64 + ${rank} END`;
  return `list(DISTINCT ${pair})${filter ? ` FILTER (WHERE ${filter})` : ''}`;
}

export class HyperLogLog {
  private readonly registers = new Uint8Array(HLL_REGISTERS);

  /** Adds a host's state: the pairs of hllStateSql. Values that are not such pairs are ignored. */
  addState(pairs: unknown): void {
    if (!Array.isArray(pairs)) return;
    for (const item of pairs) {
      const pair = Number(item);
      if (!Number.isInteger(pair) || pair < 0 || pair >= HLL_REGISTERS * 64) continue;
      const register = pair >> 6;
      const rank = pair & 63;
      if (rank > this.registers[register]) this.registers[register] = rank;
    }
  }

  /** The sketch as a host's state (what addState takes): a site aggregator's merge of its hosts. */
  state(): number[] {
    const pairs: number[] = [];
    for (let register = 0; register < HLL_REGISTERS; register++) if (this.registers[register] > 0) pairs.push(register * 64 + this.registers[register]);
    return pairs;
  }

  /** The estimated number of distinct values, with the small-range correction (linear counting). */
  estimate(): number {
    const m = HLL_REGISTERS;
    let sum = 0;
    let zeros = 0;
    for (const rank of this.registers) {
      sum += 2 ** -rank;
      if (rank === 0) zeros++;
    }
    const alpha = 0.7213 / (1 + 1.079 / m);
    const raw = (alpha * m * m) / sum;
    if (raw <= 2.5 * m && zeros > 0) return Math.round(m * Math.log(m / zeros));
    return Math.round(raw);
  }
}

export const QUANTILE_RELATIVE_ERROR = 0.01;
const GAMMA = (1 + QUANTILE_RELATIVE_ERROR) / (1 - QUANTILE_RELATIVE_ERROR);
/** Added to positive bucket indexes (and subtracted for negative values) so that 0 has its own key. */
const BUCKET_OFFSET = 100_000;

/** SQL for one host's quantile state of `value`: a histogram of bucket keys (MAP key → count). */
export function quantileStateSql(value: string, filter: string | null): string {
  const bucket = (v: string): string => `(CAST(ceil(ln(${v}) / ${Math.log(GAMMA)}) AS INTEGER) + ${BUCKET_OFFSET})`;
  const key =
    `CASE WHEN ${value} IS NULL THEN NULL WHEN ${value} = 0 THEN 0 ` +
    `WHEN ${value} > 0 THEN ${bucket(`CAST(${value} AS DOUBLE)`)} ELSE -${bucket(`-CAST(${value} AS DOUBLE)`)} END`;
  return `histogram(${key})${filter ? ` FILTER (WHERE ${filter})` : ''}`;
}

export class QuantileSketch {
  private readonly counts = new Map<number, number>();

  /** Adds a host's state: the histogram of quantileStateSql, as a key → count object. */
  addState(histogram: unknown): void {
    if (histogram === null || typeof histogram !== 'object') return;
    for (const [key, count] of Object.entries(histogram as Record<string, unknown>)) {
      const k = Number(key);
      const n = Number(count);
      if (!Number.isInteger(k) || !(n > 0)) continue;
      this.counts.set(k, (this.counts.get(k) ?? 0) + n);
    }
  }

  /** The sketch as a host's state (what addState takes): a site aggregator's merge of its hosts. */
  state(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** The q-quantile (0 ≤ q ≤ 1), within 1% of a value of rank ⌊q·(n−1)⌋; null without values. */
  quantile(q: number): number | null {
    let total = 0;
    for (const n of this.counts.values()) total += n;
    if (total === 0) return null;
    const target = Math.floor(Math.min(1, Math.max(0, q)) * (total - 1));
    const keys = [...this.counts.keys()].sort((a, b) => a - b); // negative values' keys are ordered by -magnitude
    let seen = 0;
    for (const key of keys) {
      seen += this.counts.get(key)!;
      if (seen > target) return valueOf(key);
    }
    return valueOf(keys[keys.length - 1]);
  }
}

/** The bucket's representative: the value with the smallest relative error to anything in it. */
function valueOf(key: number): number {
  if (key === 0) return 0;
  const index = Math.abs(key) - BUCKET_OFFSET;
  const value = (2 * GAMMA ** index) / (GAMMA + 1);
  return key > 0 ? value : -value;
}

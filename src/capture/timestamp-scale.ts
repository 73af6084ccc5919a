/** How a TimestampScale turns a 64-bit tick count into microseconds (chosen once per interface). */
const Mode = {
  /** Decimal resolution 10^-n with n ≤ 6: multiply by 10^(6-n). */
  MULTIPLY: 0,
  /** Decimal resolution 10^-n with 6 < n ≤ 12: exact long division by 10^(n-6) in doubles. */
  DIVIDE: 1,
  /** Binary resolution 2^-n with n ≤ 38: exact split computation in doubles. */
  BINARY: 2,
  /** Anything finer: exact BigInt arithmetic (slow, for exotic files only). */
  BIGINT: 3,
} as const;
type Mode = (typeof Mode)[keyof typeof Mode];

const TWO_POW_32 = 4294967296;

/**
 * Converts pcapng timestamps (a 64-bit count of if_tsresol units, split into high and low 32-bit
 * halves, plus if_tsoffset seconds) into microseconds since the epoch, floored, without losing
 * precision: a nanosecond count near 1.7e18 does not fit a double, so it is never formed as one.
 */
export class TimestampScale {
  private readonly mode: Mode;
  /** MULTIPLY: 10^(6-n); DIVIDE: 10^(n-6); BINARY: 2^-n; BIGINT: unused. */
  private readonly factor: number;
  /** BINARY: microseconds per unit of the high word, 1e6 · 2^(32-n) (an integer for n ≤ 38). */
  private readonly highFactor: number;
  private readonly unitsPerSecond: bigint;
  /** if_tsoffset in microseconds. */
  private readonly offsetUs: number;

  /**
   * @param tsresol the if_tsresol option byte, or null when absent (pcapng §4.2: default 10^-6). Most
   *   significant bit clear: resolution 10^-(value); set: 2^-(value & 0x7f).
   * @param tsoffsetSeconds the if_tsoffset option (pcapng §4.2: seconds added to every timestamp), 0 when absent
   */
  constructor(tsresol: number | null, tsoffsetSeconds = 0) {
    const resol = tsresol ?? 6;
    const binary = (resol & 0x80) !== 0;
    const exponent = resol & 0x7f;
    this.offsetUs = tsoffsetSeconds * 1e6;
    this.highFactor = 0;
    this.factor = 0;
    this.unitsPerSecond = binary ? 1n << BigInt(exponent) : 10n ** BigInt(exponent);
    if (!binary && exponent <= 6) {
      this.mode = Mode.MULTIPLY;
      this.factor = 10 ** (6 - exponent);
    } else if (!binary && exponent <= 12) {
      this.mode = Mode.DIVIDE;
      this.factor = 10 ** (exponent - 6);
    } else if (binary && exponent <= 38) {
      this.mode = Mode.BINARY;
      this.factor = 2 ** -exponent;
      this.highFactor = 1e6 * 2 ** (32 - exponent);
    } else {
      this.mode = Mode.BIGINT;
    }
  }

  /** Microseconds since the epoch (floored) of the tick count `high · 2^32 + low`. */
  toMicros(high: number, low: number): number {
    switch (this.mode) {
      case Mode.MULTIPLY:
        return (high * TWO_POW_32 + low) * this.factor + this.offsetUs;
      case Mode.DIVIDE: {
        // Long division: high = q·d + r, so (high·2^32 + low)/d = q·2^32 + (r·2^32 + low)/d, with r·2^32 + low < 2^53.
        const d = this.factor;
        const q = Math.floor(high / d);
        const rest = (high - q * d) * TWO_POW_32 + low;
        return q * TWO_POW_32 + Math.floor(rest / d) + this.offsetUs;
      }
      case Mode.BINARY:
        // high·1e6·2^(32-n) is an integer; low·1e6 < 2^52 and dividing by 2^n is exact.
        return high * this.highFactor + Math.floor(low * 1e6 * this.factor) + this.offsetUs;
      default:
        return Number(((BigInt(high) * 4294967296n + BigInt(low)) * 1000000n) / this.unitsPerSecond) + this.offsetUs;
    }
  }
}

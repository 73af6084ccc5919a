/**
 * Keeps the agent within its CPU budget by 1-in-N packet sampling (issue 3, "a resource budget").
 *
 * Once a second the agent reports its CPU time and the packets its capture saw (metered or sampled
 * out). The controller smooths both (an exponential average over about three seconds, so that a
 * single store write does not count as a storm, nor a capture batch that came a tick late as a lull)
 * and
 *   - over the budget, while packets are what costs (at least MIN_METERED_RATE of them metered a
 *     second): multiplies N by the overshoot (at least doubling), so a storm is brought under the
 *     budget within a few seconds, whatever its rate;
 *   - when the packets seen have halved since N was last set, halves N: the metered rate is then no
 *     higher than the one that was within the budget. This is the way back after a storm, however
 *     busy the agent still is with other work (the table the storm left, conntrack's events of its
 *     flows timing out, a store write), which sampling cannot lower;
 *   - under 40% of the budget: halves N as well (the storm goes on, but costs less).
 * Over the budget with few packets, N is left alone: sampling would not lower that cost.
 * N is a power of two up to 65,536. The meter scales each sampled packet by N and stores N with
 * every flow record (`sampling`).
 */

const MAX_N = 65_536;
const SMOOTHING = 0.35;
const RELAX_BELOW = 0.4;
/** Below this many metered packets a second, packets cost well under 1% of a core: not worth sampling. */
export const MIN_METERED_RATE = 1000;

export class CpuBudget {
  private load: number | null = null;
  private rate: number | null = null;
  /** The smoothed packet rate when N was last raised (or halved by rate): what N was chosen for. */
  private rateForN = 0;
  private n = 1;

  /** @param budget most CPU allowed, as a fraction of one core (0.25 = 25%) */
  constructor(private readonly budget: number) {}

  /**
   * Takes the CPU used over the last interval (as a fraction of one core) and the packets the capture
   * saw a second over it (sampled out ones included), and returns the sampling N to use from now on.
   */
  update(cpuFraction: number, packetsPerSecond: number): number {
    this.load = this.load === null ? cpuFraction : this.load + SMOOTHING * (cpuFraction - this.load);
    this.rate = this.rate === null ? packetsPerSecond : this.rate + SMOOTHING * (packetsPerSecond - this.rate);
    const packetsMatter = this.rate / this.n >= MIN_METERED_RATE;
    if (this.load > this.budget && packetsMatter) {
      const factor = Math.max(2, 2 ** Math.ceil(Math.log2(this.load / this.budget)));
      this.n = Math.min(MAX_N, this.n * factor);
      this.rateForN = this.rate;
      // Start the average again from the new regime: the old load no longer says anything.
      this.load = this.budget;
    } else if (this.n > 1 && this.rate <= this.rateForN / 2) {
      this.n /= 2;
      this.rateForN /= 2;
    } else if (this.n > 1 && this.load < this.budget * RELAX_BELOW) {
      this.n /= 2;
      this.rateForN = this.rate;
      this.load = this.budget * RELAX_BELOW;
    }
    return this.n;
  }

  get sampling(): number {
    return this.n;
  }
}

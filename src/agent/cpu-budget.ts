/**
 * Keeps the agent within its CPU budget by 1-in-N packet sampling (issue 3, "a resource budget").
 *
 * Once a second the agent reports its process CPU time; the controller smooths it (an exponential
 * average over about three seconds, so a single store write does not trigger sampling) and
 *   - over the budget: multiplies N by the overshoot (at least doubling), so a storm is brought
 *     under the budget within a few seconds, whatever its rate;
 *   - under 40% of the budget: halves N, back to 1 (every packet) once the storm has passed.
 * N is a power of two up to 65,536. The meter scales each sampled packet by N and stores N with
 * every flow record (`sampling`).
 */

const MAX_N = 65_536;
const SMOOTHING = 0.35;
const RELAX_BELOW = 0.4;

export class CpuBudget {
  private smoothed: number | null = null;
  private n = 1;

  /** @param budget most CPU allowed, as a fraction of one core (0.25 = 25%) */
  constructor(private readonly budget: number) {}

  /**
   * Takes the CPU used over the last interval (as a fraction of one core) and returns the sampling
   * N to use from now on.
   */
  update(cpuFraction: number): number {
    this.smoothed = this.smoothed === null ? cpuFraction : this.smoothed + SMOOTHING * (cpuFraction - this.smoothed);
    const load = this.smoothed;
    if (load > this.budget) {
      const factor = Math.max(2, 2 ** Math.ceil(Math.log2(load / this.budget)));
      this.n = Math.min(MAX_N, this.n * factor);
      // Start the average again from the new regime: the old load no longer says anything.
      this.smoothed = this.budget;
    } else if (load < this.budget * RELAX_BELOW && this.n > 1) {
      this.n = Math.max(1, this.n / 2);
      this.smoothed = this.budget * RELAX_BELOW;
    }
    return this.n;
  }

  get sampling(): number {
    return this.n;
  }
}

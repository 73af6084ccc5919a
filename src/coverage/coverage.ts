/**
 * Coverage against instrumentation (issue 8, the end-system monitor's Figure 1): if only some hosts
 * run the agent, how much of the traffic is still seen? A flow is seen when either of its ends is
 * instrumented. Best-first: the greedy maximum coverage order (each next host the one that adds the
 * most bytes not yet seen; lazily re-evaluated, as the gains only shrink). Random: the mean and the
 * 95% interval of the coverage of random choices of the same size, over `trials` trials.
 */
import { Rng } from '../bench/prng.js';

/** Traffic between two hosts (either direction), optionally of one application. */
export interface HostPair {
  a: string;
  b: string;
  bytes: number;
  flows: number;
  app?: string | null;
}

export interface CoveragePoint {
  /** Hosts instrumented. */
  k: number;
  bytes: number;
  flows: number;
  randomBytes: { mean: number; low: number; high: number };
  randomFlows: { mean: number; low: number; high: number };
}

export interface CoverageResult {
  hosts: number;
  totalBytes: number;
  totalFlows: number;
  /** Hosts in best-first order. */
  order: string[];
  /** Coverage (fractions) after the first k hosts, for each k from 0 to `hosts` (or the points asked for). */
  points: CoveragePoint[];
  /** Per application: its bytes, and the share of them seen after each point's k best-first hosts. */
  apps: { app: string; bytes: number; coverage: number[] }[];
}

/** Max-heap of (gain, host) for the lazy greedy. */
class GainHeap {
  private readonly gain: number[] = [];
  private readonly host: number[] = [];
  get size(): number {
    return this.gain.length;
  }
  push(g: number, h: number): void {
    let i = this.gain.length;
    this.gain.push(g);
    this.host.push(h);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.gain[p] >= g) break;
      this.gain[i] = this.gain[p];
      this.host[i] = this.host[p];
      i = p;
    }
    this.gain[i] = g;
    this.host[i] = h;
  }
  /** The top's gain, or -1 when empty. */
  peek(): number {
    return this.gain.length > 0 ? this.gain[0] : -1;
  }
  pop(): number {
    const top = this.host[0];
    const lastGain = this.gain.pop()!;
    const lastHost = this.host.pop()!;
    const n = this.gain.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && this.gain[c + 1] > this.gain[c]) c++;
        if (this.gain[c] <= lastGain) break;
        this.gain[i] = this.gain[c];
        this.host[i] = this.host[c];
        i = c;
      }
      this.gain[i] = lastGain;
      this.host[i] = lastHost;
    }
    return top;
  }
}

/**
 * Coverage curves for `pairs`. `points` (default every k) limits the k reported; `trials` random
 * orders (default 100) give the random mean and interval.
 */
export function coverage(pairs: readonly HostPair[], options: { points?: number[]; trials?: number; seed?: number; apps?: number } = {}): CoverageResult {
  const index = new Map<string, number>();
  const names: string[] = [];
  const id = (h: string): number => {
    let i = index.get(h);
    if (i === undefined) {
      i = names.length;
      index.set(h, i);
      names.push(h);
    }
    return i;
  };
  const m = pairs.length;
  const ends = new Int32Array(2 * m);
  const bytes = new Float64Array(m);
  const flows = new Float64Array(m);
  pairs.forEach((p, e) => {
    ends[2 * e] = id(p.a);
    ends[2 * e + 1] = id(p.b);
    bytes[e] = p.bytes;
    flows[e] = p.flows;
  });
  const n = names.length;
  // Incident pairs per host (CSR); a pair of a host with itself is listed once.
  const degree = new Int32Array(n + 1);
  for (let e = 0; e < m; e++) {
    degree[ends[2 * e]]++;
    if (ends[2 * e + 1] !== ends[2 * e]) degree[ends[2 * e + 1]]++;
  }
  const start = new Int32Array(n + 1);
  for (let h = 0; h < n; h++) start[h + 1] = start[h] + degree[h];
  const fill = start.slice(0, n);
  const incident = new Int32Array(start[n]);
  for (let e = 0; e < m; e++) {
    incident[fill[ends[2 * e]]++] = e;
    if (ends[2 * e + 1] !== ends[2 * e]) incident[fill[ends[2 * e + 1]]++] = e;
  }
  let totalBytes = 0;
  let totalFlows = 0;
  for (let e = 0; e < m; e++) {
    totalBytes += bytes[e];
    totalFlows += flows[e];
  }

  // Best-first: lazy greedy on bytes (flows break ties).
  const seen = new Uint8Array(m);
  /** Marks host h's pairs seen; the bytes and flows that adds. */
  const instrument = (h: number): { bytes: number; flows: number } => {
    const added = { bytes: 0, flows: 0 };
    for (let k = start[h]; k < start[h + 1]; k++) {
      const e = incident[k];
      if (seen[e]) continue;
      seen[e] = 1;
      added.bytes += bytes[e];
      added.flows += flows[e];
    }
    return added;
  };
  const gainOf = (h: number): number => {
    let g = 0;
    for (let k = start[h]; k < start[h + 1]; k++) if (!seen[incident[k]]) g += bytes[incident[k]] + flows[incident[k]] * 1e-9;
    return g;
  };
  const heap = new GainHeap();
  for (let h = 0; h < n; h++) heap.push(gainOf(h), h);
  const order: number[] = [];
  const chosen = new Uint8Array(n);
  const bytesAt = new Float64Array(n + 1);
  const flowsAt = new Float64Array(n + 1);
  let coveredBytes = 0;
  let coveredFlows = 0;
  while (heap.size > 0) {
    const h = heap.pop();
    if (chosen[h]) continue;
    const g = gainOf(h);
    if (heap.size > 0 && g < heap.peek()) {
      heap.push(g, h); // its gain shrank: compare again with the next best
      continue;
    }
    chosen[h] = 1;
    order.push(h);
    const added = instrument(h);
    coveredBytes += added.bytes;
    coveredFlows += added.flows;
    bytesAt[order.length] = coveredBytes;
    flowsAt[order.length] = coveredFlows;
  }

  const ks = (options.points ?? Array.from({ length: n + 1 }, (_, k) => k)).filter((k) => k >= 0 && k <= n);
  // Random: the coverage of the first k hosts of a random order, for every k, per trial.
  const trials = options.trials ?? 100;
  const rng = new Rng(options.seed ?? 1);
  // Float32: a share needs no more, and every k of 300,000 hosts × 100 trials stays at 120 MB a measure.
  const randomBytes = ks.map(() => new Float32Array(trials));
  const randomFlows = ks.map(() => new Float32Array(trials));
  const perm = new Int32Array(n);
  for (let t = 0; t < trials; t++) {
    for (let i = 0; i < n; i++) perm[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const x = perm[i];
      perm[i] = perm[j];
      perm[j] = x;
    }
    seen.fill(0);
    let b = 0;
    let f = 0;
    let next = 0;
    for (let i = 0; i <= n; i++) {
      while (next < ks.length && ks[next] === i) {
        randomBytes[next][t] = totalBytes > 0 ? b / totalBytes : 0;
        randomFlows[next][t] = totalFlows > 0 ? f / totalFlows : 0;
        next++;
      }
      if (i === n) break;
      const added = instrument(perm[i]);
      b += added.bytes;
      f += added.flows;
    }
  }
  /** Mean and 95% interval of shares (the last k's shares are exactly 1: all hosts see all traffic). */
  const scratch = new Float32Array(trials);
  const summary = (values: Float32Array): { mean: number; low: number; high: number } => {
    // Sorted in one scratch array: a new one per point was most of the garbage at 300,000 points.
    scratch.set(values);
    const sorted = scratch.sort();
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
    const mean = values.reduce((s, v) => s + v, 0) / Math.max(1, values.length);
    return { mean: Math.min(1, mean), low: at(0.025), high: at(0.975) };
  };
  const points = ks.map((k, i) => ({
    k,
    bytes: totalBytes > 0 ? bytesAt[k] / totalBytes : 0,
    flows: totalFlows > 0 ? flowsAt[k] / totalFlows : 0,
    randomBytes: summary(randomBytes[i]),
    randomFlows: summary(randomFlows[i]),
  }));

  // Per application, under the best-first order: the share of its bytes seen after k hosts.
  const rank = new Int32Array(n).fill(n);
  order.forEach((h, i) => (rank[h] = i + 1));
  const appBytes = new Map<string, number>();
  for (const p of pairs) if (p.app) appBytes.set(p.app, (appBytes.get(p.app) ?? 0) + p.bytes);
  const topApps = [...appBytes].sort((x, y) => y[1] - x[1]).slice(0, options.apps ?? 10);
  const apps = topApps.map(([app, total]) => {
    // Each pair of the app is seen from the rank of its first instrumented end.
    const seenFrom = new Float64Array(n + 2);
    pairs.forEach((p, e) => {
      if (p.app === app) seenFrom[Math.min(rank[ends[2 * e]], rank[ends[2 * e + 1]])] += p.bytes;
    });
    const cumulative = new Float64Array(n + 1);
    for (let k = 1; k <= n; k++) cumulative[k] = cumulative[k - 1] + seenFrom[k];
    return { app, bytes: total, coverage: ks.map((k) => (total > 0 ? cumulative[k] / total : 0)) };
  });
  return { hosts: n, totalBytes, totalFlows, order: order.map((h) => names[h]), points, apps };
}

/** Pairs keyed by unordered ends (and app): both directions of a conversation are one pair. */
export function unorderedPairs(rows: readonly { src: string; dst: string; bytes: number; flows: number; app?: string | null }[]): HostPair[] {
  const merged = new Map<string, HostPair>();
  for (const r of rows) {
    const [a, b] = r.src <= r.dst ? [r.src, r.dst] : [r.dst, r.src];
    const key = `${a}\u0000${b}\u0000${r.app ?? ''}`;
    const held = merged.get(key);
    if (held) {
      held.bytes += r.bytes;
      held.flows += r.flows;
    } else {
      merged.set(key, { a, b, bytes: r.bytes, flows: r.flows, app: r.app ?? null });
    }
  }
  return [...merged.values()];
}

/**
 * Test support (not exported): flow records with a demand known in advance. Every hour of a four-week
 * window has bytes that follow `hourlyBytes`: nothing from 00:00 to 06:00 UTC (steps without traffic),
 * a busy hour at 14:00 three times the others, and a linear growth of a fixed fraction of the first
 * week's level per week.
 */
import { FlowRecordBatch, type FlowRecord } from '../flow/index.js';
import { FlowStore } from '../store/index.js';

/** A Monday, on the hour: the window's start. */
export const T0_MS = Date.UTC(2026, 9, 5);
export const HOUR_MS = 3_600_000;
export const WEEKS = 4;
export const HOURS = WEEKS * 7 * 24;

/** The daily shape: 0 at night, 3 at 14:00, 1 otherwise. */
export function shape(hourOfDay: number): number {
  return hourOfDay < 6 ? 0 : hourOfDay === 14 ? 3 : 1;
}

/** The bytes of hour `k` of the window: base × (1 + growth × k / 168) × shape, whole bytes. */
export function hourlyBytes(k: number, base: number, weeklyGrowth: number): number {
  return Math.round(base * (1 + (weeklyGrowth * k) / 168) * shape(k % 24));
}

export interface Flow {
  host: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  proto: number;
  bytes: number;
  startMs: number;
  direction: FlowRecord['direction'];
  process?: string | null;
}

export function flowRecord(f: Flow): FlowRecord {
  return {
    host: f.host, startUs: f.startMs * 1000, endUs: f.startMs * 1000 + 2_000_000, srcAddr: f.src, dstAddr: f.dst, srcPort: f.srcPort, dstPort: f.dstPort,
    protocol: f.proto, packets: Math.max(1, Math.ceil(f.bytes / 1500)), bytes: f.bytes, tcpFlags: f.proto === 6 ? 0x1b : 0, direction: f.direction, endReason: 'idle',
    sampling: 1, interfaceName: 'eth0', source: 'live', process: f.process ?? null, pid: f.process ? 100 : null, username: null, uid: null, container: null, command: null, tunnel: null,
  };
}

/** A store at `dir` holding `flows`. */
export async function writeFlows(dir: string, flows: readonly Flow[]): Promise<string> {
  const store = await FlowStore.open(dir, { quotaBytes: 1e9 });
  const batch = new FlowRecordBatch();
  for (const f of flows) batch.push(flowRecord(f));
  store.append(batch);
  await store.flush();
  await store.close();
  return dir;
}

/** Test-side statistics of a series of bytes per step, straight from the definitions in docs/capacity.md. */
export function expectedStatistics(series: readonly number[], stepS: number, binSteps: number, horizonS: number) {
  const rates = series.map((b) => (b * 8) / stepS);
  const n = rates.length;
  const sorted = [...rates].sort((a, b) => a - b);
  const peak = Math.max(...rates);
  const bins: { x: number; y: number }[] = [];
  for (let i = 0; i * binSteps < n; i++) {
    const part = rates.slice(i * binSteps, (i + 1) * binSteps);
    bins.push({ x: ((i * binSteps + part.length / 2) * stepS) / 604_800, y: part.reduce((a, b) => a + b, 0) / part.length });
  }
  const mx = bins.reduce((a, b) => a + b.x, 0) / bins.length;
  const my = bins.reduce((a, b) => a + b.y, 0) / bins.length;
  const slope = bins.reduce((a, b) => a + (b.x - mx) * (b.y - my), 0) / bins.reduce((a, b) => a + (b.x - mx) ** 2, 0);
  const p95 = sorted[Math.ceil(0.95 * n) - 1];
  const endWeeks = (n * stepS) / 604_800;
  return {
    bytes: series.reduce((a, b) => a + b, 0),
    mean: (series.reduce((a, b) => a + b, 0) * 8) / (n * stepS),
    peak,
    peakStep: rates.indexOf(peak),
    p95,
    active: series.filter((b) => b > 0).length,
    slope,
    percent: (slope / my) * 100,
    projected: (p95 * (my + slope * (endWeeks + horizonS / 604_800 - mx))) / my,
  };
}

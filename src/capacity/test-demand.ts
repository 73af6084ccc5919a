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

/** A small fleet: per host its site, and the base and weekly growth of the HTTPS demand it serves. */
export const HOSTS = [
  { host: 'web-1', site: 'paris', base: 40_000, growth: 0.1 },
  { host: 'web-2', site: 'paris', base: 25_000, growth: -0.02 },
  { host: 'web-3', site: 'lyon', base: 60_000, growth: 0.03 },
];

export function hostFlows(h: (typeof HOSTS)[number], index: number): Flow[] {
  const flows: Flow[] = [];
  for (let k = 0; k < HOURS; k++) {
    const bytes = hourlyBytes(k, h.base, h.growth);
    // Served by this host: the server's own records of its responses (out) and requests (in).
    if (bytes > 0) {
      flows.push({ host: h.host, src: `10.9.${index}.1`, dst: '198.51.100.7', srcPort: 443, dstPort: 51000 + (k % 1000), proto: 6, bytes, startMs: T0_MS + k * HOUR_MS + 59 * 60_000, direction: 'out', process: 'nginx' });
      flows.push({ host: h.host, src: '198.51.100.7', dst: `10.9.${index}.1`, srcPort: 51000 + (k % 1000), dstPort: 443, proto: 6, bytes: 700, startMs: T0_MS + k * HOUR_MS, direction: 'in', process: 'nginx' });
    }
    // Other traffic, which --app tcp/443 leaves out.
    flows.push({ host: h.host, src: `10.9.${index}.1`, dst: '192.0.2.53', srcPort: 40000, dstPort: 53, proto: 17, bytes: 90, startMs: T0_MS + k * HOUR_MS + 5, direction: 'out' });
  }
  return flows;
}

/** The HTTPS bytes per hour of a site's hosts together, as hostFlows writes them. */
export function siteSeries(site: string): number[] {
  const members = HOSTS.filter((h) => h.site === site);
  return Array.from({ length: HOURS }, (_, k) => members.reduce((sum, h) => sum + (hourlyBytes(k, h.base, h.growth) > 0 ? hourlyBytes(k, h.base, h.growth) + 700 : 0), 0));
}

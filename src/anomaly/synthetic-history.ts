/**
 * Test support (not exported): weeks of a host's past written as flow records, for anomaly tests.
 *
 * History cannot be recorded live, so it is made from a template: the flows a host has in one hour
 * (the lab's real normal traffic, or records a test builds). Every past hour gets a copy of the
 * template scaled by a diurnal and weekly pattern (busy afternoons, quiet nights, quieter weekends)
 * and by log-normal noise per application and hour; each copied record keeps its minute in the hour
 * and gets its bytes and packets jittered. An application runs every hour: where the pattern asks for
 * twice the template or more, records are repeated (more flows); otherwise each record is kept with
 * its bytes scaled (quiet hours are slower, not absent). The pattern is 1 at the template's
 * own hour of the week, so the template is what that hour normally looks like.
 */
import { Rng } from '../bench/prng.js';
import { FlowRecordBatch, type FlowRecord } from '../flow/index.js';
import { FlowStore } from '../store/index.js';

export const HOUR_US = 3_600_000_000;
export const DAY_US = 24 * HOUR_US;

export interface HistoryOptions {
  /** The template hour's start (µs, a whole hour): history fills the `days` before it. */
  hourStartUs: number;
  days: number;
  seed: number;
  /** Log-normal sigma of the per-application, per-hour volume (default 0.25). */
  sigma?: number;
  /** The records' host (default: the template's). */
  host?: string;
}

/** Activity by hour of day (UTC) and day of week: 1 in working afternoons, about 0.15 at night, 0.3 at weekends. */
export function activity(us: number): number {
  const date = new Date(us / 1000);
  const hour = date.getUTCHours() + date.getUTCMinutes() / 60;
  const weekend = date.getUTCDay() === 0 || date.getUTCDay() === 6;
  return (0.15 + 0.85 * Math.exp(-(((hour - 14) / 4.5) ** 2))) * (weekend ? 0.3 : 1);
}

/** The application a record belongs to, as APPLICATION_SQL names it. */
export function applicationOf(r: Pick<FlowRecord, 'protocol' | 'srcPort' | 'dstPort'>): string {
  const names: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 1: 'icmp', 58: 'icmpv6' };
  const name = names[r.protocol] ?? `ip${r.protocol}`;
  return [6, 17, 132].includes(r.protocol) ? `${name}/${Math.min(r.srcPort, r.dstPort)}` : name;
}

/** The history's records, hour by hour, oldest first. */
export function* historyRecords(template: readonly FlowRecord[], options: HistoryOptions): Generator<FlowRecord> {
  const rng = new Rng(options.seed);
  const sigma = options.sigma ?? 0.25;
  const reference = activity(options.hourStartUs);
  const apps = [...new Set(template.map(applicationOf))];
  for (let hour = options.days * 24; hour >= 1; hour--) {
    const startUs = options.hourStartUs - hour * HOUR_US;
    const level = activity(startUs) / reference;
    const scale = new Map(apps.map((app) => [app, level * rng.logNormal(1, sigma)]));
    for (const record of template) {
      const factor = scale.get(applicationOf(record))!;
      const copies = Math.max(1, Math.floor(factor));
      const volume = factor / copies;
      for (let c = 0; c < copies; c++) {
        const jitter = volume * rng.logNormal(1, 0.1);
        const offsetUs = (((record.startUs - options.hourStartUs) % HOUR_US) + HOUR_US) % HOUR_US;
        const durationUs = record.endUs - record.startUs;
        yield {
          ...record,
          host: options.host ?? record.host,
          startUs: startUs + offsetUs,
          endUs: startUs + offsetUs + durationUs,
          bytes: Math.max(1, Math.round(record.bytes * jitter)),
          packets: Math.max(1, Math.round(record.packets * jitter)),
        };
      }
    }
  }
}

/** Appends records to the store in `dataDir` (created when missing) and flushes. */
export async function writeRecords(dataDir: string, records: Iterable<FlowRecord>): Promise<void> {
  const store = await FlowStore.open(dataDir, { retentionMs: 365 * DAY_US / 1000 });
  let batch = new FlowRecordBatch();
  for (const record of records) {
    batch.push(record);
    if (batch.length >= 50_000) {
      store.append(batch);
      batch = new FlowRecordBatch();
    }
  }
  if (batch.length > 0) store.append(batch);
  await store.flush();
  await store.close();
}

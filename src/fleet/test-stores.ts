/** Test support (not exported): stores of a few hosts with different flows, and one holding them all. */
import path from 'node:path';
import { FlowRecordBatch } from '../flow/index.js';
import { FlowStore } from '../store/index.js';
import { testBatch } from '../store/test-records.js';

const HOUR_US = 3_600_000_000;

/**
 * Writes `sizes.length` host stores (host-0, host-1, …) and `all` under `dir`; returns their
 * directories. Host h's flows start at `startUs` plus h hours, `stepUs` plus h · 333 ms apart.
 */
export async function writeHostStores(
  dir: string,
  sizes: readonly number[],
  { startUs = 1_700_000_000_000_000, stepUs = 1_000_000, hostOffsetUs = HOUR_US } = {},
): Promise<{ hosts: string[]; all: string }> {
  const all = new FlowRecordBatch();
  const hosts: string[] = [];
  for (let h = 0; h < sizes.length; h++) {
    // Different hosts, sizes, time spans and seeds.
    const batch = new FlowRecordBatch();
    for (const record of testBatch(sizes[h], startUs + h * hostOffsetUs, stepUs + h * 333_333, h + 1).toRecords()) {
      const own = { ...record, host: `host-${h}` };
      batch.push(own);
      all.push(own);
    }
    hosts.push(await writeStore(path.join(dir, `h${h}`), batch));
  }
  return { hosts, all: await writeStore(path.join(dir, 'all'), all) };
}

async function writeStore(dataDir: string, batch: FlowRecordBatch): Promise<string> {
  const store = await FlowStore.open(dataDir);
  store.append(batch);
  await store.flush();
  await store.close();
  return dataDir;
}

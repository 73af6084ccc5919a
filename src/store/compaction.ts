/**
 * Compaction: a day's small segments merged into one (issue 2's local store; issue 4's queries).
 *
 * The agent writes a segment per export (every minute by default), so a day holds up to 1,440 of
 * them. Each has its own dictionaries and headers and is sorted on its own; read together they cost
 * a query a file each and compress far worse than one segment sorted as a whole (measured on the
 * bench's week of hourly segments: 17.7 → 9–10 B per record, a subnet query 270 → 130 ms).
 *
 * Crash-safe, and never visible twice to a reader:
 *   1. the merged segment is written under .tmp/ and fsynced;
 *   2. a sidecar `NAME.replaces` (the input names, JSON) is written atomically into the day;
 *   3. the merged segment is renamed into the day as NAME.parquet;
 *   4. after a grace period (queries that listed the inputs before step 3 may still read them), the
 *      inputs, then the sidecar, are deleted.
 * Readers (listSegments) skip every input named by a sidecar whose segment exists, so between 3 and
 * 4 they see the merged segment only, and before 3 the inputs only. A crash before 3 leaves a
 * sidecar without its segment, which is removed at the next open; a crash after 3 leaves what step 4
 * finishes later. A day is not merged again while a sidecar of its waits, so compactions never chain.
 * The merged segment keeps the newest input's write time: retention (by write time) never cuts its
 * records' life short, and extends it by at most the span of the inputs' write times (a day's, or
 * more for a day whose records keep arriving late). Retention deleting a merged segment within its
 * grace deletes its hidden inputs too; the quota counts them.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsyncPath } from './fsync.js';

/** The sidecar's suffix: `NAME.replaces` beside `NAME.parquet`. */
export const REPLACES_SUFFIX = '.replaces';
/** How long replaced inputs stay on disk (hidden) for queries that listed them before the swap. */
export const COMPACTION_GRACE_MS = 10 * 60_000;

/** What the sidecars of one day directory say: the inputs hidden by a merged segment that exists. */
export function hiddenByCompaction(names: readonly string[], sidecars: ReadonlyMap<string, readonly string[]>): Set<string> {
  const present = new Set(names);
  const hidden = new Set<string>();
  for (const [segment, inputs] of sidecars) if (present.has(segment)) for (const input of inputs) hidden.add(input);
  return hidden;
}

/** Reads the sidecars among `names` in `dayDir`: merged segment name → its inputs. A damaged sidecar hides nothing. */
export async function readSidecars(dayDir: string, names: readonly string[]): Promise<Map<string, string[]>> {
  const sidecars = new Map<string, string[]>();
  for (const name of names) {
    if (!name.endsWith(REPLACES_SUFFIX)) continue;
    const text = await fs.readFile(path.join(dayDir, name), 'utf8').catch(() => '');
    try {
      const inputs: unknown = JSON.parse(text);
      if (Array.isArray(inputs) && inputs.every((i) => typeof i === 'string' && !i.includes('/'))) {
        sidecars.set(name.slice(0, -REPLACES_SUFFIX.length) + '.parquet', inputs as string[]);
      }
    } catch {
      // Written atomically, so never half there; anything else is not ours to trust.
    }
  }
  return sidecars;
}

/**
 * Step 4 and the recovery: in every day of the store, a sidecar whose segment is missing (a crash
 * before the swap) is removed; one whose segment exists and that is older than `graceMs` has its
 * inputs, then itself, removed. Returns the bytes freed.
 */
export async function finishCompactions(root: string, nowMs: number, graceMs = COMPACTION_GRACE_MS): Promise<number> {
  const flowsDir = path.join(root, 'flows');
  const days = await fs.readdir(flowsDir).catch(() => [] as string[]);
  let freed = 0;
  for (const day of days) {
    if (!day.startsWith('day=')) continue;
    const dayDir = path.join(flowsDir, day);
    const names = await fs.readdir(dayDir).catch(() => [] as string[]);
    if (!names.some((n) => n.endsWith(REPLACES_SUFFIX))) continue;
    const present = new Set(names);
    for (const [segment, inputs] of await readSidecars(dayDir, names)) {
      const sidecar = path.join(dayDir, segment.slice(0, -'.parquet'.length) + REPLACES_SUFFIX);
      if (!present.has(segment)) {
        await fs.rm(sidecar, { force: true });
        continue;
      }
      const written = (await fs.stat(sidecar)).mtimeMs;
      if (nowMs - written < graceMs) continue;
      freed += await removeInputs(dayDir, inputs);
      await fs.rm(sidecar, { force: true });
      await fsyncPath(dayDir);
    }
  }
  return freed;
}

/** Deletes a compaction's inputs, durably, before its sidecar may go (else they would come back). */
async function removeInputs(dayDir: string, inputs: readonly string[]): Promise<number> {
  let freed = 0;
  for (const input of inputs) {
    const file = path.join(dayDir, input);
    freed += await fs.stat(file).then((s) => s.size, () => 0);
    await fs.rm(file, { force: true });
  }
  await fsyncPath(dayDir);
  return freed;
}

/**
 * Deletes a segment (retention, quota) durably. A merged segment's inputs, if still waiting out their
 * grace, go first: with their segment gone, its sidecar would hide them no more. Returns the bytes freed.
 */
export async function removeSegment(file: string): Promise<number> {
  const dayDir = path.dirname(file);
  const sidecar = file.replace(/\.parquet$/, REPLACES_SUFFIX);
  let freed = 0;
  const [inputs] = [...(await readSidecars(dayDir, [path.basename(sidecar)])).values()];
  if (inputs) {
    freed += await removeInputs(dayDir, inputs);
    await fs.rm(sidecar, { force: true });
  }
  freed += await fs.stat(file).then((s) => s.size, () => 0);
  await fs.rm(file, { force: true });
  await fsyncPath(dayDir);
  return freed;
}

/** Whether a day still has a compaction waiting out its grace (a day is not merged again meanwhile). */
export async function hasPendingCompaction(dayDir: string): Promise<boolean> {
  return (await fs.readdir(dayDir).catch(() => [] as string[])).some((n) => n.endsWith(REPLACES_SUFFIX));
}

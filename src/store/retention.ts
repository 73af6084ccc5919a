/**
 * Retention by age and a disk quota over the store's segments.
 *
 * Age is the time since a segment was written (the W in its name), not the age of the packets in it:
 * importing a capture from last year must not delete it at once. Beyond the quota, the segments
 * written longest ago go first.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { hiddenByCompaction, readSidecars, removeSegment } from './compaction.js';

export interface SegmentInfo {
  path: string;
  bytes: number;
  firstStartUs: number;
  writtenUs: number;
}

export interface RetentionResult {
  deleted: string[];
  bytesFreed: number;
}

const SEGMENT_NAME = /^(\d+)-(\d+)-[0-9a-z]+\.parquet$/;

/** Lists complete segments (never the temporary files, nor those a compaction replaced), oldest written first. */
export async function listSegments(dataDir: string): Promise<SegmentInfo[]> {
  return (await segmentListing(dataDir)).segments;
}

/** The complete segments, and how many on disk (and their bytes) are hidden because a compaction replaced them. */
export async function segmentListing(dataDir: string): Promise<{ segments: SegmentInfo[]; hidden: number; hiddenBytes: number }> {
  const flowsDir = path.join(dataDir, 'flows');
  const segments: SegmentInfo[] = [];
  let hiddenCount = 0;
  let hiddenBytes = 0;
  let days: string[];
  try {
    days = await fs.readdir(flowsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { segments, hidden: 0, hiddenBytes: 0 };
    throw error;
  }
  for (const day of days) {
    if (!day.startsWith('day=')) continue;
    const dayDir = path.join(flowsDir, day);
    // One listing per day: a compaction's sidecar is there before its segment and after its inputs.
    const names = await fs.readdir(dayDir);
    const hidden = hiddenByCompaction(names, await readSidecars(dayDir, names));
    for (const name of names) {
      const match = SEGMENT_NAME.exec(name);
      if (!match) continue;
      if (hidden.has(name)) {
        hiddenCount++;
        hiddenBytes += await fs.stat(path.join(dayDir, name)).then((s) => s.size, () => 0);
        continue;
      }
      const file = path.join(dayDir, name);
      const stat = await fs.stat(file).catch(() => null);
      if (stat === null) continue; // removed since the listing (retention, a finished compaction)
      segments.push({ path: file, bytes: stat.size, firstStartUs: Number(match[1]), writtenUs: Number(match[2]) });
    }
  }
  segments.sort((a, b) => a.writtenUs - b.writtenUs || a.firstStartUs - b.firstStartUs);
  return { segments, hidden: hiddenCount, hiddenBytes };
}

/** Deletes segments older than `retentionMs`, then the oldest ones until the total fits `quotaBytes`. */
export async function enforceRetention(
  dataDir: string,
  limits: { retentionMs: number; quotaBytes: number; nowMs: number },
): Promise<RetentionResult> {
  const { segments, hiddenBytes } = await segmentListing(dataDir);
  const result: RetentionResult = { deleted: [], bytesFreed: 0 };
  // The inputs of a compaction waiting out its grace take disk too.
  let total = segments.reduce((sum, s) => sum + s.bytes, 0) + hiddenBytes;
  const oldestAllowedUs = (limits.nowMs - limits.retentionMs) * 1000;
  for (const segment of segments) {
    if (segment.writtenUs >= oldestAllowedUs && total <= limits.quotaBytes) break;
    const freed = await removeSegment(segment.path);
    result.deleted.push(segment.path);
    result.bytesFreed += freed;
    total -= freed;
  }
  return result;
}

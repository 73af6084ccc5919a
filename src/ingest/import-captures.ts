/**
 * Imports capture files into the store: capture → decode → flow meter → store.
 *
 * Flow records depend on packet timestamps only, so a replay always gives the same records. The
 * export timer, which bounds what a crash can lose, runs on the wall clock: finished records are
 * written to the store every `exportIntervalUs` of real time, or sooner once `maxPendingRecords` wait
 * in memory. (On packet time, an hour of capture read in seconds would make sixty tiny segments.)
 *
 * Several files are metered as one continuous trace, in the order given (rotated captures of one
 * link). Problems in the files are counted by reason and stored with the import's summary.
 */
import os from 'node:os';
import path from 'node:path';
import { openCapture, type CaptureSource } from '../capture/index.js';
import { IssueCounter } from '../common/issue-counter.js';
import { FlowMeter, type FlowMeterStats, type FlowRecordBatch } from '../flow/index.js';
import type { FlowStore } from '../store/index.js';

export interface ImportOptions {
  idleTimeoutUs: number;
  activeTimeoutUs: number;
  /** How long a TCP flow that saw FIN or RST stays open for its last packets. */
  finTimeoutUs: number;
  exportIntervalUs: number;
  maxFlows: number;
  /**
   * Finished records held in memory before a flush starts. Default 250,000: large enough segments
   * to compress well, small enough that writing one overlaps with metering the next.
   */
  maxPendingRecords?: number;
  /** Wall clock in ms (tests pass a fake one). */
  now?: () => number;
  /** Host id written into each record; default: this machine's host name. */
  host?: string;
  /** Called with the progress so far, at most every 100 ms and once at the end of each file. */
  onProgress?: (progress: ImportProgress) => void;
  /** Called with each batch of finished records before it is stored (NetFlow/IPFIX export). */
  onRecords?: (batch: FlowRecordBatch) => Promise<void>;
  /** The host's privacy policy (docs/privacy.md): every record passes it before it is stored or exported. */
  privacy?: ImportPrivacy;
}

/** What an import needs of a PrivacyGuard. */
export interface ImportPrivacy {
  apply(batch: FlowRecordBatch): FlowRecordBatch;
  status(): { version: number; section: string; dropped: number };
}

export interface ImportProgress {
  file: string;
  fileIndex: number;
  /** Compressed bytes consumed over all files so far, and their total size. */
  bytesRead: number;
  totalBytes: number;
  packets: number;
  flowsStored: number;
}

export interface ImportSummary {
  /** `complete` here; the stored record says `running` while the import runs, `failed` if it fails. */
  status: 'complete';
  files: string[];
  host: string;
  startedAt: string;
  finishedAt: string;
  elapsedMs: number;
  packets: number;
  packetsMetered: number;
  packetsSkipped: number;
  /** Flow records written to the store. */
  flows: number;
  flowsEvicted: number;
  segmentsWritten: number;
  storedBytes: number;
  /** Segments that retention or the quota deleted during the import, and how many were its own. */
  segmentsDeleted: number;
  ownSegmentsDeleted: number;
  bytesDeleted: number;
  bytesRead: number;
  firstPacketTime: string | null;
  lastPacketTime: string | null;
  /** Skipped or suspicious input, by reason (decode issues, capture format issues). */
  issues: Record<string, number>;
  meter: FlowMeterStats;
  /** The privacy policy the records passed (its version, the section that applied, records it dropped), or null: none. */
  privacy: { version: number; section: string; dropped: number } | null;
  options: { idleTimeoutUs: number; activeTimeoutUs: number; finTimeoutUs: number; exportIntervalUs: number; maxFlows: number };
}

/**
 * Imports `files` into `store`. The import is recorded in the store as `running` when it starts and
 * rewritten as `complete` (the summary) or `failed` (with the error) when it ends; one killed midway
 * stays `running`, which tells whoever reads `imports` that its records may be partial.
 */
export async function importCaptures(files: readonly string[], store: FlowStore, options: ImportOptions): Promise<ImportSummary> {
  const started = Date.now();
  const host = options.host ?? os.hostname();
  const issues = new IssueCounter();
  // Open every file first: a file that is not a capture fails before anything is written or recorded.
  const sources: CaptureSource[] = [];
  try {
    for (const file of files) sources.push(await openCapture(file, issues));
  } catch (error) {
    for (const source of sources) await source.close();
    throw error;
  }
  const id = store.newImportId();
  const header = { files: files.map((f) => path.resolve(f)), host, startedAt: new Date(started).toISOString() };
  await store.recordImport(id, { status: 'running', ...header });
  try {
    const summary = await runImport(files, sources, issues, store, options, host, started);
    await store.recordImport(id, summary);
    return summary;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await store.recordImport(id, { status: 'failed', ...header, error: message }).catch(() => undefined);
    throw error;
  }
}

async function runImport(
  files: readonly string[],
  sources: readonly CaptureSource[],
  issues: IssueCounter,
  store: FlowStore,
  options: ImportOptions,
  host: string,
  started: number,
): Promise<ImportSummary> {
  const meter = new FlowMeter(
    {
      idleTimeoutUs: options.idleTimeoutUs,
      activeTimeoutUs: options.activeTimeoutUs,
      finTimeoutUs: options.finTimeoutUs,
      maxFlows: options.maxFlows,
      host,
      source: `pcap:${path.basename(files[0] ?? '')}`,
    },
    issues,
  );

  const totalBytes = sources.reduce((sum, s) => sum + (s.totalBytes ?? 0), 0);

  let flowsStored = 0;
  let segmentsWritten = 0;
  let storedBytes = 0;
  const written = new Set<string>();
  let segmentsDeleted = 0;
  let ownSegmentsDeleted = 0;
  let bytesDeleted = 0;
  let bytesBefore = 0;
  const now = options.now ?? Date.now;
  const maxPendingRecords = options.maxPendingRecords ?? 250_000;
  let lastExportMs = now();
  // DuckDB writes a segment on its own threads, so a flush runs while the meter goes on; at most one
  // is in flight, and a failed one stops the import at the next batch.
  let inFlight: Promise<void> | null = null;
  const flush = async (): Promise<void> => {
    if (inFlight) await inFlight;
    const drained = options.privacy ? options.privacy.apply(meter.drain()) : meter.drain();
    if (options.onRecords && drained.length > 0) await options.onRecords(drained);
    store.append(drained);
    inFlight = store.flush().then((result) => {
      flowsStored += result.records;
      segmentsWritten += result.segments.length;
      storedBytes += result.bytesWritten;
      for (const segment of result.segments) written.add(segment);
      segmentsDeleted += result.retention.deleted.length;
      ownSegmentsDeleted += result.retention.deleted.filter((s) => written.has(s)).length;
      bytesDeleted += result.retention.bytesFreed;
    });
    // Mark the rejection handled here; it is rethrown when awaited.
    inFlight.catch(() => undefined);
  };

  let lastProgressMs = 0;
  const report = (fileIndex: number, fileBytesRead: number): void =>
    options.onProgress?.({
      file: files[fileIndex],
      fileIndex,
      bytesRead: bytesBefore + fileBytesRead,
      totalBytes,
      packets: meter.stats().packetsSeen,
      flowsStored: flowsStored + store.pendingCount + meter.pendingRecords,
    });

  for (let fileIndex = 0; fileIndex < sources.length; fileIndex++) {
    const source = sources[fileIndex];
    meter.setSource(`pcap:${path.basename(files[fileIndex])}`);
    for await (const batch of source.batches()) {
      meter.processBatch(batch, source.interfaces);
      if (meter.pendingRecords >= maxPendingRecords || (now() - lastExportMs) * 1000 >= options.exportIntervalUs) {
        lastExportMs = now();
        await flush();
      }
      if (options.onProgress && now() - lastProgressMs >= 100) {
        lastProgressMs = now();
        report(fileIndex, source.bytesRead);
      }
    }
    report(fileIndex, source.bytesRead);
    bytesBefore += source.bytesRead;
  }
  meter.finish();
  await flush();
  await inFlight;

  const stats = meter.stats();
  const finished = Date.now();
  const summary: ImportSummary = {
    status: 'complete',
    files: files.map((f) => path.resolve(f)),
    host,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    elapsedMs: finished - started,
    packets: stats.packetsSeen,
    packetsMetered: stats.packetsMetered,
    packetsSkipped: stats.packetsSkipped,
    flows: flowsStored,
    flowsEvicted: stats.flowsEvicted,
    segmentsWritten,
    storedBytes,
    segmentsDeleted,
    ownSegmentsDeleted,
    bytesDeleted,
    bytesRead: bytesBefore,
    firstPacketTime: stats.firstPacketUs === 0 ? null : new Date(stats.firstPacketUs / 1000).toISOString(),
    lastPacketTime: stats.nowUs === 0 ? null : new Date(stats.nowUs / 1000).toISOString(),
    issues: issues.toJSON(),
    meter: stats,
    privacy: options.privacy ? (({ version, section, dropped }) => ({ version, section, dropped }))(options.privacy.status()) : null,
    options: {
      idleTimeoutUs: options.idleTimeoutUs,
      activeTimeoutUs: options.activeTimeoutUs,
      finTimeoutUs: options.finTimeoutUs,
      exportIntervalUs: options.exportIntervalUs,
      maxFlows: options.maxFlows,
    },
  };
  return summary;
}

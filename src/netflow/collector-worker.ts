/**
 * The collector's decoding and storing, on a thread of its own (collector-service.ts): datagrams
 * arrive in batches from the thread that holds the sockets, so that a store write, which blocks this
 * thread for a while, never keeps the sockets from being read (the kernel's buffer is small).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FlowStore, MINUTE_SEGMENTS_COMPACTION } from '../store/index.js';
import { FAST_SEGMENTS_SUPPORTED } from '../store/fast-segment.js';
import { NetflowCollector } from './collector.js';

/**
 * Records held before a flush is due whatever the interval (a Parquet row group's worth): a busy
 * collector writes a segment of this many sooner, so its memory stays bounded.
 */
const FLUSH_RECORDS = 1_000_000;

export interface WorkerSettings {
  dataDir: string;
  retentionMs: number;
  quotaBytes?: number;
  intervalMs: number;
}

/** From the socket thread: datagrams packed in one buffer (`offsets[i]..offsets[i+1]`), with their senders. */
export interface DatagramBatch {
  kind: 'batch';
  bytes: Uint8Array;
  offsets: Int32Array;
  senders: string[];
  ports: Int32Array;
}

export type ToWorker = DatagramBatch | { kind: 'stop' };
export type FromWorker =
  | { kind: 'ready'; dataDir: string }
  | { kind: 'done'; bytes: number }
  | { kind: 'error'; message: string }
  | { kind: 'stopped'; stored: number; stats: ReturnType<NetflowCollector['stats']> };

async function main(): Promise<void> {
  const port = parentPort!;
  const settings = workerData as WorkerSettings;
  const store = await FlowStore.open(settings.dataDir, { retentionMs: settings.retentionMs, quotaBytes: settings.quotaBytes, fastWrites: true, compaction: MINUTE_SEGMENTS_COMPACTION });
  // fastWrites: the store writes fast segments (where the machine allows), which read IPv6 addresses as bytes.
  const collector = new NetflowCollector(store, Date.now, FAST_SEGMENTS_SUPPORTED);
  let stored = 0;
  let writing: Promise<void> = Promise.resolve();
  let flushesQueued = 0;
  const flush = (): Promise<void> => {
    flushesQueued++;
    return (writing = writing.then(async () => {
      flushesQueued--;
      stored += await collector.flush();
    }).catch((error: Error) => port.postMessage({ kind: 'error', message: error.message } satisfies FromWorker)));
  };
  const timer = setInterval(() => void flush(), settings.intervalMs);
  port.postMessage({ kind: 'ready', dataDir: store.dataDir } satisfies FromWorker);
  port.on('message', (message: ToWorker) => {
    if (message.kind === 'batch') {
      const { bytes, offsets, senders, ports } = message;
      for (let i = 0; i < senders.length; i++) collector.handleMessage(bytes.subarray(offsets[i], offsets[i + 1]), senders[i], ports[i]);
      if (collector.pendingCount >= FLUSH_RECORDS && flushesQueued === 0) void flush();
      port.postMessage({ kind: 'done', bytes: bytes.length } satisfies FromWorker);
      return;
    }
    clearInterval(timer);
    void flush()
      .then(() => store.close())
      .then(() => port.postMessage({ kind: 'stopped', stored, stats: collector.stats() } satisfies FromWorker));
  });
}

if (parentPort && (workerData as { dataDir?: string } | null)?.dataDir) void main();

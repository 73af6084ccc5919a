/**
 * `endsight collect` on two threads: this one reads the sockets and passes datagrams on in batches
 * (every 5 ms, or sooner at 512 datagrams) to collector-worker.ts, which decodes and stores them.
 * The datagrams on their way are bounded (MAX_BACKLOG_BYTES); beyond that new ones are dropped and
 * counted as `collector_backlog_full`, so a flood costs memory only up to the bound.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { MessageListeners, type ExporterStats, type ListenAddress } from './collector.js';
import type { DatagramBatch, FromWorker, ToWorker, WorkerSettings } from './collector-worker.js';

const BATCH_DATAGRAMS = 512;
const BATCH_MS = 5;
export const MAX_BACKLOG_BYTES = 256 << 20;

export class CollectorService {
  private readonly listeners: MessageListeners;
  private queue: { data: Uint8Array; address: string; port: number }[] = [];
  private queuedBytes = 0;
  private inFlightBytes = 0;
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped: Promise<{ stored: number; stats: ExporterStats[] }> | null = null;

  private constructor(private readonly worker: Worker, readonly dataDir: string) {
    this.listeners = new MessageListeners((data, address, port) => this.enqueue(data, address, port));
    worker.on('message', (message: FromWorker) => {
      if (message.kind === 'done') this.inFlightBytes -= message.bytes;
      else if (message.kind === 'error') process.stderr.write(`endsight: ${message.message}\n`);
    });
  }

  /** Starts the worker (it opens the store) and the sockets; rejects with one line when either fails. */
  static async start(settings: WorkerSettings, addresses: readonly ListenAddress[]): Promise<CollectorService> {
    const worker = new Worker(fileURLToPath(new URL('./collector-worker.js', import.meta.url)), { workerData: settings });
    const dataDir = await new Promise<string>((resolve, reject) => {
      worker.once('message', (m: FromWorker) => (m.kind === 'ready' ? resolve(m.dataDir) : reject(new Error(m.kind === 'error' ? m.message : 'the collector thread did not start'))));
      worker.once('error', (error) => reject(error));
    });
    const service = new CollectorService(worker, dataDir);
    try {
      await service.listeners.listen(addresses);
    } catch (error) {
      await service.stop();
      throw error;
    }
    return service;
  }

  addresses(): string[] {
    return this.listeners.addresses();
  }

  private enqueue(data: Uint8Array, address: string, port: number): void {
    if (this.inFlightBytes + this.queuedBytes + data.length > MAX_BACKLOG_BYTES) {
      this.dropped++;
      return;
    }
    this.queue.push({ data, address, port });
    this.queuedBytes += data.length;
    if (this.queue.length >= BATCH_DATAGRAMS) this.send();
    else this.timer ??= setTimeout(() => this.send(), BATCH_MS);
  }

  private send(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.queue.length === 0) return;
    const queue = this.queue;
    this.queue = [];
    const bytes = new Uint8Array(this.queuedBytes);
    const offsets = new Int32Array(queue.length + 1);
    const ports = new Int32Array(queue.length);
    let at = 0;
    queue.forEach((d, i) => {
      offsets[i] = at;
      bytes.set(d.data, at);
      at += d.data.length;
      ports[i] = d.port;
    });
    offsets[queue.length] = at;
    this.inFlightBytes += this.queuedBytes;
    this.queuedBytes = 0;
    const batch: DatagramBatch = { kind: 'batch', bytes, offsets, senders: queue.map((d) => d.address), ports };
    this.worker.postMessage(batch satisfies ToWorker, [bytes.buffer, offsets.buffer, ports.buffer]);
  }

  /** Closes the sockets, lets the worker decode and store everything received, and returns its counts. */
  stop(): Promise<{ stored: number; stats: ExporterStats[]; dropped: number }> {
    this.stopped ??= (async () => {
      await this.listeners.close();
      this.send();
      const done = new Promise<{ stored: number; stats: ExporterStats[] }>((resolve, reject) => {
        this.worker.on('message', (m: FromWorker) => m.kind === 'stopped' && resolve(m));
        this.worker.once('error', reject);
      });
      this.worker.postMessage({ kind: 'stop' } satisfies ToWorker);
      const result = await done;
      await this.worker.terminate();
      return result;
    })();
    return this.stopped.then((r) => ({ ...r, dropped: this.dropped }));
  }
}

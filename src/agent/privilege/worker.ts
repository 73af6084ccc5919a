/**
 * The worker's side of privilege separation (supervisor.ts): capture and attribution through the
 * supervisor, over the IPC channel this process was started with.
 */
import type { Socket } from 'node:net';
import type { CaptureSource } from '../../capture/index.js';
import type { IssueCounter } from '../../common/issue-counter.js';
import type { AttributionFeed, StartAttribution } from '../attribution/attribution-feed.js';
import { AttributionUnavailable } from '../attribution/socket-events.js';
import {
  CaptureStartError,
  openTcpdumpStream,
  type CaptureCounters,
  type CaptureHandle,
  type LiveCaptureOptions,
  type StartCapture,
} from '../tcpdump-capture.js';
import type { SupervisorMessage, WorkerMessage } from './messages.js';

const NO_COUNTERS: CaptureCounters = { captured: 0, receivedByFilter: 0, droppedByKernel: 0 };

/** A capture whose tcpdump belongs to the supervisor; the pipe was handed over. */
class RemoteCapture implements CaptureHandle {
  failure: string | null = null;
  lastCounters: CaptureCounters = NO_COUNTERS;
  readonly exited: Promise<void>;
  private markExited!: () => void;
  private statsWaiters: ((counters: CaptureCounters) => void)[] = [];

  constructor(
    readonly id: number,
    readonly source: CaptureSource,
    private readonly send: (message: WorkerMessage) => void,
    private readonly connected: () => boolean,
  ) {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
  }

  /** The supervisor flushes tcpdump every second itself. */
  flush(): void {}

  stats(): Promise<CaptureCounters> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.lastCounters), 1500);
      this.statsWaiters.push((counters) => {
        clearTimeout(timer);
        resolve(counters);
      });
      this.send({ op: 'capture-stats', id: this.id });
    });
  }

  async stop(): Promise<void> {
    if (this.connected()) {
      this.send({ op: 'capture-stop', id: this.id });
    } else {
      // The supervisor is gone: stop reading; tcpdump ends at its next write into the closed pipe.
      await this.source.close();
      this.markExited();
    }
    await this.exited;
  }

  onCounters(counters: CaptureCounters): void {
    this.lastCounters = counters;
    const waiters = this.statsWaiters;
    this.statsWaiters = [];
    for (const w of waiters) w(counters);
  }

  onExited(failure: string | null, counters: CaptureCounters): void {
    this.failure = failure;
    this.onCounters(counters);
    this.markExited();
  }
}

/** Capture and attribution starters that go through the supervisor. */
export function supervisedHelpers(channel: {
  /** Sends to the supervisor; does nothing once the channel is closed. */
  send: (message: WorkerMessage) => void;
  connected: () => boolean;
  on: (listener: (message: SupervisorMessage, handle: unknown) => void) => void;
}): { startCapture: StartCapture; startAttribution: StartAttribution } {
  let nextId = 0;
  const starting = new Map<number, { issues: IssueCounter; resolve: (c: CaptureHandle) => void; reject: (e: Error) => void }>();
  const captures = new Map<number, RemoteCapture>();
  let attribution: { resolve: (f: AttributionFeed) => void; reject: (e: Error) => void } | null = null;
  let listener: Parameters<StartAttribution>[0] | null = null;
  let markAttributionExited: () => void = () => undefined;

  channel.on((message, handle) => {
    switch (message.op) {
      case 'capture': {
        const pending = starting.get(message.id);
        if (!pending) return;
        starting.delete(message.id);
        const pipe = handle as Socket;
        channel.send({ op: 'capture-ready', id: message.id });
        openTcpdumpStream(pipe, pending.issues, async () => {
          pipe.destroy();
        }).then(
          (source) => {
            const capture = new RemoteCapture(message.id, source, channel.send, channel.connected);
            captures.set(message.id, capture);
            pending.resolve(capture);
          },
          (error: Error) => pending.reject(error),
        );
        return;
      }
      case 'capture-failed':
        starting.get(message.id)?.reject(new CaptureStartError(message.reason));
        starting.delete(message.id);
        return;
      case 'capture-counters':
        captures.get(message.id)?.onCounters(message.counters);
        return;
      case 'capture-exited':
        captures.get(message.id)?.onExited(message.failure, message.counters);
        captures.delete(message.id);
        return;
      case 'attribution-started':
        attribution?.resolve({
          natUnavailable: message.natUnavailable,
          exited: new Promise((resolve) => (markAttributionExited = resolve)),
          stop: async () => undefined, // the supervisor stops bpftrace when the worker exits
        });
        attribution = null;
        return;
      case 'attribution-unavailable':
        attribution?.reject(new AttributionUnavailable(message.reason));
        attribution = null;
        return;
      case 'attribution-exited':
        markAttributionExited();
        return;
      case 'owner':
        listener?.onOwner(message.event, message.owner);
        return;
      case 'nat':
        listener?.onNat(message.mapping);
        return;
    }
  });

  return {
    startCapture: (options: LiveCaptureOptions, issues: IssueCounter) =>
      new Promise<CaptureHandle>((resolve, reject) => {
        const id = ++nextId;
        starting.set(id, { issues, resolve, reject });
        channel.send({ op: 'capture-start', id, options });
      }),
    startAttribution: (feedListener) =>
      new Promise<AttributionFeed>((resolve, reject) => {
        listener = feedListener;
        attribution = { resolve, reject };
        channel.send({ op: 'attribution-start' });
      }),
  };
}

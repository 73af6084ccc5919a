/**
 * The worker's side of privilege separation (supervisor.ts): capture and attribution through the
 * supervisor, over the IPC channel this process was started with.
 */
import type { Socket } from 'node:net';
import type { AttributionFeed, StartAttribution } from '../attribution/attribution-feed.js';
import { AttributionUnavailable } from '../attribution/socket-events.js';
import { readCaptureBatches, type CaptureBatch } from '../capture/capture-batch.js';
import { CaptureStartError, type CaptureHandle, type LiveCaptureOptions, type StartCapture } from '../capture/capture-program.js';
import type { SupervisorMessage, WorkerMessage } from './messages.js';

/** A capture whose program belongs to the supervisor; its output pipe was handed over. */
class RemoteCapture implements CaptureHandle {
  failure: string | null = null;
  readonly exited: Promise<void>;
  private markExited!: () => void;

  constructor(
    readonly id: number,
    private readonly pipe: Socket,
    private readonly send: (message: WorkerMessage) => void,
    private readonly connected: () => boolean,
  ) {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
  }

  batches(): AsyncIterable<CaptureBatch> {
    return readCaptureBatches(this.pipe);
  }

  setSampling(n: number): void {
    this.send({ op: 'capture-sampling', id: this.id, sampling: n });
  }

  async stop(): Promise<void> {
    if (this.connected()) {
      this.send({ op: 'capture-stop', id: this.id });
    } else {
      // The supervisor is gone: stop reading; the program ends at its next write into the closed pipe.
      this.pipe.destroy();
      this.markExited();
    }
    await this.exited;
  }

  onExited(failure: string | null): void {
    this.failure = failure;
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
  const starting = new Map<number, { resolve: (c: CaptureHandle) => void; reject: (e: Error) => void }>();
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
        const capture = new RemoteCapture(message.id, handle as Socket, channel.send, channel.connected);
        captures.set(message.id, capture);
        pending.resolve(capture);
        return;
      }
      case 'capture-failed':
        starting.get(message.id)?.reject(new CaptureStartError(message.reason));
        starting.delete(message.id);
        return;
      case 'capture-exited':
        captures.get(message.id)?.onExited(message.failure);
        captures.delete(message.id);
        return;
      case 'attribution-started':
        attribution?.resolve({
          natUnavailable: message.natUnavailable,
          exited: new Promise((resolve) => (markAttributionExited = resolve)),
          stop: async () => undefined, // the supervisor stops the socket events program when the worker exits
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
    startCapture: (options: LiveCaptureOptions) =>
      new Promise<CaptureHandle>((resolve, reject) => {
        const id = ++nextId;
        starting.set(id, { resolve, reject });
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

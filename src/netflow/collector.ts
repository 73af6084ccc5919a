/**
 * `endsight collect`: NetFlow v5/v9 and IPFIX from routers and probes into the flow store (issue 6).
 * NetflowCollector decodes messages and hands their records to the store; MessageListeners holds
 * the sockets (collector-service.ts runs the two on separate threads). Every message is decoded
 * apart; what cannot be used is counted by reason, per exporter, and the handler never throws.
 * Sequence numbers (v5 and IPFIX: records, v9: messages) are followed per exporter and domain; a
 * jump forward counts as records or messages lost.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { IssueCounter } from '../common/issue-counter.js';
import type { FlowStore } from '../store/index.js';
import { CollectedFlows } from './collected-flows.js';
import { decodeMessage, type DecodedMessage, type SamplingRates } from './netflow-decoder.js';
import { TemplateCache } from './template-cache.js';

export interface ListenAddress {
  transport: 'udp' | 'tcp';
  host: string;
  port: number;
}

/** `udp://127.0.0.1:2055`, `tcp://[::1]:4739` → a ListenAddress; RangeError naming the text otherwise. */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(udp|tcp):\/\/(\[[0-9a-fA-F:.]+\]|[^:/[\]]+):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new RangeError(`Cannot listen on ${JSON.stringify(text)}: expected udp://HOST:PORT or tcp://HOST:PORT, e.g. udp://127.0.0.1:2055`);
  return { transport: match[1] as 'udp' | 'tcp', host: match[2].replace(/^\[|\]$/g, ''), port };
}

export interface ExporterStats {
  exporter: string;
  messages: number;
  records: number;
  /** Records (v5, IPFIX) or messages (v9) missing by the sequence numbers. */
  lost: number;
  issues: Record<string, number>;
}

/** An IPFIX message is at most 65,535 bytes (its length field). */
const MAX_TCP_BUFFER = 65_535 * 2;

export class NetflowCollector {
  private readonly cache = new TemplateCache();
  private readonly rates: SamplingRates = new Map();
  private readonly exporters = new Map<string, { stats: ExporterStats; issues: IssueCounter; next: Map<string, { sequence: number; advance: number }> }>();
  private readonly pending: CollectedFlows;

  /** `ipv6AsBytes`: the store writes fast segments (fast-segment.ts), which take IPv6 addresses as bytes. */
  constructor(
    private readonly store: FlowStore,
    private readonly now: () => number = Date.now,
    ipv6AsBytes = false,
  ) {
    this.pending = new CollectedFlows(65_536, ipv6AsBytes);
  }

  /** Records decoded and not yet handed to the store. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** One message from an exporter (address, port): decoded, counted, its flows queued. Never throws. */
  handleMessage(data: Uint8Array, address: string, port: number): void {
    const key = `${address}:${port}`;
    let exporter = this.exporters.get(address);
    if (!exporter) {
      const issues = new IssueCounter();
      exporter = { stats: { exporter: address, messages: 0, records: 0, lost: 0, issues: {} }, issues, next: new Map<string, { sequence: number; advance: number }>() };
      this.exporters.set(address, exporter);
    }
    exporter.stats.messages++;
    let message: DecodedMessage | null;
    try {
      message = decodeMessage(data, key, address, this.cache, this.rates, this.now(), exporter.issues, this.pending);
    } catch (error) {
      // The decoder checks every length; an exception here is a bug, counted rather than fatal.
      exporter.issues.add('netflow_decoder_error');
      void error;
      return;
    }
    if (!message) return;
    const sequenceKey = `${key}|${message.version}|${message.domain}`;
    const previous = exporter.next.get(sequenceKey);
    if (previous !== undefined) {
      // RFC 7011 §3.1: the records sent before this message. softflowd 1.1.0 counts this message's
      // own records too; a sequence that fits either way is no loss.
      const expected = (previous.sequence + previous.advance) >>> 0;
      const countingOwn = (previous.sequence + message.sequenceAdvance) >>> 0;
      if (message.sequence !== expected && !(message.version === 10 && message.sequence === countingOwn)) {
        const gap = (message.sequence - expected) >>> 0;
        if (gap < 0x80000000) exporter.stats.lost += gap;
        else exporter.issues.add('netflow_sequence_behind');
      }
    }
    exporter.next.set(sequenceKey, { sequence: message.sequence, advance: message.sequenceAdvance });
    exporter.stats.records += message.flows;
  }

  /** Hands the queued records to the store and writes them. */
  async flush(): Promise<number> {
    if (this.pending.length === 0) return 0;
    for (const batch of this.pending.takeChunks()) this.store.append(batch);
    return (await this.store.flush()).records;
  }

  stats(): ExporterStats[] {
    return [...this.exporters.values()].map((e) => ({ ...e.stats, issues: e.issues.toJSON() }));
  }

}


/**
 * The collector's sockets: UDP datagrams, and IPFIX over TCP (RFC 7011 §10.4: messages back to
 * back, each framed by its length; a length that cannot be a message loses the framing and closes
 * the connection). Each message goes to `onMessage` with the exporter's address and port.
 */
export class MessageListeners {
  private readonly sockets: (dgram.Socket | net.Server)[] = [];
  private readonly connections = new Set<net.Socket>();

  constructor(private readonly onMessage: (data: Uint8Array, address: string, port: number) => void) {}

  /** Opens every listening socket; rejects with one line if one cannot be opened. */
  async listen(addresses: readonly ListenAddress[]): Promise<void> {
    for (const address of addresses) {
      if (address.transport === 'udp') await this.listenUdp(address);
      else await this.listenTcp(address);
    }
  }

  private async listenUdp(address: ListenAddress): Promise<void> {
    const socket = dgram.createSocket({ type: address.host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 16 << 20 });
    socket.on('message', (data, remote) => this.onMessage(data, remote.address, remote.port));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (error) => reject(new RangeError(`Cannot listen on udp://${address.host}:${address.port}: ${error.message}`)));
      socket.bind(address.port, address.host, () => resolve());
    });
    socket.on('error', () => undefined);
    this.sockets.push(socket);
  }

  private async listenTcp(address: ListenAddress): Promise<void> {
    const server = net.createServer((connection) => {
      this.connections.add(connection);
      let buffer: Buffer = Buffer.alloc(0);
      const remote = connection.remoteAddress ?? 'unknown';
      const remotePort = connection.remotePort ?? 0;
      connection.on('data', (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
        // Messages back to back, each framed by its own length (RFC 7011 §10.4.1): a length that
        // cannot be a message loses the framing, so the connection is closed.
        while (buffer.length >= 4) {
          const length = buffer.readUInt16BE(2);
          if (buffer.readUInt16BE(0) !== 10 || length < 16) {
            this.onMessage(buffer.subarray(0, Math.min(buffer.length, 16)), remote, remotePort);
            connection.destroy();
            buffer = Buffer.alloc(0);
            return;
          }
          if (buffer.length < length) break;
          this.onMessage(buffer.subarray(0, length), remote, remotePort);
          buffer = buffer.subarray(length);
        }
        if (buffer.length > MAX_TCP_BUFFER) connection.destroy();
      });
      connection.on('error', () => undefined);
      connection.on('close', () => this.connections.delete(connection));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new RangeError(`Cannot listen on tcp://${address.host}:${address.port}: ${error.message}`)));
      server.listen(address.port, address.host, () => resolve());
    });
    this.sockets.push(server);
  }

  /** The bound addresses (for port 0). */
  addresses(): string[] {
    return this.sockets.map((s) => {
      const a = s.address() as { address: string; port: number };
      return `${s instanceof net.Server ? 'tcp' : 'udp'}://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
    });
  }

  /** Closes every socket and connection. */
  async close(): Promise<void> {
    for (const connection of this.connections) connection.destroy();
    const sockets = this.sockets.splice(0);
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => (s instanceof net.Server ? s.close(() => resolve()) : s.close(() => resolve())))));
  }
}

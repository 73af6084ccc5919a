/**
 * Sends flow records to NetFlow/IPFIX collectors (`--export v5|v9|ipfix://HOST:PORT`, and
 * `ipfix+tcp://HOST:PORT` for IPFIX over TCP, RFC 7011 §10.4). One encoder per collector, so each
 * has its own sequence numbers and template refreshes. UDP datagrams go out in bursts, each burst
 * waited for, so that a collector on the same machine is not flooded faster than it reads.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { FlowRecord } from '../flow/index.js';
import { NetflowEncoder, type ExportVersion } from './netflow-encoder.js';

export interface ExportTarget {
  version: ExportVersion;
  transport: 'udp' | 'tcp';
  host: string;
  port: number;
  /** As written, for messages. */
  text: string;
}

const SCHEMES: Record<string, { version: ExportVersion; transport: 'udp' | 'tcp' }> = {
  v5: { version: 5, transport: 'udp' },
  v9: { version: 9, transport: 'udp' },
  ipfix: { version: 10, transport: 'udp' },
  'ipfix+tcp': { version: 10, transport: 'tcp' },
};

/** `v9://127.0.0.1:9995` → an ExportTarget; a RangeError naming the text otherwise. */
export function parseExportTarget(text: string): ExportTarget {
  const match = /^([a-z0-9+]+):\/\/(\[[0-9a-fA-F:.]+\]|[^:/[\]]+):(\d{1,5})$/.exec(text.trim());
  const scheme = match ? SCHEMES[match[1]] : undefined;
  const port = match ? Number(match[3]) : NaN;
  if (!match || !scheme || !(port >= 1 && port <= 65535)) {
    throw new RangeError(`Cannot export to ${JSON.stringify(text)}: expected v5://HOST:PORT, v9://HOST:PORT, ipfix://HOST:PORT or ipfix+tcp://HOST:PORT`);
  }
  return { ...scheme, host: match[2].replace(/^\[|\]$/g, ''), port, text };
}

const BURST = 32;

interface Channel {
  target: ExportTarget;
  encoder: NetflowEncoder;
  udp?: dgram.Socket;
  tcp?: net.Socket;
  messages: number;
  records: number;
}

export class FlowExporter {
  private constructor(private readonly channels: Channel[]) {}

  /** Opens a socket per target (TCP: connected); rejects with one line when one cannot be opened. */
  static async open(targets: readonly ExportTarget[], options: { domain?: number; sampling?: number } = {}): Promise<FlowExporter> {
    const channels: Channel[] = [];
    for (const target of targets) {
      const encoder = new NetflowEncoder(target.version, options.domain ?? 0, options.sampling ?? 1);
      if (target.transport === 'udp') {
        const udp = dgram.createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
        udp.on('error', () => undefined);
        channels.push({ target, encoder, udp, messages: 0, records: 0 });
      } else {
        const tcp = await new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(target.port, target.host, () => resolve(socket));
          socket.once('error', (error) => reject(new RangeError(`Cannot export to ${target.text}: ${error.message}`)));
        });
        tcp.on('error', () => undefined);
        channels.push({ target, encoder, tcp, messages: 0, records: 0 });
      }
    }
    return new FlowExporter(channels);
  }

  /** Encodes and sends `records` to every collector. */
  async send(records: readonly FlowRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const channel of this.channels) {
      const messages = channel.encoder.encode(records);
      channel.messages += messages.length;
      channel.records += records.length;
      if (channel.tcp) {
        for (const m of messages) if (!channel.tcp.write(m)) await new Promise((r) => channel.tcp!.once('drain', r));
        continue;
      }
      for (let i = 0; i < messages.length; i += BURST) {
        await Promise.all(messages.slice(i, i + BURST).map((m) => new Promise<void>((resolve) => channel.udp!.send(m, channel.target.port, channel.target.host, () => resolve()))));
        // Let a collector on this machine read the burst.
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  }

  /** Per collector: messages sent, records given, records that could not be encoded. */
  stats(): { target: string; messages: number; records: number; skipped: number }[] {
    return this.channels.map((c) => ({ target: c.target.text, messages: c.messages, records: c.records - c.encoder.skipped, skipped: c.encoder.skipped }));
  }

  async close(): Promise<void> {
    for (const c of this.channels) {
      c.udp?.close();
      if (c.tcp) await new Promise<void>((resolve) => c.tcp!.end(() => resolve()));
    }
  }
}

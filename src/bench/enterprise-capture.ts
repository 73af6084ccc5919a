/**
 * A synthetic enterprise capture for coverage (issue 8: "on a synthetic enterprise capture where a
 * few servers carry most traffic it reproduces the shape of the paper's Figure 1"): `hosts` hosts on
 * 10.0.0.0/16, of which the first 1% are servers. Each client opens a few TCP connections to servers
 * (the server chosen Zipf-like, so a few are busy), each a handshake, a request, a response of
 * Pareto-distributed size and a FIN; and now and then a small UDP exchange with another client (the
 * peer-to-peer traffic that only instrumenting clients would see). Deterministic for a seed.
 */
import { Rng } from './prng.js';
import { PacketSpec, PcapWriter, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from './pcap-writer.js';

export interface EnterpriseCaptureOptions {
  path: string;
  hosts: number;
  /** Connections each client opens to servers (default 4). */
  connectionsPerClient?: number;
  seed?: number;
}

const START_US = Date.UTC(2024, 2, 1, 9) * 1000;
const MSS = 1400;

/** Writes the capture; returns the servers' addresses and the packets written. */
export async function generateEnterpriseCapture(options: EnterpriseCaptureOptions): Promise<{ servers: string[]; packets: number }> {
  const rng = new Rng(options.seed ?? 1);
  const servers = Math.max(1, Math.floor(options.hosts / 100));
  const address = (k: number): number => ((10 << 24) | (Math.floor(k / 250) << 8) | (1 + (k % 250))) >>> 0;
  const text = (a: number): string => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
  const writer = await PcapWriter.create(options.path, 96);
  const p = new PacketSpec();
  let now = START_US;
  const send = async (from: number, to: number, protocol: number, sport: number, dport: number, flags: number, payload: number): Promise<void> => {
    if (writer.needsFlush) await writer.flush();
    now += 50 + rng.int(200);
    p.timestampUs = now;
    p.src[0] = from;
    p.dst[0] = to;
    p.srcMac = from;
    p.dstMac = to;
    p.protocol = protocol;
    p.srcPort = sport;
    p.dstPort = dport;
    p.tcpFlags = flags;
    p.payloadLength = payload;
    writer.write(p);
  };
  let port = 20_000;
  for (let c = servers; c < options.hosts; c++) {
    const client = address(c);
    for (let n = 0; n < (options.connectionsPerClient ?? 4); n++) {
      const server = address(Math.min(servers - 1, Math.floor(rng.pareto(1, 1.2, servers)) - 1));
      const sport = (port = port >= 60_000 ? 20_000 : port + 1);
      await send(client, server, PROTO_TCP, sport, 443, TCP_SYN, 0);
      await send(server, client, PROTO_TCP, 443, sport, TCP_SYN | TCP_ACK, 0);
      await send(client, server, PROTO_TCP, sport, 443, TCP_ACK | TCP_PSH, 300);
      for (let left = Math.floor(rng.pareto(2_000, 1.3, 5_000_000)); left > 0; left -= MSS) await send(server, client, PROTO_TCP, 443, sport, TCP_ACK, Math.min(MSS, left));
      await send(client, server, PROTO_TCP, sport, 443, TCP_FIN | TCP_ACK, 0);
      await send(server, client, PROTO_TCP, 443, sport, TCP_FIN | TCP_ACK, 0);
    }
    if (rng.next() < 0.3) {
      const peer = address(servers + rng.int(options.hosts - servers));
      await send(client, peer, PROTO_UDP, 5353, 5353, 0, 60);
      await send(peer, client, PROTO_UDP, 5353, 5353, 0, 60);
    }
  }
  await writer.close();
  return { servers: Array.from({ length: servers }, (_, k) => text(address(k))), packets: writer.packets };
}

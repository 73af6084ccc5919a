/**
 * Deterministic synthetic captures for the benchmark.
 *
 * `generateSyntheticCapture` writes an hour (by default) of enterprise-like traffic: a few thousand
 * dual-stack internal hosts (10.0.0.0/8, fd00::/8) talking to tens of thousands of external hosts and
 * to internal servers; about 75% IPv4 / 25% IPv6 connections; TCP (HTTPS, HTTP, SSH/RDP, mail,
 * intranet services, inbound), UDP (DNS, QUIC, NTP, syslog, media), ICMP/ICMPv6 echo and unreachables,
 * and IPsec ESP tunnels. Connection sizes are heavy-tailed (Pareto: most flows 1-10 packets, a few with
 * 10^4-10^5); TCP connections open with a handshake and mostly close with FIN (some RST, some never).
 * Packets of all connections are interleaved in time order by a binary heap on each connection's next
 * packet time. Frames are stored snapped to `snaplen` (caplen <= snaplen, wirelen = real size).
 *
 * `generateActiveFlowsCapture` writes N distinct 5-tuples, each with 1-2 packets inside a short
 * window, so that a flow meter holds all N flows at once (memory per active flow).
 *
 * Same options and seed => byte-identical file.
 */
import { rename } from 'node:fs/promises';
import { Rng } from './prng.js';
import {
  PacketSpec,
  PcapWriter,
  PROTO_ESP,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
} from './pcap-writer.js';

/** Bumped whenever the output for the same options changes (part of the benchmark cache key). */
export const GENERATOR_VERSION = 1;

export interface SyntheticCaptureOptions {
  path: string;
  /** Packets to write (default 5,000,000). */
  packets?: number;
  seed?: number;
  /** Span of packet time (default 3600 s). */
  durationSeconds?: number;
  /** Stored bytes per frame (default 96). */
  snaplen?: number;
  /** Start of packet time, seconds since the epoch (default 2024-03-01T09:00:00Z). */
  startEpochSeconds?: number;
  /** Called now and then with the packets written so far. */
  onProgress?: (packetsWritten: number) => void;
}

export interface SyntheticCaptureResult {
  path: string;
  packets: number;
  /** Unidirectional 5-tuple flows with at least one packet (before idle/active timeout splits). */
  flows: number;
  /** Connections (a TCP connection, a DNS exchange, a ping session, an ESP SA pair, ...). */
  connections: number;
  /** Size of the pcap file. */
  bytes: number;
  /** Sum of IP-layer bytes (as NetFlow counts them). */
  ipBytes: number;
  /** First and last packet time, microseconds since the epoch. */
  firstUs: number;
  lastUs: number;
  /** Packets per family and protocol. */
  mix: { ipv4: number; ipv6: number; tcp: number; udp: number; icmp: number; icmpv6: number; esp: number };
  /** Connections that contain a pause longer than the 90 s idle timeout (one flow becomes two records). */
  idleSplits: number;
  /** Unidirectional flows by packets: [1], [2..10], [11..100], ..., [100001..]. */
  flowSizes: { '1': number; '2-10': number; '11-100': number; '101-1000': number; '1001-10000': number; '10001-100000': number; '>100000': number };
  elapsedMs: number;
}

// ---------------------------------------------------------------------------------------------------
// Address population

const N_INTERNAL = 4000;
/** Internal hosts 0 .. N_INTERNAL_SERVERS-1 are servers (0-3 DNS, 4 syslog, 5-8 VPN gateways). */
const N_INTERNAL_SERVERS = 200;
const N_EXTERNAL = 40000;
/** External hosts 0-3 (index N_INTERNAL + 0..3) are the remote VPN concentrators. */
const N_EXT_VPN = 4;

class AddressBook {
  /** IPv4 address per host. */
  readonly v4: Uint32Array;
  /** IPv6 address per host, 4 words each. */
  readonly v6: Uint32Array;
  readonly count: number;

  constructor(rng: Rng) {
    this.count = N_INTERNAL + N_EXTERNAL;
    this.v4 = new Uint32Array(this.count);
    this.v6 = new Uint32Array(this.count * 4);
    const used = new Set<number>();
    // Internal: 10.<site 1..24>.<subnet>.<host 1..254>, and fd00:<site>:<subnet>::<host> (SLAAC-like low bits).
    for (let i = 0; i < N_INTERNAL; i++) {
      let a: number;
      let site: number;
      let subnet: number;
      do {
        site = 1 + rng.int(i < N_INTERNAL_SERVERS ? 2 : 24);
        subnet = rng.int(i < N_INTERNAL_SERVERS ? 4 : 64);
        a = ((10 << 24) | (site << 16) | (subnet << 8) | (1 + rng.int(254))) >>> 0;
      } while (used.has(a));
      used.add(a);
      this.v4[i] = a;
      this.v6[4 * i] = (0xfd00 << 16) | 0x1a2b;
      this.v6[4 * i + 1] = ((site << 16) | subnet) >>> 0;
      this.v6[4 * i + 2] = i < N_INTERNAL_SERVERS ? 0 : rng.u32();
      this.v6[4 * i + 3] = i < N_INTERNAL_SERVERS ? i + 1 : rng.u32();
    }
    // External: public IPv4 (no private, shared, loopback, link-local, multicast or reserved space),
    // and global unicast IPv6 in 2000::/3 from a few hundred /32 providers.
    for (let i = N_INTERNAL; i < this.count; i++) {
      let a: number;
      do {
        a = rng.u32();
      } while (!isPublicV4(a) || used.has(a));
      used.add(a);
      this.v4[i] = a;
      const provider = rng.int(300);
      this.v6[4 * i] = ((0x2001 + (provider >> 4)) << 16) | (0x0400 + (provider & 15) * 0x100);
      if (this.v6[4 * i] === 0x20010db8) this.v6[4 * i] = 0x20010db9;
      this.v6[4 * i + 1] = rng.u32();
      this.v6[4 * i + 2] = 0;
      this.v6[4 * i + 3] = rng.u32();
    }
  }

  isInternal(host: number): boolean {
    return host < N_INTERNAL;
  }

  /** Fills `out` with the address of `host` (IPv4 in word 0). */
  load(host: number, v6: boolean, out: Uint32Array): void {
    if (v6) {
      const o = 4 * host;
      out[0] = this.v6[o];
      out[1] = this.v6[o + 1];
      out[2] = this.v6[o + 2];
      out[3] = this.v6[o + 3];
    } else {
      out[0] = this.v4[host];
      out[1] = 0;
      out[2] = 0;
      out[3] = 0;
    }
  }

  mac(host: number): number {
    // Internal hosts have their own MAC; everything external arrives through the router (0).
    return host < N_INTERNAL ? (0x10000000 + host) >>> 0 : 0;
  }

  ttl(host: number): number {
    return host < N_INTERNAL ? 64 : 40 + (host % 24);
  }
}

function isPublicV4(a: number): boolean {
  const o1 = a >>> 24;
  const o2 = (a >>> 16) & 0xff;
  if (o1 === 0 || o1 === 10 || o1 === 127 || o1 >= 224) return false;
  if (o1 === 100 && o2 >= 64 && o2 < 128) return false;
  if (o1 === 169 && o2 === 254) return false;
  if (o1 === 172 && o2 >= 16 && o2 < 32) return false;
  if (o1 === 192 && (o2 === 168 || o2 === 0)) return false;
  if (o1 === 198 && (o2 === 18 || o2 === 19 || o2 === 51)) return false;
  if (o1 === 203 && o2 === 0) return false;
  return true;
}

/** A client host: internal, skewed so that some hosts are much busier than others. */
function pickInternalClient(rng: Rng): number {
  const u = rng.next();
  return N_INTERNAL_SERVERS + Math.floor(u * u * (N_INTERNAL - N_INTERNAL_SERVERS));
}

function pickInternalServer(rng: Rng): number {
  return 9 + rng.zipf(N_INTERNAL_SERVERS - 9);
}

function pickExternalServer(rng: Rng): number {
  return N_INTERNAL + N_EXT_VPN + rng.zipf(N_EXTERNAL - N_EXT_VPN);
}

function ephemeralPort(rng: Rng): number {
  return 32768 + rng.int(28232);
}

// ---------------------------------------------------------------------------------------------------
// Connection kinds

const K_HTTPS = 0;
const K_HTTP = 1;
const K_INTERACTIVE = 2;
const K_MAIL = 3;
const K_INTRANET = 4;
const K_INBOUND = 5;
const K_DNS = 6;
const K_QUIC = 7;
const K_NTP = 8;
const K_SYSLOG = 9;
const K_MEDIA = 10;
const K_PING = 11;
const K_UNREACH = 12;
const K_ESP = 13;

/** Relative frequency of each kind among connections. */
const KIND_WEIGHTS = [
  26, // HTTPS
  4, // HTTP
  1, // SSH / RDP
  2.5, // mail
  6, // intranet (SMB, LDAP, Kerberos, databases)
  3, // inbound to internal servers
  38, // DNS
  8, // QUIC
  2, // NTP
  2, // syslog
  0.3, // media (RTP)
  3, // ping
  1.5, // ICMP unreachable
  0.25, // ESP
];
const KIND_CUMULATIVE = (() => {
  const c = new Float64Array(KIND_WEIGHTS.length);
  let s = 0;
  KIND_WEIGHTS.forEach((w, i) => (c[i] = s += w));
  return c;
})();

const isTcpKind = (k: number): boolean => k <= K_INBOUND;

const MAX_CONNECTION_PACKETS = 200_000;

/** Draws the number of packets of a connection of `kind` (both directions together). */
function drawSize(rng: Rng, kind: number): number {
  switch (kind) {
    case K_HTTPS:
    case K_HTTP:
    case K_MAIL:
    case K_INTRANET:
    case K_INBOUND: {
      const r = rng.next();
      if (r < 0.05) return 1; // SYN, unanswered
      if (r < 0.08) return 2; // SYN, RST (refused)
      return Math.max(3, rng.pareto(kind === K_HTTPS ? 6 : 8, 1.0, MAX_CONNECTION_PACKETS));
    }
    case K_INTERACTIVE:
      return Math.max(3, rng.pareto(20, 0.8, MAX_CONNECTION_PACKETS));
    case K_DNS:
      return rng.chance(0.1) ? 1 : 2;
    case K_QUIC:
      return Math.max(2, rng.pareto(6, 1.0, MAX_CONNECTION_PACKETS));
    case K_NTP:
      return rng.chance(0.9) ? 2 : 1;
    case K_SYSLOG:
      return rng.pareto(1, 0.9, 50_000);
    case K_MEDIA:
      return rng.pareto(300, 1.2, MAX_CONNECTION_PACKETS);
    case K_PING: {
      // Answered: request + reply per ping (even); unanswered (10%): requests only, an odd count.
      const pings = rng.pareto(1, 1.3, 200);
      return rng.chance(0.1) ? 2 * (pings >> 1) + 1 : 2 * pings;
    }
    case K_UNREACH:
      return 1;
    default: // K_ESP
      return rng.pareto(150, 0.9, MAX_CONNECTION_PACKETS);
  }
}

// Per-connection flag bits.
const F_CLOSE_RST = 1;
const F_CLOSE_NONE = 2;
const F_BULK_UP = 4; // client sends the bulk data (upload)
const F_CLIENT_CLOSES = 8; // client sends the first FIN / the RST
const F_UNANSWERED = 16; // ping without replies

/** Struct-of-arrays for all connections, indexed by connection number (in start-time order). */
interface Connections {
  count: number;
  kind: Uint8Array;
  size: Int32Array;
  sent: Int32Array;
  start: Float64Array;
  v6: Uint8Array;
  client: Int32Array;
  server: Int32Array;
  clientPort: Uint16Array;
  serverPort: Uint16Array;
  flags: Uint8Array;
  rtt: Float64Array;
  meanGap: Float64Array;
  longGapAt: Int32Array;
  longGap: Float64Array;
  seqC: Uint32Array;
  seqS: Uint32Array;
  dirSeen: Uint8Array;
  /** Packets sent by the server side so far. */
  fromServer: Int32Array;
}

function growInt32(a: Int32Array, n: number): Int32Array {
  const b = new Int32Array(n);
  b.set(a);
  return b;
}

function growUint8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}

/** Draws connections (kind, size) until they hold exactly `packets` packets, then everything else. */
function planConnections(seed: number, packets: number, durationUs: number, book: AddressBook): Connections {
  const sizeRng = new Rng(seed ^ 0x51a3);
  let cap = Math.max(1024, Math.ceil(packets / 8));
  let kind: Uint8Array = new Uint8Array(cap);
  let size: Int32Array = new Int32Array(cap);
  let count = 0;
  let total = 0;
  while (total < packets) {
    if (count === cap) {
      cap *= 2;
      kind = growUint8(kind, cap);
      size = growInt32(size, cap);
    }
    const k = sizeRng.pick(KIND_CUMULATIVE);
    let n = drawSize(sizeRng, k);
    if (total + n > packets) n = packets - total;
    kind[count] = k;
    size[count] = n;
    total += n;
    count++;
  }
  kind = kind.slice(0, count);
  size = size.slice(0, count);

  // Start times: uniform over the duration, sorted; connection i gets the i-th start.
  const timeRng = new Rng(seed ^ 0x7e11);
  const start = new Float64Array(count);
  for (let i = 0; i < count; i++) start[i] = Math.floor(timeRng.next() * durationUs);
  start.sort();

  const rng = new Rng(seed ^ 0x2c0f);
  const c: Connections = {
    count,
    kind,
    size,
    sent: new Int32Array(count),
    start,
    v6: new Uint8Array(count),
    client: new Int32Array(count),
    server: new Int32Array(count),
    clientPort: new Uint16Array(count),
    serverPort: new Uint16Array(count),
    flags: new Uint8Array(count),
    rtt: new Float64Array(count),
    meanGap: new Float64Array(count),
    longGapAt: new Int32Array(count).fill(-1),
    longGap: new Float64Array(count),
    seqC: new Uint32Array(count),
    seqS: new Uint32Array(count),
    dirSeen: new Uint8Array(count),
    fromServer: new Int32Array(count),
  };
  for (let i = 0; i < count; i++) {
    const k = kind[i];
    const n = size[i];
    c.v6[i] = rng.chance(0.25) ? 1 : 0;
    let client = pickInternalClient(rng);
    let server: number;
    let serverPort = 0;
    let clientPort = ephemeralPort(rng);
    let flags = 0;
    let medianGapUs = 20_000;
    let gapSigma = 1.3;
    switch (k) {
      case K_HTTPS:
        server = pickExternalServer(rng);
        serverPort = rng.chance(0.95) ? 443 : 8443;
        break;
      case K_HTTP:
        server = pickExternalServer(rng);
        serverPort = rng.chance(0.9) ? 80 : 8080;
        break;
      case K_INTERACTIVE:
        server = rng.chance(0.7) ? pickInternalServer(rng) : pickExternalServer(rng);
        serverPort = rng.chance(0.7) ? 22 : 3389;
        medianGapUs = 300_000;
        gapSigma = 1.0;
        break;
      case K_MAIL:
        server = pickInternalServer(rng);
        serverPort = [25, 587, 993, 143, 465][rng.int(5)];
        break;
      case K_INTRANET:
        server = pickInternalServer(rng);
        serverPort = [445, 445, 445, 389, 636, 88, 135, 1433, 5432, 8080, 3268][rng.int(11)];
        medianGapUs = 2_000;
        break;
      case K_INBOUND:
        client = N_INTERNAL + N_EXT_VPN + rng.int(N_EXTERNAL - N_EXT_VPN);
        server = 9 + rng.int(20);
        serverPort = [443, 443, 80, 25][rng.int(4)];
        break;
      case K_DNS:
        if (rng.chance(0.75)) server = rng.int(4);
        else {
          server = N_INTERNAL + N_EXT_VPN + rng.int(20);
          client = rng.int(4); // the internal resolvers forward
        }
        serverPort = 53;
        break;
      case K_QUIC:
        server = pickExternalServer(rng);
        serverPort = 443;
        medianGapUs = 10_000;
        break;
      case K_NTP:
        server = N_INTERNAL + N_EXT_VPN + rng.int(50);
        serverPort = 123;
        clientPort = rng.chance(0.5) ? 123 : clientPort;
        break;
      case K_SYSLOG:
        client = rng.int(N_INTERNAL);
        server = 4;
        serverPort = 514;
        clientPort = 514;
        medianGapUs = 2_000_000;
        gapSigma = 0.8;
        break;
      case K_MEDIA:
        server = pickExternalServer(rng);
        serverPort = 3478 + rng.int(4);
        medianGapUs = 10_000; // 50 packets/s each way
        gapSigma = 0;
        break;
      case K_PING:
        server = rng.chance(0.5) ? pickInternalServer(rng) : pickExternalServer(rng);
        clientPort = rng.int(65536); // ICMP echo identifier
        if (n % 2 === 1) flags |= F_UNANSWERED; // see drawSize
        break;
      case K_UNREACH:
        // A router or host tells a client that its packet went nowhere.
        server = rng.chance(0.5) ? pickInternalServer(rng) : pickExternalServer(rng);
        serverPort = rng.chance(0.7) ? 3 : rng.chance(0.5) ? 1 : 13; // ICMP code (v4); v6 uses 4/3/1
        break;
      default: {
        // K_ESP: a remote-access user to a concentrator, or site-to-site between internal gateways.
        if (rng.chance(0.7)) server = N_INTERNAL + rng.int(N_EXT_VPN);
        else {
          server = 5 + rng.int(4);
          client = 5 + ((server - 5 + 1 + rng.int(3)) % 4);
        }
        clientPort = 0;
        medianGapUs = 5_000;
        gapSigma = 1.2;
      }
    }
    c.client[i] = client;
    c.server[i] = server;
    c.clientPort[i] = clientPort;
    c.serverPort[i] = serverPort;
    const r = rng.next();
    if (r < 0.1) flags |= F_CLOSE_RST;
    else if (r < 0.15) flags |= F_CLOSE_NONE;
    if (rng.chance(0.2)) flags |= F_BULK_UP;
    if (rng.chance(0.6)) flags |= F_CLIENT_CLOSES;
    c.flags[i] = flags;
    const local = book.isInternal(client) && book.isInternal(server);
    c.rtt[i] = Math.min(400_000, Math.max(80, local ? rng.logNormal(400, 0.5) : rng.logNormal(30_000, 0.6)));
    c.seqC[i] = rng.u32();
    c.seqS[i] = rng.u32();

    // Pace the connection so that it ends before the end of the capture; some long-lived TCP
    // connections pause for longer than the idle timeout once.
    const budget = durationUs - start[i] - 2 * c.rtt[i] - 1;
    let longGap = 0;
    if (isTcpKind(k) && n >= 20 && rng.chance(k === K_INTERACTIVE ? 0.3 : 0.02)) {
      longGap = 95_000_000 + rng.next() * 500_000_000;
      if (longGap < budget * 0.5) {
        c.longGapAt[i] = n >> 1;
        c.longGap[i] = longGap;
      } else longGap = 0;
    }
    let gap = gapSigma === 0 ? medianGapUs : rng.logNormal(medianGapUs, gapSigma);
    gap = Math.min(5_000_000, Math.max(20, gap));
    const fit = (budget - longGap) / (n + 4 * Math.sqrt(n) + 2);
    c.meanGap[i] = Math.max(1, Math.min(gap, fit));
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------
// Time-ordered emission

/** Min-heap of (time, connection). */
class EventHeap {
  keys = new Float64Array(1024);
  vals = new Int32Array(1024);
  size = 0;

  push(key: number, val: number): void {
    if (this.size === this.keys.length) {
      const k = new Float64Array(this.size * 2);
      k.set(this.keys);
      this.keys = k;
      const v = new Int32Array(this.size * 2);
      v.set(this.vals);
      this.vals = v;
    }
    const keys = this.keys;
    const vals = this.vals;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent] <= key) break;
      keys[i] = keys[parent];
      vals[i] = vals[parent];
      i = parent;
    }
    keys[i] = key;
    vals[i] = val;
  }

  /** Replaces the minimum with (key, val) and restores the heap. */
  replaceTop(key: number, val: number): void {
    const keys = this.keys;
    const vals = this.vals;
    const n = this.size;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && keys[child + 1] < keys[child]) child++;
      if (keys[child] >= key) break;
      keys[i] = keys[child];
      vals[i] = vals[child];
      i = child;
    }
    keys[i] = key;
    vals[i] = val;
  }

  pop(): void {
    const n = --this.size;
    if (n > 0) this.replaceTop(this.keys[n], this.vals[n]);
  }
}

interface Tally {
  ipv4: number;
  ipv6: number;
  tcp: number;
  udp: number;
  icmp: number;
  icmpv6: number;
  esp: number;
  flows: number;
}

/**
 * Fills `p` with packet `k` of connection `i` and returns the pause (µs) before packet k+1.
 * Direction and sizes follow the connection's kind.
 */
function buildPacket(c: Connections, i: number, k: number, rng: Rng, book: AddressBook, p: PacketSpec, tally: Tally): number {
  const kind = c.kind[i];
  const n = c.size[i];
  const v6 = c.v6[i] === 1;
  const flags = c.flags[i];
  const rtt = c.rtt[i];
  const meanGap = c.meanGap[i];
  let fromServer = false;
  let payload = 0;
  let tcpFlags = 0;
  let gap = rng.exp(meanGap);
  let proto = PROTO_TCP;
  const mss = v6 ? 1440 : 1460;
  const bulkUp = (flags & F_BULK_UP) !== 0;

  if (isTcpKind(kind)) {
    const closeFin = (flags & (F_CLOSE_RST | F_CLOSE_NONE)) === 0 && n >= 7;
    const closeRst = (flags & F_CLOSE_RST) !== 0 && n >= 4;
    const clientCloses = (flags & F_CLIENT_CLOSES) !== 0;
    if (k === 0) {
      tcpFlags = TCP_SYN;
      gap = n === 1 ? gap : rtt;
    } else if (k === 1) {
      fromServer = true;
      tcpFlags = n === 2 ? TCP_RST | TCP_ACK : TCP_SYN | TCP_ACK;
      gap = 30 + rtt * 0.02;
    } else if (k === 2) {
      tcpFlags = TCP_ACK;
      gap = 40 + rng.exp(200);
    } else if (closeFin && k >= n - 3) {
      const j = k - (n - 3);
      fromServer = j === 1 ? clientCloses : !clientCloses;
      tcpFlags = j === 2 ? TCP_ACK : TCP_FIN | TCP_ACK;
      gap = j === 0 ? rtt * 0.5 : 20 + rtt * 0.5;
    } else if (closeRst && k === n - 1) {
      fromServer = !clientCloses;
      tcpFlags = TCP_RST | TCP_ACK;
    } else if (kind === K_INTERACTIVE) {
      fromServer = rng.chance(0.55);
      payload = 20 + rng.int(300);
      tcpFlags = TCP_PSH | TCP_ACK;
    } else {
      const j = k - 3;
      if (j === 0) {
        fromServer = false;
        payload = bulkUp ? mss : 80 + rng.int(900);
        tcpFlags = TCP_PSH | TCP_ACK;
        gap = bulkUp ? gap : rtt + rng.exp(meanGap);
      } else if (j % 3 === 0) {
        fromServer = bulkUp; // the receiver acknowledges
        tcpFlags = TCP_ACK;
      } else {
        fromServer = !bulkUp;
        payload = rng.chance(0.8) ? mss : 1 + rng.int(mss - 1);
        tcpFlags = payload < mss ? TCP_PSH | TCP_ACK : TCP_ACK;
      }
    }
    if (fromServer) {
      p.seq = c.seqS[i];
      p.ack = c.seqC[i];
      c.seqS[i] = (c.seqS[i] + payload + (tcpFlags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
    } else {
      p.seq = c.seqC[i];
      p.ack = k === 0 ? 0 : c.seqS[i];
      c.seqC[i] = (c.seqC[i] + payload + (tcpFlags & (TCP_SYN | TCP_FIN) ? 1 : 0)) >>> 0;
    }
    if (!(tcpFlags & TCP_ACK)) p.ack = 0;
    tally.tcp++;
  } else if (kind === K_PING || kind === K_UNREACH) {
    proto = v6 ? PROTO_ICMPV6 : PROTO_ICMP;
    if (kind === K_PING) {
      const unanswered = (flags & F_UNANSWERED) !== 0;
      fromServer = !unanswered && (k & 1) === 1;
      const seqNo = unanswered ? k : k >> 1;
      p.icmpType = fromServer ? (v6 ? 129 : 0) : v6 ? 128 : 8;
      p.icmpCode = 0;
      p.seq = c.clientPort[i];
      p.ack = seqNo + 1;
      payload = 56;
      gap = unanswered ? 1_000_000 : fromServer ? Math.max(1000, 1_000_000 - rtt) : rtt;
    } else {
      fromServer = true;
      const code = c.serverPort[i];
      p.icmpType = v6 ? 1 : 3;
      p.icmpCode = v6 ? (code === 3 ? 4 : code === 1 ? 3 : 1) : code;
      p.seq = 0;
      p.ack = 0;
      payload = v6 ? 48 : 28; // the offending packet's IP header + 8 bytes
    }
    if (v6) tally.icmpv6++;
    else tally.icmp++;
  } else if (kind === K_ESP) {
    proto = PROTO_ESP;
    // Two SAs; the receiving side of the bulk direction sends every third packet, small.
    const ackLike = k % 3 === 0;
    fromServer = ackLike ? bulkUp : !bulkUp;
    payload = ackLike ? 60 + rng.int(60) : 300 + rng.int(1100);
    // SPI per direction, sequence numbers count up per SA.
    p.seq = (Math.imul(i + 1, 0x9e3779b1) ^ (fromServer ? 0x5bd1e995 : 0)) >>> 0;
    if (fromServer) {
      p.ack = c.seqS[i] = ((c.seqS[i] & 0xfffff) + 1) >>> 0;
    } else {
      p.ack = c.seqC[i] = ((c.seqC[i] & 0xfffff) + 1) >>> 0;
    }
    tally.esp++;
  } else {
    proto = PROTO_UDP;
    switch (kind) {
      case K_DNS:
        fromServer = k === 1;
        payload = fromServer ? 50 + rng.int(400) : 28 + rng.int(40);
        gap = rtt;
        break;
      case K_NTP:
        fromServer = k === 1;
        payload = 48;
        gap = rtt;
        break;
      case K_SYSLOG:
        payload = 60 + rng.int(340);
        break;
      case K_MEDIA:
        fromServer = (k & 1) === 1;
        payload = 160 + rng.int(60);
        gap = k & 1 ? meanGap - 200 : 200;
        break;
      default: {
        // QUIC
        const maxPayload = v6 ? 1452 : 1472;
        if (k === 0) {
          payload = v6 ? 1232 : 1252;
          gap = rtt;
        } else if (k === 1) {
          fromServer = true;
          payload = 1200;
          gap = rtt * 0.5 + 30;
        } else if (k % 3 === 0) {
          fromServer = bulkUp;
          payload = 25 + rng.int(40);
        } else {
          fromServer = !bulkUp;
          payload = rng.chance(0.8) ? maxPayload - 120 : 40 + rng.int(maxPayload - 160);
        }
      }
    }
    tally.udp++;
  }

  const sender = fromServer ? c.server[i] : c.client[i];
  const receiver = fromServer ? c.client[i] : c.server[i];
  book.load(sender, v6, p.src);
  book.load(receiver, v6, p.dst);
  p.v6 = v6;
  p.srcMac = book.mac(sender);
  p.dstMac = book.mac(receiver);
  p.ttl = book.ttl(sender);
  p.protocol = proto;
  p.tcpFlags = tcpFlags;
  p.payloadLength = payload;
  if (proto === PROTO_TCP || proto === PROTO_UDP) {
    p.srcPort = fromServer ? c.serverPort[i] : c.clientPort[i];
    p.dstPort = fromServer ? c.clientPort[i] : c.serverPort[i];
  } else {
    p.srcPort = 0;
    p.dstPort = 0;
  }
  if (v6) tally.ipv6++;
  else tally.ipv4++;
  if (fromServer) c.fromServer[i]++;
  const bit = fromServer ? 2 : 1;
  if ((c.dirSeen[i] & bit) === 0) {
    c.dirSeen[i] |= bit;
    tally.flows++;
  }
  if (k === c.longGapAt[i]) gap += c.longGap[i];
  return gap;
}

const DEFAULT_START_EPOCH = Date.UTC(2024, 2, 1, 9, 0, 0) / 1000;

/** Writes the synthetic capture (to `path + '.tmp'`, renamed when complete). */
export async function generateSyntheticCapture(options: SyntheticCaptureOptions): Promise<SyntheticCaptureResult> {
  const began = performance.now();
  const packets = options.packets ?? 5_000_000;
  const seed = options.seed ?? 1;
  const durationUs = Math.round((options.durationSeconds ?? 3600) * 1e6);
  const snaplen = options.snaplen ?? 96;
  const baseUs = (options.startEpochSeconds ?? DEFAULT_START_EPOCH) * 1e6;
  if (!Number.isInteger(packets) || packets < 1) throw new Error(`packets must be a positive integer: ${packets}`);

  const book = new AddressBook(new Rng(seed ^ 0xadd5));
  const conns = planConnections(seed, packets, durationUs, book);
  const rng = new Rng(seed ^ 0x9acc);
  const tmp = `${options.path}.tmp`;
  const writer = await PcapWriter.create(tmp, snaplen);
  const p = new PacketSpec();
  const tally: Tally = { ipv4: 0, ipv6: 0, tcp: 0, udp: 0, icmp: 0, icmpv6: 0, esp: 0, flows: 0 };
  const heap = new EventHeap();
  const start = conns.start;
  const count = conns.count;
  const lastUs = durationUs - 1;
  let next = 0;
  let firstUs = -1;
  let prevUs = 0;
  let emitted = 0;
  while (next < count || heap.size > 0) {
    while (next < count && (heap.size === 0 || start[next] <= heap.keys[0])) {
      heap.push(start[next], next);
      next++;
    }
    let t = heap.keys[0];
    const i = heap.vals[0];
    if (t > lastUs) t = lastUs;
    if (t < prevUs) t = prevUs; // clamping above may not reorder packets
    prevUs = t;
    const k = conns.sent[i]++;
    const gap = buildPacket(conns, i, k, rng, book, p, tally);
    p.timestampUs = baseUs + Math.floor(t);
    if (firstUs < 0) firstUs = p.timestampUs;
    writer.write(p);
    emitted++;
    if (k + 1 < conns.size[i]) heap.replaceTop(t + Math.max(1, gap), i);
    else heap.pop();
    if (writer.needsFlush) {
      await writer.flush();
      options.onProgress?.(emitted);
    }
  }
  await writer.close();
  await rename(tmp, options.path);
  options.onProgress?.(emitted);
  let idleSplits = 0;
  const hist = [0, 0, 0, 0, 0, 0, 0];
  const bucket = (n: number): number => (n <= 1 ? 0 : n <= 10 ? 1 : n <= 100 ? 2 : n <= 1000 ? 3 : n <= 10000 ? 4 : n <= 100000 ? 5 : 6);
  for (let i = 0; i < count; i++) {
    if (conns.longGapAt[i] >= 0) idleSplits++;
    const s = conns.fromServer[i];
    const cl = conns.size[i] - s;
    if (s > 0) hist[bucket(s)]++;
    if (cl > 0) hist[bucket(cl)]++;
  }
  return {
    path: options.path,
    packets: emitted,
    flows: tally.flows,
    connections: count,
    bytes: writer.fileBytes,
    ipBytes: writer.ipBytes,
    firstUs,
    lastUs: p.timestampUs,
    mix: {
      ipv4: tally.ipv4,
      ipv6: tally.ipv6,
      tcp: tally.tcp,
      udp: tally.udp,
      icmp: tally.icmp,
      icmpv6: tally.icmpv6,
      esp: tally.esp,
    },
    idleSplits,
    flowSizes: {
      '1': hist[0],
      '2-10': hist[1],
      '11-100': hist[2],
      '101-1000': hist[3],
      '1001-10000': hist[4],
      '10001-100000': hist[5],
      '>100000': hist[6],
    },
    elapsedMs: performance.now() - began,
  };
}

// ---------------------------------------------------------------------------------------------------
// Many concurrently active flows

export interface ActiveFlowsCaptureOptions {
  path: string;
  /** Distinct 5-tuples (default 1,000,000). */
  flows?: number;
  seed?: number;
  /** All packets fall inside this window (default 60 s, below the 90 s idle timeout). */
  windowSeconds?: number;
  snaplen?: number;
  startEpochSeconds?: number;
  onProgress?: (packetsWritten: number) => void;
}

export interface ActiveFlowsCaptureResult {
  path: string;
  packets: number;
  flows: number;
  bytes: number;
  elapsedMs: number;
}

/**
 * Writes `flows` distinct 5-tuples (client host, ephemeral port) -> (server, port), 60% UDP and 40% TCP
 * without FIN/RST, a quarter over IPv6. Each flow sends one packet in the first half of the window and
 * half of them a second one up to half a window later, so no flow is idle for as long as the idle
 * timeout and a flow meter ends the file holding every flow.
 */
export async function generateActiveFlowsCapture(options: ActiveFlowsCaptureOptions): Promise<ActiveFlowsCaptureResult> {
  const began = performance.now();
  const flows = options.flows ?? 1_000_000;
  const seed = options.seed ?? 1;
  const windowUs = Math.round((options.windowSeconds ?? 60) * 1e6);
  const snaplen = options.snaplen ?? 96;
  const baseUs = (options.startEpochSeconds ?? DEFAULT_START_EPOCH) * 1e6;
  const clients = N_INTERNAL - N_INTERNAL_SERVERS;
  if (flows > clients * 28000) throw new Error(`at most ${clients * 28000} flows`);
  const book = new AddressBook(new Rng(seed ^ 0xadd5));
  const rng = new Rng(seed ^ 0xac71);
  const tmp = `${options.path}.tmp`;
  const writer = await PcapWriter.create(tmp, snaplen);
  const p = new PacketSpec();
  const heap = new EventHeap();
  const half = windowUs / 2;
  let emitted = 0;
  const writeFlowPacket = (i: number, second: boolean, t: number): void => {
    // Flow i: client N_INTERNAL_SERVERS + i % clients, source port from i / clients: unique by construction.
    const client = N_INTERNAL_SERVERS + (i % clients);
    const clientPort = 32768 + Math.floor(i / clients);
    const h = Math.imul(i + 1, 0x9e3779b1) >>> 0;
    const server = N_INTERNAL + N_EXT_VPN + (h % (N_EXTERNAL - N_EXT_VPN));
    const v6 = (i & 3) === 3;
    const tcp = h % 10 < 4;
    book.load(client, v6, p.src);
    book.load(server, v6, p.dst);
    p.v6 = v6;
    p.srcMac = book.mac(client);
    p.dstMac = 0;
    p.ttl = 64;
    p.protocol = tcp ? PROTO_TCP : PROTO_UDP;
    p.srcPort = clientPort;
    p.dstPort = tcp ? 443 : [53, 443, 123, 3478][(h >>> 8) & 3];
    p.tcpFlags = tcp ? (second ? TCP_ACK : TCP_SYN) : 0;
    p.seq = h;
    p.ack = 0;
    p.payloadLength = tcp ? 0 : 40 + ((h >>> 12) & 511);
    p.timestampUs = baseUs + Math.floor(t);
    writer.write(p);
    emitted++;
  };
  for (let i = 0; i < flows; i++) {
    const t = Math.floor((i / flows) * half);
    while (heap.size > 0 && heap.keys[0] <= t) {
      writeFlowPacket(heap.vals[0], true, heap.keys[0]);
      heap.pop();
    }
    writeFlowPacket(i, false, t);
    if (rng.chance(0.5)) heap.push(t + 1 + Math.floor(rng.next() * half), i);
    if (writer.needsFlush) {
      await writer.flush();
      options.onProgress?.(emitted);
    }
  }
  while (heap.size > 0) {
    writeFlowPacket(heap.vals[0], true, heap.keys[0]);
    heap.pop();
    if (writer.needsFlush) await writer.flush();
  }
  await writer.close();
  await rename(tmp, options.path);
  options.onProgress?.(emitted);
  return { path: options.path, packets: emitted, flows, bytes: writer.fileBytes, elapsedMs: performance.now() - began };
}

/**
 * A fast classic-pcap writer for synthetic packets (Ethernet, microsecond timestamps, little-endian).
 *
 * Packets are described by a reused `PacketSpec` and written straight into one of two large buffers;
 * while one buffer is being written to disk the generator fills the other. Only the first `snaplen`
 * bytes of each frame are stored (caplen), the record keeps the real frame length (wirelen).
 */
import { open, type FileHandle } from 'node:fs/promises';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ESP = 50;
export const PROTO_ICMPV6 = 58;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

/** One packet to write; reused for every packet (fields are overwritten, never reallocated). */
export class PacketSpec {
  /** Microseconds since the Unix epoch. */
  timestampUs = 0;
  v6 = false;
  /** Addresses: IPv4 in word 0, IPv6 in words 0..3, network order values. */
  readonly src = new Uint32Array(4);
  readonly dst = new Uint32Array(4);
  /** MAC address low 32 bits (the high 16 are fixed); 0 = the router. */
  srcMac = 0;
  dstMac = 0;
  protocol = PROTO_TCP;
  ttl = 64;
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  /** TCP: sequence and acknowledgement numbers. ESP: SPI in `seq`, sequence number in `ack`. ICMP: id in `seq`, sequence in `ack`. */
  seq = 0;
  ack = 0;
  /** ICMP type and code. */
  icmpType = 0;
  icmpCode = 0;
  /** Bytes after the transport header (TCP options are added for SYNs automatically). */
  payloadLength = 0;
}

const BUFFER_BYTES = 8 * 1024 * 1024;
/** Room left at the end of a buffer: one maximal record plus slack for header bytes past caplen. */
const MAX_RECORD = 16 + 1600 + 256;
const ROUTER_MAC_HI = 0x001b;
const ROUTER_MAC_LO = 0x213a4f01;
const HOST_MAC_HI = 0x0200;

export class PcapWriter {
  private readonly buffers = [Buffer.alloc(BUFFER_BYTES), Buffer.alloc(BUFFER_BYTES)];
  private current = 0;
  private buf: Buffer;
  private pos = 0;
  private pending: Promise<unknown> | null = null;
  private ipId = 0;
  /** Totals so far. */
  packets = 0;
  fileBytes = 0;
  ipBytes = 0;

  private constructor(
    private readonly fh: FileHandle,
    readonly snaplen: number,
  ) {
    this.buf = this.buffers[0];
    // Global header: magic, version 2.4, thiszone 0, sigfigs 0, snaplen, LINKTYPE_ETHERNET.
    const b = this.buf;
    b.writeUInt32LE(0xa1b2c3d4, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeInt32LE(0, 8);
    b.writeUInt32LE(0, 12);
    b.writeUInt32LE(snaplen, 16);
    b.writeUInt32LE(1, 20);
    this.pos = 24;
  }

  static async create(path: string, snaplen: number): Promise<PcapWriter> {
    if (!(snaplen >= 14 && snaplen <= 65535)) throw new Error(`snaplen out of range: ${snaplen}`);
    const fh = await open(path, 'w');
    return new PcapWriter(fh, snaplen);
  }

  /** True when the caller should `await flush()` before writing more (keeps the generator loop synchronous). */
  get needsFlush(): boolean {
    return this.pos + MAX_RECORD > BUFFER_BYTES;
  }

  /** Hands the filled buffer to the disk and switches to the other one (waiting if it is still being written). */
  async flush(): Promise<void> {
    if (this.pos === 0) return;
    const full = this.buf;
    const length = this.pos;
    if (this.pending) await this.pending;
    this.pending = this.fh.write(full, 0, length);
    this.fileBytes += length;
    this.current ^= 1;
    this.buf = this.buffers[this.current];
    this.pos = 0;
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.pending) await this.pending;
    this.pending = null;
    await this.fh.close();
  }

  /** Appends one packet record. Call `flush()` whenever `needsFlush` is true. */
  write(p: PacketSpec): void {
    const b = this.buf;
    const rec = this.pos;
    const o = rec + 16;
    const v6 = p.v6;
    const proto = p.protocol;
    const isSyn = proto === PROTO_TCP && (p.tcpFlags & TCP_SYN) !== 0;
    const l4Header = proto === PROTO_TCP ? (isSyn ? 32 : 20) : 8;
    const ipHeader = v6 ? 40 : 20;
    const ipLength = ipHeader + l4Header + p.payloadLength;
    let wirelen = 14 + ipLength;
    if (wirelen < 60) wirelen = 60; // Ethernet minimum frame (without FCS): padding on the wire.
    const caplen = wirelen < this.snaplen ? wirelen : this.snaplen;

    // Record header.
    const tsUs = p.timestampUs;
    const sec = Math.floor(tsUs / 1e6);
    b.writeUInt32LE(sec, rec);
    b.writeUInt32LE(tsUs - sec * 1e6, rec + 4);
    b.writeUInt32LE(caplen, rec + 8);
    b.writeUInt32LE(wirelen, rec + 12);

    // Ethernet.
    writeMac(b, o, p.dstMac);
    writeMac(b, o + 6, p.srcMac);
    b[o + 12] = v6 ? 0x86 : 0x08;
    b[o + 13] = v6 ? 0xdd : 0x00;

    // IP.
    const ip = o + 14;
    if (v6) {
      b[ip] = 0x60;
      b[ip + 1] = 0;
      b[ip + 2] = 0;
      b[ip + 3] = 0;
      be16(b, ip + 4, ipLength - 40);
      b[ip + 6] = proto;
      b[ip + 7] = p.ttl;
      for (let i = 0; i < 4; i++) {
        be32(b, ip + 8 + 4 * i, p.src[i]);
        be32(b, ip + 24 + 4 * i, p.dst[i]);
      }
    } else {
      b[ip] = 0x45;
      b[ip + 1] = 0;
      be16(b, ip + 2, ipLength);
      be16(b, ip + 4, this.ipId);
      this.ipId = (this.ipId + 1) & 0xffff;
      b[ip + 6] = 0x40; // DF
      b[ip + 7] = 0;
      b[ip + 8] = p.ttl;
      b[ip + 9] = proto;
      b[ip + 10] = 0;
      b[ip + 11] = 0;
      be32(b, ip + 12, p.src[0]);
      be32(b, ip + 16, p.dst[0]);
      let sum = 0;
      for (let i = 0; i < 20; i += 2) sum += (b[ip + i] << 8) | b[ip + i + 1];
      sum = (sum & 0xffff) + (sum >>> 16);
      sum = (sum & 0xffff) + (sum >>> 16);
      be16(b, ip + 10, ~sum & 0xffff);
    }

    // Transport.
    const l4 = ip + ipHeader;
    if (proto === PROTO_TCP) {
      be16(b, l4, p.srcPort);
      be16(b, l4 + 2, p.dstPort);
      be32(b, l4 + 4, p.seq >>> 0);
      be32(b, l4 + 8, p.ack >>> 0);
      b[l4 + 12] = (l4Header / 4) << 4;
      b[l4 + 13] = p.tcpFlags;
      be16(b, l4 + 14, 64240);
      b[l4 + 16] = 0;
      b[l4 + 17] = 0;
      b[l4 + 18] = 0;
      b[l4 + 19] = 0;
      if (isSyn) {
        // MSS, NOP, window scale 7, SACK permitted, NOP, NOP.
        b[l4 + 20] = 2;
        b[l4 + 21] = 4;
        be16(b, l4 + 22, v6 ? 1440 : 1460);
        b[l4 + 24] = 1;
        b[l4 + 25] = 3;
        b[l4 + 26] = 3;
        b[l4 + 27] = 7;
        b[l4 + 28] = 4;
        b[l4 + 29] = 2;
        b[l4 + 30] = 1;
        b[l4 + 31] = 1;
      }
    } else if (proto === PROTO_UDP) {
      be16(b, l4, p.srcPort);
      be16(b, l4 + 2, p.dstPort);
      be16(b, l4 + 4, 8 + p.payloadLength);
      b[l4 + 6] = 0;
      b[l4 + 7] = 0;
    } else if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
      b[l4] = p.icmpType;
      b[l4 + 1] = p.icmpCode;
      b[l4 + 2] = 0;
      b[l4 + 3] = 0;
      be16(b, l4 + 4, p.seq & 0xffff);
      be16(b, l4 + 6, p.ack & 0xffff);
    } else {
      // ESP: SPI, sequence number; the rest is "encrypted" payload.
      be32(b, l4, p.seq >>> 0);
      be32(b, l4 + 4, p.ack >>> 0);
    }

    // Payload and Ethernet padding: zeros up to caplen.
    const headersEnd = l4 + l4Header;
    const end = o + caplen;
    if (end > headersEnd) b.fill(0, headersEnd, end);

    this.pos = o + caplen;
    this.packets++;
    this.ipBytes += ipLength;
  }
}

function be16(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

function be32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

function writeMac(b: Buffer, o: number, lo: number): void {
  const hi = lo === 0 ? ROUTER_MAC_HI : HOST_MAC_HI;
  const low = lo === 0 ? ROUTER_MAC_LO : lo;
  be16(b, o, hi);
  be32(b, o + 2, low);
}

/**
 * An OSPF socket on one interface, through native/build/endsight-ospf-socket (node has no raw IP
 * sockets): it receives what is sent to AllSPFRouters, AllDRouters and this host with IP protocol
 * 89, and sends OSPF packets to an address. Frames on its pipes: [u16 length][bytes], outgoing
 * frames start with the IPv4 destination.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The built helper: native/build/endsight-ospf-socket in the package (from dist/src/topo/ospf/). */
export function ospfSocketProgram(): string {
  return fileURLToPath(new URL('../../../../native/build/endsight-ospf-socket', import.meta.url));
}

/** One IPv4 packet received: its source and destination, and the OSPF packet it carries. */
export interface ReceivedPacket {
  source: string;
  destination: string;
  /** The IP payload. */
  payload: Uint8Array;
}

const quad = (b: Uint8Array, at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

export class OspfSocket {
  private pending: Buffer = Buffer.alloc(0);
  private stderr = '';
  readonly closed: Promise<void>;

  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, Readable>,
    onPacket: (packet: ReceivedPacket) => void,
  ) {
    child.stdout.on('data', (chunk: Buffer) => {
      this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 2) {
        const length = this.pending.readUInt16BE(0);
        if (this.pending.length < 2 + length) break;
        const ip = this.pending.subarray(2, 2 + length);
        this.pending = this.pending.subarray(2 + length);
        const headerBytes = (ip[0] & 0x0f) * 4;
        // The kernel hands over whole IPv4 packets; anything else is not worth a look.
        if (length < 20 || ip[0] >> 4 !== 4 || headerBytes < 20 || headerBytes > length) continue;
        const total = Math.min(length, ip.readUInt16BE(2));
        onPacket({ source: quad(ip, 12), destination: quad(ip, 16), payload: new Uint8Array(ip.subarray(headerBytes, total)) });
      }
    });
    this.closed = once(child, 'close').then(() => undefined);
  }

  /** Opens the socket on `interfaceName`; a problem (no helper, no privileges, no such interface) is one error line. */
  static async open(interfaceName: string, onPacket: (packet: ReceivedPacket) => void): Promise<OspfSocket> {
    const program = ospfSocketProgram();
    if (!existsSync(program)) throw new RangeError(`Cannot form an OSPF adjacency: ${program} is not built (npm run build; needs gcc)`);
    // Its own process group: a Ctrl-C meant for us must not end it before we have left the LAN
    // (it ends with its stdin, or with us: PR_SET_PDEATHSIG).
    const child = spawn(program, [interfaceName, ...(process.getuid?.() === 0 ? ['nobody'] : [])], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const socket = new OspfSocket(child, onPacket);
    child.stderr.setEncoding('utf8');
    const ready = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (text: string) => {
        socket.stderr += text;
        if (/ready on/.test(socket.stderr)) resolve();
      });
      child.once('error', reject);
      child.once('close', () => reject(new RangeError(`Cannot form an OSPF adjacency on ${interfaceName}: ${socket.complaint() || 'the socket helper ended'}`)));
    });
    child.stdin.on('error', () => undefined); // a helper that ended is reported through `closed`
    await ready;
    return socket;
  }

  /** Sends an OSPF packet to `destination` (an IPv4 address: a neighbour, 224.0.0.5 or 224.0.0.6). */
  send(destination: string, ospf: Uint8Array): void {
    if (ospf.length > 65_535 - 4) return; // cannot be framed (nor sent in one IP packet); the caller keeps packets within the MTU
    const frame = Buffer.alloc(6 + ospf.length);
    frame.writeUInt16BE(4 + ospf.length, 0);
    destination.split('.').forEach((part, i) => (frame[2 + i] = Number(part)));
    frame.set(ospf, 6);
    this.child.stdin.write(frame);
  }

  /** The helper's last complaint, without its name. */
  complaint(): string {
    const line = this.stderr.trim().split('\n').filter((l) => !/ready on/.test(l)).pop() ?? '';
    return line.replace(/^endsight-ospf-socket: /, '');
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGTERM'), 2000);
    await this.closed;
    clearTimeout(timer);
  }
}

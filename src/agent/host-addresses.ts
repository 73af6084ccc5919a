/**
 * The host's own addresses, for the `direction` of each flow (PRODUCT.md: out, in, local, transit,
 * relative to the reporting host).
 *
 * Read from the kernel's interface list (getifaddrs, through `os.networkInterfaces()`) and re-read
 * by `refresh()`, which the agent calls when the kernel reports an address change (netlink, through
 * the capture program) and every 30 s anyway, so a VPN or DHCP address that comes or
 * goes is classified correctly from then on. A flow is classified when it ends, with the addresses
 * of that moment.
 */
import os from 'node:os';
import { parseAddress } from '../decode/index.js';
import { Direction } from '../flow/index.js';

type InterfaceList = ReturnType<typeof os.networkInterfaces>;

export class HostAddresses {
  private ipv4 = new Set<number>();
  /** IPv4 directed broadcast addresses of the host's subnets (RFC 919). */
  private ipv4Broadcast = new Set<number>();
  /** IPv6 addresses as the text of their four words, e.g. "536939960,0,0,1". */
  private ipv6 = new Set<string>();
  private signature = '';

  constructor(private readonly list: () => InterfaceList = os.networkInterfaces) {
    this.refresh();
  }

  /** Re-reads the addresses; true when they changed. */
  refresh(): boolean {
    const interfaces = this.list();
    const signature = JSON.stringify(interfaces);
    if (signature === this.signature) return false;
    this.signature = signature;
    const ipv4 = new Set<number>();
    const ipv4Broadcast = new Set<number>();
    const ipv6 = new Set<string>();
    for (const addresses of Object.values(interfaces)) {
      for (const a of addresses ?? []) {
        const parsed = parseAddress(a.address.split('%')[0]);
        if (parsed === null) continue;
        if (parsed.ipVersion === 4) {
          ipv4.add(parsed.words[0]);
          const mask = parseAddress(a.netmask);
          if (mask !== null && mask.ipVersion === 4 && mask.words[0] !== 0xffffffff) {
            ipv4Broadcast.add((parsed.words[0] | ~mask.words[0]) >>> 0);
          }
        } else {
          ipv6.add(parsed.words.join(','));
        }
      }
    }
    this.ipv4 = ipv4;
    this.ipv4Broadcast = ipv4Broadcast;
    this.ipv6 = ipv6;
    return true;
  }

  /** How many addresses the host has (for the health endpoint). */
  get count(): number {
    return this.ipv4.size + this.ipv6.size;
  }

  /**
   * Direction of a flow key (source words 0-3, destination words 4-7; IPv4 in words 0 and 4).
   * Multicast and broadcast destinations count as this host when it did not send the packet: it
   * received them.
   */
  readonly directionOf = (key: Uint32Array, ipVersion: number): Direction => {
    const fromHere = ipVersion === 4 ? this.ipv4.has(key[0]) : this.ipv6.has(`${key[0]},${key[1]},${key[2]},${key[3]}`);
    const toHere =
      ipVersion === 4
        ? this.ipv4.has(key[4]) || (key[4] >>> 28 === 0xe) || key[4] === 0xffffffff || this.ipv4Broadcast.has(key[4])
        : this.ipv6.has(`${key[4]},${key[5]},${key[6]},${key[7]}`) || key[4] >>> 24 === 0xff;
    if (fromHere && toHere) return this.isLocalDestination(key, ipVersion) ? Direction.local : Direction.out;
    if (fromHere) return Direction.out;
    if (toHere) return Direction.in;
    return Direction.transit;
  };

  /** A packet from this host to a group or broadcast address leaves it: out; to one of its own addresses: local. */
  private isLocalDestination(key: Uint32Array, ipVersion: number): boolean {
    return ipVersion === 4 ? this.ipv4.has(key[4]) : this.ipv6.has(`${key[4]},${key[5]},${key[6]},${key[7]}`);
  }
}

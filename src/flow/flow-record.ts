/**
 * One finished unidirectional flow, as stored in the `flows` table (see ../shared/PRODUCT.md).
 * Produced by the flow meter, consumed by the store and the exporters.
 */
export interface FlowRecord {
  /** Reporting host (the store's host id for local capture; the exporter for collected NetFlow). */
  host: string;
  /** First and last packet time, microseconds since the Unix epoch (UTC). */
  startUs: number;
  endUs: number;
  /** Text addresses: dotted quad, or RFC 5952 for IPv6. */
  srcAddr: string;
  dstAddr: string;
  /** 0 where the protocol has none; ICMP and ICMPv6 put type*256+code in dstPort, as NetFlow does. */
  srcPort: number;
  dstPort: number;
  /** IP protocol number. */
  protocol: number;
  /** Estimates scaled by `sampling` when sampling > 1. */
  packets: number;
  /** IP-layer bytes (IP header + payload), as NetFlow counts them. */
  bytes: number;
  /** OR of the TCP flags seen (0 for other protocols). */
  tcpFlags: number;
  direction: Direction;
  endReason: EndReason;
  /** N for 1-in-N packet sampling; 1 = every packet. */
  sampling: number;
  /** Capture interface name, or null when unknown. */
  interfaceName: string | null;
  /** Where the record came from, e.g. `pcap:trace.pcapng` or `live:eth0`. */
  source: string;
  /** Attribution: null when unknown, never a guess. */
  process: string | null;
  pid: number | null;
  username: string | null;
  uid: number | null;
  container: string | null;
  /** The process's command line (arguments joined by spaces, at most 1024 characters). */
  command: string | null;
  /**
   * Set when this flow carries a tunnel (its packets hold other packets): the tunnel interface a VPN
   * process serves (`tun0`), or the encapsulation (`esp`, `gre`, `ipip`, `ipv6-in-ipv4`, `l2tp`).
   */
  tunnel: string | null;
}

/** Direction relative to the reporting host. */
export const Direction = {
  out: 'out',
  in: 'in',
  local: 'local',
  transit: 'transit',
  unknown: 'unknown',
} as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

/** Why a flow record was ended. */
export const EndReason = {
  /** No packet for longer than the idle timeout. */
  idle: 'idle',
  /** Open longer than the active timeout; the flow continues in a new record. */
  active: 'active',
  /** TCP FIN seen. */
  fin: 'fin',
  /** TCP RST seen. */
  rst: 'rst',
  /** Pushed out early because the flow table reached its cap (oldest first). */
  evicted: 'evicted',
  /** Still open when the input ended (end of a capture file, agent shutdown). */
  end: 'end',
  /** Collected NetFlow/IPFIX: the exporter ended the flow and did not say why (no flowEndReason). */
  exporter: 'exporter',
} as const;
export type EndReason = (typeof EndReason)[keyof typeof EndReason];

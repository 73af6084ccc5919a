/**
 * The fields of one packet that the flow meter needs, filled in place by `decodePacket`.
 * One instance is reused for every packet: the decoder never allocates.
 */
export class DecodedPacket {
  /** 4 or 6. */
  ipVersion = 0;
  /** Addresses as 32-bit words in network order; IPv4 uses word 0 only (words 1-3 are 0). */
  readonly srcAddr = new Uint32Array(4);
  readonly dstAddr = new Uint32Array(4);
  /** IP protocol number (IPv6: the upper-layer protocol after extension headers). */
  protocol = 0;
  /** Transport ports; 0 where the protocol has none. ICMP/ICMPv6: srcPort 0, dstPort type*256+code (as NetFlow). */
  srcPort = 0;
  dstPort = 0;
  /** IP-layer bytes as the IP header states them (IPv4 total length; IPv6 40 + payload length). */
  ipBytes = 0;
  /** TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80). */
  tcpFlags = 0;
  /** True when the packet is an IP fragment (IPv4 MF or offset != 0; IPv6 fragment header). */
  isFragment = false;
  /** Fragment offset in bytes (0 for the first fragment). */
  fragmentOffset = 0;
  moreFragments = false;
  /** IPv4 identification, or the IPv6 fragment header's 32-bit identification. */
  fragmentId = 0;
  /** Outer 802.1Q VLAN id, or -1 when untagged. */
  vlanId = -1;
  /** The capturing host's interface index from a Linux cooked v2 header, or -1 when the link has none. */
  linkInterfaceIndex = -1;
  /** Byte offset of the IP header within the capture buffer (for tests and later stages). */
  ipOffset = 0;
}

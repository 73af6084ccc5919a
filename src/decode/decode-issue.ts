/**
 * Why a packet could not be decoded. `decodePacket` returns one of these codes (or null on success);
 * the caller counts it in an `IssueCounter` and skips the packet. Bytes from the wire never throw.
 *
 * Naming: `truncated_<layer>` means the bytes that layer needs are not there, whether the capture
 * ended (snaplen) or the enclosing IP length field ended first; `bad_*` and `*_exceeds_wire` mean a
 * length field contradicts itself or the frame.
 */
export const DecodeIssue = {
  /** offset/caplen do not lie within the batch buffer (a capture-source bug, never the wire's). */
  BAD_CAPTURE_BOUNDS: 'bad_capture_bounds',
  UNSUPPORTED_LINK_TYPE: 'unsupported_link_type',
  TRUNCATED_ETHERNET: 'truncated_ethernet',
  TRUNCATED_VLAN: 'truncated_vlan',
  /** More stacked 802.1Q/802.1ad tags than `MAX_VLAN_TAGS`. */
  TOO_MANY_VLAN_TAGS: 'too_many_vlan_tags',
  TRUNCATED_LINUX_SLL: 'truncated_linux_sll',
  TRUNCATED_LINUX_SLL2: 'truncated_linux_sll2',
  /** BSD null / OpenBSD loop header (4 bytes) not captured. */
  TRUNCATED_LOOPBACK: 'truncated_loopback',
  /** Not an error: ARP, LLDP, IPX, MPLS... counted and skipped. */
  NON_IP: 'non_ip',
  /** Raw-IP link with no byte to read the version from. */
  TRUNCATED_IP: 'truncated_ip',
  /** Version nibble is not 4/6, or not what the link header announced. */
  BAD_IP_VERSION: 'bad_ip_version',
  TRUNCATED_IPV4: 'truncated_ipv4',
  /** IHL < 5 (RFC 791 §3.1: the minimum header is 5 words). */
  BAD_IPV4_HEADER_LENGTH: 'bad_ipv4_header_length',
  /** Total length smaller than the header length (and not the TSO value 0). */
  BAD_IPV4_TOTAL_LENGTH: 'bad_ipv4_total_length',
  IPV4_TOTAL_LENGTH_EXCEEDS_WIRE: 'ipv4_total_length_exceeds_wire',
  TRUNCATED_IPV6: 'truncated_ipv6',
  IPV6_PAYLOAD_LENGTH_EXCEEDS_WIRE: 'ipv6_payload_length_exceeds_wire',
  TRUNCATED_IPV6_EXTENSION: 'truncated_ipv6_extension',
  /** More extension headers than `MAX_IPV6_EXTENSION_HEADERS`. */
  TOO_MANY_IPV6_EXTENSIONS: 'too_many_ipv6_extensions',
  TRUNCATED_TCP: 'truncated_tcp',
  TRUNCATED_UDP: 'truncated_udp',
  TRUNCATED_SCTP: 'truncated_sctp',
  TRUNCATED_ICMP: 'truncated_icmp',
  TRUNCATED_ICMPV6: 'truncated_icmpv6',
} as const;

/** One decode issue code, e.g. `'truncated_ipv4'`. */
export type DecodeIssueCode = (typeof DecodeIssue)[keyof typeof DecodeIssue];

/** Every decode issue code, e.g. to pre-register them or to validate a count's key. */
export const DECODE_ISSUES: readonly DecodeIssueCode[] = Object.freeze(Object.values(DecodeIssue));

/** True when `code` is one of the decode issue codes. */
export function isDecodeIssue(code: string): code is DecodeIssueCode {
  return (DECODE_ISSUES as readonly string[]).includes(code);
}

/**
 * IP protocol numbers the decoder acts on (IANA "Assigned Internet Protocol Numbers"; the same
 * space is used by the IPv4 Protocol field and the IPv6 Next Header field, RFC 8200 §3).
 */
export const IpProtocol = {
  /** IPv6 Hop-by-Hop Options (RFC 8200 §4.3). */
  HOP_BY_HOP: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  /** IPv6 Routing header (RFC 8200 §4.4). */
  ROUTING: 43,
  /** IPv6 Fragment header (RFC 8200 §4.5). */
  FRAGMENT: 44,
  GRE: 47,
  /** Encapsulating Security Payload (RFC 4303): everything after its header is encrypted. */
  ESP: 50,
  /** Authentication Header (RFC 4302). */
  AH: 51,
  ICMPV6: 58,
  /** IPv6 No Next Header (RFC 8200 §4.7). */
  NO_NEXT_HEADER: 59,
  /** IPv6 Destination Options (RFC 8200 §4.6). */
  DESTINATION_OPTIONS: 60,
  SCTP: 132,
} as const;

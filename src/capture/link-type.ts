/**
 * Link-layer header types, as numbered by the tcpdump.org LINKTYPE registry
 * (https://www.tcpdump.org/linktypes.html), which pcap and pcapng share.
 */
export const LinkType = {
  NULL: 0, // BSD loopback: 4-byte protocol family in the capturing host's byte order
  ETHERNET: 1,
  RAW: 101, // raw IPv4 or IPv6, version from the first nibble
  LOOP: 108, // OpenBSD loopback: 4-byte protocol family, network byte order
  LINUX_SLL: 113, // Linux cooked capture v1
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276, // Linux cooked capture v2
} as const;

/** DLT_RAW is 12 on most platforms and 14 on OpenBSD; some writers put the DLT instead of the LINKTYPE. */
export const DLT_RAW_ALIASES: readonly number[] = [12, 14];

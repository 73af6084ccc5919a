/**
 * Why an OSPF packet or LSA could not be used. Decoders return one of these codes; the collector
 * counts it and skips what it names. Bytes from the wire never throw.
 */
export const OspfIssue = {
  TRUNCATED_OSPF_HEADER: 'truncated_ospf_header',
  /** Version is not 2 (OSPFv3 runs over IPv6 with another format). */
  BAD_OSPF_VERSION: 'bad_ospf_version',
  UNKNOWN_OSPF_PACKET_TYPE: 'unknown_ospf_packet_type',
  /** The header's packet length is below the header's size or beyond the IP payload. */
  BAD_OSPF_LENGTH: 'bad_ospf_length',
  /** RFC 2328 A.3.1: the one's complement sum over the packet, without the authentication field. */
  BAD_OSPF_CHECKSUM: 'bad_ospf_checksum',
  TRUNCATED_OSPF_BODY: 'truncated_ospf_body',
  TRUNCATED_LSA_HEADER: 'truncated_lsa_header',
  /** Shorter than its header, or not a multiple of 4 bytes. */
  BAD_LSA_LENGTH: 'bad_lsa_length',
  LSA_LENGTH_EXCEEDS_PACKET: 'lsa_length_exceeds_packet',
  BAD_LSA_CHECKSUM: 'bad_lsa_checksum',
  TRUNCATED_LSA_BODY: 'truncated_lsa_body',
  /** RFC 2328 §12.1.6: 0x80000000 is reserved. */
  BAD_LSA_SEQUENCE: 'bad_lsa_sequence',
  /** RFC 2328 §13 step 1 and A.4.1: an age past MaxAge. */
  BAD_LSA_AGE: 'bad_lsa_age',
} as const;

export type OspfIssueCode = (typeof OspfIssue)[keyof typeof OspfIssue];

/** The dotted quad of the 4 bytes at `data[at ..]` (the caller checked they are there). */
export function ipv4At(data: Uint8Array, at: number): string {
  return `${data[at]}.${data[at + 1]}.${data[at + 2]}.${data[at + 3]}`;
}

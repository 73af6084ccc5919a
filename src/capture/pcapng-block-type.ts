/**
 * pcapng block type codes (draft-ietf-opsawg-pcapng §3.2 and the IANA block type registry), and the smallest
 * Block Total Length each block can have (12 bytes of framing plus its fixed fields).
 */
export const BlockType = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  /** Obsolete Packet Block (draft Appendix A); still written by old tools. */
  PACKET: 0x00000002,
  SIMPLE_PACKET: 0x00000003,
  NAME_RESOLUTION: 0x00000004,
  INTERFACE_STATISTICS: 0x00000005,
  ENHANCED_PACKET: 0x00000006,
  IRIG_TIMESTAMP: 0x00000007,
  ARINC_429: 0x00000008,
  SYSTEMD_JOURNAL_EXPORT: 0x00000009,
  DECRYPTION_SECRETS: 0x0000000a,
  CUSTOM_COPIABLE: 0x00000bad,
  CUSTOM_NOT_COPIABLE: 0x40000bad,
} as const;

/** Smallest valid Block Total Length of each known type (pcapng §3.1 framing plus the block's fixed fields). */
const MIN_LENGTH = new Map<number, number>([
  [BlockType.SECTION_HEADER, 28],
  [BlockType.INTERFACE_DESCRIPTION, 20],
  [BlockType.PACKET, 32],
  [BlockType.SIMPLE_PACKET, 16],
  [BlockType.NAME_RESOLUTION, 12],
  [BlockType.INTERFACE_STATISTICS, 24],
  [BlockType.ENHANCED_PACKET, 32],
  [BlockType.IRIG_TIMESTAMP, 12],
  [BlockType.ARINC_429, 12],
  [BlockType.SYSTEMD_JOURNAL_EXPORT, 12],
  [BlockType.DECRYPTION_SECRETS, 20],
  [BlockType.CUSTOM_COPIABLE, 16],
  [BlockType.CUSTOM_NOT_COPIABLE, 16],
]);

/** The smallest valid length of a known block type, or 0 when the type is not one we know. */
export function minimumBlockLength(type: number): number {
  return MIN_LENGTH.get(type) ?? 0;
}

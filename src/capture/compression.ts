/** Compression formats that openCapture removes transparently. */
export type Compression = 'gzip' | 'zstd';

/** Identifies gzip (RFC 1952 §2.3.1: ID1 ID2 = 1f 8b) or zstd (RFC 8878 §3.1.1: magic 0xFD2FB528, little-endian) from the first bytes, else null. */
export function detectCompression(prefix: Uint8Array): Compression | null {
  if (prefix.length >= 2 && prefix[0] === 0x1f && prefix[1] === 0x8b) return 'gzip';
  if (prefix.length >= 4 && prefix[0] === 0x28 && prefix[1] === 0xb5 && prefix[2] === 0x2f && prefix[3] === 0xfd) {
    return 'zstd';
  }
  return null;
}

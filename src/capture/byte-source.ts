/**
 * Where a capture reader gets its bytes: a plain file, a decompressor, or memory.
 * A source is read sequentially exactly once; the reader owns it and closes it.
 */
export interface ByteSource {
  /**
   * Copies up to `length` next bytes into `into[offset ..]`; resolves to the count, 0 only at the end.
   * Rejects only for operating-system I/O errors; damaged compressed data counts an issue and ends the
   * stream instead.
   */
  read(into: Uint8Array, offset: number, length: number): Promise<number>;
  /** Bytes of the underlying file consumed so far (compressed bytes for a compressed file). */
  readonly bytesRead: number;
  /** Size of the underlying file, or null when unknown. */
  readonly totalBytes: number | null;
  /** How many bytes `read` will deliver in total, when known (uncompressed input); null otherwise. */
  readonly deliverableBytes: number | null;
  /** Releases the file handle or stream; safe to call more than once. */
  close(): Promise<void>;
}

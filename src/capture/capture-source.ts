import type { PacketSource } from './packet-batch.js';
import type { Compression } from './compression.js';

/** Container formats a capture file can be in. */
export type CaptureFormat = 'pcap' | 'pcapng';

/**
 * A PacketSource reading a capture file.
 *
 * `batches()` can be iterated once. Each batch (and the buffer its `data` points into) is reused: finish
 * with a batch before asking for the next one, and copy out anything you keep. The file is closed when
 * the iteration ends, or by `close()` if you stop early without finishing the loop.
 */
export interface CaptureSource extends PacketSource {
  readonly format: CaptureFormat;
  /** The compression removed on the fly, or null for a plain file. */
  readonly compression: Compression | null;
  /** Releases the file; safe to call more than once and after the iteration ended. */
  close(): Promise<void>;
}

import type { ByteSource } from './byte-source.js';

/** Smallest buffer allocated, so that tiny test chunk sizes do not cause a reallocation per record. */
const MIN_BUFFER = 64;

/**
 * A reusable window over a ByteSource: `buffer[start .. end)` holds the bytes not yet consumed.
 *
 * Readers parse every whole record between `start` and `end` straight out of `buffer`, advance `start`,
 * and call `require` only when the next record is incomplete. `require` moves the unconsumed tail to the
 * front of the buffer (so a record split across two reads becomes contiguous) and reads more: offsets
 * handed out before a `require` call are invalid after it. The buffer grows only as far as a record
 * needs (the caller bounds that by checking lengths first) and is never shrunk.
 */
export class ChunkedInput {
  buffer: Uint8Array;
  /** First unconsumed byte in `buffer`. Readers advance it as they consume records. */
  start = 0;
  /** One past the last valid byte in `buffer`. */
  end = 0;
  /** True once the source has reported its end. */
  eof = false;

  /** Reads `source` in pieces of at most `chunkSize` bytes. */
  constructor(
    private readonly source: ByteSource,
    private readonly chunkSize: number,
  ) {
    const known = source.deliverableBytes;
    const initial = known === null ? chunkSize : Math.min(chunkSize, known);
    this.buffer = new Uint8Array(Math.max(MIN_BUFFER, initial));
  }

  /** Bytes available from `start`. */
  get available(): number {
    return this.end - this.start;
  }

  /** Bytes of the underlying file consumed so far. */
  get bytesRead(): number {
    return this.source.bytesRead;
  }

  /** Size of the underlying file, or null when unknown. */
  get totalBytes(): number | null {
    return this.source.totalBytes;
  }

  /**
   * Makes at least `need` bytes available from `start`; resolves false if the input ends first (whatever
   * was there stays available). `need` must already be bounded by the caller: the buffer grows to it.
   */
  async require(need: number): Promise<boolean> {
    if (this.end - this.start >= need) return true;
    if (this.eof) return false;
    if (this.start > 0) {
      this.buffer.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    while (this.end < need) {
      if (this.end === this.buffer.length) this.grow(need);
      const n = await this.source.read(this.buffer, this.end, Math.min(this.chunkSize, this.buffer.length - this.end));
      if (n <= 0) {
        this.eof = true;
        return false;
      }
      this.end += n;
    }
    return true;
  }

  /** Doubles the buffer (at most to `need`): growth follows the data that actually arrives, not a length claimed by the file. */
  private grow(need: number): void {
    const size = Math.min(need, Math.max(this.buffer.length * 2, this.chunkSize));
    const bigger = new Uint8Array(size);
    bigger.set(this.buffer.subarray(0, this.end));
    this.buffer = bigger;
  }

  /** Closes the source. */
  async close(): Promise<void> {
    await this.source.close();
  }
}

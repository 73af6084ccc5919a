import type { ByteSource } from './byte-source.js';

/** Smallest buffer allocated, so that tiny test chunk sizes do not cause a reallocation per record. */
const MIN_BUFFER = 64;

/**
 * Room kept in front of a read-ahead buffer for the unconsumed tail of the current one (a record cut
 * by the end of a read). Records longer than this take the slow path: wait, then copy.
 */
const READ_AHEAD_HEADROOM = 256 * 1024;

/**
 * A reusable window over a ByteSource: `buffer[start .. end)` holds the bytes not yet consumed.
 *
 * Readers parse every whole record between `start` and `end` straight out of `buffer`, advance `start`,
 * and call `require` only when the next record is incomplete. Offsets handed out before a `require`
 * call are invalid after it: `buffer` itself may be another array afterwards.
 *
 * Reads run ahead: while the reader parses one buffer, the next chunk is already being read into a
 * second one (the file system works on libuv's threads, the parser on the main thread). `require`
 * copies the small unconsumed tail in front of the new chunk and swaps the two, so bulk bytes are
 * never copied. A record bigger than the headroom falls back to compacting and growing one buffer as
 * far as the record needs (the caller bounds that by checking lengths first); buffers never shrink.
 */
export class ChunkedInput {
  buffer: Uint8Array;
  /** First unconsumed byte in `buffer`. Readers advance it as they consume records. */
  start = 0;
  /** One past the last valid byte in `buffer`. */
  end = 0;
  /** True once the source has reported its end and no read-ahead bytes are left to hand over. */
  eof = false;
  /** The read in flight into `spare[READ_AHEAD_HEADROOM ..]`, resolving to its byte count. */
  private pending: Promise<number> | null = null;
  private spare: Uint8Array | null = null;
  private sourceEnded = false;
  /** Bytes the source has delivered so far, to stop reading ahead where a known length ends. */
  private delivered = 0;

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

  /** Bytes of the underlying file consumed so far (read-ahead included). */
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
    if (this.pending !== null) await this.takeReadAhead();
    if (this.end - this.start < need && !this.sourceEnded) await this.fill(need);
    if (this.sourceEnded) this.eof = true;
    else this.startReadAhead();
    return this.end - this.start >= need;
  }

  /** Waits for the read in flight and moves its bytes behind the unconsumed tail. */
  private async takeReadAhead(): Promise<void> {
    const pending = this.pending!;
    this.pending = null;
    const n = await pending;
    if (n <= 0) {
      this.sourceEnded = true;
      return;
    }
    this.delivered += n;
    const spare = this.spare!;
    const tail = this.end - this.start;
    if (tail <= READ_AHEAD_HEADROOM) {
      spare.set(this.buffer.subarray(this.start, this.end), READ_AHEAD_HEADROOM - tail);
      const old = this.buffer;
      this.buffer = spare;
      this.start = READ_AHEAD_HEADROOM - tail;
      this.end = READ_AHEAD_HEADROOM + n;
      this.spare = old.length >= spare.length ? old : null;
    } else {
      this.compact();
      while (this.end + n > this.buffer.length) this.grow(this.end + n);
      this.buffer.set(spare.subarray(READ_AHEAD_HEADROOM, READ_AHEAD_HEADROOM + n), this.end);
      this.end += n;
    }
  }

  /** Reads into `buffer` itself until `need` bytes are available or the source ends. */
  private async fill(need: number): Promise<void> {
    this.compact();
    while (this.end < need) {
      if (this.end === this.buffer.length) this.grow(need);
      const n = await this.source.read(this.buffer, this.end, Math.min(this.chunkSize, this.buffer.length - this.end));
      if (n <= 0) {
        this.sourceEnded = true;
        return;
      }
      this.end += n;
      this.delivered += n;
    }
  }

  /** Starts reading the next chunk into `spare`, unless the source is known to have nothing left. */
  private startReadAhead(): void {
    const known = this.source.deliverableBytes;
    const length = known === null ? this.chunkSize : Math.min(this.chunkSize, known - this.delivered);
    if (length <= 0) return;
    if (this.spare === null || this.spare.length < READ_AHEAD_HEADROOM + length) this.spare = new Uint8Array(READ_AHEAD_HEADROOM + length);
    this.pending = this.source.read(this.spare, READ_AHEAD_HEADROOM, length);
    // A failed read is rethrown by the next `require`; until then it is not an unhandled rejection.
    this.pending.catch(() => undefined);
  }

  /** Moves the unconsumed bytes to the front of `buffer`. */
  private compact(): void {
    if (this.start === 0) return;
    this.buffer.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
  }

  /** Grows the buffer towards `need`: growth follows the data that actually arrives, not a length claimed by the file. */
  private grow(need: number): void {
    const size = Math.min(need, Math.max(this.buffer.length * 2, this.chunkSize));
    const bigger = new Uint8Array(size);
    bigger.set(this.buffer.subarray(0, this.end));
    this.buffer = bigger;
  }

  /** Closes the source once the read in flight, if any, has finished. */
  async close(): Promise<void> {
    if (this.pending !== null) await this.pending.catch(() => undefined);
    this.pending = null;
    await this.source.close();
  }
}

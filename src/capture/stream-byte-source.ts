import type { ByteSource } from './byte-source.js';
import type { IssueCounter } from '../common/issue-counter.js';

/**
 * A ByteSource over an async sequence of chunks (a decompressor's output).
 * Damaged compressed data is bad input like any other: it counts `decompression_error` and ends the
 * stream, so everything decoded before the damage is still delivered. Operating-system errors (those
 * with a `syscall`) are rethrown.
 */
export class StreamByteSource implements ByteSource {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private current: Uint8Array = new Uint8Array(0);
  private currentPos = 0;
  private ended = false;
  /** The decompressor's complaint when the stream was cut short by bad data, else null. */
  failure: string | null = null;

  /**
   * @param chunks decompressed chunks, each consumed before the next is requested
   * @param compressedBytesRead reports the compressed bytes consumed so far
   * @param totalBytes the compressed file's size
   * @param onClose releases the underlying streams
   */
  constructor(
    chunks: AsyncIterable<Uint8Array>,
    private readonly issues: IssueCounter,
    private readonly compressedBytesRead: () => number,
    readonly totalBytes: number | null,
    private readonly onClose: () => Promise<void>,
  ) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  /** Copies from the current decompressed chunk, pulling the next one when it is used up. */
  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    while (this.currentPos >= this.current.length) {
      if (this.ended) return 0;
      try {
        const next = await this.iterator.next();
        if (next.done) {
          this.ended = true;
          return 0;
        }
        this.current = next.value;
        this.currentPos = 0;
      } catch (err) {
        this.ended = true;
        if ((err as NodeJS.ErrnoException | null)?.syscall) throw err;
        this.failure = err instanceof Error ? err.message.split('\n')[0] : String(err);
        this.issues.add('decompression_error');
        return 0;
      }
    }
    const n = Math.min(length, this.current.length - this.currentPos);
    into.set(this.current.subarray(this.currentPos, this.currentPos + n), offset);
    this.currentPos += n;
    return n;
  }

  get bytesRead(): number {
    return this.compressedBytesRead();
  }

  readonly deliverableBytes = null;

  /** Stops the decompressor and closes the file. */
  async close(): Promise<void> {
    this.ended = true;
    this.current = new Uint8Array(0);
    this.currentPos = 0;
    await this.onClose();
  }
}

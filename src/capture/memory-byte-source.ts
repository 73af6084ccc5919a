import type { ByteSource } from './byte-source.js';

/** A ByteSource over bytes already in memory (tests, fuzzing, captures received whole). */
export class MemoryByteSource implements ByteSource {
  private position = 0;

  /** Serves `bytes` (not copied; do not modify them while reading). */
  constructor(private readonly bytes: Uint8Array) {}

  /** Copies the next bytes; resolves to 0 at the end. */
  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    const n = Math.min(length, this.bytes.length - this.position);
    if (n <= 0) return 0;
    into.set(this.bytes.subarray(this.position, this.position + n), offset);
    this.position += n;
    return n;
  }

  get bytesRead(): number {
    return this.position;
  }

  get totalBytes(): number {
    return this.bytes.length;
  }

  get deliverableBytes(): number {
    return this.bytes.length;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}
}

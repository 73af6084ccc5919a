import type { FileHandle } from 'node:fs/promises';
import type { ByteSource } from './byte-source.js';

/** A ByteSource reading an uncompressed file sequentially through a FileHandle, into the caller's buffer (no copies). */
export class FileByteSource implements ByteSource {
  private position = 0;
  private closed = false;

  /** Reads `handle` from offset 0; `size` is the file size from fstat. */
  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
  ) {}

  /** Reads the next bytes with an explicit position (pread), so earlier sniffing reads do not matter. */
  async read(into: Uint8Array, offset: number, length: number): Promise<number> {
    if (this.closed || length <= 0) return 0;
    const { bytesRead } = await this.handle.read(into, offset, length, this.position);
    this.position += bytesRead;
    return bytesRead;
  }

  get bytesRead(): number {
    return this.position;
  }

  get totalBytes(): number {
    return this.size;
  }

  get deliverableBytes(): number {
    return this.size;
  }

  /** Closes the file handle. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import { Decompress } from 'fzstd';
import type { IssueCounter } from '../common/issue-counter.js';
import type { Compression } from './compression.js';
import { StreamByteSource } from './stream-byte-source.js';

/** Which zstd decoder to use: Node's own (node:zlib, Node ≥ 22.15) or the pure-JS fzstd. */
export type ZstdDecoder = 'native' | 'fzstd';

type ZstdFactory = (options?: zlib.ZlibOptions) => Transform;
/** node:zlib's createZstdDecompress when this Node has it (added in 22.15 / 23.8); @types/node 20 does not declare it. */
const nativeZstdFactory: ZstdFactory | undefined = (zlib as unknown as { createZstdDecompress?: ZstdFactory })
  .createZstdDecompress;

/** True when this Node can decompress zstd natively. */
export function hasNativeZstd(): boolean {
  return nativeZstdFactory !== undefined;
}

/** Compressed bytes read from the file per read. */
const FILE_READ_SIZE = 256 * 1024;
/** Decompressed bytes per output chunk of node:zlib. */
const ZLIB_CHUNK_SIZE = 64 * 1024;
/**
 * Compressed bytes handed to fzstd per push. fzstd decodes everything it is given at once and has no
 * backpressure; small pushes bound what one push can expand into (a zstd block expands to at most
 * 128 KiB, RFC 8878 §3.1.1.2.3, and the smallest block is 4 bytes), so memory stays bounded even on a
 * decompression bomb.
 */
const FZSTD_PUSH_SIZE = 4 * 1024;

/**
 * Streams the decompressed content of the file behind `handle` (read from offset 0).
 * The handle is owned by the returned source and closed with it.
 */
export function openDecompressingSource(
  handle: FileHandle,
  size: number,
  compression: Compression,
  issues: IssueCounter,
  zstdDecoder: ZstdDecoder = hasNativeZstd() ? 'native' : 'fzstd',
): StreamByteSource {
  const file = handle.createReadStream({ start: 0, highWaterMark: FILE_READ_SIZE, autoClose: true });
  let decoder: Transform | null = null;
  let chunks: AsyncIterable<Uint8Array>;
  if (compression === 'zstd' && zstdDecoder === 'fzstd') {
    chunks = fzstdChunks(file);
  } else {
    if (compression === 'gzip') decoder = zlib.createGunzip({ chunkSize: ZLIB_CHUNK_SIZE });
    else if (nativeZstdFactory) decoder = nativeZstdFactory({ chunkSize: ZLIB_CHUNK_SIZE });
    else throw new Error('this Node.js has no native zstd decompressor');
    const d = decoder;
    file.on('error', (err) => d.destroy(err));
    file.pipe(d);
    chunks = d;
  }
  const close = async (): Promise<void> => {
    decoder?.destroy();
    if (!file.closed) {
      await new Promise<void>((resolve) => {
        file.once('close', () => resolve());
        file.destroy();
      });
    }
  };
  return new StreamByteSource(chunks, issues, () => file.bytesRead, size, close);
}

/** Decompresses zstd with fzstd's streaming decoder, yielding each decoded block; fzstd errors reject the iteration. */
async function* fzstdChunks(compressed: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  const decoder = new Decompress((data) => {
    if (data.length > 0) out.push(data);
  });
  for await (const chunk of compressed) {
    for (let i = 0; i < chunk.length; i += FZSTD_PUSH_SIZE) {
      decoder.push(chunk.subarray(i, Math.min(i + FZSTD_PUSH_SIZE, chunk.length)));
      for (const block of out) yield block;
      out.length = 0;
    }
  }
  decoder.push(new Uint8Array(0), true);
  for (const block of out) yield block;
}

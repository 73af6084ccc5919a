import * as zlib from 'node:zlib';
import { spawn, spawnSync } from 'node:child_process';
import type { Transform } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import type { IssueCounter } from '../common/issue-counter.js';
import type { Compression } from './compression.js';
import { StreamByteSource } from './stream-byte-source.js';

/**
 * Which zstd decoder to use: Node's own (node:zlib, Node ≥ 22.15), or the `zstd` command (Debian
 * package zstd) in a child process on older Node. The command decodes on another core at several
 * hundred MB/s; the pure-JS decoders on npm manage about 70 MB/s here, slower than the meter.
 */
export type ZstdDecoder = 'native' | 'zstd-command';

type ZstdFactory = (options?: zlib.ZlibOptions) => Transform;
/** node:zlib's createZstdDecompress when this Node has it (added in 22.15 / 23.8); @types/node 20 does not declare it. */
const nativeZstdFactory: ZstdFactory | undefined = (zlib as unknown as { createZstdDecompress?: ZstdFactory })
  .createZstdDecompress;

/** True when this Node can decompress zstd natively. */
export function hasNativeZstd(): boolean {
  return nativeZstdFactory !== undefined;
}

let zstdCommandAvailable: boolean | undefined;
/** True when the `zstd` command can be run. */
export function hasZstdCommand(): boolean {
  zstdCommandAvailable ??= spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;
  return zstdCommandAvailable;
}

/** The decoder openDecompressingSource uses by default, or null when this machine has none. */
export function defaultZstdDecoder(): ZstdDecoder | null {
  if (hasNativeZstd()) return 'native';
  return hasZstdCommand() ? 'zstd-command' : null;
}

/** Compressed bytes read from the file per read. */
const FILE_READ_SIZE = 256 * 1024;
/** Decompressed bytes per output chunk of node:zlib. */
const ZLIB_CHUNK_SIZE = 64 * 1024;

/**
 * Streams the decompressed content of the file behind `handle` (read from offset 0).
 * The handle is owned by the returned source and closed with it.
 */
export function openDecompressingSource(
  handle: FileHandle,
  size: number,
  compression: Compression,
  issues: IssueCounter,
  zstdDecoder: ZstdDecoder | null = defaultZstdDecoder(),
): StreamByteSource {
  if (compression === 'zstd' && zstdDecoder === null) {
    throw new Error('zstd-compressed captures need Node.js >= 22.15 or the zstd command (apt-get install zstd)');
  }
  const file = handle.createReadStream({ start: 0, highWaterMark: FILE_READ_SIZE, autoClose: true });
  let decoder: Transform | null = null;
  let stopChild: (() => void) | null = null;
  let chunks: AsyncIterable<Uint8Array>;
  if (compression === 'zstd' && zstdDecoder === 'zstd-command') {
    const command = zstdCommandChunks(file);
    chunks = command.chunks;
    stopChild = command.stop;
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
    stopChild?.();
    if (!file.closed) {
      await new Promise<void>((resolve) => {
        file.once('close', () => resolve());
        file.destroy();
      });
    }
  };
  return new StreamByteSource(chunks, issues, () => file.bytesRead, size, close);
}

/**
 * Decompresses zstd with the `zstd` command: the file is piped to its stdin (so bytesRead still
 * tracks progress) and its stdout is the decompressed stream. Damaged input makes zstd exit non-zero:
 * the iteration then rejects with its message, which the caller counts as decompression_error.
 */
function zstdCommandChunks(compressed: NodeJS.ReadableStream): { chunks: AsyncIterable<Uint8Array>; stop: () => void } {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => (stderr = (stderr + text).slice(-500)));
  child.stdin.on('error', () => undefined); // zstd stopped reading: its exit status tells why
  compressed.pipe(child.stdin);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const chunk of child.stdout) yield chunk as Uint8Array;
    const code = await exited;
    if (code !== 0) throw new Error(`zstd: ${stderr.trim().split('\n').pop() || `exit status ${code}`}`);
  }
  return { chunks: chunks(), stop: () => child.kill() };
}

import { open, type FileHandle } from 'node:fs/promises';
import type { IssueCounter } from '../common/issue-counter.js';
import type { ByteSource } from './byte-source.js';
import { CaptureError, osReason } from './capture-error.js';
import { resolveCaptureOptions, type CaptureOptions } from './capture-options.js';
import type { CaptureSource } from './capture-source.js';
import { ChunkedInput } from './chunked-input.js';
import { detectCompression, type Compression } from './compression.js';
import { openDecompressingSource } from './decompressing-source.js';
import { FileByteSource } from './file-byte-source.js';
import { MemoryByteSource } from './memory-byte-source.js';
import { isPcapMagic, PcapReader } from './pcap-reader.js';
import { isPcapngMagic, PcapngReader } from './pcapng-reader.js';
import { StreamByteSource } from './stream-byte-source.js';

const EXPECTED = 'expected a pcap or pcapng file (magic a1b2c3d4, d4c3b2a1, a1b23c4d, 4d3cb2a1 or 0a0d0d0a)';

/**
 * Opens a pcap or pcapng capture file, optionally gzip- or zstd-compressed, and returns a streaming
 * source of packet batches. Rejects with CaptureError when the file cannot be opened or is not a capture.
 */
export async function openCapture(path: string, issues: IssueCounter, options?: CaptureOptions): Promise<CaptureSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new CaptureError(path, `cannot open the file: ${osReason(err)}`, { cause: err });
  }
  let source: ByteSource | null = null;
  try {
    const { size } = await handle.stat();
    const prefix = new Uint8Array(4);
    const { bytesRead } = await handle.read(prefix, 0, 4, 0);
    if (bytesRead === 0) throw new CaptureError(path, `the file is empty, ${EXPECTED}`);
    const compression = detectCompression(prefix.subarray(0, bytesRead));
    source = compression === null ? new FileByteSource(handle, size) : openDecompressingSource(handle, size, compression, issues);
    return await openSource(source, path, issues, options, compression);
  } catch (err) {
    if (source !== null) await source.close().catch(() => undefined);
    else await handle.close().catch(() => undefined);
    if (err instanceof CaptureError) throw err;
    throw new CaptureError(path, `cannot read the file: ${osReason(err)}`, { cause: err });
  }
}

/** Reads an uncompressed pcap or pcapng capture already in memory (the bytes are not copied); `label` names it in errors. */
export async function openCaptureBytes(
  bytes: Uint8Array,
  issues: IssueCounter,
  options?: CaptureOptions,
  label = '<memory>',
): Promise<CaptureSource> {
  if (bytes.length === 0) throw new CaptureError(label, `the file is empty, ${EXPECTED}`);
  const compression = detectCompression(bytes);
  if (compression !== null) throw new CaptureError(label, `${compression}-compressed bytes are only supported from files, ${EXPECTED}`);
  return openSource(new MemoryByteSource(bytes), label, issues, options, null);
}

/**
 * Reads an uncompressed pcap or pcapng capture arriving as a stream of chunks (a capture program's
 * standard output), as it arrives. `label` names it in errors.
 */
export async function openCaptureStream(
  chunks: AsyncIterable<Uint8Array>,
  issues: IssueCounter,
  options?: CaptureOptions,
  label = '<stream>',
  onClose: () => Promise<void> = async () => undefined,
): Promise<CaptureSource> {
  let bytesRead = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      bytesRead += chunk.length;
      yield chunk;
    }
  }
  const source = new StreamByteSource(counted(), issues, () => bytesRead, null, onClose);
  try {
    return await openSource(source, label, issues, options, null);
  } catch (error) {
    await source.close().catch(() => undefined);
    throw error;
  }
}

/** Sniffs the capture magic at the start of `source` (already decompressed) and builds the matching reader. */
async function openSource(
  source: ByteSource,
  label: string,
  issues: IssueCounter,
  options: CaptureOptions | undefined,
  compression: Compression | null,
): Promise<CaptureSource> {
  const resolved = resolveCaptureOptions(options);
  const input = new ChunkedInput(source, resolved.chunkSize);
  await input.require(4);
  const after = compression === null ? '' : ` after ${compression} decompression`;
  const failure = compression === null ? null : (source as StreamByteSource).failure;
  if (failure !== null) throw new CaptureError(label, `${compression} decompression failed (${failure}), ${EXPECTED}`);
  const b = input.buffer;
  const s = input.start;
  if (input.available < 4) {
    const found = hex(b.subarray(s, input.end));
    const what = input.available === 0 ? 'nothing' : `only ${input.available} byte${input.available === 1 ? '' : 's'} (${found})`;
    throw new CaptureError(label, `${EXPECTED}, found ${what}${after}`);
  }
  const magic = ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0;
  if (isPcapMagic(magic)) return PcapReader.open(input, issues, resolved, label, compression);
  if (isPcapngMagic(magic)) return PcapngReader.open(input, issues, resolved, label, compression);
  throw new CaptureError(label, `${EXPECTED}, found ${hex(b.subarray(s, s + 4))}${after}`);
}

/** Lower-case hex of some bytes. */
function hex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

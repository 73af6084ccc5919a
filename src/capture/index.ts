/**
 * Capture module: turns capture files into batches of raw packets for the decoder.
 *
 * `openCapture(path, issues)` sniffs the file (pcap in either byte order with micro- or nanosecond
 * timestamps, or pcapng; optionally gzip- or zstd-compressed) and returns a CaptureSource whose
 * `batches()` streams PacketBatch objects in constant memory. Damage in the file is counted by reason
 * in the IssueCounter and never thrown; only a file that cannot be read as a capture at all rejects,
 * with a CaptureError. Batches and their data buffer are reused: finish with one before asking for the
 * next. This file is the module's only public entry point.
 */
export { openCapture, openCaptureBytes, openCaptureStream } from './open-capture.js';
export { CaptureError } from './capture-error.js';
export type { CaptureSource, CaptureFormat } from './capture-source.js';
export type { CaptureOptions } from './capture-options.js';
export type { Compression } from './compression.js';
export { createPacketBatch } from './packet-batch.js';
export type { PacketBatch, PacketSource, CaptureInterface } from './packet-batch.js';
export { LinkType, DLT_RAW_ALIASES } from './link-type.js';
export { MAX_CAPLEN } from './capture-limits.js';

// For tests elsewhere (decoder, flow, end-to-end): build capture files byte by byte, read one whole.
export { buildPcap, PcapngBuilder } from './capture-builder.js';
export type { PcapFileSpec, PcapRecordSpec, IdbSpec, EpbSpec } from './capture-builder.js';
export { collectPackets } from './collect-packets.js';
export type { CollectedPacket } from './collect-packets.js';

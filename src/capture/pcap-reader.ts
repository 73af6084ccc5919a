import type { IssueCounter } from '../common/issue-counter.js';
import { BatchReader, storableWirelen } from './batch-reader.js';
import { CaptureError } from './capture-error.js';
import { MAX_CAPLEN, MAX_PCAP_RESYNC_SCAN, MAX_PLAUSIBLE_WIRELEN, RESYNC_TIMESTAMP_WINDOW_S } from './capture-limits.js';
import type { ResolvedCaptureOptions } from './capture-options.js';
import type { ChunkedInput } from './chunked-input.js';
import type { Compression } from './compression.js';
import type { PacketBatch } from './packet-batch.js';
import { ParseStatus } from './parse-status.js';

/** draft-ietf-opsawg-pcap §4: the file header is 24 bytes. */
const FILE_HEADER_LENGTH = 24;
/** draft-ietf-opsawg-pcap §5: each packet record starts with a 16-byte header. */
const RECORD_HEADER_LENGTH = 16;
/** draft-ietf-opsawg-pcap §4: LinkType is the low 16 bits; the upper bits carry FCS length/flag bits and reserved bits that readers must ignore. */
const LINKTYPE_MASK = 0xffff;

/** Magic numbers as read big-endian from the first four bytes (draft-ietf-opsawg-pcap §4). */
export const PCAP_MAGIC = {
  MICRO_BIG: 0xa1b2c3d4,
  MICRO_LITTLE: 0xd4c3b2a1,
  NANO_BIG: 0xa1b23c4d,
  NANO_LITTLE: 0x4d3cb2a1,
} as const;

/** True when the file's first four bytes, read big-endian, are one of the classic pcap magic numbers. */
export function isPcapMagic(magicBigEndian: number): boolean {
  return (
    magicBigEndian === PCAP_MAGIC.MICRO_BIG ||
    magicBigEndian === PCAP_MAGIC.MICRO_LITTLE ||
    magicBigEndian === PCAP_MAGIC.NANO_BIG ||
    magicBigEndian === PCAP_MAGIC.NANO_LITTLE
  );
}

/**
 * Streaming reader of classic pcap files (draft-ietf-opsawg-pcap), either byte order, micro- or
 * nanosecond timestamps (nanoseconds are floored to microseconds).
 *
 * Damage is counted, not thrown: `caplen_exceeds_limit` (the record header is garbage: the reader scans
 * forward for the next plausible record header, or counts `unrecoverable_corruption` and stops),
 * `caplen_exceeds_wirelen` (packet skipped, framing kept), `caplen_exceeds_snaplen` (counted, packet
 * kept), `wirelen_exceeds_limit` (wire length clamped to 2^31-1), `truncated_file`.
 */
export class PcapReader extends BatchReader {
  readonly format = 'pcap' as const;
  private readonly littleEndian: boolean;
  private readonly nanosecond: boolean;
  private readonly linkType: number;
  private readonly snaplen: number;
  /** Seconds field of the last record accepted, or -1 before the first; anchors resynchronisation. */
  private lastGoodSeconds = -1;

  private constructor(
    input: ChunkedInput,
    issues: IssueCounter,
    options: ResolvedCaptureOptions,
    compression: Compression | null,
    headerComplete: boolean,
  ) {
    super(input, issues, options, compression, headerComplete);
    if (!headerComplete) {
      this.littleEndian = true;
      this.nanosecond = false;
      this.linkType = -1;
      this.snaplen = 0;
      return;
    }
    const v = this.currentView();
    const p = input.start;
    const magic = v.getUint32(p, false);
    this.littleEndian = magic === PCAP_MAGIC.MICRO_LITTLE || magic === PCAP_MAGIC.NANO_LITTLE;
    this.nanosecond = magic === PCAP_MAGIC.NANO_BIG || magic === PCAP_MAGIC.NANO_LITTLE;
    this.snaplen = v.getUint32(p + 16, this.littleEndian);
    this.linkType = v.getUint32(p + 20, this.littleEndian) & LINKTYPE_MASK;
    this.interfaces.push({ linkType: this.linkType, name: null, snaplen: this.snaplen });
    input.start += FILE_HEADER_LENGTH;
  }

  /**
   * Reads the file header from `input` (positioned at the magic). A file cut inside the header counts
   * `truncated_file` and yields nothing; a wrong magic rejects with CaptureError naming `label`.
   */
  static async open(
    input: ChunkedInput,
    issues: IssueCounter,
    options: ResolvedCaptureOptions,
    label: string,
    compression: Compression | null = null,
  ): Promise<PcapReader> {
    const complete = await input.require(FILE_HEADER_LENGTH);
    if (input.available >= 4) {
      const b = input.buffer;
      const s = input.start;
      const magic = ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0;
      if (!isPcapMagic(magic)) {
        throw new CaptureError(label, `expected a pcap file (magic a1b2c3d4, d4c3b2a1, a1b23c4d or 4d3cb2a1), found ${magic.toString(16).padStart(8, '0')}`);
      }
    }
    if (!complete) issues.add('truncated_file');
    return new PcapReader(input, issues, options, compression, complete);
  }

  /**
   * Parses every whole record in the buffer into `batch` until it is full or a record is incomplete;
   * never awaits, never allocates. draft-ietf-opsawg-pcap §5: records are back to back to the end of
   * the file, so when it ends at an incomplete record, the leftover bytes are a cut record.
   */
  protected parse(batch: PacketBatch): ParseStatus {
    const input = this.input;
    const buffer = input.buffer;
    const v = this.currentView();
    const le = this.littleEndian;
    const nano = this.nanosecond;
    const snaplen = this.snaplen === 0 ? MAX_CAPLEN : this.snaplen;
    const linkType = this.linkType;
    const end = input.end;
    const capacity = batch.offset.length;
    const offsets = batch.offset;
    const caplens = batch.caplen;
    const wirelens = batch.wirelen;
    const timestamps = batch.timestampUs;
    const linkTypes = batch.linkType;
    const interfaceIds = batch.interfaceId;
    let n = batch.count;
    let p = input.start;
    let lastSeconds = this.lastGoodSeconds;
    let status: ParseStatus;
    for (;;) {
      if (n >= capacity) {
        status = ParseStatus.BATCH_FULL;
        break;
      }
      if (end - p < RECORD_HEADER_LENGTH) {
        this.need = RECORD_HEADER_LENGTH;
        status = ParseStatus.NEED_MORE;
        break;
      }
      const caplen = v.getUint32(p + 8, le);
      if (caplen > MAX_CAPLEN) {
        // The length that frames the next record is garbage: the record boundary is lost.
        this.issues.add('caplen_exceeds_limit');
        status = ParseStatus.CORRUPT;
        break;
      }
      if (end - p - RECORD_HEADER_LENGTH < caplen) {
        this.need = RECORD_HEADER_LENGTH + caplen;
        status = ParseStatus.NEED_MORE;
        break;
      }
      const wirelen = v.getUint32(p + 12, le);
      const seconds = v.getUint32(p, le);
      if (caplen > wirelen) {
        // draft-ietf-opsawg-pcap §5: CapLen is at most OrigLen. The header is inconsistent, but CapLen still frames the record.
        this.issues.add('caplen_exceeds_wirelen');
        p += RECORD_HEADER_LENGTH + caplen;
        continue;
      }
      if (caplen > snaplen) this.issues.add('caplen_exceeds_snaplen');
      const fraction = v.getUint32(p + 4, le);
      offsets[n] = p + RECORD_HEADER_LENGTH;
      caplens[n] = caplen;
      wirelens[n] = storableWirelen(wirelen, this.issues);
      // draft-ietf-opsawg-pcap §5: the second field is micro- or nanoseconds depending on the magic.
      timestamps[n] = seconds * 1e6 + (nano ? Math.floor(fraction / 1000) : fraction);
      linkTypes[n] = linkType;
      interfaceIds[n] = 0;
      n++;
      lastSeconds = seconds;
      p += RECORD_HEADER_LENGTH + caplen;
    }
    input.start = p;
    batch.count = n;
    batch.data = buffer;
    this.lastGoodSeconds = lastSeconds;
    return status;
  }

  /**
   * After a record header with an impossible length, scans forward byte by byte for a header that looks
   * like a real one and whose successor (when the file has one) looks real too. False when none is found
   * within MAX_PCAP_RESYNC_SCAN bytes or before the end of the file.
   */
  protected async resync(): Promise<boolean> {
    const input = this.input;
    input.start += 1;
    let scanned = 1;
    for (;;) {
      if (input.available < RECORD_HEADER_LENGTH && !(await input.require(RECORD_HEADER_LENGTH))) return false;
      const v = this.currentView();
      const last = input.end - RECORD_HEADER_LENGTH;
      let q = input.start;
      while (q <= last && !this.plausibleHeader(v, q, this.lastGoodSeconds)) q++;
      scanned += q - input.start;
      input.start = q;
      if (scanned > MAX_PCAP_RESYNC_SCAN) return false;
      if (q > last) continue;
      const seconds = v.getUint32(q, this.littleEndian);
      const recordLength = RECORD_HEADER_LENGTH + v.getUint32(q + 8, this.littleEndian);
      // The candidate's successor must look like a header too; at the end of the file there is nothing to check against.
      if (!(await input.require(recordLength + RECORD_HEADER_LENGTH))) return true;
      if (this.plausibleHeader(this.currentView(), input.start + recordLength, seconds)) return true;
      input.start += 1;
      scanned += 1;
    }
  }

  /** Whether the 16 bytes at `q` in `v` look like a record header following one stamped `previousSeconds` (-1: unknown). */
  private plausibleHeader(v: DataView, q: number, previousSeconds: number): boolean {
    const le = this.littleEndian;
    const caplen = v.getUint32(q + 8, le);
    if (caplen > MAX_CAPLEN) return false;
    const wirelen = v.getUint32(q + 12, le);
    if (wirelen === 0 || caplen > wirelen || wirelen > MAX_PLAUSIBLE_WIRELEN) return false;
    if (v.getUint32(q + 4, le) >= (this.nanosecond ? 1e9 : 1e6)) return false;
    if (previousSeconds >= 0 && Math.abs(v.getUint32(q, le) - previousSeconds) > RESYNC_TIMESTAMP_WINDOW_S) return false;
    return true;
  }
}

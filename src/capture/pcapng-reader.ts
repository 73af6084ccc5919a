import type { IssueCounter } from '../common/issue-counter.js';
import { BatchReader, storableWirelen } from './batch-reader.js';
import { CaptureError } from './capture-error.js';
import { MAX_CAPLEN, MAX_PCAPNG_BLOCK } from './capture-limits.js';
import type { ResolvedCaptureOptions } from './capture-options.js';
import type { ChunkedInput } from './chunked-input.js';
import type { Compression } from './compression.js';
import type { PacketBatch } from './packet-batch.js';
import { ParseStatus } from './parse-status.js';
import { BlockType, minimumBlockLength } from './pcapng-block-type.js';
import { TimestampScale } from './timestamp-scale.js';

/** pcapng §4.1: the Byte-Order Magic, as read in the section's own byte order. */
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** The same magic read in the other byte order. */
const BYTE_ORDER_MAGIC_SWAPPED = 0x4d3c2b1a;
/** pcapng §3.1: type, length, and the trailing length copy. */
const BLOCK_FRAMING = 12;
/** pcapng §4.3: offset of the packet data in an Enhanced Packet Block (and in the obsolete Packet Block, Appendix A). */
const EPB_DATA_OFFSET = 28;
/** pcapng §4.4: offset of the packet data in a Simple Packet Block. */
const SPB_DATA_OFFSET = 12;
/** pcapng §4.2 option codes. */
const OPT_ENDOFOPT = 0;
const IF_NAME = 2;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
/** Stands in for SnapLen 0, which pcapng §4.2 defines as "no limit". */
const NO_SNAPLEN = 0xffffffff;

/** An interface of the current section, as EPBs refer to it by section-local index. */
interface SectionInterface {
  /** Index into the reader's `interfaces` (which spans all sections). */
  globalId: number;
  linkType: number;
  /** Snap length, with 0 ("no limit", pcapng §4.2) replaced by NO_SNAPLEN. */
  snaplen: number;
  scale: TimestampScale;
}

/** True when the first four bytes (read big-endian) are the pcapng Section Header Block type. */
export function isPcapngMagic(magicBigEndian: number): boolean {
  return magicBigEndian === BlockType.SECTION_HEADER;
}

/**
 * Streaming reader of pcapng files (draft-ietf-opsawg-pcapng): sections in either byte order,
 * interfaces each with their own link type, snap length and timestamp resolution/offset, Enhanced,
 * Simple and obsolete Packet Blocks; every other block is skipped by its length.
 *
 * `interfaces` lists the interfaces of all sections in file order, and a packet's `interfaceId` indexes
 * it; a new Section Header Block starts a new set of section-local interface numbers (pcapng §4.1).
 *
 * Damage is counted, not thrown: `bad_block_length` (framing broken: the reader scans forward 4 bytes
 * at a time for a known block type whose leading and trailing lengths agree, or counts
 * `unrecoverable_corruption` at the end of the file), `bad_section_header`, `bad_block_body`,
 * `bad_option`, `unknown_interface`, `caplen_exceeds_limit`, `caplen_exceeds_wirelen`,
 * `caplen_exceeds_snaplen` (packet kept), `wirelen_exceeds_limit` (clamped), `unsupported_section_version`
 * (parsed anyway), `missing_timestamp` (Simple Packet Blocks carry none: the previous packet's time is
 * used), `truncated_file`.
 */
export class PcapngReader extends BatchReader {
  readonly format = 'pcapng' as const;
  private section: SectionInterface[] = [];
  private littleEndian: boolean;
  /** Time of the last packet delivered, stamped on Simple Packet Blocks which have none. */
  private lastTimestampUs = 0;
  private readonly nameDecoder = new TextDecoder('utf-8');

  private constructor(
    input: ChunkedInput,
    issues: IssueCounter,
    options: ResolvedCaptureOptions,
    compression: Compression | null,
    littleEndian: boolean,
    usable: boolean,
  ) {
    super(input, issues, options, compression, usable);
    this.littleEndian = littleEndian;
  }

  /**
   * Checks that `input` (positioned at the start of the file) opens with a Section Header Block: the
   * wrong type or byte-order magic rejects with CaptureError naming `label`; a file too short to tell
   * counts `truncated_file` and yields nothing.
   */
  static async open(
    input: ChunkedInput,
    issues: IssueCounter,
    options: ResolvedCaptureOptions,
    label: string,
    compression: Compression | null = null,
  ): Promise<PcapngReader> {
    const complete = await input.require(BLOCK_FRAMING);
    const b = input.buffer;
    const s = input.start;
    const word = (at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
    const hex = (x: number): string => x.toString(16).padStart(8, '0');
    if (input.available >= 4 && !isPcapngMagic(word(s))) {
      throw new CaptureError(label, `expected a pcapng file (magic 0a0d0d0a), found ${hex(word(s))}`);
    }
    if (!complete) {
      issues.add('truncated_file');
      return new PcapngReader(input, issues, options, compression, true, false);
    }
    const magic = word(s + 8);
    if (magic !== BYTE_ORDER_MAGIC && magic !== BYTE_ORDER_MAGIC_SWAPPED) {
      throw new CaptureError(
        label,
        `expected a pcapng section header with byte-order magic 1a2b3c4d or 4d3c2b1a, found ${hex(magic)}`,
      );
    }
    return new PcapngReader(input, issues, options, compression, magic === BYTE_ORDER_MAGIC_SWAPPED, true);
  }

  /**
   * Parses every whole block in the buffer, adding packets to `batch` until it is full or a block is
   * incomplete; never awaits. pcapng §3.1: blocks are back to back to the end of the file, so when it
   * ends at an incomplete block, the leftover bytes are a cut block.
   */
  protected parse(batch: PacketBatch): ParseStatus {
    const input = this.input;
    const buffer = input.buffer;
    const v = this.currentView();
    const end = input.end;
    const capacity = batch.offset.length;
    const offsets = batch.offset;
    const caplens = batch.caplen;
    const wirelens = batch.wirelen;
    const timestamps = batch.timestampUs;
    const linkTypes = batch.linkType;
    const interfaceIds = batch.interfaceId;
    const issues = this.issues;
    let le = this.littleEndian;
    let n = batch.count;
    let p = input.start;
    let lastTimestamp = this.lastTimestampUs;
    let status: ParseStatus;
    for (;;) {
      if (n >= capacity) {
        status = ParseStatus.BATCH_FULL;
        break;
      }
      const available = end - p;
      if (available < BLOCK_FRAMING) {
        this.need = BLOCK_FRAMING;
        status = ParseStatus.NEED_MORE;
        break;
      }
      const type = v.getUint32(p, le);
      // pcapng §4.1: a Section Header Block's own fields, its length included, are in the byte order its magic announces.
      let blockLe = le;
      if (type === BlockType.SECTION_HEADER) {
        const magic = v.getUint32(p + 8, true);
        if (magic !== BYTE_ORDER_MAGIC && magic !== BYTE_ORDER_MAGIC_SWAPPED) {
          issues.add('bad_section_header');
          status = ParseStatus.CORRUPT;
          break;
        }
        blockLe = magic === BYTE_ORDER_MAGIC;
      }
      const length = v.getUint32(p + 4, blockLe);
      // pcapng §3.1: Block Total Length counts the 12 framing bytes and is a multiple of 4.
      if (length < BLOCK_FRAMING || (length & 3) !== 0 || length > MAX_PCAPNG_BLOCK) {
        issues.add('bad_block_length');
        status = ParseStatus.CORRUPT;
        break;
      }
      if (available < length) {
        this.need = length;
        status = ParseStatus.NEED_MORE;
        break;
      }
      if (v.getUint32(p + length - 4, blockLe) !== length) {
        issues.add('bad_block_length');
        status = ParseStatus.CORRUPT;
        break;
      }
      if (type === BlockType.ENHANCED_PACKET || type === BlockType.PACKET) {
        if (length < 32) {
          issues.add('bad_block_body');
        } else {
          // pcapng §4.3: 32-bit Interface ID; Appendix A (obsolete Packet Block): 16-bit, followed by a 16-bit drops count.
          const id = type === BlockType.ENHANCED_PACKET ? v.getUint32(p + 8, le) : v.getUint16(p + 8, le);
          const iface = id < this.section.length ? this.section[id] : undefined;
          if (iface === undefined) {
            issues.add('unknown_interface');
          } else {
            const caplen = v.getUint32(p + 20, le);
            const wirelen = v.getUint32(p + 24, le);
            if (caplen > length - 32) issues.add('bad_block_body');
            else if (caplen > MAX_CAPLEN) issues.add('caplen_exceeds_limit');
            else if (caplen > wirelen) issues.add('caplen_exceeds_wirelen');
            else {
              if (caplen > iface.snaplen) issues.add('caplen_exceeds_snaplen');
              offsets[n] = p + EPB_DATA_OFFSET;
              caplens[n] = caplen;
              wirelens[n] = storableWirelen(wirelen, issues);
              lastTimestamp = iface.scale.toMicros(v.getUint32(p + 12, le), v.getUint32(p + 16, le));
              timestamps[n] = lastTimestamp;
              linkTypes[n] = iface.linkType;
              interfaceIds[n] = iface.globalId;
              n++;
            }
          }
        }
      } else if (type === BlockType.SIMPLE_PACKET) {
        // pcapng §4.4: an SPB belongs to the section's first interface and has no timestamp; its captured
        // length is the original length cut to the snap length and to what the block holds.
        const iface = this.section.length > 0 ? this.section[0] : undefined;
        if (length < 16) {
          issues.add('bad_block_body');
        } else if (iface === undefined) {
          issues.add('unknown_interface');
        } else {
          const wirelen = v.getUint32(p + 8, le);
          const caplen = Math.min(wirelen, iface.snaplen, length - 16);
          if (caplen > MAX_CAPLEN) {
            issues.add('caplen_exceeds_limit');
          } else {
            issues.add('missing_timestamp');
            offsets[n] = p + SPB_DATA_OFFSET;
            caplens[n] = caplen;
            wirelens[n] = storableWirelen(wirelen, issues);
            timestamps[n] = lastTimestamp;
            linkTypes[n] = iface.linkType;
            interfaceIds[n] = iface.globalId;
            n++;
          }
        }
      } else if (type === BlockType.INTERFACE_DESCRIPTION) {
        this.addInterface(v, p, length, le);
      } else if (type === BlockType.SECTION_HEADER) {
        le = blockLe;
        this.startSection(v, p, length, le);
      }
      // pcapng §3.1: every other block (NRB, ISB, DSB, custom, unknown) is skipped by its length.
      p += length;
    }
    input.start = p;
    batch.count = n;
    batch.data = buffer;
    this.littleEndian = le;
    this.lastTimestampUs = lastTimestamp;
    return status;
  }

  /** pcapng §4.1: a new section forgets the previous section's interfaces (their numbers restart at 0). */
  private startSection(v: DataView, p: number, length: number, le: boolean): void {
    this.section = [];
    if (length < minimumBlockLength(BlockType.SECTION_HEADER)) {
      this.issues.add('bad_block_body');
      return;
    }
    // pcapng §4.1: readers must not assume they understand a major version other than 1.
    if (v.getUint16(p + 12, le) !== 1) this.issues.add('unsupported_section_version');
  }

  /** pcapng §4.2: registers an interface (even a damaged one, so the numbering of later ones stays right). */
  private addInterface(v: DataView, p: number, length: number, le: boolean): void {
    const globalId = this.interfaces.length;
    if (length < minimumBlockLength(BlockType.INTERFACE_DESCRIPTION)) {
      this.issues.add('bad_block_body');
      this.interfaces.push({ linkType: -1, name: null, snaplen: 0 });
      this.section.push({ globalId, linkType: -1, snaplen: NO_SNAPLEN, scale: new TimestampScale(null) });
      return;
    }
    const linkType = v.getUint16(p + 8, le);
    const snaplen = v.getUint32(p + 12, le);
    let name: string | null = null;
    let tsresol: number | null = null;
    let tsoffset = 0;
    // pcapng §3.5: options are code(16) length(16) value, padded to 32 bits, up to opt_endofopt or the block end.
    const optionsEnd = p + length - 4;
    let o = p + 16;
    while (optionsEnd - o >= 4) {
      const code = v.getUint16(o, le);
      const optionLength = v.getUint16(o + 2, le);
      if (code === OPT_ENDOFOPT) break;
      const value = o + 4;
      if (optionLength > optionsEnd - value) {
        this.issues.add('bad_option');
        break;
      }
      if (code === IF_NAME) {
        let stop = value + optionLength;
        while (stop > value && v.getUint8(stop - 1) === 0) stop--;
        name = this.nameDecoder.decode(new Uint8Array(v.buffer, v.byteOffset + value, stop - value));
      } else if (code === IF_TSRESOL) {
        if (optionLength === 1) tsresol = v.getUint8(value);
        else this.issues.add('bad_option');
      } else if (code === IF_TSOFFSET) {
        // pcapng §4.2: if_tsoffset is a 64-bit signed integer number of seconds.
        if (optionLength === 8) {
          tsoffset = le
            ? v.getInt32(value + 4, true) * 4294967296 + v.getUint32(value, true)
            : v.getInt32(value, false) * 4294967296 + v.getUint32(value + 4, false);
        } else {
          this.issues.add('bad_option');
        }
      }
      o = value + ((optionLength + 3) & ~3);
    }
    this.interfaces.push({ linkType, name, snaplen });
    this.section.push({
      globalId,
      linkType,
      snaplen: snaplen === 0 ? NO_SNAPLEN : snaplen,
      scale: new TimestampScale(tsresol, tsoffset),
    });
  }

  /**
   * After a block with broken framing, scans forward 4 bytes at a time (blocks are 32-bit aligned,
   * pcapng §3.1) for a known block type of plausible length whose trailing length copy agrees.
   * False when the file ends first.
   */
  protected async resync(): Promise<boolean> {
    const input = this.input;
    input.start += 4;
    for (;;) {
      if (input.available < BLOCK_FRAMING && !(await input.require(BLOCK_FRAMING))) return false;
      const v = this.currentView();
      const q = input.start;
      const type = v.getUint32(q, this.littleEndian);
      let blockLe = this.littleEndian;
      let plausible = true;
      if (type === BlockType.SECTION_HEADER) {
        const magic = v.getUint32(q + 8, true);
        if (magic === BYTE_ORDER_MAGIC) blockLe = true;
        else if (magic === BYTE_ORDER_MAGIC_SWAPPED) blockLe = false;
        else plausible = false;
      }
      const minimum = minimumBlockLength(type);
      const length = v.getUint32(q + 4, blockLe);
      if (plausible && minimum > 0 && length >= minimum && (length & 3) === 0 && length <= MAX_PCAPNG_BLOCK) {
        if (await input.require(length)) {
          const w = this.currentView();
          if (w.getUint32(input.start + length - 4, blockLe) === length) {
            if (type === BlockType.SECTION_HEADER) this.littleEndian = blockLe;
            return true;
          }
        }
      }
      input.start += 4;
    }
  }
}

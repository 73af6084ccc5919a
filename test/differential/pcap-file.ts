/**
 * Minimal classic-pcap reading and writing for the differential test: merging the captures taken
 * at two points into one file, and rewriting frames for peers that cannot parse them. Test code,
 * independent of src/capture on purpose (the thing under test must not check itself).
 * Format: https://www.tcpdump.org/manpages/pcap-savefile.5.html
 */
import { readFile, writeFile } from 'node:fs/promises';

/** One packet record. `tsFrac` is microseconds or nanoseconds, as the file's magic says. */
export interface PcapRecord {
  tsSec: number;
  tsFrac: number;
  origLen: number;
  data: Uint8Array;
}

/** A whole classic pcap file in memory. */
export interface PcapFile {
  /** LINKTYPE_* (low 16 bits of the header's network field). */
  linkType: number;
  snaplen: number;
  nanosecond: boolean;
  records: PcapRecord[];
}

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

/** Parses a classic pcap file (either byte order, µs or ns timestamps). */
export function parsePcap(bytes: Uint8Array, name = 'capture'): PcapFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24) throw new Error(`Cannot read ${name} as pcap: only ${bytes.length} bytes`);
  let little: boolean;
  let nanosecond: boolean;
  const magicLe = view.getUint32(0, true);
  const magicBe = view.getUint32(0, false);
  if (magicLe === MAGIC_US || magicLe === MAGIC_NS) {
    little = true;
    nanosecond = magicLe === MAGIC_NS;
  } else if (magicBe === MAGIC_US || magicBe === MAGIC_NS) {
    little = false;
    nanosecond = magicBe === MAGIC_NS;
  } else {
    throw new Error(`Cannot read ${name} as pcap: magic is 0x${magicBe.toString(16)}`);
  }
  const snaplen = view.getUint32(16, little);
  const linkType = view.getUint32(20, little) & 0xffff;
  const records: PcapRecord[] = [];
  let offset = 24;
  while (offset + 16 <= bytes.length) {
    const tsSec = view.getUint32(offset, little);
    const tsFrac = view.getUint32(offset + 4, little);
    const inclLen = view.getUint32(offset + 8, little);
    const origLen = view.getUint32(offset + 12, little);
    offset += 16;
    if (offset + inclLen > bytes.length) throw new Error(`Cannot read ${name} as pcap: truncated record at byte ${offset - 16}`);
    records.push({ tsSec, tsFrac, origLen, data: bytes.subarray(offset, offset + inclLen) });
    offset += inclLen;
  }
  return { linkType, snaplen, nanosecond, records };
}

/** Reads and parses a classic pcap file. */
export async function readPcap(path: string): Promise<PcapFile> {
  return parsePcap(new Uint8Array(await readFile(path)), path);
}

/** Serialises to little-endian classic pcap. */
export function serializePcap(file: PcapFile): Uint8Array {
  let size = 24;
  for (const r of file.records) size += 16 + r.data.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, file.nanosecond ? MAGIC_NS : MAGIC_US, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, file.snaplen, true);
  view.setUint32(20, file.linkType, true);
  let offset = 24;
  for (const r of file.records) {
    view.setUint32(offset, r.tsSec, true);
    view.setUint32(offset + 4, r.tsFrac, true);
    view.setUint32(offset + 8, r.data.length, true);
    view.setUint32(offset + 12, r.origLen, true);
    out.set(r.data, offset + 16);
    offset += 16 + r.data.length;
  }
  return out;
}

/** Writes a classic pcap file. */
export async function writePcap(path: string, file: PcapFile): Promise<void> {
  await writeFile(path, serializePcap(file));
}

/** Timestamp of a record in microseconds since the epoch. */
export function recordTimeUs(file: PcapFile, r: PcapRecord): number {
  return r.tsSec * 1_000_000 + (file.nanosecond ? Math.floor(r.tsFrac / 1000) : r.tsFrac);
}

/**
 * Merges captures of the same link type into one, ordered by timestamp (stable: on equal times the
 * earlier input's packet comes first). Used to put the captures of two interfaces in one file.
 */
export function mergePcaps(files: readonly PcapFile[]): PcapFile {
  if (files.length === 0) throw new Error('Cannot merge no captures');
  const linkType = files[0].linkType;
  const nanosecond = files[0].nanosecond;
  for (const f of files) {
    if (f.linkType !== linkType || f.nanosecond !== nanosecond) {
      throw new Error(`Cannot merge captures of link types ${linkType}/${f.linkType} (ns ${nanosecond}/${f.nanosecond})`);
    }
  }
  const tagged = files.flatMap((f, fileIndex) => f.records.map((r, i) => ({ r, fileIndex, i, t: recordTimeUs(f, r) })));
  tagged.sort((a, b) => a.t - b.t || a.fileIndex - b.fileIndex || a.i - b.i);
  return {
    linkType,
    nanosecond,
    snaplen: Math.max(...files.map((f) => f.snaplen)),
    records: tagged.map((x) => x.r),
  };
}

/** EtherTypes of VLAN tags: 802.1Q, 802.1ad, and the pre-standard 0x9100. */
export const VLAN_TPIDS: ReadonlySet<number> = new Set([0x8100, 0x88a8, 0x9100]);

/**
 * Returns a copy of an Ethernet capture in which every frame with two or more VLAN tags keeps only
 * its innermost tag (the IP packet is untouched). softflowd 1.1.0 parses exactly one 802.1Q tag and
 * nfpcapd 1.7.1 does not know TPID 0x88a8, so this is the copy the peers read; endsight reads the
 * original. Returns the number of frames rewritten.
 */
export function reduceToSingleVlanTag(file: PcapFile): { file: PcapFile; rewritten: number } {
  if (file.linkType !== 1) return { file, rewritten: 0 };
  let rewritten = 0;
  const records = file.records.map((r) => {
    let data = r.data;
    let changed = false;
    while (data.length >= 22 && VLAN_TPIDS.has(be16(data, 12)) && VLAN_TPIDS.has(be16(data, 16))) {
      const next = new Uint8Array(data.length - 4);
      next.set(data.subarray(0, 12), 0);
      next.set(data.subarray(16), 12);
      data = next;
      changed = true;
    }
    if (!changed) return r;
    rewritten++;
    return { ...r, data, origLen: r.origLen - (r.data.length - data.length) };
  });
  return { file: { ...file, records }, rewritten };
}

function be16(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

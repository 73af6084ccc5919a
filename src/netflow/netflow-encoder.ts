/**
 * Flow records as NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages, for export to
 * existing collectors (issue 6). One encoder per collector: it numbers its messages (v5 and IPFIX
 * count the records sent before, v9 the messages), sends its templates in the first message and
 * again every TEMPLATE_REFRESH_MESSAGES messages or TEMPLATE_REFRESH_MS (RFC 7011 §8.4, over UDP),
 * and keeps each message under MAX_MESSAGE_BYTES so that it fits one datagram.
 *
 * Times: IPFIX and v9 carry flowStartMilliseconds/flowEndMilliseconds (IEs 152/153, absolute);
 * v5 only has sysUpTime-relative times, so each v5 header takes its newest flow's end as the export
 * time and an uptime of 2^31 ms, which leaves room for flows up to 24 days older.
 *
 * Host context travels in IPFIX only, as enterprise-specific elements under the documentation
 * enterprise number 32473 (RFC 5612); docs/netflow.md and docs/endsight-ipfix-elements.csv list them.
 */
import type { FlowRecord } from '../flow/index.js';
import { parseAddress } from '../decode/format-address.js';

export type ExportVersion = 5 | 9 | 10;
export const MAX_MESSAGE_BYTES = 1400;
export const TEMPLATE_REFRESH_MESSAGES = 20;
export const TEMPLATE_REFRESH_MS = 60_000;
/** RFC 5612: the enterprise number for documentation and examples. */
export const ENDSIGHT_ENTERPRISE = 32473;

/** The enterprise elements (ID, name, type) endsight exports in IPFIX. */
export const ENDSIGHT_ELEMENTS = [
  { id: 1, name: 'endsightProcessName', type: 'string' },
  { id: 2, name: 'endsightProcessId', type: 'unsigned32' },
  { id: 3, name: 'endsightUserName', type: 'string' },
  { id: 4, name: 'endsightUserId', type: 'unsigned32' },
  { id: 5, name: 'endsightContainer', type: 'string' },
  { id: 6, name: 'endsightDirection', type: 'unsigned8' },
] as const;
/** endsightDirection's values. */
export const DIRECTION_CODES: Record<string, number> = { in: 0, out: 1, local: 2, transit: 3, unknown: 255 };
const END_REASON_CODES: Record<string, number> = { idle: 1, active: 2, fin: 3, rst: 3, end: 4, evicted: 5, exporter: 4 };

interface Field {
  id: number;
  length: number;
  enterprise?: number;
}

const IPV4_TEMPLATE = 256;
const IPV6_TEMPLATE = 257;
const SAMPLING_TEMPLATE = 258;
const VARIABLE = 0xffff;

function flowFields(version: 9 | 10, ipv6: boolean): Field[] {
  const fields: Field[] = [
    { id: ipv6 ? 27 : 8, length: ipv6 ? 16 : 4 },
    { id: ipv6 ? 28 : 12, length: ipv6 ? 16 : 4 },
    { id: 7, length: 2 },
    { id: 11, length: 2 },
    { id: 4, length: 1 },
    // tcpControlBits is 2 bytes in IPFIX (RFC 7125), 1 in v9.
    { id: 6, length: version === 10 ? 2 : 1 },
    { id: 2, length: 8 },
    { id: 1, length: 8 },
    { id: 152, length: 8 },
    { id: 153, length: 8 },
    { id: 136, length: 1 },
    // icmpTypeCodeIPv4 (32) or icmpTypeCodeIPv6 (139): collectors read ICMP's type and code there, not in the port.
    { id: ipv6 ? 139 : 32, length: 2 },
  ];
  if (version === 10) {
    fields.push(
      { id: 1, length: VARIABLE, enterprise: ENDSIGHT_ENTERPRISE },
      { id: 2, length: 4, enterprise: ENDSIGHT_ENTERPRISE },
      { id: 3, length: VARIABLE, enterprise: ENDSIGHT_ENTERPRISE },
      { id: 4, length: 4, enterprise: ENDSIGHT_ENTERPRISE },
      { id: 5, length: VARIABLE, enterprise: ENDSIGHT_ENTERPRISE },
      { id: 6, length: 1, enterprise: ENDSIGHT_ENTERPRISE },
    );
  }
  return fields;
}

class Writer {
  bytes = new Uint8Array(MAX_MESSAGE_BYTES + 1024); // room for a record past the limit before it is checked
  view = new DataView(this.bytes.buffer);
  at = 0;
  u8(v: number): void {
    this.view.setUint8(this.at++, v & 0xff);
  }
  u16(v: number): void {
    this.view.setUint16(this.at, v & 0xffff);
    this.at += 2;
  }
  u32(v: number): void {
    this.view.setUint32(this.at, v >>> 0);
    this.at += 4;
  }
  u64(v: number): void {
    const value = Math.max(0, Math.floor(v));
    this.u32(Math.floor(value / 2 ** 32));
    this.u32(value % 2 ** 32);
  }
  raw(b: Uint8Array): void {
    this.bytes.set(b, this.at);
    this.at += b.length;
  }
}

/** Address text → its bytes (4 or 16), or null when it is neither. */
function addressBytes(text: string): Uint8Array | null {
  const parsed = parseAddress(text);
  if (!parsed) return null;
  const out = new Uint8Array(parsed.ipVersion === 4 ? 4 : 16);
  const view = new DataView(out.buffer);
  if (parsed.ipVersion === 4) view.setUint32(0, parsed.words[0]);
  else for (let i = 0; i < 4; i++) view.setUint32(i * 4, parsed.words[i]);
  return out;
}

const utf8 = new TextEncoder();

export class NetflowEncoder {
  private sequence = 0;
  private messages = 0;
  private lastTemplatesMs = -Infinity;

  constructor(
    readonly version: ExportVersion,
    /** v9 source ID, IPFIX observation domain, v5 engine ID. */
    private readonly domain = 0,
    /** 1-in-N sampling the records were metered with (sent in an options record, and in the v5 header). */
    private readonly sampling = 1,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records not encodable (an address that is not IP, IPv6 in v5) are counted here and skipped. */
  skipped = 0;

  /** The messages for `records`, in order. */
  encode(records: readonly FlowRecord[]): Uint8Array[] {
    if (this.version === 5) return this.encodeV5(records);
    const out: Uint8Array[] = [];
    let next = 0;
    do {
      const { message, used } = this.templatedMessage(records, next);
      out.push(message);
      next += used;
      if (used === 0 && next < records.length) {
        // A record bigger than a message: drop it rather than loop (strings are capped, so it cannot happen).
        this.skipped++;
        next++;
      }
    } while (next < records.length);
    return out;
  }

  private encodeV5(records: readonly FlowRecord[]): Uint8Array[] {
    const out: Uint8Array[] = [];
    const usable = records.filter((r) => {
      const ok = addressBytes(r.srcAddr)?.length === 4 && addressBytes(r.dstAddr)?.length === 4;
      if (!ok) this.skipped++;
      return ok;
    });
    for (let i = 0; i < usable.length; i += 30) {
      const chunk = usable.slice(i, i + 30);
      const w = new Writer();
      // A whole millisecond at or after the newest end: every time then comes back as its millisecond.
      const exportUs = Math.ceil(Math.max(...chunk.map((r) => r.endUs)) / 1000) * 1000;
      const uptimeMs = 2 ** 31;
      w.u16(5);
      w.u16(chunk.length);
      w.u32(uptimeMs);
      w.u32(Math.floor(exportUs / 1e6));
      w.u32((exportUs % 1e6) * 1000);
      w.u32(this.sequence);
      w.u8(0);
      w.u8(this.domain);
      // Sampling: mode 1 (deterministic) in the top two bits, the interval below (14 bits).
      w.u16(this.sampling > 1 ? (1 << 14) | Math.min(this.sampling, 0x3fff) : 0);
      const up = (us: number): number => (uptimeMs - (exportUs / 1000 - Math.floor(us / 1000))) >>> 0;
      for (const r of chunk) {
        w.raw(addressBytes(r.srcAddr)!);
        w.raw(addressBytes(r.dstAddr)!);
        w.u32(0); // next hop
        w.u16(0);
        w.u16(0); // input, output interfaces
        w.u32(Math.min(r.packets, 0xffffffff));
        w.u32(Math.min(r.bytes, 0xffffffff));
        w.u32(up(r.startUs));
        w.u32(up(r.endUs));
        w.u16(r.srcPort);
        w.u16(r.dstPort);
        w.u8(0);
        w.u8(r.tcpFlags);
        w.u8(r.protocol);
        w.u8(0); // ToS
        w.u16(0);
        w.u16(0); // AS numbers
        w.u8(0);
        w.u8(0); // masks
        w.u16(0);
      }
      this.sequence = (this.sequence + chunk.length) >>> 0;
      out.push(w.bytes.slice(0, w.at));
    }
    return out;
  }

  private readonly message = new Writer();
  private readonly scratch = new Writer();

  /** One message of the records from `first` on; `used`: how many it took (written or skipped). */
  private templatedMessage(records: readonly FlowRecord[], first: number): { message: Uint8Array; used: number } {
    const version = this.version as 9 | 10;
    const w = this.message;
    w.at = 0;
    const headerBytes = version === 9 ? 20 : 16;
    w.at = headerBytes;
    const nowMs = this.now();
    let templateRecords = 0;
    if (this.messages % TEMPLATE_REFRESH_MESSAGES === 0 || nowMs - this.lastTemplatesMs >= TEMPLATE_REFRESH_MS) {
      templateRecords = this.writeTemplates(w, version);
      this.lastTemplatesMs = nowMs;
    }
    let used = 0;
    let dataRecords = 0;
    if (this.sampling > 1 && this.messages % TEMPLATE_REFRESH_MESSAGES === 0) {
      // The sampling rate, in an options data record (scope: the observation domain).
      w.u16(SAMPLING_TEMPLATE);
      w.u16(4 + 8);
      w.u32(this.domain);
      w.u32(this.sampling);
      dataRecords++;
    }
    // Data sets: consecutive records of one family share a set.
    let setStart = -1;
    let setTemplate = -1;
    const closeSet = (): void => {
      if (setStart < 0) return;
      while ((w.at - setStart) % 4 !== 0) w.u8(0); // padding (RFC 7011 §3.3.1)
      w.view.setUint16(setStart + 2, w.at - setStart);
      setStart = -1;
    };
    for (let k = first; k < records.length; k++) {
      const record = records[k];
      const src = addressBytes(record.srcAddr);
      const dst = addressBytes(record.dstAddr);
      if (!src || !dst || src.length !== dst.length) {
        used++;
        this.skipped++;
        continue;
      }
      const template = src.length === 4 ? IPV4_TEMPLATE : IPV6_TEMPLATE;
      const encoded = this.recordBytes(record, src, dst, version);
      const needed = encoded.length + (setTemplate === template && setStart >= 0 ? 0 : 4 + 3);
      if (w.at + needed > MAX_MESSAGE_BYTES) break;
      if (setTemplate !== template || setStart < 0) {
        closeSet();
        setStart = w.at;
        setTemplate = template;
        w.u16(template);
        w.u16(0);
      }
      w.raw(encoded);
      used++;
      dataRecords++;
    }
    closeSet();
    const total = w.at;
    w.at = 0;
    if (version === 9) {
      w.u16(9);
      w.u16(dataRecords + templateRecords); // RFC 3954 §5.1: template, options and data records
      w.u32(Math.floor(nowMs) >>> 0); // sysUptime: unused by the absolute times
      w.u32(Math.floor(nowMs / 1000));
      w.u32(this.messages);
      w.u32(this.domain);
    } else {
      w.u16(10);
      w.u16(total);
      w.u32(Math.floor(nowMs / 1000));
      w.u32(this.sequence);
      w.u32(this.domain);
    }
    this.messages++;
    if (version === 10) this.sequence = (this.sequence + dataRecords) >>> 0;
    return { message: w.bytes.slice(0, total), used };
  }

  /** Writes the template sets; returns how many template records they hold. */
  private writeTemplates(w: Writer, version: 9 | 10): number {
    const start = w.at;
    w.u16(version === 9 ? 0 : 2);
    w.u16(0);
    for (const [id, ipv6] of [[IPV4_TEMPLATE, false], [IPV6_TEMPLATE, true]] as const) {
      const fields = flowFields(version, ipv6);
      w.u16(id);
      w.u16(fields.length);
      for (const f of fields) {
        w.u16(f.enterprise ? f.id | 0x8000 : f.id);
        w.u16(f.length);
        if (f.enterprise) w.u32(f.enterprise);
      }
    }
    w.view.setUint16(start + 2, w.at - start);
    if (this.sampling > 1) {
      // Options template: scope observationDomainId (149), field samplingPacketInterval (305); v9 below.
      const options = w.at;
      w.u16(version === 9 ? 1 : 3);
      w.u16(0);
      w.u16(SAMPLING_TEMPLATE);
      if (version === 9) {
        // RFC 3954 §6.1: scope type 1 (System), then samplingInterval (34).
        w.u16(4); // scope length: one field
        w.u16(4); // option length: one field
        w.u16(1);
        w.u16(4);
        w.u16(34);
        w.u16(4);
        w.u16(0); // padding to 4
      } else {
        w.u16(2); // field count
        w.u16(1); // scope field count
        w.u16(149);
        w.u16(4);
        w.u16(305);
        w.u16(4);
        w.u16(0);
      }
      w.view.setUint16(options + 2, w.at - options);
      return 3;
    }
    return 2;
  }

  /** The record's bytes, in the scratch writer (valid until the next call). */
  private recordBytes(r: FlowRecord, src: Uint8Array, dst: Uint8Array, version: 9 | 10): Uint8Array {
    const w = this.scratch;
    w.at = 0;
    w.raw(src);
    w.raw(dst);
    w.u16(r.srcPort);
    w.u16(r.dstPort);
    w.u8(r.protocol);
    if (version === 10) w.u16(r.tcpFlags);
    else w.u8(r.tcpFlags);
    w.u64(r.packets);
    w.u64(r.bytes);
    w.u64(r.startUs / 1000);
    w.u64(r.endUs / 1000);
    w.u8(END_REASON_CODES[r.endReason] ?? 4);
    w.u16(r.protocol === 1 || r.protocol === 58 ? r.dstPort : 0);
    if (version === 10) {
      const text = (value: string | null): void => {
        // At most 200 bytes each, so that any record fits a message beside the templates.
        const b = utf8.encode(value ?? '').subarray(0, 200);
        if (b.length < 255) w.u8(b.length);
        else {
          w.u8(255);
          w.u16(b.length);
        }
        w.raw(b);
      };
      text(r.process);
      w.u32(r.pid ?? 0);
      text(r.username);
      w.u32(r.uid ?? 0xffffffff);
      text(r.container);
      w.u8(DIRECTION_CODES[r.direction] ?? 255);
    }
    return w.bytes.subarray(0, w.at);
  }
}

/**
 * NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages into flow records. Bytes from
 * the wire: every length is checked against what is there before it is used, every problem is
 * counted by reason (NetflowIssue) and the rest of the message is still read where its framing
 * allows; nothing throws.
 */
import type { IssueCounter } from '../common/issue-counter.js';
import type { FlowRecord } from '../flow/index.js';
import { formatAddress } from '../decode/format-address.js';
import { TemplateCache, VARIABLE_LENGTH, type Template, type TemplateField } from './template-cache.js';
import { DIRECTION_CODES, ENDSIGHT_ENTERPRISE } from './netflow-encoder.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });
/** endsight's string elements: process, user, container. */
const ENDSIGHT_STRINGS = new Set([1, 3, 5]);
const DIRECTION_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DIRECTION_CODES).map(([name, code]) => [code, name]));

export const NetflowIssue = {
  TRUNCATED_HEADER: 'netflow_truncated_header',
  UNKNOWN_VERSION: 'netflow_unknown_version',
  V5_BAD_COUNT: 'netflow_v5_bad_count',
  BAD_LENGTH: 'netflow_bad_message_length',
  BAD_SET_LENGTH: 'netflow_bad_set_length',
  BAD_TEMPLATE: 'netflow_bad_template',
  TEMPLATE_CHANGED: 'netflow_template_changed',
  TEMPLATE_CACHE_FULL: 'netflow_template_cache_full',
  DATA_WITHOUT_TEMPLATE: 'netflow_data_without_template',
  BAD_RECORD: 'netflow_bad_record',
  RECORD_WITHOUT_FLOW: 'netflow_record_without_addresses',
  RESERVED_SET: 'netflow_reserved_set_id',
} as const;

/** A flow as an exporter reported it: the flow record's own fields, and what the exporter says beside them. */
export interface CollectedFlow extends Pick<FlowRecord, 'startUs' | 'endUs' | 'srcAddr' | 'dstAddr' | 'srcPort' | 'dstPort' | 'protocol' | 'packets' | 'bytes' | 'tcpFlags'> {
  /** IPFIX flowEndReason (IE 136), or null. */
  endReason: number | null;
  inputInterface: number | null;
  /** 1-in-N from the message (v5) or from the exporter's options (v9, IPFIX). */
  sampling: number;
  /** Host context from endsight's enterprise elements (netflow-encoder.ts), when an endsight exporter sent them. */
  context: { process: string | null; pid: number | null; username: string | null; uid: number | null; container: string | null; direction: string | null } | null;
}

export interface DecodedMessage {
  version: 5 | 9 | 10;
  /** v9: the source ID; IPFIX: the observation domain; v5: engine type << 8 | engine ID. */
  domain: number;
  /** The message's sequence number and how far the next one should be (v5, IPFIX: records; v9: messages). */
  sequence: number;
  sequenceAdvance: number;
  flows: CollectedFlow[];
}

// Information elements (IANA "IPFIX Information Elements"; v9 uses the same numbers up to 127).
const IE = {
  octetDeltaCount: 1, packetDeltaCount: 2, protocolIdentifier: 4, tcpControlBits: 6, sourceTransportPort: 7, sourceIPv4Address: 8,
  ingressInterface: 10, destinationTransportPort: 11, destinationIPv4Address: 12, flowEndSysUpTime: 21, flowStartSysUpTime: 22,
  sourceIPv6Address: 27, destinationIPv6Address: 28, icmpTypeCodeIPv4: 32, samplingInterval: 34, samplerRandomInterval: 50,
  octetTotalCount: 85, packetTotalCount: 86, icmpTypeCodeIPv6: 139, flowEndReason: 136,
  flowStartSeconds: 150, flowEndSeconds: 151, flowStartMilliseconds: 152, flowEndMilliseconds: 153,
  flowStartMicroseconds: 154, flowEndMicroseconds: 155, flowStartNanoseconds: 156, flowEndNanoseconds: 157,
  systemInitTimeMilliseconds: 160, samplingPacketInterval: 305,
} as const;

/** IPv4 text by address: a collector sees the same addresses over and over (bounded: cleared when full). */
const ipv4Text = new Map<number, string>();
function formatIpv4(value: number): string {
  let text = ipv4Text.get(value);
  if (text === undefined) {
    if (ipv4Text.size >= 100_000) ipv4Text.clear();
    text = formatAddress([value], 4);
    ipv4Text.set(value, text);
  }
  return text;
}
const ipv6At = (view: DataView, at: number): string => formatAddress([view.getUint32(at), view.getUint32(at + 4), view.getUint32(at + 8), view.getUint32(at + 12)], 6);

/** Seconds from the NTP era (1900) to the Unix epoch, for the micro- and nanosecond IEs (RFC 7011 §6.1.10). */
const NTP_TO_UNIX_S = 2_208_988_800;

/** Per exporter and domain: the sampling rate its options records gave. */
export type SamplingRates = Map<string, number>;

/**
 * Decodes one message from `exporter` (its address and port). `cache` holds the templates, `rates`
 * the sampling per domain; `nowMs` ages templates. Returns null when nothing in it can be used.
 */
export function decodeMessage(data: Uint8Array, exporter: string, cache: TemplateCache, rates: SamplingRates, nowMs: number, issues: IssueCounter): DecodedMessage | null {
  if (data.length < 4) {
    issues.add(NetflowIssue.TRUNCATED_HEADER);
    return null;
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = view.getUint16(0);
  if (version === 5) return decodeV5(view, issues);
  if (version === 9) return decodeTemplated(view, 9, exporter, cache, rates, nowMs, issues);
  if (version === 10) return decodeTemplated(view, 10, exporter, cache, rates, nowMs, issues);
  issues.add(NetflowIssue.UNKNOWN_VERSION);
  return null;
}

/** NetFlow v5: a 24-byte header and 1 to 30 records of 48 bytes. */
function decodeV5(view: DataView, issues: IssueCounter): DecodedMessage | null {
  if (view.byteLength < 24) {
    issues.add(NetflowIssue.TRUNCATED_HEADER);
    return null;
  }
  const count = view.getUint16(2);
  if (count < 1 || count > 30 || view.byteLength < 24 + count * 48) {
    issues.add(NetflowIssue.V5_BAD_COUNT);
    return null;
  }
  const uptimeMs = view.getUint32(4);
  const exportUs = view.getUint32(8) * 1e6 + Math.floor(view.getUint32(12) / 1000);
  const samplingField = view.getUint16(22);
  const sampling = Math.max(1, samplingField & 0x3fff);
  const flows: CollectedFlow[] = [];
  for (let i = 0; i < count; i++) {
    const at = 24 + i * 48;
    const protocol = view.getUint8(at + 38);
    const first = view.getUint32(at + 24);
    const last = view.getUint32(at + 28);
    flows.push({
      srcAddr: formatIpv4(view.getUint32(at)),
      dstAddr: formatIpv4(view.getUint32(at + 4)),
      inputInterface: view.getUint16(at + 12),
      packets: view.getUint32(at + 16),
      bytes: view.getUint32(at + 20),
      startUs: uptimeTime(exportUs, uptimeMs, first),
      endUs: uptimeTime(exportUs, uptimeMs, last),
      srcPort: view.getUint16(at + 32),
      dstPort: view.getUint16(at + 34),
      tcpFlags: protocol === 6 ? view.getUint8(at + 37) : 0,
      protocol,
      endReason: null,
      sampling,
      context: null,
    });
  }
  return { version: 5, domain: (view.getUint8(20) << 8) | view.getUint8(21), sequence: view.getUint32(16), sequenceAdvance: count, flows };
}

/** A time given as sysUpTime ms, relative to the message's export time and uptime (RFC 3954 §5.1). */
function uptimeTime(exportUs: number, uptimeMs: number, atMs: number): number {
  // The difference is taken modulo 2^32: the uptime counter wraps after 49.7 days.
  return exportUs - (((uptimeMs - atMs) >>> 0) * 1000);
}

/** NetFlow v9 and IPFIX: a header, then sets of templates, options templates and data. */
function decodeTemplated(view: DataView, version: 9 | 10, exporter: string, cache: TemplateCache, rates: SamplingRates, nowMs: number, issues: IssueCounter): DecodedMessage | null {
  const headerBytes = version === 9 ? 20 : 16;
  if (view.byteLength < headerBytes) {
    issues.add(NetflowIssue.TRUNCATED_HEADER);
    return null;
  }
  let end = view.byteLength;
  let uptimeMs = 0;
  let exportUs: number;
  let sequence: number;
  let domain: number;
  if (version === 9) {
    uptimeMs = view.getUint32(4);
    exportUs = view.getUint32(8) * 1e6;
    sequence = view.getUint32(12);
    domain = view.getUint32(16);
  } else {
    const length = view.getUint16(2);
    // RFC 7011 §3.1: the message's length; a datagram may not carry less, trailing bytes are ignored.
    if (length < headerBytes || length > view.byteLength) {
      issues.add(NetflowIssue.BAD_LENGTH);
      return null;
    }
    end = length;
    exportUs = view.getUint32(4) * 1e6;
    sequence = view.getUint32(8);
    domain = view.getUint32(12);
  }
  const scope = `${exporter}|${version}|${domain}`;
  const message: DecodedMessage = { version, domain, sequence, sequenceAdvance: version === 9 ? 1 : 0, flows: [] };
  const context: RecordContext = { exportUs, uptimeMs, sampling: rates.get(scope) ?? 1, initUs: null };
  let at = headerBytes;
  while (at + 4 <= end) {
    const setId = view.getUint16(at);
    const setLength = view.getUint16(at + 2);
    if (setLength < 4 || at + setLength > end) {
      issues.add(NetflowIssue.BAD_SET_LENGTH);
      break; // the framing is lost: nothing after this can be trusted
    }
    const bodyEnd = at + setLength;
    const templateSet = version === 9 ? setId === 0 : setId === 2;
    const optionsSet = version === 9 ? setId === 1 : setId === 3;
    if (templateSet || optionsSet) {
      readTemplates(view, at + 4, bodyEnd, version, optionsSet, scope, cache, nowMs, issues);
    } else if (setId >= 256) {
      const template = cache.get(`${scope}|${setId}`, nowMs);
      if (!template) {
        issues.add(NetflowIssue.DATA_WITHOUT_TEMPLATE);
      } else {
        const records = readData(view, at + 4, bodyEnd, template, context, message.flows, issues);
        if (template.options && context.samplingFound !== undefined) {
          rates.set(scope, context.samplingFound);
          context.sampling = context.samplingFound;
          context.samplingFound = undefined;
        }
        if (version === 10) message.sequenceAdvance += records;
      }
    } else {
      issues.add(NetflowIssue.RESERVED_SET);
    }
    at = bodyEnd;
  }
  return message;
}

/** Template records of one set (RFC 3954 §5.2/§6.1, RFC 7011 §3.4). A bad one ends the set. */
function readTemplates(view: DataView, at: number, end: number, version: 9 | 10, options: boolean, scope: string, cache: TemplateCache, nowMs: number, issues: IssueCounter): void {
  // Padding: fewer bytes than the smallest template record (RFC 7011 §3.3.1).
  while (end - at >= (options ? 6 : 4)) {
    const id = view.getUint16(at);
    let count: number;
    let scopeCount = 0;
    if (version === 9 && options) {
      // v9 options: ID, option scope length (bytes), option length (bytes), then the fields.
      const scopeBytes = view.getUint16(at + 2);
      const optionBytes = view.getUint16(at + 4);
      if (scopeBytes % 4 !== 0 || optionBytes % 4 !== 0) return void issues.add(NetflowIssue.BAD_TEMPLATE);
      count = (scopeBytes + optionBytes) / 4;
      scopeCount = scopeBytes / 4;
      at += 6;
    } else {
      count = view.getUint16(at + 2);
      at += 4;
      if (options) {
        if (end - at < 2) return void issues.add(NetflowIssue.BAD_TEMPLATE);
        scopeCount = view.getUint16(at);
        at += 2;
      }
    }
    if (version === 10 && count === 0 && !options) {
      // RFC 7011 §8.1: a withdrawal (ID 2 withdraws every template of the domain; not kept apart here).
      cache.withdraw(`${scope}|${id}`);
      continue;
    }
    if (id < 256 || count === 0 || scopeCount > count || (options && version === 10 && scopeCount === 0)) return void issues.add(NetflowIssue.BAD_TEMPLATE);
    const fields: TemplateField[] = [];
    for (let i = 0; i < count; i++) {
      if (end - at < 4) return void issues.add(NetflowIssue.BAD_TEMPLATE);
      let fieldId = view.getUint16(at);
      const length = view.getUint16(at + 2);
      at += 4;
      let enterprise = 0;
      if (version === 10 && fieldId & 0x8000) {
        if (end - at < 4) return void issues.add(NetflowIssue.BAD_TEMPLATE);
        enterprise = view.getUint32(at);
        fieldId &= 0x7fff;
        at += 4;
      }
      if (length === 0 || (version === 9 && length === VARIABLE_LENGTH)) return void issues.add(NetflowIssue.BAD_TEMPLATE);
      fields.push({ id: fieldId, enterprise, length });
    }
    const outcome = cache.set(`${scope}|${id}`, fields, options, nowMs);
    if (outcome === 'changed') issues.add(NetflowIssue.TEMPLATE_CHANGED);
    else if (outcome === 'evicted_oldest') issues.add(NetflowIssue.TEMPLATE_CACHE_FULL);
  }
}

interface RecordContext {
  exportUs: number;
  uptimeMs: number;
  sampling: number;
  /** IPFIX systemInitTimeMilliseconds from an options record, for sysUpTime fields. */
  initUs: number | null;
  samplingFound?: number;
}

/** Data records of one set; returns how many were read. A record that does not fit ends the set. */
/**
 * A record's values by information element, reused from record to record (a Map per record cost
 * more than the rest of decoding): `set` lists the IDs to clear before the next record.
 */
class FieldValues {
  private readonly slots: (number | string | undefined)[] = new Array(512);
  private readonly set: number[] = [];
  private readonly others = new Map<number, number | string>();

  put(id: number, value: number | string): void {
    if (id < 512) {
      if (this.slots[id] === undefined) this.set.push(id);
      this.slots[id] = value;
    } else {
      this.others.set(id, value);
    }
  }

  get(id: number): number | string | undefined {
    return id < 512 ? this.slots[id] : this.others.get(id);
  }

  get size(): number {
    return this.set.length + this.others.size;
  }

  clear(): void {
    for (const id of this.set) this.slots[id] = undefined;
    this.set.length = 0;
    if (this.others.size > 0) this.others.clear();
  }
}

const values = new FieldValues();
const endsightValues = new FieldValues();

function readData(view: DataView, at: number, end: number, template: Template, context: RecordContext, out: CollectedFlow[], issues: IssueCounter): number {
  let records = 0;
  while (end - at >= template.minimumLength && template.minimumLength > 0) {
    values.clear();
    endsightValues.clear();
    const endsight = endsightValues;
    let ok = true;
    for (const field of template.fields) {
      let length = field.length;
      if (length === VARIABLE_LENGTH) {
        // RFC 7011 §7: one length byte, or 255 and two more.
        if (at >= end) {
          ok = false;
          break;
        }
        length = view.getUint8(at++);
        if (length === 255) {
          if (end - at < 2) {
            ok = false;
            break;
          }
          length = view.getUint16(at);
          at += 2;
        }
      }
      if (end - at < length) {
        ok = false;
        break;
      }
      if (field.enterprise === 0) {
        const value = fieldValue(view, at, length, field.id);
        if (value !== undefined) values.put(field.id, value);
      } else if (field.enterprise === ENDSIGHT_ENTERPRISE) {
        endsight.put(field.id, ENDSIGHT_STRINGS.has(field.id) ? (length === 0 ? '' : utf8.decode(new Uint8Array(view.buffer, view.byteOffset + at, length))) : fieldValue(view, at, length, -1) ?? 0);
      }
      at += length;
    }
    if (!ok) {
      issues.add(NetflowIssue.BAD_RECORD);
      break;
    }
    records++;
    if (template.options) {
      const rate = values.get(IE.samplingInterval) ?? values.get(IE.samplingPacketInterval) ?? values.get(IE.samplerRandomInterval);
      if (typeof rate === 'number' && rate >= 1) context.samplingFound = rate;
      const init = values.get(IE.systemInitTimeMilliseconds);
      if (typeof init === 'number') context.initUs = init * 1000;
      continue;
    }
    const flow = toFlow(values, context, endsight);
    if (flow) out.push(flow);
    else issues.add(NetflowIssue.RECORD_WITHOUT_FLOW);
  }
  return records;
}

/** A field's value: addresses as text, unsigned integers of 1 to 8 bytes (RFC 7011 §6.2 reduced size) as numbers. */
function fieldValue(view: DataView, at: number, length: number, id: number): number | string | undefined {
  if (id === IE.sourceIPv4Address || id === IE.destinationIPv4Address) return length === 4 ? formatIpv4(view.getUint32(at)) : undefined;
  if (id === IE.sourceIPv6Address || id === IE.destinationIPv6Address) {
    return length === 16 ? ipv6At(view, at) : undefined;
  }
  if (id === IE.flowStartMicroseconds || id === IE.flowEndMicroseconds || id === IE.flowStartNanoseconds || id === IE.flowEndNanoseconds) {
    if (length !== 8) return undefined;
    // NTP timestamps (RFC 7011 §6.1.9-10): seconds since 1900, then a binary fraction.
    const seconds = view.getUint32(at) - NTP_TO_UNIX_S;
    return seconds * 1e6 + Math.floor((view.getUint32(at + 4) / 2 ** 32) * 1e6);
  }
  if (length > 8) return undefined;
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + view.getUint8(at + i);
  return value;
}

function num(values: FieldValues, id: number): number | undefined {
  const v = values.get(id);
  return typeof v === 'number' ? v : undefined;
}

/** A flow's start or end from whichever time element the record has, µs. */
function timeOf(values: FieldValues, context: RecordContext, seconds: number, millis: number, micros: number, nanos: number, uptime: number): number {
  const s = num(values, seconds);
  if (s !== undefined) return s * 1e6;
  const ms = num(values, millis);
  if (ms !== undefined) return ms * 1000;
  const us = num(values, micros) ?? num(values, nanos);
  if (us !== undefined) return us;
  const up = num(values, uptime);
  if (up !== undefined) return context.initUs !== null ? context.initUs + up * 1000 : uptimeTime(context.exportUs, context.uptimeMs, up);
  return context.exportUs;
}

function toFlow(values: FieldValues, context: RecordContext, endsight: FieldValues): CollectedFlow | null {
  const src = values.get(IE.sourceIPv4Address) ?? values.get(IE.sourceIPv6Address);
  const dst = values.get(IE.destinationIPv4Address) ?? values.get(IE.destinationIPv6Address);
  if (typeof src !== 'string' || typeof dst !== 'string') return null;
  const n = (id: number): number | undefined => num(values, id);
  const protocol = n(IE.protocolIdentifier) ?? 0;
  const icmpType = n(IE.icmpTypeCodeIPv4) ?? n(IE.icmpTypeCodeIPv6);
  const icmp = protocol === 1 || protocol === 58;
  const endUs = timeOf(values, context, IE.flowEndSeconds, IE.flowEndMilliseconds, IE.flowEndMicroseconds, IE.flowEndNanoseconds, IE.flowEndSysUpTime);
  const startUs = timeOf(values, context, IE.flowStartSeconds, IE.flowStartMilliseconds, IE.flowStartMicroseconds, IE.flowStartNanoseconds, IE.flowStartSysUpTime);
  return {
    startUs: Math.min(startUs, endUs),
    endUs,
    srcAddr: src,
    dstAddr: dst,
    srcPort: icmp ? 0 : (n(IE.sourceTransportPort) ?? 0),
    // NetFlow's convention, as the flows table's: ICMP type*256+code in the destination port.
    dstPort: icmp ? (icmpType ?? n(IE.destinationTransportPort) ?? 0) : (n(IE.destinationTransportPort) ?? 0),
    protocol,
    packets: n(IE.packetDeltaCount) ?? n(IE.packetTotalCount) ?? 0,
    bytes: n(IE.octetDeltaCount) ?? n(IE.octetTotalCount) ?? 0,
    tcpFlags: protocol === 6 ? (n(IE.tcpControlBits) ?? 0) & 0xff : 0,
    endReason: n(IE.flowEndReason) ?? null,
    inputInterface: n(IE.ingressInterface) ?? null,
    sampling: context.sampling,
    context: endsight.size === 0 ? null : endsightContext(endsight),
  };
}

/** endsight's elements (ENDSIGHT_ELEMENTS): empty strings, pid 0 and uid 2^32 − 1 mean unknown. */
function endsightContext(e: FieldValues): NonNullable<CollectedFlow['context']> {
  const text = (id: number): string | null => {
    const v = e.get(id);
    return typeof v === 'string' && v.length > 0 ? v : null;
  };
  const pid = e.get(2);
  const uid = e.get(4);
  const direction = e.get(6);
  return {
    process: text(1),
    pid: typeof pid === 'number' && pid > 0 ? pid : null,
    username: text(3),
    uid: typeof uid === 'number' && uid !== 0xffffffff ? uid : null,
    container: text(5),
    direction: typeof direction === 'number' ? (DIRECTION_NAMES[direction] ?? null) : null,
  };
}

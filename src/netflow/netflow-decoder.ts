/**
 * NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages into flow records. Bytes from
 * the wire: every length is checked against what is there before it is used, every problem is
 * counted by reason (NetflowIssue) and the rest of the message is still read where its framing
 * allows; nothing throws.
 *
 * Speed: flows go straight into the columns of a batch (CollectedFlows), and a template is turned
 * once into a plan (what each field is for), so a data record costs a few typed-array reads and
 * writes: no object, map or string per record unless the record carries text.
 */
import type { IssueCounter } from '../common/issue-counter.js';
import { CollectedFlows, DecodedFlow } from './collected-flows.js';
import { TemplateCache, VARIABLE_LENGTH, type Template, type TemplateField } from './template-cache.js';
import { ENDSIGHT_ENTERPRISE } from './netflow-encoder.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });

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

export interface DecodedMessage {
  version: 5 | 9 | 10;
  /** v9: the source ID; IPFIX: the observation domain; v5: engine type << 8 | engine ID. */
  domain: number;
  /** The message's sequence number and how far the next one should be (v5, IPFIX: records; v9: messages). */
  sequence: number;
  sequenceAdvance: number;
  /** Flows written to the output. */
  flows: number;
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

/** Seconds from the NTP era (1900) to the Unix epoch, for the micro- and nanosecond IEs (RFC 7011 §6.1.10). */
const NTP_TO_UNIX_S = 2_208_988_800;

/** Per exporter and domain: the sampling rate its options records gave. */
export type SamplingRates = Map<string, number>;

/**
 * Decodes one message from `exporter` (`address:port`; `address` names the flows' host and source)
 * and writes its flows to `out`. `cache` holds the templates, `rates` the sampling per domain;
 * `nowMs` ages templates. Returns null when nothing in it can be used.
 */
export function decodeMessage(data: Uint8Array, exporter: string, address: string, cache: TemplateCache, rates: SamplingRates, nowMs: number, issues: IssueCounter, out: CollectedFlows): DecodedMessage | null {
  if (data.length < 4) {
    issues.add(NetflowIssue.TRUNCATED_HEADER);
    return null;
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = view.getUint16(0);
  if (version === 5) return decodeV5(view, address, issues, out);
  if (version === 9 || version === 10) return decodeTemplated(view, version, exporter, address, cache, rates, nowMs, issues, out);
  issues.add(NetflowIssue.UNKNOWN_VERSION);
  return null;
}

const flow = new DecodedFlow();

/** NetFlow v5: a 24-byte header and 1 to 30 records of 48 bytes. */
function decodeV5(view: DataView, address: string, issues: IssueCounter, out: CollectedFlows): DecodedMessage | null {
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
  const sampling = Math.max(1, view.getUint16(22) & 0x3fff);
  out.startMessage(address, 5);
  resetContext(flow);
  flow.sampling = sampling;
  flow.endReason = -1;
  flow.srcVersion = 4;
  flow.dstVersion = 4;
  for (let i = 0; i < count; i++) {
    const at = 24 + i * 48;
    const protocol = view.getUint8(at + 38);
    flow.srcAt = at;
    flow.dstAt = at + 4;
    flow.inputInterface = view.getUint16(at + 12);
    flow.packets = view.getUint32(at + 16);
    flow.bytes = view.getUint32(at + 20);
    flow.startUs = uptimeTime(exportUs, uptimeMs, view.getUint32(at + 24));
    flow.endUs = uptimeTime(exportUs, uptimeMs, view.getUint32(at + 28));
    flow.srcPort = view.getUint16(at + 32);
    flow.dstPort = view.getUint16(at + 34);
    flow.tcpFlags = protocol === 6 ? view.getUint8(at + 37) : 0;
    flow.protocol = protocol;
    out.write(flow, view);
  }
  return { version: 5, domain: (view.getUint8(20) << 8) | view.getUint8(21), sequence: view.getUint32(16), sequenceAdvance: count, flows: count };
}

/** A time given as sysUpTime ms, relative to the message's export time and uptime (RFC 3954 §5.1). */
function uptimeTime(exportUs: number, uptimeMs: number, atMs: number): number {
  // The difference is taken modulo 2^32: the uptime counter wraps after 49.7 days.
  return exportUs - (((uptimeMs - atMs) >>> 0) * 1000);
}

/** NetFlow v9 and IPFIX: a header, then sets of templates, options templates and data. */
function decodeTemplated(view: DataView, version: 9 | 10, exporter: string, address: string, cache: TemplateCache, rates: SamplingRates, nowMs: number, issues: IssueCounter, out: CollectedFlows): DecodedMessage | null {
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
  out.startMessage(address, version);
  const scope = `${exporter}|${version}|${domain}`;
  const message: DecodedMessage = { version, domain, sequence, sequenceAdvance: version === 9 ? 1 : 0, flows: 0 };
  const context: RecordContext = { exportUs, uptimeMs, sampling: rates.get(scope) ?? 1, initUs: null };
  let at = headerBytes;
  let lastSetId = -1;
  let lastTemplate: Template | undefined;
  let otherSetId = -1;
  let otherTemplate: Template | undefined;
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
      // A message often has many short sets of the same few templates: each looked up once.
      let template = setId === lastSetId ? lastTemplate : setId === otherSetId ? otherTemplate : undefined;
      if (template === undefined) {
        template = cache.get(`${scope}|${setId}`, nowMs);
        otherSetId = lastSetId;
        otherTemplate = lastTemplate;
      }
      lastSetId = setId;
      lastTemplate = template;
      if (!template) {
        issues.add(NetflowIssue.DATA_WITHOUT_TEMPLATE);
      } else {
        const records = readData(view, at + 4, bodyEnd, template, context, out, issues);
        message.flows += flowsRead;
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

/**
 * The numeric elements a record can give, each a slot of `slotValues`: a template's plan names the
 * slot of each of its fields, and `slotStamps` says which slots the current record set (a record
 * number per slot, so nothing is cleared between records).
 */
const NUMERIC = [
  IE.octetDeltaCount, IE.packetDeltaCount, IE.protocolIdentifier, IE.tcpControlBits, IE.sourceTransportPort, IE.ingressInterface,
  IE.destinationTransportPort, IE.flowEndSysUpTime, IE.flowStartSysUpTime, IE.icmpTypeCodeIPv4, IE.samplingInterval, IE.samplerRandomInterval,
  IE.octetTotalCount, IE.packetTotalCount, IE.icmpTypeCodeIPv6, IE.flowEndReason, IE.flowStartSeconds, IE.flowEndSeconds,
  IE.flowStartMilliseconds, IE.flowEndMilliseconds, IE.systemInitTimeMilliseconds, IE.samplingPacketInterval,
] as const;
/** NTP timestamps (RFC 7011 §6.1.9-10), kept in µs. */
const NTP_TIMES = [IE.flowStartMicroseconds, IE.flowEndMicroseconds, IE.flowStartNanoseconds, IE.flowEndNanoseconds] as const;
/** Slot by element ID (every element here is below 512), -1 for the others. */
const SLOT = new Int16Array(512).fill(-1);
[...NUMERIC, ...NTP_TIMES].forEach((id, slot) => (SLOT[id] = slot));
const slotValues = new Float64Array(NUMERIC.length + NTP_TIMES.length);
const slotStamps = new Uint32Array(NUMERIC.length + NTP_TIMES.length);
let stamp = 0;

// What a field is for (a plan's `kinds`).
const SKIP = 0;
const NUMBER = 1;
const NTP_TIME = 2;
const SRC_V4 = 3;
const DST_V4 = 4;
const SRC_V6 = 5;
const DST_V6 = 6;
const ENDSIGHT_TEXT = 7;
const ENDSIGHT_NUMBER = 8;

/** endsight's enterprise elements (netflow-encoder.ts ENDSIGHT_ELEMENTS) by ID. */
const ENDSIGHT_PROCESS = 1;
const ENDSIGHT_PID = 2;
const ENDSIGHT_USER = 3;
const ENDSIGHT_UID = 4;
const ENDSIGHT_CONTAINER = 5;
const ENDSIGHT_DIRECTION = 6;

interface Plan {
  kinds: Uint8Array;
  /** The field's slot (NUMBER, NTP_TIME) or endsight element ID. */
  targets: Int32Array;
  lengths: Int32Array;
}

/** A template's plans: the general one, and the fixed one (null: the template does not allow it). */
interface Plans {
  general: Plan;
  roles: RolePlan | null;
}

function plansOf(template: Template): Plans {
  let plans = template.plan as Plans | undefined;
  if (!plans) {
    const general = planOf(template);
    plans = { general, roles: rolePlanOf(template, general) };
    template.plan = plans;
  }
  return plans;
}

/** What each field of `template` is for, worked out once per template. */
function planOf(template: Template): Plan {
  const count = template.fields.length;
  const plan: Plan = { kinds: new Uint8Array(count), targets: new Int32Array(count), lengths: new Int32Array(count) };
  template.fields.forEach((field: TemplateField, i) => {
    plan!.lengths[i] = field.length;
    let kind = SKIP;
    let target = 0;
    if (field.enterprise === ENDSIGHT_ENTERPRISE) {
      kind = field.id === ENDSIGHT_PROCESS || field.id === ENDSIGHT_USER || field.id === ENDSIGHT_CONTAINER ? ENDSIGHT_TEXT : ENDSIGHT_NUMBER;
      target = field.id;
    } else if (field.enterprise === 0) {
      if (field.id === IE.sourceIPv4Address) kind = SRC_V4;
      else if (field.id === IE.destinationIPv4Address) kind = DST_V4;
      else if (field.id === IE.sourceIPv6Address) kind = SRC_V6;
      else if (field.id === IE.destinationIPv6Address) kind = DST_V6;
      else if ((NTP_TIMES as readonly number[]).includes(field.id)) [kind, target] = [NTP_TIME, SLOT[field.id]];
      else if (field.id < 512 && SLOT[field.id] >= 0) [kind, target] = [NUMBER, SLOT[field.id]];
    }
    plan.kinds[i] = kind;
    plan.targets[i] = target;
  });
  return plan;
}

/** Where a role plan takes a flow's start or end time from (timeOf's order of preference). */
const TIME = { SECONDS: 1, MILLIS: 2, NTP: 3, UPTIME: 4, EXPORT: 5 } as const;

/**
 * The plan of a flow template whose every record carries both addresses and whose numbers and
 * addresses have fixed lengths (every template an exporter sends in practice; variable lengths
 * only in text, such as endsight's process and user): which field gives each of a flow's values
 * is decided once here, by field index, with timeOf's and fillFlow's orders of preference (packets
 * from packetDeltaCount, else packetTotalCount, …), instead of per record through the slots. A
 * record is then its fields' offsets, found in one pass (variable lengths read as in readData),
 * and a few DataView reads. It gives exactly what the general loop gives for the same record (the
 * last of a repeated element, the same lengths ignored); an index of -1 means the element is absent.
 */
interface RolePlan {
  lengths: Int32Array;
  minimumLength: number;
  /** The addresses' fields and IP versions. */
  src: number;
  srcVersion: 4 | 6;
  dst: number;
  dstVersion: 4 | 6;
  protocol: number;
  srcPort: number;
  dstPort: number;
  /** The destination port of an ICMP flow: icmpTypeCodeIPv4, else IPv6, else destinationTransportPort. */
  icmp: number;
  packets: number;
  bytes: number;
  tcpFlags: number;
  endReason: number;
  ingress: number;
  startKind: number;
  start: number;
  endKind: number;
  end: number;
  /** endsight's host context elements (ENDSIGHT_PROCESS … ENDSIGHT_DIRECTION). */
  process: number;
  pid: number;
  username: number;
  uid: number;
  container: number;
  direction: number;
}

function rolePlanOf(template: Template, plan: Plan): RolePlan | null {
  if (template.options || template.minimumLength <= 0) return null;
  const slotField = new Int32Array(slotValues.length).fill(-1);
  const endsight = new Int32Array(ENDSIGHT_DIRECTION + 1).fill(-1);
  let src4 = -1;
  let src6 = -1;
  let dst4 = -1;
  let dst6 = -1;
  for (let i = 0; i < plan.kinds.length; i++) {
    const length = plan.lengths[i];
    const kind = plan.kinds[i];
    if (length === VARIABLE_LENGTH && kind !== SKIP && kind !== ENDSIGHT_TEXT && kind !== ENDSIGHT_NUMBER) return null; // per record: the general loop
    if (kind === NUMBER && length <= 8) slotField[plan.targets[i]] = i;
    else if (kind === NTP_TIME && length === 8) slotField[plan.targets[i]] = i;
    else if (kind === SRC_V4 && length === 4) src4 = i;
    else if (kind === DST_V4 && length === 4) dst4 = i;
    else if (kind === SRC_V6 && length === 16) src6 = i;
    else if (kind === DST_V6 && length === 16) dst6 = i;
    else if (kind === ENDSIGHT_TEXT || kind === ENDSIGHT_NUMBER) endsight[plan.targets[i]] = i;
  }
  if ((src4 < 0 && src6 < 0) || (dst4 < 0 && dst6 < 0)) return null; // each record is counted by the general loop
  /** The field of the first of `ids` the template has, or -1. */
  const first = (...ids: number[]): number => {
    for (const id of ids) if (slotField[SLOT[id]] >= 0) return slotField[SLOT[id]];
    return -1;
  };
  const time = (seconds: number, millis: number, micros: number, nanos: number, uptime: number): [number, number] => {
    if (first(seconds) >= 0) return [TIME.SECONDS, first(seconds)];
    if (first(millis) >= 0) return [TIME.MILLIS, first(millis)];
    if (first(micros, nanos) >= 0) return [TIME.NTP, first(micros, nanos)];
    if (first(uptime) >= 0) return [TIME.UPTIME, first(uptime)];
    return [TIME.EXPORT, -1];
  };
  const [startKind, start] = time(IE.flowStartSeconds, IE.flowStartMilliseconds, IE.flowStartMicroseconds, IE.flowStartNanoseconds, IE.flowStartSysUpTime);
  const [endKind, end] = time(IE.flowEndSeconds, IE.flowEndMilliseconds, IE.flowEndMicroseconds, IE.flowEndNanoseconds, IE.flowEndSysUpTime);
  return {
    lengths: plan.lengths, minimumLength: template.minimumLength,
    src: src4 >= 0 ? src4 : src6, srcVersion: src4 >= 0 ? 4 : 6, dst: dst4 >= 0 ? dst4 : dst6, dstVersion: dst4 >= 0 ? 4 : 6,
    protocol: first(IE.protocolIdentifier), srcPort: first(IE.sourceTransportPort), dstPort: first(IE.destinationTransportPort),
    icmp: first(IE.icmpTypeCodeIPv4, IE.icmpTypeCodeIPv6, IE.destinationTransportPort),
    packets: first(IE.packetDeltaCount, IE.packetTotalCount), bytes: first(IE.octetDeltaCount, IE.octetTotalCount),
    tcpFlags: first(IE.tcpControlBits), endReason: first(IE.flowEndReason), ingress: first(IE.ingressInterface),
    startKind, start, endKind, end,
    process: endsight[ENDSIGHT_PROCESS], pid: endsight[ENDSIGHT_PID], username: endsight[ENDSIGHT_USER],
    uid: endsight[ENDSIGHT_UID], container: endsight[ENDSIGHT_CONTAINER], direction: endsight[ENDSIGHT_DIRECTION],
  };
}

let rolePlansOn = true;

/** Turns role plans off (true: on again), so that a test can compare them with the general loop. */
export function useRolePlans(on: boolean): void {
  rolePlansOn = on;
}

/** Field offsets and lengths of the record being read by readPlanned. */
let fieldAt = new Int32Array(64);
let fieldLength = new Int32Array(64);

/** Field `i`'s unsigned value in the current record. */
function field(view: DataView, i: number): number {
  return unsigned(view, fieldAt[i], fieldLength[i]);
}

/** A time element as a role plan's kind says, in µs. */
function plannedTime(view: DataView, kind: number, i: number, context: RecordContext): number {
  if (kind === TIME.MILLIS) return field(view, i) * 1000;
  if (kind === TIME.SECONDS) return field(view, i) * 1e6;
  if (kind === TIME.NTP) {
    const at = fieldAt[i];
    return (view.getUint32(at) - NTP_TO_UNIX_S) * 1e6 + Math.floor((view.getUint32(at + 4) / 2 ** 32) * 1e6);
  }
  if (kind === TIME.UPTIME) {
    const up = field(view, i);
    return context.initUs !== null ? context.initUs + up * 1000 : uptimeTime(context.exportUs, context.uptimeMs, up);
  }
  return context.exportUs;
}

/** Records of a set read with a role plan (see RolePlan); returns how many (all flows). A record that does not fit ends the set. */
function readPlanned(view: DataView, at: number, end: number, p: RolePlan, context: RecordContext, out: CollectedFlows, issues: IssueCounter): number {
  const lengths = p.lengths;
  const count = lengths.length;
  if (fieldAt.length < count) {
    fieldAt = new Int32Array(count);
    fieldLength = new Int32Array(count);
  }
  let records = 0;
  flow.sampling = context.sampling;
  flow.srcVersion = p.srcVersion;
  flow.dstVersion = p.dstVersion;
  while (end - at >= p.minimumLength) {
    for (let i = 0; i < count; i++) {
      let length = lengths[i];
      if (length === VARIABLE_LENGTH) {
        // RFC 7011 §7: one length byte, or 255 and two more.
        if (at >= end) return badRecord(issues, records);
        length = view.getUint8(at++);
        if (length === 255) {
          if (end - at < 2) return badRecord(issues, records);
          length = view.getUint16(at);
          at += 2;
        }
      }
      if (end - at < length) return badRecord(issues, records);
      fieldAt[i] = at;
      fieldLength[i] = length;
      at += length;
    }
    records++;
    const protocol = p.protocol >= 0 ? field(view, p.protocol) : 0;
    const endUs = plannedTime(view, p.endKind, p.end, context);
    const startUs = plannedTime(view, p.startKind, p.start, context);
    flow.startUs = startUs < endUs ? startUs : endUs;
    flow.endUs = endUs;
    flow.protocol = protocol;
    if (protocol === 1 || protocol === 58) {
      flow.srcPort = 0;
      flow.dstPort = p.icmp >= 0 ? field(view, p.icmp) : 0;
    } else {
      flow.srcPort = p.srcPort >= 0 ? field(view, p.srcPort) : 0;
      flow.dstPort = p.dstPort >= 0 ? field(view, p.dstPort) : 0;
    }
    flow.packets = p.packets >= 0 ? field(view, p.packets) : 0;
    flow.bytes = p.bytes >= 0 ? field(view, p.bytes) : 0;
    flow.tcpFlags = protocol === 6 && p.tcpFlags >= 0 ? field(view, p.tcpFlags) % 256 : 0;
    flow.endReason = p.endReason >= 0 ? field(view, p.endReason) : -1;
    flow.inputInterface = p.ingress >= 0 ? field(view, p.ingress) : -1;
    flow.srcAt = fieldAt[p.src];
    flow.dstAt = fieldAt[p.dst];
    resetContext(flow);
    if (p.process >= 0) readEndsightText(view, fieldAt[p.process], fieldLength[p.process], ENDSIGHT_PROCESS, out);
    if (p.username >= 0) readEndsightText(view, fieldAt[p.username], fieldLength[p.username], ENDSIGHT_USER, out);
    if (p.container >= 0) readEndsightText(view, fieldAt[p.container], fieldLength[p.container], ENDSIGHT_CONTAINER, out);
    if (p.pid >= 0) readEndsightNumber(fieldLength[p.pid] <= 8 ? field(view, p.pid) : 0, ENDSIGHT_PID, out);
    if (p.uid >= 0) readEndsightNumber(fieldLength[p.uid] <= 8 ? field(view, p.uid) : 0, ENDSIGHT_UID, out);
    if (p.direction >= 0) readEndsightNumber(fieldLength[p.direction] <= 8 ? field(view, p.direction) : 0, ENDSIGHT_DIRECTION, out);
    out.write(flow, view);
  }
  return records;
}

function badRecord(issues: IssueCounter, records: number): number {
  issues.add(NetflowIssue.BAD_RECORD);
  return records;
}

/** The slot's value in the current record, or undefined. */
function get(id: number): number | undefined {
  const slot = SLOT[id];
  return slotStamps[slot] === stamp ? slotValues[slot] : undefined;
}

/** An unsigned integer of 1 to 8 bytes (RFC 7011 §6.2 reduced-size encoding). */
function unsigned(view: DataView, at: number, length: number): number {
  if (length === 4) return view.getUint32(at);
  if (length === 2) return view.getUint16(at);
  if (length === 1) return view.getUint8(at);
  if (length === 8) return view.getUint32(at) * 4294967296 + view.getUint32(at + 4);
  let value = 0;
  for (let i = 0; i < length; i++) value = value * 256 + view.getUint8(at + i);
  return value;
}

function resetContext(f: DecodedFlow): void {
  f.direction = -1;
  f.process = -1;
  f.username = -1;
  f.container = -1;
  f.pid = NaN;
  f.uid = NaN;
}

/** How many of the records the last readData read were flows (not options records). */
let flowsRead = 0;

/** Data records of one set; returns how many were read (flowsRead: how many were flows). A record that does not fit ends the set. */
function readData(view: DataView, at: number, end: number, template: Template, context: RecordContext, out: CollectedFlows, issues: IssueCounter): number {
  const plans = plansOf(template);
  if (plans.roles && rolePlansOn) {
    const records = readPlanned(view, at, end, plans.roles, context, out, issues);
    flowsRead = records;
    return records;
  }
  const { kinds, targets, lengths } = plans.general;
  const fieldCount = kinds.length;
  let records = 0;
  let flows = 0;
  while (end - at >= template.minimumLength && template.minimumLength > 0) {
    stamp = (stamp + 1) >>> 0 || 1;
    let src = -1;
    let dst = -1;
    let srcV6 = -1;
    let dstV6 = -1;
    resetContext(flow);
    let ok = true;
    for (let i = 0; i < fieldCount; i++) {
      let length = lengths[i];
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
      switch (kinds[i]) {
        case NUMBER:
          if (length <= 8) {
            slotValues[targets[i]] = unsigned(view, at, length);
            slotStamps[targets[i]] = stamp;
          }
          break;
        case NTP_TIME:
          if (length === 8) {
            // Seconds since 1900, then a binary fraction of a second.
            slotValues[targets[i]] = (view.getUint32(at) - NTP_TO_UNIX_S) * 1e6 + Math.floor((view.getUint32(at + 4) / 2 ** 32) * 1e6);
            slotStamps[targets[i]] = stamp;
          }
          break;
        case SRC_V4:
          if (length === 4) src = at;
          break;
        case DST_V4:
          if (length === 4) dst = at;
          break;
        case SRC_V6:
          if (length === 16) srcV6 = at;
          break;
        case DST_V6:
          if (length === 16) dstV6 = at;
          break;
        case ENDSIGHT_TEXT:
          readEndsightText(view, at, length, targets[i], out);
          break;
        case ENDSIGHT_NUMBER:
          readEndsightNumber(length <= 8 ? unsigned(view, at, length) : 0, targets[i], out);
          break;
      }
      at += length;
    }
    if (!ok) {
      issues.add(NetflowIssue.BAD_RECORD);
      break;
    }
    records++;
    if (template.options) {
      const rate = get(IE.samplingInterval) ?? get(IE.samplingPacketInterval) ?? get(IE.samplerRandomInterval);
      if (rate !== undefined && rate >= 1) context.samplingFound = rate;
      const init = get(IE.systemInitTimeMilliseconds);
      if (init !== undefined) context.initUs = init * 1000;
      continue;
    }
    if ((src < 0 && srcV6 < 0) || (dst < 0 && dstV6 < 0)) {
      issues.add(NetflowIssue.RECORD_WITHOUT_FLOW);
      continue;
    }
    flow.srcVersion = src >= 0 ? 4 : 6;
    flow.srcAt = src >= 0 ? src : srcV6;
    flow.dstVersion = dst >= 0 ? 4 : 6;
    flow.dstAt = dst >= 0 ? dst : dstV6;
    fillFlow(context);
    out.write(flow, view);
    flows++;
  }
  flowsRead = flows;
  return records;
}

/** endsight's text elements: an empty string means unknown. */
function readEndsightText(view: DataView, at: number, length: number, id: number, out: CollectedFlows): void {
  const code = length === 0 ? -1 : out.text(utf8.decode(new Uint8Array(view.buffer, view.byteOffset + at, length)) || null);
  if (id === ENDSIGHT_PROCESS) flow.process = code;
  else if (id === ENDSIGHT_USER) flow.username = code;
  else flow.container = code;
}

/** endsight's numeric elements: pid 0 and uid 2^32 − 1 mean unknown. */
function readEndsightNumber(value: number, id: number, out: CollectedFlows): void {
  if (id === ENDSIGHT_PID) flow.pid = value > 0 ? value : NaN;
  else if (id === ENDSIGHT_UID) flow.uid = value !== 0xffffffff ? value : NaN;
  else if (id === ENDSIGHT_DIRECTION) flow.direction = out.direction(value);
}

/** A flow's start or end from whichever time element the record has, µs. */
function timeOf(context: RecordContext, seconds: number, millis: number, micros: number, nanos: number, uptime: number): number {
  const s = get(seconds);
  if (s !== undefined) return s * 1e6;
  const ms = get(millis);
  if (ms !== undefined) return ms * 1000;
  const us = get(micros) ?? get(nanos);
  if (us !== undefined) return us;
  const up = get(uptime);
  if (up !== undefined) return context.initUs !== null ? context.initUs + up * 1000 : uptimeTime(context.exportUs, context.uptimeMs, up);
  return context.exportUs;
}

/** The record's numbers into `flow`, as the flows table has them. */
function fillFlow(context: RecordContext): void {
  const protocol = get(IE.protocolIdentifier) ?? 0;
  const icmp = protocol === 1 || protocol === 58;
  const endUs = timeOf(context, IE.flowEndSeconds, IE.flowEndMilliseconds, IE.flowEndMicroseconds, IE.flowEndNanoseconds, IE.flowEndSysUpTime);
  const startUs = timeOf(context, IE.flowStartSeconds, IE.flowStartMilliseconds, IE.flowStartMicroseconds, IE.flowStartNanoseconds, IE.flowStartSysUpTime);
  flow.startUs = Math.min(startUs, endUs);
  flow.endUs = endUs;
  flow.protocol = protocol;
  flow.srcPort = icmp ? 0 : (get(IE.sourceTransportPort) ?? 0);
  // NetFlow's convention, as the flows table's: ICMP type*256+code in the destination port.
  flow.dstPort = icmp ? (get(IE.icmpTypeCodeIPv4) ?? get(IE.icmpTypeCodeIPv6) ?? get(IE.destinationTransportPort) ?? 0) : (get(IE.destinationTransportPort) ?? 0);
  flow.packets = get(IE.packetDeltaCount) ?? get(IE.packetTotalCount) ?? 0;
  flow.bytes = get(IE.octetDeltaCount) ?? get(IE.octetTotalCount) ?? 0;
  flow.tcpFlags = protocol === 6 ? (get(IE.tcpControlBits) ?? 0) % 256 : 0;
  flow.endReason = get(IE.flowEndReason) ?? -1;
  flow.inputInterface = get(IE.ingressInterface) ?? -1;
  flow.sampling = context.sampling;
}

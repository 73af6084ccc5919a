/**
 * The collector's output: flows decoded from NetFlow/IPFIX written straight into the columns of a
 * FlowRecordBatch, with no object per flow. An address is formatted once per batch however many
 * records carry it (AddressDictionary), and the few other texts a record needs (the exporter, the
 * source, `ifindex:N`, the end reason) are coded once per batch. A collector handles hundreds of
 * thousands of records a second, so this is its hot path (issue 6's benchmark).
 */
import { AddressDictionary } from '../flow/address-dictionary.js';
import { FlowRecordBatch } from '../flow/index.js';
import type { EndReason } from '../flow/flow-record.js';
import { IPV6_BYTES, type Ipv6Bytes } from '../store/fast-segment.js';
import { DIRECTION_CODES } from './netflow-encoder.js';

const VERSION_NAMES: Record<number, string> = { 5: 'netflow-v5', 9: 'netflow-v9', 10: 'ipfix' };
/** IPFIX flowEndReason (IANA IE 136) in the flows table's words; anything else is the exporter's. */
const END_REASONS: Record<number, EndReason> = { 1: 'idle', 2: 'active', 3: 'fin', 4: 'end', 5: 'evicted' };
/** endsightDirection's values (netflow-encoder.ts) by number. */
const DIRECTION_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DIRECTION_CODES).map(([name, code]) => [code, name]));

/** One flow as the decoder fills it in, reused from record to record; codes come from CollectedFlows. */
export class DecodedFlow {
  startUs = 0;
  endUs = 0;
  /** Where the addresses are in the message, and their IP version. */
  srcAt = 0;
  srcVersion: 4 | 6 = 4;
  dstAt = 0;
  dstVersion: 4 | 6 = 4;
  srcPort = 0;
  dstPort = 0;
  protocol = 0;
  /** As the exporter counted them: CollectedFlows scales them by `sampling`. */
  packets = 0;
  bytes = 0;
  tcpFlags = 0;
  /** IPFIX flowEndReason, or -1. */
  endReason = -1;
  /** The ingress ifIndex, or -1. */
  inputInterface = -1;
  /** 1-in-N. */
  sampling = 1;
  /** Host context from endsight's enterprise elements (codes; -1 and NaN for unknown). */
  direction = -1;
  process = -1;
  username = -1;
  container = -1;
  pid = NaN;
  uid = NaN;
}

/**
 * A batch whose IPv6 addresses may be kept as their 16 bytes (code IPV6_BYTES) rather than text:
 * the fast segment writer formats them straight into its pages (fast-segment.ts), so that no
 * string per address lives from its datagram to the flush. materialize() turns them into text for
 * any other reader.
 */
class CollectedBatch extends FlowRecordBatch implements Ipv6Bytes {
  ipv6Bytes: { srcAddr: Uint8Array; dstAddr: Uint8Array } | undefined;
  constructor(rows: number, ipv6AsBytes: boolean) {
    super(rows);
    this.ipv6Bytes = ipv6AsBytes ? { srcAddr: new Uint8Array(rows * 16), dstAddr: new Uint8Array(rows * 16) } : undefined;
  }
}

/** `batch`'s IPv6 addresses kept as bytes turned into the codes of their text, as any reader of a FlowRecordBatch expects. */
function materialize(batch: CollectedBatch): void {
  const bytes = batch.ipv6Bytes;
  if (!bytes) return;
  const addresses = new AddressDictionary(batch.strings);
  const words = new Uint32Array(4);
  for (const column of ['srcAddr', 'dstAddr'] as const) {
    const codes = batch.codes[column];
    const v6 = bytes[column];
    for (let i = 0; i < batch.length; i++) {
      if (codes[i] !== IPV6_BYTES) continue;
      for (let w = 0; w < 4; w++) words[w] = ((v6[i * 16 + w * 4] << 24) | (v6[i * 16 + w * 4 + 1] << 16) | (v6[i * 16 + w * 4 + 2] << 8) | v6[i * 16 + w * 4 + 3]) >>> 0;
      codes[i] = addresses.code(words, 0, 6);
    }
  }
  batch.ipv6Bytes = undefined;
}

export class CollectedFlows {
  private batch: CollectedBatch;
  private addresses!: AddressDictionary;
  private readonly words = new Uint32Array(4);
  private exporterCodes = new Map<string, Int32Array>();
  private interfaceCodes = new Map<number, number>();
  private endReasonCodes = new Int32Array(256);
  private directionCodes = new Int32Array(256);
  private unknownDirection = -1;
  private host = -1;
  private source = -1;

  /** Batches already filled, oldest first. */
  private full: CollectedBatch[] = [];
  private fullRows = 0;

  /**
   * Flows go into batches of `chunkRows` made at that size, a new one started when a message begins
   * with the current one nearly full: a batch never grows (growing copies every column, and a
   * million rows' columns cost the collector about 0.1 s of copying and the garbage collector more),
   * and the store writes the chunks of a flush as one segment without merging them.
   */
  /**
   * `ipv6AsBytes`: IPv6 addresses stay bytes in the batches taken by takeChunks (only for a store
   * that writes fast segments, which read them); take() always gives text.
   */
  constructor(private readonly chunkRows = 65_536, private readonly ipv6AsBytes = false) {
    this.batch = this.fresh();
  }

  get length(): number {
    return this.fullRows + this.batch.length;
  }

  /** The flows written so far, as their batches; writing goes on into a new one. */
  takeChunks(): FlowRecordBatch[] {
    const chunks = this.batch.length > 0 ? [...this.full, this.batch] : this.full;
    this.full = [];
    this.fullRows = 0;
    this.batch = this.fresh();
    return chunks;
  }

  /** The flows written so far, in one batch with every address as text (tests and small consumers); writing goes on into a new one. */
  take(): FlowRecordBatch {
    const chunks = this.takeChunks() as CollectedBatch[];
    for (const chunk of chunks) materialize(chunk);
    const [first, ...rest] = chunks;
    if (!first) return new FlowRecordBatch();
    for (const chunk of rest) first.appendBatch(chunk);
    return first;
  }

  /** The exporter and version of the message whose flows follow: the `host` and `source` of each. */
  startMessage(address: string, version: number): void {
    // A message holds at most 65,535 bytes, so fewer than 8,192 records of the 8 bytes of two IPv4
    // addresses: a new batch now, and the message's records (and the codes the decoder takes for
    // their texts) all go into one batch, which never has to grow.
    if (this.batch.length > this.chunkRows - 8192) {
      this.full.push(this.batch);
      this.fullRows += this.batch.length;
      this.batch = this.fresh();
    }
    let codes = this.exporterCodes.get(address);
    if (!codes) {
      codes = new Int32Array([this.batch.strings.code(address), -2, -2, -2]);
      this.exporterCodes.set(address, codes);
    }
    const slot = version === 5 ? 1 : version === 9 ? 2 : 3;
    if (codes[slot] === -2) codes[slot] = this.batch.strings.code(`${VERSION_NAMES[version]}:${address}`);
    this.host = codes[0];
    this.source = codes[slot];
  }

  /** Row `row`'s address at `at` in `view` (4 bytes of IPv4 or 16 of IPv6, network order) into `codes` and `ipv4s`. */
  private address(codes: Int32Array, ipv4s: Float64Array, row: number, view: DataView, at: number, ipVersion: 4 | 6): void {
    const w = this.words;
    w[0] = view.getUint32(at);
    if (ipVersion === 6) {
      w[1] = view.getUint32(at + 4);
      w[2] = view.getUint32(at + 8);
      w[3] = view.getUint32(at + 12);
    }
    this.addresses.put(codes, ipv4s, row, w, 0, ipVersion);
  }

  /** The code of a text (null: -1). */
  text(value: string | null): number {
    return this.batch.strings.code(value);
  }

  /** Row `row`'s IPv6 address at `at` in `view` kept as bytes; false when the batch has no room for them (then text, as ever). */
  private ipv6Bytes(codes: Int32Array, ipv4s: Float64Array, bytes: Uint8Array, row: number, view: DataView, at: number): boolean {
    const to = row * 16;
    if (to + 16 > bytes.length) return false;
    if (view !== this.lastView) {
      this.lastView = view;
      this.lastBytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    }
    const from = this.lastBytes;
    for (let k = 0; k < 16; k++) bytes[to + k] = from[at + k];
    codes[row] = IPV6_BYTES;
    ipv4s[row] = NaN;
    return true;
  }

  private lastView: DataView | null = null;
  private lastBytes: Uint8Array = new Uint8Array(0);

  /** Appends `flow`, whose addresses are in `view`, as one row, its counts scaled by its sampling. */
  write(flow: DecodedFlow, view: DataView): void {
    const b = this.batch;
    const i = b.addRow();
    const n = b.numbers;
    const c = b.codes;
    const scale = flow.sampling > 1 ? flow.sampling : 1;
    n.startUs[i] = flow.startUs;
    n.endUs[i] = flow.endUs;
    n.srcPort[i] = flow.srcPort;
    n.dstPort[i] = flow.dstPort;
    n.protocol[i] = flow.protocol;
    n.packets[i] = flow.packets * scale;
    n.bytes[i] = flow.bytes * scale;
    n.tcpFlags[i] = flow.tcpFlags;
    n.pid[i] = flow.pid;
    n.uid[i] = flow.uid;
    n.sampling[i] = scale;
    c.host[i] = this.host;
    c.source[i] = this.source;
    const v6 = b.ipv6Bytes;
    if (!(flow.srcVersion === 6 && v6 !== undefined && this.ipv6Bytes(c.srcAddr, n.srcIpv4, v6.srcAddr, i, view, flow.srcAt))) this.address(c.srcAddr, n.srcIpv4, i, view, flow.srcAt, flow.srcVersion);
    if (!(flow.dstVersion === 6 && v6 !== undefined && this.ipv6Bytes(c.dstAddr, n.dstIpv4, v6.dstAddr, i, view, flow.dstAt))) this.address(c.dstAddr, n.dstIpv4, i, view, flow.dstAt, flow.dstVersion);
    c.direction[i] = flow.direction >= 0 ? flow.direction : this.unknownDirection;
    c.process[i] = flow.process;
    c.username[i] = flow.username;
    c.container[i] = flow.container;
    c.command[i] = -1;
    c.tunnel[i] = -1;
    c.endReason[i] = this.endReasonCode(flow.endReason);
    c.interfaceName[i] = flow.inputInterface >= 0 ? this.interfaceCode(flow.inputInterface) : -1;
  }

  /** The code of an endsightDirection value (-1: not one), looked up once per batch. */
  direction(value: number): number {
    if (!(value >= 0 && value < 256)) return -1;
    let code = this.directionCodes[value];
    if (code === -2) {
      const name = DIRECTION_NAMES[value];
      code = this.directionCodes[value] = name === undefined ? -1 : this.batch.strings.code(name);
    }
    return code;
  }

  private endReasonCode(reason: number): number {
    const slot = reason >= 0 && reason < 255 ? reason : 255;
    let code = this.endReasonCodes[slot];
    if (code === -2) code = this.endReasonCodes[slot] = this.batch.strings.code(END_REASONS[slot] ?? 'exporter');
    return code;
  }

  private interfaceCode(ifIndex: number): number {
    let code = this.interfaceCodes.get(ifIndex);
    if (code === undefined) {
      code = this.batch.strings.code(`ifindex:${ifIndex}`);
      this.interfaceCodes.set(ifIndex, code);
    }
    return code;
  }

  /** A new batch, and the codes into its dictionary forgotten. */
  private fresh(): CollectedBatch {
    const batch = new CollectedBatch(this.chunkRows, this.ipv6AsBytes);
    this.batch = batch;
    this.addresses = new AddressDictionary(batch.strings);
    this.exporterCodes = new Map();
    this.interfaceCodes = new Map();
    this.endReasonCodes = new Int32Array(256).fill(-2);
    this.directionCodes = new Int32Array(256).fill(-2);
    this.unknownDirection = batch.strings.code('unknown');
    return batch;
  }
}

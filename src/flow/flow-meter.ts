/**
 * The flow meter: packets in, finished flow records out.
 *
 * decode → fragment matching → flow table → expiry → FlowRecordBatch. Time is taken from packet
 * timestamps only, so replaying a capture always gives the same records. Malformed packets are
 * counted by reason in the IssueCounter and skipped; nothing here throws on input bytes.
 */
import type { PacketBatch, CaptureInterface } from '../capture/index.js';
import type { IssueCounter } from '../common/issue-counter.js';
import { LinkType, MAX_CAPLEN } from '../capture/index.js';
import { DecodedPacket, decodePacket } from '../decode/index.js';
import { FlowKey, FlowTable, MAX_SAMPLING_WEIGHT, type TableEndReason } from './flow-table.js';
import { FragmentTable, type FragmentedDatagram } from './fragment-table.js';
import { Direction } from './flow-record.js';
import { FlowRecordBatch } from './flow-record-batch.js';
import { AddressDictionary } from './address-dictionary.js';

export interface FlowMeterOptions {
  /** Default 90 s (the paper's flow definition). */
  idleTimeoutUs: number;
  /** Default 1800 s. */
  activeTimeoutUs: number;
  /** Hard cap on tracked flows (oldest-first early export beyond it). */
  maxFlows: number;
  /** How long a TCP flow that saw FIN or RST stays open for its last packets. Default 5 s. */
  finTimeoutUs?: number;
  /** Reporting host written into every record. */
  host: string;
  /** Where the packets come from, e.g. `pcap:trace.pcap`. */
  source: string;
  /** How long a fragmented datagram is remembered (packet time). Default 30 s. */
  fragmentTimeoutUs?: number;
  /** Bound on fragmented datagrams tracked at once. Default 65,536. */
  maxFragmentedDatagrams?: number;
  /**
   * Live capture on Linux's `any` device: flows are keyed by the interface index of the cooked v2
   * header, named and filtered through this. Without it, flows are keyed by capture interface.
   */
  linkInterfaces?: LinkInterfaces;
  /** Direction of a finished flow from its key; without it every record says `unknown`. */
  direction?: DirectionOf;
  /** The process behind a finished flow, or null when unknown; without it attribution columns are NULL. */
  ownerOf?: OwnerOf;
}

/** The process a flow is attributed to (issue 3: process, pid, command line, user, container). */
export interface FlowOwner {
  pid: number;
  uid: number;
  process: string;
  command: string | null;
  username: string | null;
  container: string | null;
  /** The tunnel interface the process serves (a VPN daemon's tun0), or null. */
  tunnel: string | null;
}

/** Records of the agent's capture program (native/endsight-capture.c documents the layout). */
const CAPTURE_FLOW_RECORD = 1;
const CAPTURE_PACKET_RECORD = 2;
const CAPTURE_FLOW_RECORD_BYTES = 80;
const CAPTURE_PACKET_HEADER_BYTES = 24;

/** Encapsulating IP protocols: their flows carry tunnels whatever process (or the kernel) sends them. */
const ENCAPSULATIONS: ReadonlyMap<number, string> = new Map([
  [4, 'ipip'], // RFC 2003
  [41, 'ipv6-in-ipv4'], // RFC 4213
  [47, 'gre'], // RFC 2784
  [50, 'esp'], // RFC 4303
  [115, 'l2tp'], // RFC 3931
]);

/** Finds the owner of a flow key (as DirectionOf) over the flow's time span. */
export type OwnerOf = (key: Uint32Array, ipVersion: number, startUs: number, endUs: number) => FlowOwner | null;

/** The host's interfaces, as the meter needs them for an `any` capture. */
export interface LinkInterfaces {
  /** Changes whenever names or the monitored set change, so cached answers are dropped. */
  readonly version: number;
  name(ifindex: number): string | null;
  monitored(ifindex: number): boolean;
}

/** Classifies a flow key (4 source words, 4 destination words, IPv4 in word 0) relative to this host. */
export type DirectionOf = (key: Uint32Array, ipVersion: number) => Direction;

/** Counters of the meter's work, for summaries and the stored import record. */
export interface FlowMeterStats {
  packetsSeen: number;
  packetsMetered: number;
  /** Packets that could not be metered (counted by reason in the issues). */
  packetsSkipped: number;
  /** Packets passed over by 1-in-N sampling (each metered packet stands for N). */
  packetsSampledOut: number;
  flowsEnded: number;
  flowsActive: number;
  flowsEvicted: number;
  fragmentDatagramsWithoutFirst: number;
  fragmentTableEvictions: number;
  /** Latest packet time seen, µs; 0 before the first packet. */
  nowUs: number;
  /** Earliest packet time seen, µs; 0 before the first packet. */
  firstPacketUs: number;
}

export class FlowMeter {
  private readonly table: FlowTable;
  private readonly fragments: FragmentTable;
  private readonly packet = new DecodedPacket();
  private readonly key = new FlowKey();
  private finished = new FlowRecordBatch();
  private addresses = new AddressDictionary(this.finished.strings);
  /** Codes of the strings every record of the current batch repeats; -2 = not looked up yet. */
  private constantCodes = { host: -2, source: -2, direction: -2 };
  private readonly reasonCodes = new Map<string, number>();
  private interfaceCodes: number[] = [];
  private interfaces: readonly CaptureInterface[] = [];
  /** Per interface index: 0 not looked up, 1 monitored, 2 not monitored. */
  private monitoredCache = new Uint8Array(64);
  private linkInterfacesVersion = -1;
  private readonly directionCodes = new Map<Direction, number>();
  /** Packets the agent's capture program passed over under 1-in-N sampling. */
  private packetsSampledOut = 0;
  private packetsSeen = 0;
  private packetsMetered = 0;
  private flowsEnded = 0;
  private nowUs = 0;
  private firstPacketUs = Infinity;
  private source: string;

  constructor(
    private readonly options: FlowMeterOptions,
    private readonly issues: IssueCounter,
  ) {
    this.source = options.source;
    this.table = new FlowTable(
      {
        idleTimeoutUs: options.idleTimeoutUs,
        activeTimeoutUs: options.activeTimeoutUs,
        maxFlows: options.maxFlows,
        finTimeoutUs: options.finTimeoutUs,
      },
      (table, slot, reason) => this.emit(table, slot, reason),
    );
    this.fragments = new FragmentTable(
      options.maxFragmentedDatagrams ?? 65_536,
      options.fragmentTimeoutUs ?? 30_000_000,
      (datagram) => this.releaseOrphanFragments(datagram),
    );
  }

  /** Meters every packet of a batch. `interfaces` names the capture interfaces (for the record). */
  processBatch(batch: PacketBatch, interfaces: readonly CaptureInterface[]): void {
    if (interfaces !== this.interfaces) {
      this.interfaces = interfaces;
      this.interfaceCodes = [];
    }
    this.refreshInterfaceCache();
    const data = batch.data;
    let metered = 0;
    for (let i = 0; i < batch.count; i++) {
      if (this.meterPacket(data, batch.offset[i], batch.caplen[i], batch.wirelen[i], batch.linkType[i], batch.timestampUs[i], batch.interfaceId[i], 1)) metered++;
    }
    this.packetsSeen += batch.count;
    this.packetsMetered += metered;
  }

  /**
   * Meters a batch of the agent's capture program (src/agent/capture/): flow entries, each the
   * packets of one 5-tuple that the program added up, and whole packets (Linux cooked v2) that it
   * left to the decoder. The program sampled already (1-in-N, RFC 5475 §6.1): every packet here
   * stands for `sampling` = N; the records carry N in `sampling` and packets and bytes scaled by it.
   * A record that does not fit the batch ends it, counted as `capture_record_malformed`.
   */
  processCaptureBatch(body: Uint8Array, sampling: number, packetsSeen: number, packetsSampledOut: number): void {
    this.refreshInterfaceCache();
    const weight = Math.max(1, Math.min(MAX_SAMPLING_WEIGHT, Math.floor(sampling) || 1));
    const u32 = new Uint32Array(body.buffer, body.byteOffset, body.length >>> 2);
    const f64 = new Float64Array(body.buffer, body.byteOffset, body.length >>> 3);
    const words = this.key.words;
    const linkInterfaces = this.options.linkInterfaces;
    let metered = 0;
    let at = 0; // byte offset, always a multiple of 8
    while (at < body.length) {
      const w = at >>> 2;
      const kind = u32[w];
      if (kind === CAPTURE_FLOW_RECORD && at + CAPTURE_FLOW_RECORD_BYTES <= body.length) {
        const firstUs = f64[(at >>> 3) + 7];
        // Before the key is filled in: releasing orphan fragments uses the same key object.
        if (firstUs > this.fragments.deadlineUs) this.fragments.expire(firstUs);
        for (let k = 0; k < 10; k++) words[k] = u32[w + 2 + k];
        const packets = u32[w + 1];
        const lastUs = f64[(at >>> 3) + 8];
        at += CAPTURE_FLOW_RECORD_BYTES;
        // Keyed by the cooked v2 interface index when the meter knows the host's interfaces, else by capture interface 0.
        if (!linkInterfaces) words[9] &= 0xfff;
        else if (!this.isMonitored(words[9] >>> 12, linkInterfaces)) {
          this.issues.add('interface_not_monitored', packets);
          continue;
        }
        if (lastUs > this.nowUs) this.nowUs = lastUs;
        if (firstUs < this.firstPacketUs) this.firstPacketUs = firstUs;
        this.table.accountMany(this.key, firstUs, lastUs, packets, f64[(at >>> 3) - 1], u32[w + 12], weight);
        metered += packets;
      } else if (kind === CAPTURE_PACKET_RECORD && at + CAPTURE_PACKET_HEADER_BYTES <= body.length) {
        const caplen = u32[w + 1];
        const next = at + CAPTURE_PACKET_HEADER_BYTES + ((caplen + 7) & ~7);
        if (caplen > MAX_CAPLEN || next > body.length) {
          this.issues.add('capture_record_malformed');
          break;
        }
        if (this.meterPacket(body, at + CAPTURE_PACKET_HEADER_BYTES, caplen, u32[w + 2], LinkType.LINUX_SLL2, f64[(at >>> 3) + 2], 0, weight)) metered++;
        at = next;
      } else {
        this.issues.add('capture_record_malformed');
        break;
      }
    }
    this.packetsSeen += packetsSeen;
    this.packetsSampledOut += packetsSampledOut;
    this.packetsMetered += metered;
  }

  /** Drops the cached interface answers when the host's interfaces or the monitored set changed. */
  private refreshInterfaceCache(): void {
    const linkInterfaces = this.options.linkInterfaces;
    if (linkInterfaces && linkInterfaces.version !== this.linkInterfacesVersion) {
      this.linkInterfacesVersion = linkInterfaces.version;
      this.monitoredCache.fill(0);
      this.interfaceCodes = [];
    }
  }

  /** Decodes and meters one packet; false when it was skipped (counted in the issues by reason). */
  private meterPacket(
    data: Uint8Array, offset: number, caplen: number, wirelen: number, linkType: number, timestampUs: number, captureInterface: number, weight: number,
  ): boolean {
    // Fragments expire on packet time, packet by packet, so that the records do not depend on batch sizes.
    if (timestampUs > this.fragments.deadlineUs) this.fragments.expire(timestampUs);
    const packet = this.packet;
    const issue = decodePacket(data, offset, caplen, wirelen, linkType, packet);
    if (issue !== null) {
      this.issues.add(issue);
      return false;
    }
    if (timestampUs > this.nowUs) this.nowUs = timestampUs;
    if (timestampUs < this.firstPacketUs) this.firstPacketUs = timestampUs;
    let interfaceId = captureInterface;
    const linkInterfaces = this.options.linkInterfaces;
    if (linkInterfaces && packet.linkInterfaceIndex >= 0) {
      interfaceId = packet.linkInterfaceIndex;
      if (!this.isMonitored(interfaceId, linkInterfaces)) {
        this.issues.add('interface_not_monitored');
        return false;
      }
    }
    if (packet.isFragment) {
      this.meterFragment(packet, interfaceId, timestampUs, weight);
      return true;
    }
    this.key.set(packet.srcAddr, packet.dstAddr, packet.srcPort, packet.dstPort, packet.protocol, packet.ipVersion, interfaceId);
    this.table.account(this.key, timestampUs, packet.ipBytes, packet.tcpFlags, weight);
    return true;
  }

  /**
   * Ends the flows that timed out by `nowUs` (wall-clock time of a live capture, less the capture's
   * delivery delay), so quiet flows are exported without waiting for another packet.
   */
  advance(nowUs: number): void {
    this.table.sweep(nowUs);
    this.fragments.expire(nowUs);
  }

  /** Sets the `source` of records ended from now on (the next file of a multi-file import). */
  setSource(source: string): void {
    this.source = source;
    this.constantCodes.source = -2;
  }

  /** Ends every open flow (end of input). */
  finish(): void {
    this.fragments.releaseAll();
    this.table.endAll('end');
  }

  /** Takes the records finished since the last call. */
  drain(): FlowRecordBatch {
    const out = this.finished;
    this.finished = new FlowRecordBatch();
    this.addresses = new AddressDictionary(this.finished.strings);
    this.forgetCodes();
    return out;
  }

  /** Number of finished records waiting to be drained. */
  get pendingRecords(): number {
    return this.finished.length;
  }

  stats(): FlowMeterStats {
    return {
      packetsSeen: this.packetsSeen,
      packetsMetered: this.packetsMetered,
      packetsSkipped: this.packetsSeen - this.packetsMetered - this.packetsSampledOut,
      packetsSampledOut: this.packetsSampledOut,
      flowsEnded: this.flowsEnded,
      flowsActive: this.table.size,
      flowsEvicted: this.table.evictions,
      fragmentDatagramsWithoutFirst: this.fragments.firstFragmentMissing,
      fragmentTableEvictions: this.fragments.evictions,
      nowUs: this.nowUs,
      firstPacketUs: this.firstPacketUs === Infinity ? 0 : this.firstPacketUs,
    };
  }

  /**
   * A first fragment carries the transport header and is metered like any packet; it also teaches
   * the fragment table the datagram's ports. Later fragments take those ports, or wait for them.
   */
  private meterFragment(packet: DecodedPacket, interfaceId: number, timestampUs: number, weight: number): void {
    const datagram = this.fragments.lookup(
      packet.ipVersion, packet.srcAddr, packet.dstAddr, packet.protocol, packet.fragmentId, interfaceId, timestampUs,
    );
    if (packet.fragmentOffset === 0) {
      datagram.srcPort = packet.srcPort;
      datagram.dstPort = packet.dstPort;
    } else if (datagram.srcPort < 0) {
      this.fragments.addPending(datagram, packet.ipBytes, timestampUs, weight);
      return;
    }
    this.key.set(packet.srcAddr, packet.dstAddr, datagram.srcPort, datagram.dstPort, packet.protocol, packet.ipVersion, interfaceId);
    const slot = this.table.account(this.key, timestampUs, packet.ipBytes, packet.fragmentOffset === 0 ? packet.tcpFlags : 0, weight);
    if (datagram.pendingPackets > 0) {
      this.table.addToFlow(slot, datagram.pendingPackets, datagram.pendingBytes, datagram.pendingFirstUs, datagram.pendingLastUs);
      datagram.pendingPackets = 0;
      datagram.pendingBytes = 0;
    }
  }

  private isMonitored(ifindex: number, linkInterfaces: LinkInterfaces): boolean {
    if (ifindex >= this.monitoredCache.length) {
      if (ifindex > 1 << 20) return linkInterfaces.monitored(ifindex);
      const grown = new Uint8Array(Math.max(ifindex + 1, this.monitoredCache.length * 2));
      grown.set(this.monitoredCache);
      this.monitoredCache = grown;
    }
    let state = this.monitoredCache[ifindex];
    if (state === 0) state = this.monitoredCache[ifindex] = linkInterfaces.monitored(ifindex) ? 1 : 2;
    return state === 1;
  }

  /** Fragments whose first fragment never came count in a port-0 flow, like a meter without reassembly. */
  private releaseOrphanFragments(datagram: FragmentedDatagram): void {
    this.issues.add('fragment_without_first');
    this.key.set(datagram.src, datagram.dst, 0, 0, datagram.protocol, datagram.ipVersion, datagram.interfaceId);
    const slot = this.table.account(this.key, datagram.pendingFirstUs, datagram.pendingBytes, 0);
    this.table.addToFlow(slot, datagram.pendingPackets - 1, 0, datagram.pendingFirstUs, datagram.pendingLastUs);
  }

  private emit(table: FlowTable, slot: number, reason: TableEndReason): void {
    const key = table.keyOf(slot);
    const ipVersion = (key[9] >>> 8) & 0xf;
    const interfaceId = key[9] >>> 12;
    this.flowsEnded++;
    const batch = this.finished;
    const strings = batch.strings;
    const i = batch.addRow();
    const n = batch.numbers;
    n.startUs[i] = table.firstUsOf(slot);
    n.endUs[i] = table.lastUsOf(slot);
    n.srcPort[i] = key[8] >>> 16;
    n.dstPort[i] = key[8] & 0xffff;
    n.protocol[i] = key[9] & 0xff;
    n.packets[i] = table.packetsOf(slot);
    n.bytes[i] = table.bytesOf(slot);
    n.tcpFlags[i] = table.tcpFlagsOf(slot);
    n.sampling[i] = table.samplingOf(slot);
    const c = batch.codes;
    const constant = this.constantCodes;
    if (constant.host === -2) {
      constant.host = strings.code(this.options.host);
      constant.direction = strings.code(Direction.unknown);
    }
    const directionOf = this.options.direction;
    let directionCode = constant.direction;
    if (directionOf) {
      const direction = directionOf(key, ipVersion);
      directionCode = this.directionCodes.get(direction) ?? -1;
      if (directionCode < 0) this.directionCodes.set(direction, (directionCode = strings.code(direction)));
    }
    if (constant.source === -2) constant.source = strings.code(this.source);
    c.host[i] = constant.host;
    this.addresses.put(c.srcAddr, n.srcIpv4, i, key, 0, ipVersion);
    this.addresses.put(c.dstAddr, n.dstIpv4, i, key, 4, ipVersion);
    c.direction[i] = directionCode;
    const owner = this.options.ownerOf?.(key, ipVersion, n.startUs[i], n.endUs[i]) ?? null;
    if (owner === null) {
      n.pid[i] = NaN;
      n.uid[i] = NaN;
      c.process[i] = -1;
      c.username[i] = -1;
      c.container[i] = -1;
      c.command[i] = -1;
      const encapsulation = ENCAPSULATIONS.get(n.protocol[i]);
      c.tunnel[i] = encapsulation === undefined ? -1 : strings.code(encapsulation);
    } else {
      n.pid[i] = owner.pid;
      n.uid[i] = owner.uid;
      c.process[i] = strings.code(owner.process);
      c.username[i] = strings.code(owner.username);
      c.container[i] = strings.code(owner.container);
      c.command[i] = strings.code(owner.command);
      c.tunnel[i] = strings.code(owner.tunnel ?? ENCAPSULATIONS.get(n.protocol[i]) ?? null);
    }
    let reasonCode = this.reasonCodes.get(reason);
    if (reasonCode === undefined) this.reasonCodes.set(reason, (reasonCode = strings.code(reason)));
    c.endReason[i] = reasonCode;
    let interfaceCode = this.interfaceCodes[interfaceId];
    if (interfaceCode === undefined) {
      const name = this.options.linkInterfaces ? this.options.linkInterfaces.name(interfaceId) : this.interfaces[interfaceId]?.name;
      interfaceCode = this.interfaceCodes[interfaceId] = strings.code(name ?? null);
    }
    c.interfaceName[i] = interfaceCode;
    c.source[i] = constant.source;
  }

  /** The current batch's dictionary is new: cached codes no longer apply. */
  private forgetCodes(): void {
    this.constantCodes = { host: -2, source: -2, direction: -2 };
    this.reasonCodes.clear();
    this.directionCodes.clear();
    this.interfaceCodes = [];
  }
}

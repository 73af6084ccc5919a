/**
 * An OSPF adjacency on a broadcast network (a LAN with a designated router), as a router that never
 * carries traffic, to obtain the area's complete database within seconds instead of snooping the
 * floods for 30 minutes (issue 5; docs/topo.md).
 *
 * The protocol is RFC 2328's, reduced to what such a router needs on one interface:
 * - Hellos (§9.5, §10.5) with router priority 0, so it is never the DR or BDR (§9.4); interval,
 *   dead interval, mask and options are taken from the first Hello heard.
 * - Neighbour state machine (§10.3) to 2-Way with every router, and adjacencies with the DR and
 *   BDR only (§10.4); database exchange as master or slave (§10.6, §10.8), requests (§10.9),
 *   updates and acknowledgments (§13, §13.5: direct acknowledgments to the sender).
 * - Its own router-LSA (§12.4.1) once it is Full with the DR: one transit link with the maximum
 *   metric 0xFFFF (RFC 6987 §2: a stub router), no stub networks. It installs no routes and floods
 *   nothing but that LSA: on a broadcast network a non-DR router does not flood back onto the
 *   interface an LSA came from (§13.3), and it has no other interface.
 * - Leaving: its LSA flushed (premature aging, §14.1) and a last Hello that lists nobody, so that
 *   the neighbours drop the adjacency at once (§10.5, 1-WayReceived).
 * Null authentication only. Time is passed in (ms), so the class holds no timers.
 */
import { IssueCounter } from '../../common/issue-counter.js';
import { lsaKey, MAX_AGE_S, MAX_SEQUENCE_NUMBER, RouterLinkType, type Lsa, type LsaHeader } from './lsa.js';
import { routerLsa } from './lsa-encode.js';
import { AS_SCOPE, compareInstances, LinkStateDatabase, type InstallOutcome } from './lsdb.js';
import { decodeOspfPacket, type OspfBody, type OspfHeader } from './ospf-packet.js';
import {
  databaseDescriptionPacket, helloPacket, linkStateAckPacket, linkStateRequestPacket, linkStateUpdatePacket, withAge, type PacketOrigin,
} from './ospf-packet-encode.js';
import { ipv4Number } from './spf.js';

const ALL_SPF_ROUTERS = '224.0.0.5';
const ALL_D_ROUTERS = '224.0.0.6';
/** RFC 6987 §2. */
export const MAX_LINK_METRIC = 0xffff;
/** RFC 2328 appendix C.3: RxmtInterval, the default. */
const RXMT_INTERVAL_MS = 5000;
/** RFC 2328 appendix B: LSRefreshTime. */
const LS_REFRESH_MS = 1_800_000;
/** RFC 2328 §12.1.6: the first sequence number (0x80000001, signed). */
const INITIAL_SEQUENCE = -0x7fffffff;
/** The options kept from the routers' Hellos (A.2): E (external routing) and N/P (NSSA), which must agree. */
const AREA_OPTIONS = 0x02 | 0x08;
const IP_HEADER_BYTES = 20;
const OSPF_AND_DD_HEADER_BYTES = 24 + 8;
const KNOWN_LSA_TYPES = new Set<number>([1, 2, 3, 4, 5, 7]);

export type NeighborState = 'init' | '2-way' | 'exstart' | 'exchange' | 'loading' | 'full';

interface Neighbor {
  routerId: string;
  address: string;
  state: NeighborState;
  lastHelloMs: number;
  weAreMaster: boolean;
  ddSequence: number;
  /** Headers of our database still to describe (§10.8: the Database summary list). */
  summary: Uint8Array[];
  /** The last Database Description sent, for retransmission (master) or repetition (slave). */
  lastDd: Uint8Array | null;
  lastDdMs: number;
  lastDdHadMore: boolean;
  /** §10.9: the Link state request list, and what the last request asked. */
  requests: Map<string, LsaHeader>;
  outstanding: Set<string>;
  requestSentMs: number;
  /** Our router-LSA sent and not yet acknowledged by this neighbour. */
  ownUnacked: boolean;
  ownSentMs: number;
}

export interface AdjacencyOptions {
  /** The router ID to use; null: the interface address on the routers' network. */
  routerId: string | null;
  /** The interface's IPv4 addresses and masks. */
  addresses: readonly { address: string; netmask: string }[];
  /** The interface MTU (sent in Database Descriptions, §10.6; the routers check it). */
  mtu: number;
  send: (destination: string, packet: Uint8Array) => void;
  /** State changes, one line each. */
  log?: (line: string) => void;
}

interface LinkParameters {
  routerId: string;
  address: string;
  areaId: string;
  networkMask: string;
  helloInterval: number;
  deadInterval: number;
  options: number;
}

export class OspfAdjacency {
  readonly lsdb = new LinkStateDatabase();
  readonly packets: Record<string, number> = {};
  readonly lsas: Record<InstallOutcome, number> = { installed: 0, flushed: 0, same: 0, older: 0 };
  readonly issues = new IssueCounter();
  /** Set when the adjacency cannot be formed at all: the routers' first Hello asks for authentication. */
  problem: string | null = null;
  /** Why the last Hello was not taken, if one was not: said when no adjacency forms. */
  hint: string | null = null;
  private link: LinkParameters | null = null;
  private readonly neighbors = new Map<string, Neighbor>();
  /** The DR and BDR as the routers declare them (interface addresses; 0.0.0.0: none). */
  private dr = '0.0.0.0';
  private bdr = '0.0.0.0';
  private ownLsa: Lsa | null = null;
  private ownOriginatedMs = 0;
  /** The highest sequence number seen of an LSA of ours (from an earlier run, say). */
  private ownSequenceSeen = INITIAL_SEQUENCE - 1;
  private lastHelloSentMs = -Infinity;
  private nextDdSequence: number;

  constructor(private readonly options: AdjacencyOptions) {
    // §10.8: a value unique to this attempt, "like the time of day clock".
    this.nextDdSequence = (Date.now() / 1000) >>> 0;
  }

  /** The router ID in use once the first Hello was heard. */
  get routerId(): string | null {
    return this.link?.routerId ?? null;
  }

  /** Each neighbour's router ID, address and state. */
  neighborStates(): { routerId: string; address: string; state: NeighborState; role: 'DR' | 'BDR' | null }[] {
    return [...this.neighbors.values()].map((n) => ({ routerId: n.routerId, address: n.address, state: n.state, role: n.address === this.dr ? 'DR' : n.address === this.bdr ? 'BDR' : null }));
  }

  /**
   * True once the database is the area's: Full with the DR (whose database is the area's, §13), and
   * the DR has acknowledged our router-LSA (so what the routers hold and what we hold agree).
   */
  complete(): boolean {
    const dr = this.neighborAt(this.dr);
    const ownLink = this.ownLsa?.body.kind === 'router' ? this.ownLsa.body.links[0]?.linkId : undefined;
    return dr !== undefined && dr.state === 'full' && ownLink === this.dr && !dr.ownUnacked;
  }

  /** One IPv4 packet of protocol 89 received on the interface. */
  receive(source: string, payload: Uint8Array, now: number): void {
    const packet = decodeOspfPacket(payload);
    if (typeof packet === 'string') {
      this.issues.add(packet);
      return;
    }
    const { header, body } = packet;
    if (this.link !== null && (header.routerId === this.link.routerId || source === this.link.address)) return;
    this.packets[body.kind] = (this.packets[body.kind] ?? 0) + 1;
    if (header.authType !== 0) {
      this.issues.add('ospf_authentication_not_supported');
      if (this.link === null && body.kind === 'hello') {
        this.problem ??= `the routers use OSPF authentication (type ${header.authType}); an adjacency needs null authentication, snooping (without --adjacency) works with any`;
      }
      return;
    }
    if (this.link === null) {
      if (body.kind !== 'hello') return;
      if (body.helloInterval === 0 || body.deadInterval === 0) {
        this.issues.add('ospf_hello_without_intervals');
        return;
      }
      this.learnLink(source, header, body);
      if (this.link === null) return;
    }
    if (header.areaId !== this.link.areaId) {
      this.issues.add('ospf_other_area');
      return;
    }
    switch (body.kind) {
      case 'hello':
        return this.onHello(source, header, body, now);
      case 'database-description':
        return this.onDatabaseDescription(header, body, now);
      case 'link-state-request':
        return this.onRequest(header, body, now);
      case 'link-state-update':
        return this.onUpdate(source, header, body, now);
      case 'link-state-ack':
        return this.onAck(header, body);
    }
  }

  /** Hellos, retransmissions, dead neighbours and the LSA refresh; call every few hundred ms. */
  tick(now: number): void {
    const link = this.link;
    if (link === null) return;
    if (now - this.lastHelloSentMs >= link.helloInterval * 1000) this.sendHello(now, false);
    for (const n of [...this.neighbors.values()]) {
      if (now - n.lastHelloMs > link.deadInterval * 1000) {
        this.neighbors.delete(n.routerId);
        this.say(`neighbour ${n.routerId} is dead (no Hello for ${link.deadInterval} s)`);
        continue;
      }
      const retransmit = now - n.lastDdMs >= RXMT_INTERVAL_MS;
      if (n.lastDd !== null && retransmit && (n.state === 'exstart' || (n.state === 'exchange' && n.weAreMaster))) this.sendDd(n, n.lastDd, now);
      this.sendRequests(n, now);
      if (this.ownLsa !== null && n.ownUnacked && now - n.ownSentMs >= RXMT_INTERVAL_MS) {
        this.options.send(n.address, linkStateUpdatePacket(this.origin(), [withAge(this.ownLsa.bytes, 1)]));
        n.ownSentMs = now;
      }
    }
    if (this.ownLsa !== null && now - this.ownOriginatedMs >= LS_REFRESH_MS) this.originate(now);
  }

  /** Flushes our router-LSA (MaxAge) and says goodbye with a Hello that lists nobody. */
  leave(now: number): void {
    if (this.link === null) return;
    if (this.ownLsa !== null) {
      const flushed = withAge(this.ownLsa.bytes, MAX_AGE_S);
      this.options.send(ALL_D_ROUTERS, linkStateUpdatePacket(this.origin(), [flushed]));
      this.lsdb.remove(this.link.areaId, this.ownLsa.header);
      this.ownLsa = null;
    }
    this.sendHello(now, true);
  }

  private learnLink(source: string, header: OspfHeader, hello: Extract<OspfBody, { kind: 'hello' }>): void {
    const mask = ipv4Number(hello.networkMask);
    const own = this.options.addresses.find((a) => ((ipv4Number(a.address) ^ ipv4Number(source)) & mask) >>> 0 === 0);
    if (own === undefined) {
      this.issues.add('ospf_hello_from_another_network');
      this.hint = `no address of this interface is on the network of the Hellos heard (${source} with mask ${hello.networkMask}); give it one there`;
      return;
    }
    this.link = {
      routerId: this.options.routerId ?? own.address,
      address: own.address,
      areaId: header.areaId,
      networkMask: hello.networkMask,
      helloInterval: hello.helloInterval,
      deadInterval: hello.deadInterval,
      options: hello.options & AREA_OPTIONS,
    };
    this.say(`joining area ${header.areaId} as ${this.link.routerId} (address ${own.address}, Hello every ${hello.helloInterval} s)`);
  }

  private onHello(source: string, header: OspfHeader, hello: Extract<OspfBody, { kind: 'hello' }>, now: number): void {
    const link = this.link!;
    // §10.5: these must agree on a broadcast network, or the Hello is dropped.
    if (hello.networkMask !== link.networkMask || hello.helloInterval !== link.helloInterval || hello.deadInterval !== link.deadInterval || (hello.options & AREA_OPTIONS) !== link.options) {
      this.issues.add('ospf_hello_mismatch');
      this.hint = `the Hello of ${header.routerId} disagrees with the first one heard (mask, intervals or options)`;
      return;
    }
    let n = this.neighbors.get(header.routerId);
    if (n === undefined) {
      // Our Hello lists every neighbour: no more than one packet holds (a flood of forged router IDs
      // must not push the real ones out of it, nor the packet past the MTU).
      if (this.neighbors.size >= this.maxNeighbors()) {
        this.issues.add('ospf_too_many_neighbors');
        return;
      }
      n = newNeighbor(header.routerId, source, now);
      this.neighbors.set(n.routerId, n);
      this.say(`neighbour ${n.routerId} (${source}): init`);
      this.lastHelloSentMs = -Infinity; // a Hello that lists it at the next tick: the 2-way check need not wait an interval
    }
    n.address = source;
    n.lastHelloMs = now;
    if (hello.neighbors.includes(link.routerId)) {
      if (n.state === 'init') this.twoWay(n, now);
    } else if (n.state !== 'init') {
      this.reset(n, 'init', 'no longer lists us');
    }
    // The DR and BDR as they say themselves (or as the first Hello says): a router that has just come
    // up declares no DR for a while (§9.4, the Waiting state), which must not undo the adjacencies.
    const saysItself = this.dr === '0.0.0.0' || source === this.dr || source === hello.designatedRouter || source === hello.backupDesignatedRouter;
    if (saysItself && (hello.designatedRouter !== this.dr || hello.backupDesignatedRouter !== this.bdr)) {
      const drChanged = hello.designatedRouter !== this.dr;
      this.dr = hello.designatedRouter;
      this.bdr = hello.backupDesignatedRouter;
      // §12.4: our router-LSA's transit link names the DR; a new DR we are Full with already gets a new one now.
      if (drChanged && this.ownLsa !== null && this.neighborAt(this.dr)?.state === 'full') this.originate(now);
      // §10.3 AdjOK?: adjacencies follow the DR and BDR.
      for (const other of this.neighbors.values()) {
        if (other.state === '2-way' && this.adjacencyWanted(other)) this.startExchange(other, now);
        else if (other.state !== 'init' && other.state !== '2-way' && !this.adjacencyWanted(other)) this.reset(other, '2-way', 'is no longer DR or BDR');
      }
    }
  }

  private onDatabaseDescription(header: OspfHeader, dd: Extract<OspfBody, { kind: 'database-description' }>, now: number): void {
    const n = this.neighbors.get(header.routerId);
    if (n === undefined) return;
    // §10.6: from a neighbour in Init, as if it had just listed us.
    if (n.state === 'init') this.twoWay(n, now);
    if (n.state === 'init' || n.state === '2-way') return;
    if (dd.mtu > this.options.mtu) {
      this.issues.add('ospf_mtu_mismatch');
      return;
    }
    const theyAreHigher = ipv4Number(n.routerId) > ipv4Number(this.link!.routerId);
    if (n.state === 'exstart') {
      if (dd.init && dd.more && dd.master && dd.headers.length === 0 && theyAreHigher) {
        n.weAreMaster = false;
        n.ddSequence = dd.sequence;
        this.enterExchange(n, now);
        this.slaveRespond(n, dd.more, now);
      } else if (!dd.init && !dd.master && dd.sequence === n.ddSequence && !theyAreHigher) {
        n.weAreMaster = true;
        this.enterExchange(n, now);
        this.masterAccept(n, dd, now);
      }
      return;
    }
    // Exchange, Loading, Full.
    if (!n.weAreMaster && dd.sequence === n.ddSequence) {
      // The master repeats itself: the slave repeats its answer (§10.6, "duplicate").
      if (n.lastDd !== null) this.sendDd(n, n.lastDd, now);
      return;
    }
    if (n.weAreMaster && dd.sequence === n.ddSequence - 1) return; // a duplicate: the master drops it
    if (n.state !== 'exchange' || dd.master === n.weAreMaster || dd.init) return this.mismatch(n, now);
    if (n.weAreMaster) {
      if (dd.sequence !== n.ddSequence) return this.mismatch(n, now);
      this.masterAccept(n, dd, now);
    } else {
      if (dd.sequence !== ((n.ddSequence + 1) >>> 0)) return this.mismatch(n, now);
      n.ddSequence = dd.sequence;
      this.describe(n, dd.headers, now);
      this.slaveRespond(n, dd.more, now);
    }
  }

  private onRequest(header: OspfHeader, body: Extract<OspfBody, { kind: 'link-state-request' }>, now: number): void {
    const n = this.neighbors.get(header.routerId);
    if (n === undefined || !['exchange', 'loading', 'full'].includes(n.state)) return;
    const lsas: Uint8Array[] = [];
    for (const request of body.requests) {
      const held = this.lsdb.find(this.link!.areaId, request, now);
      if (held === null) this.issues.add('ospf_request_for_unknown_lsa');
      else lsas.push(withAge(held.lsa.bytes, Math.min(MAX_AGE_S, held.age + 1)));
    }
    this.sendUpdates(n.address, lsas);
  }

  private onUpdate(source: string, header: OspfHeader, body: Extract<OspfBody, { kind: 'link-state-update' }>, now: number): void {
    for (const skipped of body.skipped) this.issues.add(skipped);
    const n = this.neighbors.get(header.routerId);
    // §13: updates count only from a neighbour in Exchange or later.
    if (n === undefined || !['exchange', 'loading', 'full'].includes(n.state)) return;
    const link = this.link!;
    const acks: Uint8Array[] = [];
    for (const lsa of body.lsas) {
      const key = lsaKey(lsa.header);
      if (lsa.header.advertisingRouter === link.routerId) {
        this.onOwnLsa(n, lsa, now);
        acks.push(lsa.bytes);
        continue;
      }
      const outcome = this.lsdb.install(link.areaId, lsa, now);
      this.lsas[outcome]++;
      // §13 step 8: an older instance is not acknowledged; either way, no need to ask for it again.
      if (outcome !== 'older') acks.push(lsa.bytes);
      for (const other of this.neighbors.values()) {
        other.requests.delete(key);
        other.outstanding.delete(key);
      }
    }
    if (acks.length > 0) this.options.send(source, linkStateAckPacket(this.origin(), acks));
    for (const other of this.neighbors.values()) {
      if (other.state === 'loading' && other.requests.size === 0) this.full(other, now);
      else this.sendRequests(other, now);
    }
  }

  /**
   * §13.4: an instance of our own LSA came back: our flood (an acknowledgment), or one that is newer
   * than ours, from an earlier run (the flush of its last instance, say, which wins over an instance of
   * the same sequence number, §13.1): ours then starts again above it.
   */
  private onOwnLsa(n: Neighbor, lsa: Lsa, now: number): void {
    if (lsa.header.sequence > this.ownSequenceSeen) this.ownSequenceSeen = lsa.header.sequence;
    if (this.ownLsa === null) return;
    const order = compareInstances(lsa.header, lsa.header.age, this.ownLsa.header, 0);
    if (order === 0) n.ownUnacked = false;
    else if (order > 0) this.originate(now);
  }

  private onAck(header: OspfHeader, body: Extract<OspfBody, { kind: 'link-state-ack' }>): void {
    const n = this.neighbors.get(header.routerId);
    if (n === undefined || this.ownLsa === null) return;
    const own = this.ownLsa.header;
    if (body.headers.some((h) => lsaKey(h) === lsaKey(own) && h.sequence === own.sequence && h.checksum === own.checksum)) n.ownUnacked = false;
  }

  private twoWay(n: Neighbor, now: number): void {
    n.state = '2-way';
    this.say(`neighbour ${n.routerId}: 2-way`);
    if (this.adjacencyWanted(n)) this.startExchange(n, now);
  }

  /** §10.4: on a broadcast network, adjacencies form with the DR and the BDR only. */
  private adjacencyWanted(n: Neighbor): boolean {
    return n.address !== '0.0.0.0' && (n.address === this.dr || n.address === this.bdr);
  }

  /** §10.8 ExStart: claim to be master with an empty Database Description (I, M and MS set). */
  private startExchange(n: Neighbor, now: number): void {
    n.state = 'exstart';
    n.ddSequence = this.nextDdSequence;
    this.nextDdSequence = (this.nextDdSequence + 1) >>> 0;
    n.weAreMaster = true;
    n.requests.clear();
    n.outstanding.clear();
    n.summary = [];
    this.say(`neighbour ${n.routerId}: exstart`);
    const dd = databaseDescriptionPacket(this.origin(), { mtu: this.options.mtu, options: this.link!.options, init: true, more: true, master: true, sequence: n.ddSequence, headers: [] });
    n.lastDdHadMore = true;
    this.sendDd(n, dd, now);
  }

  private enterExchange(n: Neighbor, now: number): void {
    n.state = 'exchange';
    n.summary = [...this.lsdb.lsas(this.link!.areaId, now), ...this.lsdb.lsas(AS_SCOPE, now)].map((l) => l.bytes.subarray(0, 20));
    this.say(`neighbour ${n.routerId}: exchange, as ${n.weAreMaster ? 'master' : 'slave'}`);
  }

  /** The master got the slave's answer to its last packet: describe the headers, then next or done. */
  private masterAccept(n: Neighbor, dd: Extract<OspfBody, { kind: 'database-description' }>, now: number): void {
    this.describe(n, dd.headers, now);
    if (!dd.more && !n.lastDdHadMore) return this.exchangeDone(n, now);
    n.ddSequence = (n.ddSequence + 1) >>> 0;
    this.sendDd(n, this.nextDd(n, true), now);
  }

  private slaveRespond(n: Neighbor, masterHasMore: boolean, now: number): void {
    this.sendDd(n, this.nextDd(n, false), now);
    if (!masterHasMore && !n.lastDdHadMore) this.exchangeDone(n, now);
  }

  /** The next Database Description: as many of our headers as the MTU holds. */
  private nextDd(n: Neighbor, master: boolean): Uint8Array {
    const room = Math.max(1, Math.floor((this.options.mtu - IP_HEADER_BYTES - OSPF_AND_DD_HEADER_BYTES) / 20));
    const headers = n.summary.splice(0, room);
    n.lastDdHadMore = n.summary.length > 0;
    return databaseDescriptionPacket(this.origin(), { mtu: this.options.mtu, options: this.link!.options, init: false, more: n.lastDdHadMore, master, sequence: n.ddSequence, headers });
  }

  private sendDd(n: Neighbor, dd: Uint8Array, now: number): void {
    n.lastDd = dd;
    n.lastDdMs = now;
    this.options.send(n.address, dd);
  }

  /** §10.6: each header of an LSA we lack, or hold older, goes on the request list. */
  private describe(n: Neighbor, headers: readonly LsaHeader[], now: number): void {
    for (const header of headers) {
      if (!KNOWN_LSA_TYPES.has(header.type)) continue;
      if (header.advertisingRouter === this.link!.routerId) {
        if (header.sequence > this.ownSequenceSeen) this.ownSequenceSeen = header.sequence;
        continue;
      }
      const held = this.lsdb.find(this.link!.areaId, header, now);
      if (held === null || compareInstances(header, header.age, held.lsa.header, held.age) > 0) n.requests.set(lsaKey(header), header);
    }
    this.sendRequests(n, now);
  }

  /**
   * §10.9: asks for what is on the request list, as much as a packet holds, once the last request
   * is answered, or again after RxmtInterval.
   */
  private sendRequests(n: Neighbor, now: number): void {
    if ((n.state !== 'exchange' && n.state !== 'loading') || n.requests.size === 0) return;
    if (n.outstanding.size > 0 && now - n.requestSentMs < RXMT_INTERVAL_MS) return;
    const room = Math.floor((this.options.mtu - IP_HEADER_BYTES - 24) / 12);
    const asked = [...n.requests.values()].slice(0, room);
    n.outstanding = new Set(asked.map(lsaKey));
    n.requestSentMs = now;
    this.options.send(n.address, linkStateRequestPacket(this.origin(), asked));
  }

  private exchangeDone(n: Neighbor, now: number): void {
    if (n.requests.size === 0) return this.full(n, now);
    n.state = 'loading';
    this.say(`neighbour ${n.routerId}: loading (${n.requests.size} LSAs to request)`);
    this.sendRequests(n, now);
  }

  private full(n: Neighbor, now: number): void {
    n.state = 'full';
    n.outstanding.clear();
    this.say(`neighbour ${n.routerId}: full`);
    if (n.address === this.dr) this.originate(now);
    else if (this.ownLsa !== null) {
      n.ownUnacked = true;
      n.ownSentMs = -Infinity;
    }
  }

  /** §10.3 SeqNumberMismatch: the exchange starts over. */
  private mismatch(n: Neighbor, now: number): void {
    this.issues.add('ospf_dd_sequence_mismatch');
    this.startExchange(n, now);
  }

  private reset(n: Neighbor, state: 'init' | '2-way', why: string): void {
    n.state = state;
    n.requests.clear();
    n.outstanding.clear();
    n.summary = [];
    n.lastDd = null;
    this.say(`neighbour ${n.routerId} ${why}: ${state}`);
  }

  /**
   * Our router-LSA (RFC 6987 §2: every link at MaxLinkMetric): a transit link to the LAN of the DR
   * we are Full with (§12.4.1.2), no stub networks. Flooded to AllDRouters (§13.3), sent again to
   * each adjacent neighbour until it acknowledges it.
   */
  private originate(now: number): void {
    const link = this.link!;
    // §12.1.6: past MaxSequenceNumber an LSA must be flushed first; not reached in a run's lifetime.
    const sequence = Math.min(MAX_SEQUENCE_NUMBER, Math.max(INITIAL_SEQUENCE, this.ownSequenceSeen + 1, (this.ownLsa?.header.sequence ?? INITIAL_SEQUENCE - 1) + 1));
    this.ownLsa = routerLsa(link.routerId, [{ type: RouterLinkType.TRANSIT, linkId: this.dr, linkData: link.address, metric: MAX_LINK_METRIC }], {}, sequence);
    this.ownSequenceSeen = sequence;
    this.ownOriginatedMs = now;
    this.lsdb.install(link.areaId, this.ownLsa, now);
    this.options.send(ALL_D_ROUTERS, linkStateUpdatePacket(this.origin(), [withAge(this.ownLsa.bytes, 1)]));
    for (const n of this.neighbors.values()) {
      if (n.state === 'exchange' || n.state === 'loading' || n.state === 'full') {
        n.ownUnacked = true;
        n.ownSentMs = now;
      }
    }
    this.say(`router-LSA of ${link.routerId} flooded: sequence 0x${(sequence >>> 0).toString(16)}, one transit link at metric ${MAX_LINK_METRIC} (RFC 6987)`);
  }

  private sendHello(now: number, leaving: boolean): void {
    const link = this.link!;
    this.lastHelloSentMs = now;
    this.options.send(ALL_SPF_ROUTERS, helloPacket(this.origin(), {
      networkMask: link.networkMask, helloInterval: link.helloInterval, options: link.options, priority: 0, deadInterval: link.deadInterval,
      designatedRouter: this.dr, backupDesignatedRouter: this.bdr, neighbors: leaving ? [] : [...this.neighbors.keys()],
    }));
  }

  private sendUpdates(destination: string, lsas: readonly Uint8Array[]): void {
    const room = this.options.mtu - IP_HEADER_BYTES - 24 - 4;
    let batch: Uint8Array[] = [];
    let bytes = 0;
    for (const lsa of lsas) {
      if (batch.length > 0 && bytes + lsa.length > room) {
        this.options.send(destination, linkStateUpdatePacket(this.origin(), batch));
        batch = [];
        bytes = 0;
      }
      batch.push(lsa);
      bytes += lsa.length;
    }
    if (batch.length > 0) this.options.send(destination, linkStateUpdatePacket(this.origin(), batch));
  }

  /** As many neighbours as our Hello can list within the MTU (A.3.2: 20 bytes, then 4 a neighbour). */
  private maxNeighbors(): number {
    return Math.max(1, Math.floor((this.options.mtu - IP_HEADER_BYTES - 24 - 20) / 4));
  }

  private neighborAt(address: string): Neighbor | undefined {
    if (address === '0.0.0.0') return undefined;
    for (const n of this.neighbors.values()) if (n.address === address) return n;
    return undefined;
  }

  private origin(): PacketOrigin {
    return { routerId: this.link!.routerId, areaId: this.link!.areaId };
  }

  private say(line: string): void {
    this.options.log?.(line);
  }
}

function newNeighbor(routerId: string, address: string, now: number): Neighbor {
  return {
    routerId, address, state: 'init', lastHelloMs: now, weAreMaster: true, ddSequence: 0, summary: [], lastDd: null, lastDdMs: 0, lastDdHadMore: true,
    requests: new Map(), outstanding: new Set(), requestSentMs: 0, ownUnacked: false, ownSentMs: 0,
  };
}

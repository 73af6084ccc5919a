/**
 * Which process owned the socket behind a flow: sightings of sockets (from SocketEvents) kept by
 * their addresses, and the rule that turns them into an attribution or, when in doubt, into none.
 *
 * The rule (issue 3): a flow is attributed to the socket that sends it when that socket is on this
 * host (its source address is one of the host's), otherwise to the socket that receives it. The
 * socket is looked for by, in order:
 *   1. the full 4-tuple (TCP, and connected UDP);
 *   2. UDP only: the local address and port of an unconnected socket;
 *   3. UDP only: the local port of a socket bound to the wildcard address (0.0.0.0, or :: which
 *      also receives IPv4 unless IPV6_V6ONLY).
 * Sockets of other network namespaces on this host (containers with their own network stack) are
 * kept apart, under their exact 4-tuple or UDP local address only, and used only for flows that
 * pass through the host (`transit`: neither address is the host's) and involve no loopback address:
 * a flow to or from one of the host's addresses belongs to a socket of the host's own namespace.
 * A flow the host translated (NAT: a container's connection masqueraded on the uplink) is looked up
 * again under the tuple the connection had before translation, as conntrack reported it.
 * At the first step that finds sightings overlapping the flow in time, every such sighting must
 * name the same process, or the flow stays unattributed (`ambiguous`): a port reused by another
 * process, a socket shared by several. A sighting overlaps a flow when the socket was seen no
 * later than the flow's end (plus the event delay) and no earlier than LOOKBACK before its start
 * (a socket in use is reported at least every 10 s).
 */
import { formatAddress } from '../../decode/index.js';
import type { HostAddresses } from '../host-addresses.js';
import type { ProcessInfo } from './process-directory.js';
import type { NatMapping, Tuple } from './nat-events.js';
import type { SocketEvent } from './socket-events.js';

const TCP = 6;
const UDP = 17;
/** Events reach the agent within milliseconds; this is slack for a busy machine. */
const EVENT_DELAY_US = 5_000_000;

export type AttributionOutcome = 'attributed' | 'ambiguous' | 'unknown';

interface Sighting {
  owner: ProcessInfo;
  firstUs: number;
  lastUs: number;
  /** Which means saw it: bit 0 send/receive events, bit 1 connect events. */
  means: number;
}

export interface SocketOwnersOptions {
  /** The agent's network namespace (inode), or null when unknown: then only its own sockets would match, and none do. */
  ownNetns: number | null;
  /** How long before a flow's start a sighting still counts: the re-report interval plus the idle timeout. */
  lookbackUs: number;
  /** Sightings not renewed for this long are forgotten. */
  retentionUs: number;
  /** Most socket keys remembered; the least recently seen go first. */
  maxKeys: number;
}

export interface AttributionStats {
  events: number;
  /** Finished TCP and UDP flows looked up: attributed + ambiguous + unknown. */
  flows: number;
  attributed: number;
  ambiguous: number;
  unknown: number;
  /** Attributed flows by the means whose sighting decided: send/receive tracepoints, connect tracepoint, both. */
  byMeans: { sendReceive: number; connect: number; both: number };
  /** Attributed flows whose socket was in another network namespace (a container's). */
  otherNamespace: number;
}

export class SocketOwners {
  private readonly byKey = new Map<string, Sighting[]>();
  /** Translated tuple (`proto src sport dst dport` as on the wire) → the original, with when it was reported. */
  private readonly translations = new Map<string, { original: Tuple; atUs: number }>();
  private readonly stats: Omit<AttributionStats, 'flows'> = {
    events: 0, attributed: 0, ambiguous: 0, unknown: 0, byMeans: { sendReceive: 0, connect: 0, both: 0 }, otherNamespace: 0,
  };

  constructor(
    private readonly host: HostAddresses,
    private readonly options: SocketOwnersOptions,
  ) {}

  /** Records that `owner` used the socket of `event` at `nowUs`. */
  record(event: SocketEvent, owner: ProcessInfo, nowUs: number): void {
    this.stats.events++;
    const own = event.netns === this.options.ownNetns;
    const local = socketKey(event);
    if (local === null || (!own && local.includes('*'))) return; // wildcard sockets of other namespaces would match too much
    const key = own ? local : `x ${local}`;
    let sightings = this.byKey.get(key);
    if (sightings === undefined) {
      sightings = [];
    } else {
      this.byKey.delete(key); // re-inserted below: the map's order is least recently seen first
    }
    this.byKey.set(key, sightings);
    const means = event.kind === 'S' ? 1 : 2;
    const same = sightings.find((s) => s.owner.pid === owner.pid && s.owner.process === owner.process);
    if (same) {
      same.lastUs = Math.max(same.lastUs, nowUs);
      same.means |= means;
      if (same.owner.command === null && owner.command !== null) same.owner = owner;
    } else {
      sightings.push({ owner, firstUs: nowUs, lastUs: nowUs, means });
    }
    if (this.byKey.size > this.options.maxKeys) this.byKey.delete(this.byKey.keys().next().value!);
  }

  /** Records that the connection `mapping.original` leaves the host as `mapping.translated`. */
  recordNat(mapping: NatMapping, nowUs: number): void {
    const t = mapping.translated;
    this.translations.delete(tupleKey(t));
    this.translations.set(tupleKey(t), { original: mapping.original, atUs: nowUs });
    if (this.translations.size > this.options.maxKeys) this.translations.delete(this.translations.keys().next().value!);
  }

  /** Forgets sightings not renewed within the retention. */
  expire(nowUs: number): void {
    const oldest = nowUs - this.options.retentionUs;
    for (const [key, entry] of this.translations) if (entry.atUs < oldest) this.translations.delete(key);
    for (const [key, sightings] of this.byKey) {
      const kept = sightings.filter((s) => s.lastUs >= oldest);
      if (kept.length === 0) this.byKey.delete(key);
      else if (kept.length !== sightings.length) this.byKey.set(key, kept);
    }
  }

  /**
   * The process behind the flow `key` (source words 0-3, destination 4-7, ports in word 8, protocol
   * in the low byte of word 9), between `startUs` and `endUs`; null when unknown or ambiguous.
   */
  ownerOf(key: Uint32Array, ipVersion: number, startUs: number, endUs: number): ProcessInfo | null {
    const protocol = key[9] & 0xff;
    if (protocol !== TCP && protocol !== UDP) return null;
    const v = ipVersion === 4 ? 4 : 6;
    const src = formatAddress(key.subarray(0, 4), v);
    const dst = formatAddress(key.subarray(4, 8), v);
    const srcPort = key[8] >>> 16;
    const dstPort = key[8] & 0xffff;
    const direction = this.host.directionOf(key, ipVersion);
    let candidates: string[];
    if (direction === 'out' || direction === 'local') {
      candidates = lookupKeys(protocol, v, src, srcPort, dst, dstPort);
    } else if (direction === 'in') {
      candidates = lookupKeys(protocol, v, dst, dstPort, src, srcPort);
    } else if (!isLoopback(src) && !isLoopback(dst)) {
      // Through the host: a container's socket (another namespace), sending side first.
      candidates = [...foreignKeys(protocol, src, srcPort, dst, dstPort), ...foreignKeys(protocol, dst, dstPort, src, srcPort)];
    } else {
      this.stats.unknown++;
      return null;
    }
    // A translated flow: the connection's original tuple, sending side first (its own namespace, then others).
    const translated =
      direction === 'out' || direction === 'local'
        ? this.translations.get(`${protocol} ${src} ${srcPort} ${dst} ${dstPort}`)
        : direction === 'in'
          ? this.translations.get(`${protocol} ${dst} ${dstPort} ${src} ${srcPort}`)
          : undefined;
    if (translated) {
      const o = translated.original;
      const ov = o.src.includes(':') ? 6 : 4;
      candidates.push(...lookupKeys(protocol, ov, o.src, o.srcPort, o.dst, o.dstPort).slice(0, 2), ...foreignKeys(protocol, o.src, o.srcPort, o.dst, o.dstPort));
    }
    for (const candidate of candidates) {
      const overlapping = (this.byKey.get(candidate) ?? []).filter(
        (s) => s.firstUs <= endUs + EVENT_DELAY_US && s.lastUs >= startUs - this.options.lookbackUs,
      );
      if (overlapping.length === 0) continue;
      const owner = overlapping[0].owner;
      if (overlapping.some((s) => s.owner.pid !== owner.pid || s.owner.process !== owner.process)) {
        this.stats.ambiguous++;
        return null;
      }
      this.stats.attributed++;
      if (candidate.startsWith('x ')) this.stats.otherNamespace++;
      const means = overlapping.reduce((m, s) => m | s.means, 0);
      if (means === 1) this.stats.byMeans.sendReceive++;
      else if (means === 2) this.stats.byMeans.connect++;
      else this.stats.byMeans.both++;
      return owner;
    }
    this.stats.unknown++;
    return null;
  }

  get size(): number {
    return this.byKey.size;
  }

  statistics(): AttributionStats {
    const { attributed, ambiguous, unknown } = this.stats;
    return { ...this.stats, flows: attributed + ambiguous + unknown, byMeans: { ...this.stats.byMeans } };
  }
}

/** The key a sighting is filed under: the 4-tuple when connected, else the local address (or wildcard) and port. */
export function socketKey(event: SocketEvent): string | null {
  if (event.localPort === 0) return null;
  const connected = event.remotePort !== 0 && !isWildcard(event.remoteAddr);
  if (connected) return `${event.protocol} ${event.localAddr} ${event.localPort} ${event.remoteAddr} ${event.remotePort}`;
  if (event.protocol !== UDP) return null; // a TCP socket that sends is connected
  if (isWildcard(event.localAddr)) return `${event.protocol} *${event.localAddr.includes(':') ? 6 : 4} ${event.localPort}`;
  return `${event.protocol} ${event.localAddr} ${event.localPort}`;
}

function lookupKeys(protocol: number, v: 4 | 6, local: string, localPort: number, remote: string, remotePort: number): string[] {
  const keys = [`${protocol} ${local} ${localPort} ${remote} ${remotePort}`];
  if (protocol === UDP) {
    keys.push(`${protocol} ${local} ${localPort}`, `${protocol} *${v} ${localPort}`);
    if (v === 4) keys.push(`${protocol} *6 ${localPort}`);
  }
  return keys;
}

function tupleKey(t: Tuple): string {
  return `${t.protocol} ${t.src} ${t.srcPort} ${t.dst} ${t.dstPort}`;
}

/** Keys of sockets in other namespaces: the exact 4-tuple, and for UDP the specific local address. */
function foreignKeys(protocol: number, local: string, localPort: number, remote: string, remotePort: number): string[] {
  const keys = [`x ${protocol} ${local} ${localPort} ${remote} ${remotePort}`];
  if (protocol === UDP) keys.push(`x ${protocol} ${local} ${localPort}`);
  return keys;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/**
 * The flow table: active unidirectional flows keyed by (src, dst, sport, dport, proto, interface).
 *
 * Each flow's state sits in one 96-byte record of a shared ArrayBuffer (key, hash, creation-order
 * links, flags, then four doubles), so counting a packet touches two cache lines of the flow plus one
 * of the open-addressing index: BYTES_PER_FLOW in all, with no allocation per packet.
 *
 * Record boundaries are decided when a packet is counted (gap since the flow's last packet > idle
 * timeout, flow age >= active timeout, or a TCP flow that saw FIN or RST going quiet for longer than
 * the FIN timeout or meeting a new SYN), so they never depend on when expiry runs. Expiry itself
 * (`sweep`) only returns memory and pushes finished flows out; it runs every `sweepIntervalUs` of
 * packet time, amortised over at least a quarter of the table's size in packets so its cost per
 * packet stays constant. The creation-order list gives the active timeout and the cap's
 * oldest-first early export without a per-packet list update (cf. softflowd's separate expiry index).
 *
 * Time is whatever the caller passes (packet timestamps), so a replay is deterministic.
 */

const KEY_WORDS = 10;
/** Layout of one flow record, in 32-bit words. */
const W_HASH = 10;
const W_AGE_PREV = 11;
const W_AGE_NEXT = 12;
const W_FLAGS = 13; // bits 0-7 TCP flags, bits 8-27 largest sampling weight, bit 31 live
const STRIDE_WORDS = 24;
/** Slots reserved at construction (at most maxFlows): 4M flows, 384 MiB of address space, none of it resident until used. */
const RESERVED_SLOTS = 1 << 22;
/** Layout of the doubles (index within the record, in 8-byte units: the record's words 16..23). */
const D_FIRST = 8;
const D_LAST = 9;
const D_PACKETS = 10;
const D_BYTES = 11;
const STRIDE_DOUBLES = STRIDE_WORDS / 2;
const LIVE = 0x8000_0000;
const WEIGHT_SHIFT = 8;
const WEIGHT_MASK = 0xf_ffff;
/** Largest 1-in-N sampling weight a record can hold (20 bits). */
export const MAX_SAMPLING_WEIGHT = WEIGHT_MASK;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

const NONE = -1;
const EMPTY_BUCKET = -1;

/** Bytes of table state per flow: the 96-byte record and two 4-byte index buckets (load <= 0.5). */
export const BYTES_PER_FLOW = STRIDE_WORDS * 4 + 2 * 4;

export interface FlowTableOptions {
  /** A flow ends when no packet arrived for longer than this. */
  idleTimeoutUs: number;
  /** A flow open at least this long is ended; later packets start a new record. */
  activeTimeoutUs: number;
  /** Hard cap on tracked flows; at the cap the oldest flow is ended early. */
  maxFlows: number;
  /**
   * A TCP flow that saw FIN or RST ends once quiet for this long (or at a new SYN), so the closing
   * side's last ACK stays in its record. Default 5 s.
   */
  finTimeoutUs?: number;
  /** Slots allocated up front; the table doubles up to maxFlows as needed. */
  initialCapacity?: number;
  /** Packet time between expiry sweeps. Default: a tenth of the idle timeout, at most 10 s. */
  sweepIntervalUs?: number;
}

/** Why the table ended a flow (a subset of EndReason). */
export type TableEndReason = 'idle' | 'active' | 'evicted' | 'fin' | 'rst' | 'end';

/** Called for every flow the table ends, before its slot is reused. */
export type FlowEndHandler = (table: FlowTable, slot: number, reason: TableEndReason) => void;

/** The flow key of one packet, filled by the caller and reused. */
export class FlowKey {
  readonly words = new Uint32Array(KEY_WORDS);

  /** Sets the key from addresses (4 words each, IPv4 in word 0), ports, protocol, version, interface. */
  set(
    src: Uint32Array,
    dst: Uint32Array,
    srcPort: number,
    dstPort: number,
    protocol: number,
    ipVersion: number,
    interfaceId: number,
  ): void {
    const w = this.words;
    w[0] = src[0]; w[1] = src[1]; w[2] = src[2]; w[3] = src[3];
    w[4] = dst[0]; w[5] = dst[1]; w[6] = dst[2]; w[7] = dst[3];
    w[8] = ((srcPort << 16) | dstPort) >>> 0;
    w[9] = (protocol | (ipVersion << 8) | (interfaceId << 12)) >>> 0;
  }
}

/** Mixes one word into the running hash (MurmurHash3's body). */
function mix(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Hashes a key (MurmurHash3 body and finaliser). IPv4 keys hash only their four meaningful words:
 * words 1-3 and 5-7 are always zero for them.
 */
function hashKey(w: Uint32Array): number {
  let h = mix(mix(mix(mix(0x9747b28c, w[0]), w[4]), w[8]), w[9]);
  if (((w[9] >>> 8) & 0xf) === 6) h = mix(mix(mix(mix(mix(mix(h, w[1]), w[2]), w[3]), w[5]), w[6]), w[7]);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class FlowTable {
  private readonly idleTimeoutUs: number;
  private readonly activeTimeoutUs: number;
  private readonly finTimeoutUs: number;
  private readonly sweepIntervalUs: number;
  readonly maxFlows: number;

  /** Slots the record storage holds (reserved up front, see reserveSlots). */
  private slotCapacity = 0;
  /** Slots the index is sized for (at most half full at this many). */
  private indexCapacity = 0;
  /** Slots ever handed out; slots below this are either live or on the free stack. */
  private highWater = 0;
  private liveCount = 0;
  private u32 = new Uint32Array(0);
  private i32 = new Int32Array(0);
  private f64 = new Float64Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;
  // Creation-order list: head is the oldest flow.
  private ageHead = NONE;
  private ageTail = NONE;
  // Open-addressing index: bucket -> slot, linear probing, at most half full.
  private buckets = new Int32Array(0);
  private bucketMask = 0;

  private lastSweepUs = -Infinity;
  private packetsSinceSweep = 0;
  /** Packet time before which no sweep at the cap is tried again (a sweep there freed too little). */
  private capSweepBlockedUntilUs = -Infinity;

  /** Flows ended early because the table was at maxFlows. */
  evictions = 0;

  constructor(
    options: FlowTableOptions,
    private readonly onEnd: FlowEndHandler,
  ) {
    if (!(options.maxFlows >= 1)) throw new RangeError(`maxFlows must be at least 1: current value is ${options.maxFlows}`);
    this.idleTimeoutUs = options.idleTimeoutUs;
    this.activeTimeoutUs = options.activeTimeoutUs;
    this.finTimeoutUs = Math.min(options.finTimeoutUs ?? 5_000_000, options.idleTimeoutUs);
    this.sweepIntervalUs = options.sweepIntervalUs ?? Math.min(10_000_000, Math.max(1, options.idleTimeoutUs / 10));
    this.maxFlows = Math.floor(options.maxFlows);
    const initial = Math.min(this.maxFlows, Math.max(16, options.initialCapacity ?? 4096));
    this.growStorage(Math.max(initial, Math.min(this.maxFlows, RESERVED_SLOTS)));
    this.rebuildIndex(initial);
  }

  /** Number of active flows. */
  get size(): number {
    return this.liveCount;
  }

  /**
   * Counts one packet: finds or creates its flow, ending the old record first when the gap since its
   * last packet exceeds the idle timeout or it has been open for the active timeout.
   * Under 1-in-N packet sampling the packet stands for `weight` = N packets (RFC 5475 §6.1): packets
   * and bytes are scaled, and the record keeps the largest N it was counted with.
   * Returns the flow's slot, valid until the next call that can end flows.
   */
  account(key: FlowKey, timestampUs: number, ipBytes: number, tcpFlags: number, weight = 1): number {
    return this.accountMany(key, timestampUs, timestampUs, 1, ipBytes, tcpFlags, weight);
  }

  /**
   * Counts `packets` packets of one flow seen from `firstUs` to `lastUs` with `ipBytes` bytes in all
   * (the agent's capture program adds them up): the timeouts are checked at the first, as account()
   * does for each packet. The packets carry no SYN, FIN or RST unless there is one packet.
   */
  accountMany(key: FlowKey, firstUs: number, lastUs: number, packets: number, ipBytes: number, tcpFlags: number, weight = 1): number {
    if (++this.packetsSinceSweep > (this.liveCount >>> 2) && firstUs - this.lastSweepUs >= this.sweepIntervalUs) {
      this.sweep(firstUs);
    }
    const hash = hashKey(key.words);
    let slot = this.find(key.words, hash);
    const f64 = this.f64;
    if (slot !== NONE) {
      const d = slot * STRIDE_DOUBLES;
      const closing = this.u32[slot * STRIDE_WORDS + W_FLAGS] & (TCP_FIN | TCP_RST);
      if (
        closing !== 0 &&
        (firstUs - f64[d + D_LAST] > this.finTimeoutUs || (tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN)
      ) {
        this.end(slot, (closing & TCP_RST) !== 0 ? 'rst' : 'fin');
        slot = NONE;
      } else if (firstUs - f64[d + D_LAST] > this.idleTimeoutUs || firstUs - f64[d + D_FIRST] >= this.activeTimeoutUs) {
        this.end(slot, this.timeoutReason(slot));
        slot = NONE;
      }
    }
    if (slot === NONE) slot = this.insert(key.words, hash, firstUs);
    const d = slot * STRIDE_DOUBLES;
    const fd = this.f64; // insert may have grown the buffer
    // Out-of-order timestamps (merged captures) widen the flow rather than shrink it.
    if (lastUs > fd[d + D_LAST]) fd[d + D_LAST] = lastUs;
    if (firstUs < fd[d + D_FIRST]) fd[d + D_FIRST] = firstUs;
    fd[d + D_PACKETS] += packets * weight;
    fd[d + D_BYTES] += ipBytes * weight;
    const w = slot * STRIDE_WORDS + W_FLAGS;
    const flags = this.u32[w] | tcpFlags;
    this.u32[w] = weight > ((flags >>> WEIGHT_SHIFT) & WEIGHT_MASK) ? ((flags & ~(WEIGHT_MASK << WEIGHT_SHIFT)) | (weight << WEIGHT_SHIFT)) >>> 0 : flags;
    return slot;
  }

  /** Adds packets counted elsewhere (fragments that arrived before their first fragment) to a flow. */
  addToFlow(slot: number, packets: number, bytes: number, firstUs: number, lastUs: number): void {
    const d = slot * STRIDE_DOUBLES;
    this.f64[d + D_PACKETS] += packets;
    this.f64[d + D_BYTES] += bytes;
    if (firstUs < this.f64[d + D_FIRST]) this.f64[d + D_FIRST] = firstUs;
    if (lastUs > this.f64[d + D_LAST]) this.f64[d + D_LAST] = lastUs;
  }

  /** Ends every flow that timed out (idle, active, or closed by FIN/RST and quiet) at `nowUs`. */
  sweep(nowUs: number): number {
    this.lastSweepUs = nowUs;
    this.packetsSinceSweep = 0;
    const before = this.liveCount;
    // Active timeout: the oldest flows are at the head of the creation list.
    while (this.ageHead !== NONE && nowUs - this.f64[this.ageHead * STRIDE_DOUBLES + D_FIRST] >= this.activeTimeoutUs) {
      this.end(this.ageHead, this.timeoutReason(this.ageHead));
    }
    // Idle and FIN timeouts: a linear pass over the records (cache friendly, no per-packet bookkeeping).
    for (let slot = 0; slot < this.highWater; slot++) {
      const flags = this.u32[slot * STRIDE_WORDS + W_FLAGS];
      if ((flags & LIVE) === 0) continue;
      const quietUs = nowUs - this.f64[slot * STRIDE_DOUBLES + D_LAST];
      if ((flags & (TCP_FIN | TCP_RST)) !== 0 && quietUs > this.finTimeoutUs) {
        this.end(slot, (flags & TCP_RST) !== 0 ? 'rst' : 'fin');
      } else if (quietUs > this.idleTimeoutUs) {
        this.end(slot, 'idle');
      }
    }
    return before - this.liveCount;
  }

  /** Ends every remaining flow, oldest first; TCP flows that saw FIN or RST say so instead of `reason`. */
  endAll(reason: TableEndReason): void {
    while (this.ageHead !== NONE) this.end(this.ageHead, this.closingReason(this.ageHead) ?? reason);
  }

  /**
   * Why a timed-out flow ends: a closed TCP connection says fin/rst; otherwise whichever timeout came
   * first, idle (last packet + idle timeout) or active (first packet + active timeout), whenever the
   * flow is actually looked at.
   */
  private timeoutReason(slot: number): TableEndReason {
    const d = slot * STRIDE_DOUBLES;
    const idleAtUs = this.f64[d + D_LAST] + this.idleTimeoutUs;
    const activeAtUs = this.f64[d + D_FIRST] + this.activeTimeoutUs;
    return this.closingReason(slot) ?? (idleAtUs < activeAtUs ? 'idle' : 'active');
  }

  /** 'rst' or 'fin' when the flow's TCP connection was closed; a closed flow reports that, whatever ends it. */
  private closingReason(slot: number): TableEndReason | null {
    const flags = this.u32[slot * STRIDE_WORDS + W_FLAGS];
    return (flags & TCP_RST) !== 0 ? 'rst' : (flags & TCP_FIN) !== 0 ? 'fin' : null;
  }

  /** Ends one flow: reports it to the handler, then frees its slot. */
  end(slot: number, reason: TableEndReason): void {
    this.onEnd(this, slot, reason);
    this.remove(slot);
  }

  /** The key words of a slot (4 src words, 4 dst words, ports, proto/version/interface). */
  keyOf(slot: number): Uint32Array {
    return this.u32.subarray(slot * STRIDE_WORDS, slot * STRIDE_WORDS + KEY_WORDS);
  }

  firstUsOf(slot: number): number {
    return this.f64[slot * STRIDE_DOUBLES + D_FIRST];
  }

  lastUsOf(slot: number): number {
    return this.f64[slot * STRIDE_DOUBLES + D_LAST];
  }

  packetsOf(slot: number): number {
    return this.f64[slot * STRIDE_DOUBLES + D_PACKETS];
  }

  bytesOf(slot: number): number {
    return this.f64[slot * STRIDE_DOUBLES + D_BYTES];
  }

  tcpFlagsOf(slot: number): number {
    return this.u32[slot * STRIDE_WORDS + W_FLAGS] & 0xff;
  }

  /** The largest 1-in-N sampling weight the flow was counted with (1 without sampling). */
  samplingOf(slot: number): number {
    return Math.max(1, (this.u32[slot * STRIDE_WORDS + W_FLAGS] >>> WEIGHT_SHIFT) & WEIGHT_MASK);
  }

  private find(words: Uint32Array, hash: number): number {
    const u32 = this.u32;
    const mask = this.bucketMask;
    for (let b = hash & mask; ; b = (b + 1) & mask) {
      const slot = this.buckets[b];
      if (slot === EMPTY_BUCKET) return NONE;
      const base = slot * STRIDE_WORDS;
      if (
        u32[base + W_HASH] === hash &&
        u32[base] === words[0] && u32[base + 1] === words[1] && u32[base + 2] === words[2] &&
        u32[base + 3] === words[3] && u32[base + 4] === words[4] && u32[base + 5] === words[5] &&
        u32[base + 6] === words[6] && u32[base + 7] === words[7] && u32[base + 8] === words[8] &&
        u32[base + 9] === words[9]
      ) {
        return slot;
      }
    }
  }

  private insert(words: Uint32Array, hash: number, timestampUs: number): number {
    if (this.liveCount >= this.maxFlows) this.makeRoom(timestampUs);
    let slot: number;
    if (this.freeCount > 0) {
      slot = this.freeSlots[--this.freeCount];
    } else {
      if (this.highWater === this.slotCapacity) this.growStorage(Math.min(this.maxFlows, this.slotCapacity * 2));
      if (this.highWater === this.indexCapacity) this.rebuildIndex(Math.min(this.maxFlows, this.indexCapacity * 2));
      slot = this.highWater++;
    }
    const base = slot * STRIDE_WORDS;
    this.u32.set(words, base);
    this.u32[base + W_HASH] = hash;
    this.u32[base + W_FLAGS] = LIVE;
    const d = slot * STRIDE_DOUBLES;
    this.f64[d + D_FIRST] = timestampUs;
    this.f64[d + D_LAST] = timestampUs;
    this.f64[d + D_PACKETS] = 0;
    this.f64[d + D_BYTES] = 0;
    const mask = this.bucketMask;
    let b = hash & mask;
    while (this.buckets[b] !== EMPTY_BUCKET) b = (b + 1) & mask;
    this.buckets[b] = slot;
    this.i32[base + W_AGE_PREV] = this.ageTail;
    this.i32[base + W_AGE_NEXT] = NONE;
    if (this.ageTail !== NONE) this.i32[this.ageTail * STRIDE_WORDS + W_AGE_NEXT] = slot;
    else this.ageHead = slot;
    this.ageTail = slot;
    this.liveCount++;
    return slot;
  }

  /** At the cap: expire what has timed out; if too little went, end the oldest flow early. */
  private makeRoom(nowUs: number): void {
    if (nowUs >= this.capSweepBlockedUntilUs) {
      const freed = this.sweep(nowUs);
      // A sweep that freed under 1% is not worth repeating until packet time moves on.
      if (freed * 100 < this.maxFlows) this.capSweepBlockedUntilUs = nowUs + this.sweepIntervalUs;
    }
    if (this.liveCount >= this.maxFlows) {
      this.evictions++;
      this.end(this.ageHead, 'evicted');
    }
  }

  private remove(slot: number): void {
    // Unlink from the index with backward-shift deletion, so probes never meet tombstones.
    const u32 = this.u32;
    const mask = this.bucketMask;
    let hole = u32[slot * STRIDE_WORDS + W_HASH] & mask;
    while (this.buckets[hole] !== slot) hole = (hole + 1) & mask;
    for (let b = (hole + 1) & mask; this.buckets[b] !== EMPTY_BUCKET; b = (b + 1) & mask) {
      const home = u32[this.buckets[b] * STRIDE_WORDS + W_HASH] & mask;
      // Entry b may move into the hole unless its home lies cyclically in (hole, b].
      const homeInRange = hole <= b ? home > hole && home <= b : home > hole || home <= b;
      if (!homeInRange) {
        this.buckets[hole] = this.buckets[b];
        hole = b;
      }
    }
    this.buckets[hole] = EMPTY_BUCKET;

    const base = slot * STRIDE_WORDS;
    const prev = this.i32[base + W_AGE_PREV];
    const next = this.i32[base + W_AGE_NEXT];
    if (prev !== NONE) this.i32[prev * STRIDE_WORDS + W_AGE_NEXT] = next;
    else this.ageHead = next;
    if (next !== NONE) this.i32[next * STRIDE_WORDS + W_AGE_PREV] = prev;
    else this.ageTail = prev;
    u32[base + W_FLAGS] = 0;

    this.freeSlots[this.freeCount++] = slot;
    this.liveCount--;
  }

  /**
   * Moves the records into storage for `capacity` slots. The storage is reserved up front for up
   * to RESERVED_SLOTS flows: a fresh ArrayBuffer is zero pages that the kernel maps only when
   * first written, so untouched slots cost no resident memory, and a table that fills never holds
   * an old and a new copy at once (doubling did: 141-150 B of peak RSS per flow at 1M flows).
   */
  private growStorage(capacity: number): void {
    const buffer = new ArrayBuffer(capacity * STRIDE_WORDS * 4);
    const u32 = new Uint32Array(buffer);
    u32.set(this.u32);
    this.u32 = u32;
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    const freeSlots = new Int32Array(capacity);
    freeSlots.set(this.freeSlots);
    this.freeSlots = freeSlots;
    this.slotCapacity = capacity;
  }

  /** Rebuilds the index for `capacity` slots at a load factor of at most one half. */
  private rebuildIndex(capacity: number): void {
    let bucketCount = 16;
    while (bucketCount < capacity * 2) bucketCount *= 2;
    this.buckets = new Int32Array(bucketCount).fill(EMPTY_BUCKET);
    this.bucketMask = bucketCount - 1;
    this.indexCapacity = capacity;
    for (let slot = this.ageHead; slot !== NONE; slot = this.i32[slot * STRIDE_WORDS + W_AGE_NEXT]) {
      let b = this.u32[slot * STRIDE_WORDS + W_HASH] & this.bucketMask;
      while (this.buckets[b] !== EMPTY_BUCKET) b = (b + 1) & this.bucketMask;
      this.buckets[b] = slot;
    }
  }
}

/**
 * The flow table: active unidirectional flows keyed by (src, dst, sport, dport, proto, interface).
 *
 * Everything lives in typed arrays indexed by a flow slot, so a packet costs a hash, a probe and a
 * few stores, with no allocation: about 104 bytes per active flow (see BYTES_PER_FLOW). Two intrusive
 * doubly linked lists order the flows: by last packet (for the idle timeout and for evicting the
 * least recently seen flow when the table is full) and by creation (for the active timeout). Expiry
 * therefore only ever looks at list heads, as softflowd's separate expiry index does.
 *
 * Time is whatever the caller passes (packet timestamps), so a replay is deterministic.
 */

/** Words per key: src address (4), dst address (4), ports (1), protocol/version/interface (1). */
const KEY_WORDS = 10;
const NONE = -1;
const EMPTY_BUCKET = -1;

/** Approximate bytes of typed-array state per flow slot, including the hash index at load <= 0.5. */
export const BYTES_PER_FLOW = KEY_WORDS * 4 + 4 + 8 * 4 + 1 + 4 * 4 + 4 + 2 * 4;

export interface FlowTableOptions {
  /** A flow ends when no packet arrived for longer than this. */
  idleTimeoutUs: number;
  /** A flow open at least this long is ended; later packets start a new record. */
  activeTimeoutUs: number;
  /** Hard cap on tracked flows; at the cap the least recently seen flow is ended early. */
  maxFlows: number;
  /** Slots allocated up front; the table doubles up to maxFlows as needed. */
  initialCapacity?: number;
}

/** Why the table ended a flow (a subset of EndReason; FIN/RST are decided by the meter). */
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

/** Mixes the key words into a 32-bit hash (multiply-rotate, as in MurmurHash3's body). */
function hashKey(w: Uint32Array, base: number): number {
  let h = 0x9747b28c;
  for (let i = 0; i < KEY_WORDS; i++) {
    let k = Math.imul(w[base + i], 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
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
  readonly maxFlows: number;

  private capacity = 0;
  /** Slots ever handed out; slots below this are either live or on the free stack. */
  private highWater = 0;
  private liveCount = 0;

  // Per-slot state.
  keys = new Uint32Array(0);
  private hashes = new Uint32Array(0);
  firstUs = new Float64Array(0);
  lastUs = new Float64Array(0);
  packets = new Float64Array(0);
  bytes = new Float64Array(0);
  tcpFlags = new Uint8Array(0);
  private lruPrev = new Int32Array(0);
  private lruNext = new Int32Array(0);
  private agePrev = new Int32Array(0);
  private ageNext = new Int32Array(0);
  private freeSlots = new Int32Array(0);
  private freeCount = 0;

  // List heads and tails: lru = by last packet, age = by creation.
  private lruHead = NONE;
  private lruTail = NONE;
  private ageHead = NONE;
  private ageTail = NONE;

  // Open-addressing index: bucket -> slot, linear probing, at most half full.
  private buckets = new Int32Array(0);
  private bucketMask = 0;

  /** Flows ended early because the table was at maxFlows. */
  evictions = 0;

  constructor(
    options: FlowTableOptions,
    private readonly onEnd: FlowEndHandler,
  ) {
    if (!(options.maxFlows >= 1)) throw new RangeError(`maxFlows must be at least 1: current value is ${options.maxFlows}`);
    this.idleTimeoutUs = options.idleTimeoutUs;
    this.activeTimeoutUs = options.activeTimeoutUs;
    this.maxFlows = Math.floor(options.maxFlows);
    this.resize(Math.min(this.maxFlows, Math.max(16, options.initialCapacity ?? 4096)));
  }

  /** Number of active flows. */
  get size(): number {
    return this.liveCount;
  }

  /** Bytes held by the table's arrays now. */
  get allocatedBytes(): number {
    return this.capacity * (BYTES_PER_FLOW - 8) + this.buckets.byteLength;
  }

  /**
   * Counts one packet: finds or creates its flow, ending the old record first when the gap since its
   * last packet exceeds the idle timeout or it has been open for the active timeout.
   * Returns the flow's slot, valid until the next call that can end flows.
   */
  account(key: FlowKey, timestampUs: number, ipBytes: number, tcpFlags: number): number {
    const hash = hashKey(key.words, 0);
    let slot = this.find(key.words, hash);
    if (slot !== NONE) {
      if (timestampUs - this.lastUs[slot] > this.idleTimeoutUs) {
        this.end(slot, 'idle');
        slot = NONE;
      } else if (timestampUs - this.firstUs[slot] >= this.activeTimeoutUs) {
        this.end(slot, 'active');
        slot = NONE;
      }
    }
    if (slot === NONE) {
      slot = this.insert(key.words, hash, timestampUs);
    } else {
      // Out-of-order timestamps (merged captures) widen the flow rather than shrink it.
      if (timestampUs > this.lastUs[slot]) this.lastUs[slot] = timestampUs;
      else if (timestampUs < this.firstUs[slot]) this.firstUs[slot] = timestampUs;
      this.touch(slot);
    }
    this.packets[slot] += 1;
    this.bytes[slot] += ipBytes;
    this.tcpFlags[slot] |= tcpFlags;
    return slot;
  }

  /** Adds packets counted elsewhere (fragments that arrived before their first fragment) to a flow. */
  addToFlow(slot: number, packets: number, bytes: number, firstUs: number, lastUs: number): void {
    this.packets[slot] += packets;
    this.bytes[slot] += bytes;
    if (firstUs < this.firstUs[slot]) this.firstUs[slot] = firstUs;
    if (lastUs > this.lastUs[slot]) this.lastUs[slot] = lastUs;
  }

  /** Ends every flow idle for longer than the idle timeout or open for the active timeout at `nowUs`. */
  expire(nowUs: number): void {
    while (this.lruHead !== NONE && nowUs - this.lastUs[this.lruHead] > this.idleTimeoutUs) {
      this.end(this.lruHead, 'idle');
    }
    while (this.ageHead !== NONE && nowUs - this.firstUs[this.ageHead] >= this.activeTimeoutUs) {
      this.end(this.ageHead, 'active');
    }
  }

  /** True when expire(nowUs) would end at least one flow (cheap: looks at two list heads). */
  hasExpired(nowUs: number): boolean {
    return (
      (this.lruHead !== NONE && nowUs - this.lastUs[this.lruHead] > this.idleTimeoutUs) ||
      (this.ageHead !== NONE && nowUs - this.firstUs[this.ageHead] >= this.activeTimeoutUs)
    );
  }

  /** Ends every remaining flow, oldest first. */
  endAll(reason: TableEndReason): void {
    while (this.ageHead !== NONE) this.end(this.ageHead, reason);
  }

  /** Ends one flow: reports it to the handler, then frees its slot. */
  end(slot: number, reason: TableEndReason): void {
    this.onEnd(this, slot, reason);
    this.remove(slot);
  }

  /** Reads the key words of a slot (4 src words, 4 dst words, ports, proto/version/interface). */
  keyOf(slot: number): Uint32Array {
    return this.keys.subarray(slot * KEY_WORDS, slot * KEY_WORDS + KEY_WORDS);
  }

  private find(words: Uint32Array, hash: number): number {
    const keys = this.keys;
    const mask = this.bucketMask;
    for (let b = hash & mask; ; b = (b + 1) & mask) {
      const slot = this.buckets[b];
      if (slot === EMPTY_BUCKET) return NONE;
      if (this.hashes[slot] !== hash) continue;
      const base = slot * KEY_WORDS;
      if (
        keys[base] === words[0] && keys[base + 1] === words[1] && keys[base + 2] === words[2] &&
        keys[base + 3] === words[3] && keys[base + 4] === words[4] && keys[base + 5] === words[5] &&
        keys[base + 6] === words[6] && keys[base + 7] === words[7] && keys[base + 8] === words[8] &&
        keys[base + 9] === words[9]
      ) {
        return slot;
      }
    }
  }

  private insert(words: Uint32Array, hash: number, timestampUs: number): number {
    if (this.liveCount >= this.maxFlows) {
      this.evictions++;
      this.end(this.lruHead, 'evicted');
    }
    let slot: number;
    if (this.freeCount > 0) {
      slot = this.freeSlots[--this.freeCount];
    } else {
      if (this.highWater === this.capacity) this.resize(Math.min(this.maxFlows, this.capacity * 2));
      slot = this.highWater++;
    }
    this.keys.set(words, slot * KEY_WORDS);
    this.hashes[slot] = hash;
    this.firstUs[slot] = timestampUs;
    this.lastUs[slot] = timestampUs;
    this.packets[slot] = 0;
    this.bytes[slot] = 0;
    this.tcpFlags[slot] = 0;
    const mask = this.bucketMask;
    let b = hash & mask;
    while (this.buckets[b] !== EMPTY_BUCKET) b = (b + 1) & mask;
    this.buckets[b] = slot;
    // Append to both lists.
    this.lruPrev[slot] = this.lruTail;
    this.lruNext[slot] = NONE;
    if (this.lruTail !== NONE) this.lruNext[this.lruTail] = slot;
    else this.lruHead = slot;
    this.lruTail = slot;
    this.agePrev[slot] = this.ageTail;
    this.ageNext[slot] = NONE;
    if (this.ageTail !== NONE) this.ageNext[this.ageTail] = slot;
    else this.ageHead = slot;
    this.ageTail = slot;
    this.liveCount++;
    return slot;
  }

  /** Moves a slot to the tail of the last-seen list. */
  private touch(slot: number): void {
    if (this.lruTail === slot) return;
    const prev = this.lruPrev[slot];
    const next = this.lruNext[slot];
    if (prev !== NONE) this.lruNext[prev] = next;
    else this.lruHead = next;
    this.lruPrev[next] = prev; // next exists: slot is not the tail
    this.lruPrev[slot] = this.lruTail;
    this.lruNext[slot] = NONE;
    this.lruNext[this.lruTail] = slot;
    this.lruTail = slot;
  }

  private remove(slot: number): void {
    // Unlink from the index with backward-shift deletion, so probes never meet tombstones.
    const mask = this.bucketMask;
    let hole = this.hashes[slot] & mask;
    while (this.buckets[hole] !== slot) hole = (hole + 1) & mask;
    for (let b = (hole + 1) & mask; this.buckets[b] !== EMPTY_BUCKET; b = (b + 1) & mask) {
      const home = this.hashes[this.buckets[b]] & mask;
      // Move entry b into the hole unless its home lies cyclically in (hole, b].
      const homeInRange = hole <= b ? home > hole && home <= b : home > hole || home <= b;
      if (!homeInRange) {
        this.buckets[hole] = this.buckets[b];
        hole = b;
      }
    }
    this.buckets[hole] = EMPTY_BUCKET;

    let prev = this.lruPrev[slot];
    let next = this.lruNext[slot];
    if (prev !== NONE) this.lruNext[prev] = next;
    else this.lruHead = next;
    if (next !== NONE) this.lruPrev[next] = prev;
    else this.lruTail = prev;
    prev = this.agePrev[slot];
    next = this.ageNext[slot];
    if (prev !== NONE) this.ageNext[prev] = next;
    else this.ageHead = next;
    if (next !== NONE) this.agePrev[next] = prev;
    else this.ageTail = prev;

    this.freeSlots[this.freeCount++] = slot;
    this.liveCount--;
  }

  private resize(capacity: number): void {
    const grow = <T extends Float64Array | Uint32Array | Int32Array | Uint8Array>(old: T, make: (n: number) => T, n: number): T => {
      const fresh = make(n);
      fresh.set(old);
      return fresh;
    };
    this.keys = grow(this.keys, (n) => new Uint32Array(n), capacity * KEY_WORDS);
    this.hashes = grow(this.hashes, (n) => new Uint32Array(n), capacity);
    this.firstUs = grow(this.firstUs, (n) => new Float64Array(n), capacity);
    this.lastUs = grow(this.lastUs, (n) => new Float64Array(n), capacity);
    this.packets = grow(this.packets, (n) => new Float64Array(n), capacity);
    this.bytes = grow(this.bytes, (n) => new Float64Array(n), capacity);
    this.tcpFlags = grow(this.tcpFlags, (n) => new Uint8Array(n), capacity);
    this.lruPrev = grow(this.lruPrev, (n) => new Int32Array(n), capacity);
    this.lruNext = grow(this.lruNext, (n) => new Int32Array(n), capacity);
    this.agePrev = grow(this.agePrev, (n) => new Int32Array(n), capacity);
    this.ageNext = grow(this.ageNext, (n) => new Int32Array(n), capacity);
    this.freeSlots = grow(this.freeSlots, (n) => new Int32Array(n), capacity);
    this.capacity = capacity;

    // Rebuild the index at a load factor of at most one half.
    let bucketCount = 16;
    while (bucketCount < capacity * 2) bucketCount *= 2;
    this.buckets = new Int32Array(bucketCount).fill(EMPTY_BUCKET);
    this.bucketMask = bucketCount - 1;
    for (let slot = this.ageHead; slot !== NONE; slot = this.ageNext[slot]) {
      let b = this.hashes[slot] & this.bucketMask;
      while (this.buckets[b] !== EMPTY_BUCKET) b = (b + 1) & this.bucketMask;
      this.buckets[b] = slot;
    }
  }
}

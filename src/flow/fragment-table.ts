/**
 * Remembers the ports of fragmented datagrams, so that non-first fragments (which carry no transport
 * header) count in the flow of their datagram, as a reassembling meter counts them.
 *
 * A datagram is identified by (source, destination, protocol, identification): RFC 791 §2.3 for IPv4,
 * RFC 8200 §4.5 for IPv6. Fragments that arrive before their first fragment wait here (only their
 * counts, never their bytes); when the first fragment never comes they are handed back so the meter
 * can count them in a port-0 flow. State is bounded by `maxDatagrams` and by `timeoutUs` of packet time.
 */

/** One fragmented datagram being tracked. */
export interface FragmentedDatagram {
  /** Ports from the first fragment; -1 until it has been seen. */
  srcPort: number;
  dstPort: number;
  /** Fragments seen before the first one: counts and time span. */
  pendingPackets: number;
  pendingBytes: number;
  pendingFirstUs: number;
  pendingLastUs: number;
  /** Packet time of the latest fragment, for expiry. */
  lastSeenUs: number;
  /** Key fields, kept to rebuild a flow key when pending fragments are released. */
  readonly ipVersion: number;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  readonly protocol: number;
  readonly interfaceId: number;
}

export type ReleaseHandler = (datagram: FragmentedDatagram) => void;

export class FragmentTable {
  // Map keeps insertion order, and entries are re-inserted on each fragment, so iteration is by
  // last activity: expiry and eviction look at the front only.
  private readonly datagrams = new Map<string, FragmentedDatagram>();

  /** Packet time after which expire() has work: the oldest datagram's timeout; Infinity when empty. */
  deadlineUs = Infinity;
  /** Datagrams whose first fragment never arrived (their fragments went to a port-0 flow). */
  firstFragmentMissing = 0;
  /** Datagrams dropped from the table early because it was full. */
  evictions = 0;

  constructor(
    private readonly maxDatagrams: number,
    private readonly timeoutUs: number,
    /** Receives datagrams that leave the table with fragments still pending. */
    private readonly onRelease: ReleaseHandler,
  ) {}

  get size(): number {
    return this.datagrams.size;
  }

  /** Finds or creates the datagram of a fragment and marks it as seen at `timestampUs`. */
  lookup(
    ipVersion: number,
    src: Uint32Array,
    dst: Uint32Array,
    protocol: number,
    fragmentId: number,
    interfaceId: number,
    timestampUs: number,
  ): FragmentedDatagram {
    const key =
      ipVersion === 4
        ? `${src[0]}>${dst[0]}/${protocol}/${fragmentId}/${interfaceId}`
        : `${src[0]}.${src[1]}.${src[2]}.${src[3]}>${dst[0]}.${dst[1]}.${dst[2]}.${dst[3]}/${protocol}/${fragmentId}/${interfaceId}`;
    let datagram = this.datagrams.get(key);
    if (datagram === undefined) {
      if (this.datagrams.size >= this.maxDatagrams) this.evictOldest();
      datagram = {
        srcPort: -1,
        dstPort: -1,
        pendingPackets: 0,
        pendingBytes: 0,
        pendingFirstUs: 0,
        pendingLastUs: 0,
        lastSeenUs: timestampUs,
        ipVersion,
        src: src.slice(),
        dst: dst.slice(),
        protocol,
        interfaceId,
      };
      if (timestampUs + this.timeoutUs < this.deadlineUs) this.deadlineUs = timestampUs + this.timeoutUs;
    } else {
      this.datagrams.delete(key);
      if (timestampUs > datagram.lastSeenUs) datagram.lastSeenUs = timestampUs;
    }
    this.datagrams.set(key, datagram);
    return datagram;
  }

  /** Adds a fragment that arrived before its datagram's first fragment. */
  /** Counts a fragment that waits for its first fragment; `weight` packets under 1-in-N sampling. */
  addPending(datagram: FragmentedDatagram, ipBytes: number, timestampUs: number, weight = 1): void {
    if (datagram.pendingPackets === 0) {
      datagram.pendingFirstUs = timestampUs;
      datagram.pendingLastUs = timestampUs;
    } else {
      if (timestampUs < datagram.pendingFirstUs) datagram.pendingFirstUs = timestampUs;
      if (timestampUs > datagram.pendingLastUs) datagram.pendingLastUs = timestampUs;
    }
    datagram.pendingPackets += weight;
    datagram.pendingBytes += ipBytes * weight;
  }

  /** Forgets datagrams not seen for longer than the timeout, releasing their pending fragments. */
  expire(nowUs: number): void {
    this.deadlineUs = Infinity;
    for (const [key, datagram] of this.datagrams) {
      if (nowUs - datagram.lastSeenUs <= this.timeoutUs) {
        this.deadlineUs = datagram.lastSeenUs + this.timeoutUs;
        break;
      }
      this.datagrams.delete(key);
      this.release(datagram);
    }
  }

  /** Releases every datagram (end of input). */
  releaseAll(): void {
    for (const datagram of this.datagrams.values()) this.release(datagram);
    this.datagrams.clear();
    this.deadlineUs = Infinity;
  }

  private evictOldest(): void {
    const first = this.datagrams.entries().next();
    if (first.done) return;
    this.evictions++;
    this.datagrams.delete(first.value[0]);
    this.release(first.value[1]);
  }

  private release(datagram: FragmentedDatagram): void {
    if (datagram.pendingPackets > 0) {
      this.firstFragmentMissing++;
      this.onRelease(datagram);
    }
  }
}

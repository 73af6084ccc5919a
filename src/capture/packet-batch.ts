/**
 * A batch of captured packets handed from a capture source to the decoder.
 *
 * Packets are described by parallel typed arrays over one backing buffer, so that a source can hand
 * thousands of packets across with no per-packet allocation. Entries `0 .. count-1` are valid; a batch
 * (and its buffer) may be reused by the source once the consumer asks for the next one.
 */
export interface PacketBatch {
  /** Backing bytes; packet i occupies `data[offset[i] .. offset[i] + caplen[i])`. */
  data: Uint8Array;
  /** Number of valid packets in this batch. */
  count: number;
  offset: Int32Array;
  /** Bytes captured (what is in `data`). */
  caplen: Int32Array;
  /** Length of the packet on the wire (>= caplen). */
  wirelen: Int32Array;
  /** Capture timestamp, microseconds since the Unix epoch (fits a double exactly until year 2255). */
  timestampUs: Float64Array;
  /** LINKTYPE_* of the interface the packet was captured on (see link-type.ts). */
  linkType: Int32Array;
  /** Index of the capture interface (pcapng IDB order; 0 for pcap). */
  interfaceId: Int32Array;
}

/** Allocates an empty batch able to hold `capacity` packets. */
export function createPacketBatch(capacity: number): PacketBatch {
  return {
    data: new Uint8Array(0),
    count: 0,
    offset: new Int32Array(capacity),
    caplen: new Int32Array(capacity),
    wirelen: new Int32Array(capacity),
    timestampUs: new Float64Array(capacity),
    linkType: new Int32Array(capacity),
    interfaceId: new Int32Array(capacity),
  };
}

/** Describes one capture interface (pcapng IDB, or the single pcap link). */
export interface CaptureInterface {
  linkType: number;
  /** Interface name when the file says it (pcapng if_name), otherwise null. */
  name: string | null;
  snaplen: number;
}

/**
 * A source of packet batches: a capture file, or (later) a live interface.
 * Problems in the input are counted in `issues` by reason; they never throw.
 * Only a source that cannot start at all (not a capture file, unreadable) rejects, with a CaptureError.
 */
export interface PacketSource {
  batches(): AsyncIterable<PacketBatch>;
  /** Interfaces known so far (grows while reading pcapng). */
  readonly interfaces: readonly CaptureInterface[];
  /** Bytes of the underlying (possibly compressed) file consumed so far, for progress bars. */
  readonly bytesRead: number;
  /** Total size of the underlying file in bytes, or null when unknown. */
  readonly totalBytes: number | null;
}

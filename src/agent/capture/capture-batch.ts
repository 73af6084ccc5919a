/**
 * The batches of the capture program (native/endsight-capture.c), read from its standard output.
 *
 * Each batch is a 56-byte header and a body of records (flow entries and whole packets, which the
 * flow meter reads: FlowMeter.processCaptureBatch). The header's layout is documented in the C
 * file; both sides are little-endian, as every platform Node.js runs on here.
 */

export const BATCH_MAGIC = 0x42435345; // "ESCB"
export const BATCH_HEADER_BYTES = 56;
/** A body larger than this is not one the program writes (its buffer is 1 MiB, or 64 records of the largest snaplen). */
export const MAX_BATCH_BODY_BYTES = 64 << 20;
export const LAST_BATCH_FLAG = 1;
/** The host's addresses changed since the last batch (netlink address events in the capture program). */
export const NET_CHANGED_FLAG = 2;

export interface CaptureBatch {
  /** 1-in-N sampling the packets were metered with: every metered packet stands for N. */
  sampling: number;
  /** The program's final batch (it is stopping). */
  last: boolean;
  /** The kernel told the program of an address added or removed since its last batch. */
  netChanged: boolean;
  /** Packets the program saw in this batch, and how many of them sampling passed over. */
  packetsSeen: number;
  packetsSampledOut: number;
  /** libpcap's counters since the capture started: packets received (after the filter), dropped by the kernel. */
  pcapReceived: number;
  pcapDropped: number;
  /** The program's own CPU time since it started, µs. */
  cpuUs: number;
  /** The records; its own buffer, offset 0, so that 32- and 64-bit views line up. */
  body: Uint8Array;
}

/** The stream is not what the capture program writes: the capture ends with this reason. */
export class CaptureProtocolError extends Error {
  override name = 'CaptureProtocolError';
}

/**
 * Splits the program's output into batches, whatever the chunking of the pipe. Throws
 * CaptureProtocolError on bytes that cannot be a batch header, without allocating from them.
 */
export async function* readCaptureBatches(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<CaptureBatch> {
  const header = new Uint8Array(BATCH_HEADER_BYTES);
  const headerView = new DataView(header.buffer);
  let headerFill = 0;
  let body: Uint8Array | null = null;
  let bodyFill = 0;
  let pending: Omit<CaptureBatch, 'body'> | null = null;
  for await (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      if (pending === null) {
        const take = Math.min(BATCH_HEADER_BYTES - headerFill, chunk.length - at);
        header.set(chunk.subarray(at, at + take), headerFill);
        headerFill += take;
        at += take;
        if (headerFill < BATCH_HEADER_BYTES) break;
        headerFill = 0;
        const magic = headerView.getUint32(0, true);
        const bodyBytes = headerView.getUint32(4, true);
        if (magic !== BATCH_MAGIC) throw new CaptureProtocolError(`capture program output out of step: batch header magic ${magic.toString(16)}`);
        if (bodyBytes > MAX_BATCH_BODY_BYTES || bodyBytes % 8 !== 0) throw new CaptureProtocolError(`capture program batch of ${bodyBytes} bytes is not possible`);
        const flags = headerView.getUint32(12, true);
        pending = {
          sampling: headerView.getUint32(8, true),
          last: (flags & LAST_BATCH_FLAG) !== 0,
          netChanged: (flags & NET_CHANGED_FLAG) !== 0,
          packetsSeen: headerView.getFloat64(16, true),
          packetsSampledOut: headerView.getFloat64(24, true),
          pcapReceived: headerView.getFloat64(32, true),
          pcapDropped: headerView.getFloat64(40, true),
          cpuUs: headerView.getFloat64(48, true),
        };
        body = new Uint8Array(bodyBytes);
        bodyFill = 0;
      }
      const target = body!;
      const take = Math.min(target.length - bodyFill, chunk.length - at);
      target.set(chunk.subarray(at, at + take), bodyFill);
      bodyFill += take;
      at += take;
      if (bodyFill === target.length) {
        const batch: CaptureBatch = { ...pending, body: target };
        pending = null;
        body = null;
        yield batch;
      }
    }
  }
  if (pending !== null || headerFill > 0) throw new CaptureProtocolError('capture program output ended inside a batch');
}
